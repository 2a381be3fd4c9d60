"""Linkage quality against ground truth, when a truth file is configured (demo and benchmark data): the asset
identity/linkage_quality, built in the identity layer's review step (assets/identity.py)."""



import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.resources import RunSettings
from pipeline.identity.evaluate import linkage_quality as measure
from pipeline.sql import literal
from pipeline.warehouse import append_run, table_exists


def linkage_quality(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    settings: RunSettings) -> dg.MaterializeResult:
    """Pairwise precision, recall, F1 and cluster figures against the truth file, one row per run."""
    truth = settings.truth_file
    if truth is None or not truth.is_file():
        return dg.MaterializeResult(metadata={"evaluated": False, "reason": "no truth file configured"})
    with duckdb.get_connection() as con:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _truth AS
            SELECT source || ':' || source_record_id AS unique_id, person_id
            FROM read_csv({literal(truth)}, all_varchar = true, header = true)""")
        if table_exists(con, "identity.purged_records"):  # erased or expired: nothing left to link them by
            con.execute("DELETE FROM _truth WHERE unique_id IN (SELECT unique_id FROM identity.purged_records)")
        figures = measure(con, "identity.record_customer", "_truth")
        row = pd.DataFrame([{"run_id": context.run_id, "measured_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
                             **figures}])
        append_run(con, "identity.linkage_quality", row, context.run_id)
    return dg.MaterializeResult(metadata={"evaluated": True, **figures})
