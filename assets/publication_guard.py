"""A blocking check before publication: never publish an empty or shrunken customer mart unexplained.

A source without activity dates once published nobody (everyone excluded by retention), and a deleted file
once took customers with it; each time the run exited 0. The candidate `marts.customer_360` is compared with
the customers analysts have now (the published copy): an empty mart, or one that lost more than
`max_shrink` of them, blocks the published and restricted copies, and the description says where the
customers went (excluded by retention, erased, no longer in the cross-reference). An operator who expects
the drop (a large erasure batch) lets it through once with C360_MAX_SHRINK=1.
"""

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.keys import CUSTOMER_360
from assets.resources import RunSettings
from pipeline.sql import literal, scalar
from pipeline.staging import RETIRED_RECORDS_SQL
from pipeline.warehouse import table_exists

NOT_SHRUNK = "customer_360_not_shrunk"


# Evaluated in the customer_360 step, once the table is replaced (assets/marts.py).
NOT_SHRUNK_SPEC = dg.AssetCheckSpec(NOT_SHRUNK, asset=CUSTOMER_360, blocking=True,
                                    description="The mart to publish is not empty, and has not lost more than the "
                                                "allowed share of the customers published now (C360_MAX_SHRINK, "
                                                "default 20%).")


def customer_360_not_shrunk(duckdb: DuckDBResource, settings: RunSettings) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        now = scalar(con, "SELECT count(*) FROM marts.customer_360")
        linked = scalar(con, "SELECT count(DISTINCT customer_id) FROM marts.customer_xref")
        excluded = dict(con.execute("SELECT reason, count(*) FROM golden.excluded_customers GROUP BY ALL").fetchall())
        before = _published_customers(con, settings)
    why = f"{linked} customers linked, {excluded.get('retention', 0)} left out by retention " \
          f"(no activity or update within {settings.retention_days} days), {excluded.get('erased', 0)} erased"
    empty = now == 0 and linked > 0
    shrunk = before is not None and before > 0 and now < before * (1 - settings.max_shrink)
    if empty or shrunk:  # records their sources deleted (tombstones, omitted by full exports) took their customers
        with duckdb.get_connection() as con:  # (no staging table in a warehouse built by hand: none)
            retired = table_exists(con, "staging.quarantine") and scalar(
                con, f"SELECT count(*) FROM ({RETIRED_RECORDS_SQL})")
        why += f", {retired} record(s) deleted by their sources (tombstones, or omitted by a full export)" if retired else ""
    if empty:
        description = f"nothing to publish: {why}"
    elif shrunk:
        description = (f"customers would fall from {before} to {now} (more than {settings.max_shrink:.0%}): {why}. "
                       "If expected, run once with C360_MAX_SHRINK=1")
    else:
        description = f"{now} customers (published now: {before if before is not None else 'none'})"
    return dg.AssetCheckResult(check_name=NOT_SHRUNK, passed=not (empty or shrunk), description=description,
                               metadata={"customers": now, "published_customers": before if before is not None else -1,
                                         "linked_customers": linked, **{f"excluded_{k}": v for k, v in excluded.items()}})


def _published_customers(con, settings: RunSettings) -> int | None:
    path = settings.published
    if not path.exists():
        return None
    con.execute(f"ATTACH {literal(path)} AS _previous_publication (READ_ONLY)")
    try:
        return scalar(con, "SELECT count(*) FROM _previous_publication.marts.customer_360")
    except duckdb.CatalogException:  # a copy without that table (an older layout): nothing to compare with
        return None
    finally:
        con.execute("DETACH _previous_publication")
