"""The published copies: the analysts' marts (published.duckdb) and customer service's (restricted.duckdb)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.keys import MARTS, PUBLISHED, RESTRICTED
from pipeline.private_files import restrict
from pipeline.publish import (
    PSEUDONYM_FUNCTION,
    RESTRICTED_ONLY,
    analyst_select,
    pseudonym_key,
    publish_marts,
    register_pseudonym,
    sources_keyed_by_identifier,
)
from pipeline.resources import WAREHOUSE_POOL, RunSettings


@dg.asset(key=PUBLISHED, deps=list(MARTS), group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def published_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    settings: RunSettings) -> dg.MaterializeResult:
    """The marts for analysts (published.duckdb), names and contacts left out or pseudonymised, swapped in atomically."""
    target = settings.published
    with duckdb.get_connection() as con:
        if settings.analyst_identifiers:  # allowed by C360_ANALYST_IDENTIFIERS: the marts as they are
            counts = publish_marts(con, target, escape=True)
        else:
            register_pseudonym(con, pseudonym_key(settings.pseudonym_key_file, settings.pseudonym_secret))
            try:
                counts = publish_marts(con, target, select=analyst_select(sources_keyed_by_identifier(settings.sources())),
                                       skip=RESTRICTED_ONLY, escape=True, params={"as_of": settings.reference_date})
            finally:
                con.remove_function(PSEUDONYM_FUNCTION)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          "direct_identifiers": settings.analyst_identifiers,
                                          **_holds(context),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


@dg.asset(key=RESTRICTED, deps=list(MARTS), group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def restricted_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                     settings: RunSettings) -> dg.MaterializeResult:
    """The marts with the full golden record for customer service (restricted.duckdb), swapped in atomically."""
    target = settings.restricted
    with duckdb.get_connection() as con:
        counts = publish_marts(con, target)
    restrict(target)  # every name, e-mail, phone, address: owner-only, also when the run comes from the UI
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)), **_holds(context),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


def _holds(context: dg.AssetExecutionContext) -> dict:
    """Which drop day the copy holds (the run's partition), and from which run: after a blocked run, the operator
    reads here what analysts and customer service still see."""
    return {"drop_day": context.run.tags.get("dagster/partition", ""), "published_by_run": context.run.run_id}
