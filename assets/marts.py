"""Marts layer: the published tables analysts and other tools read."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.identity import PREDICTIONS, RECORD_CUSTOMER
from assets.metadata import table_metadata
from pipeline.identity.xref import CUSTOMER_XREF_SQL
from pipeline.resources import WAREHOUSE_POOL

GROUP = "marts"
CUSTOMER_XREF = dg.AssetKey(["marts", "customer_xref"])
XREF_COVERS_STAGING = "every_person_record_once"


@dg.asset(key=CUSTOMER_XREF, deps=[RECORD_CUSTOMER, PREDICTIONS], group_name=GROUP, kinds={"duckdb"},
          pool=WAREHOUSE_POOL)
def customer_xref(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Source record -> customer_id, with the probability of its strongest link inside the customer."""
    with duckdb.get_connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(f"CREATE OR REPLACE TABLE marts.customer_xref AS {CUSTOMER_XREF_SQL}")
        return dg.MaterializeResult(metadata=table_metadata(con, "marts.customer_xref"))


@dg.asset_check(asset=CUSTOMER_XREF, name=XREF_COVERS_STAGING, blocking=True,
                description="Every staged person record appears exactly once in the cross-reference.")
def every_person_record_once(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        staged, xref, distinct = con.execute("""
            SELECT (SELECT count(*) FROM staging.person_records),
                   (SELECT count(*) FROM marts.customer_xref),
                   (SELECT count(DISTINCT (source, source_record_id)) FROM marts.customer_xref)""").fetchall()[0]
    return dg.AssetCheckResult(passed=staged == xref == distinct,
                               metadata={"staged_person_records": staged, "xref_rows": xref,
                                         "distinct_xref_records": distinct})
