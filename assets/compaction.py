"""The warehouse file rewritten once a run's purge removed values, so they leave its bytes (pipeline/compaction.py)."""

from contextlib import nullcontext

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.keys import PUBLISHED, PURGE_LOG, RESTRICTED, WAREHOUSE_COMPACTION
from assets.resources import WAREHOUSE_POOL, RunSettings
from pipeline.compaction import compact, pending


# After the copies: publication does not wait for the rewrite, and nothing the run writes after it holds a purged
# value. A run whose copies fail leaves the request pending: the next run's compaction takes it.
@dg.asset(key=WAREHOUSE_COMPACTION, deps=[PURGE_LOG, PUBLISHED, RESTRICTED], group_name="privacy", kinds={"duckdb"},
          pool=WAREHOUSE_POOL)
@values_left_out
def warehouse_compaction(duckdb: DuckDBResource, settings: RunSettings) -> dg.MaterializeResult:
    """The warehouse copied into a fresh file and swapped in within C360_COMPACTION_DAYS of a purge (erasure,
    retention, a source's deletion): the purged values leave the file's free blocks, and every backup taken from then
    on."""
    days = {"compaction_days": settings.compaction_days}
    done = compact(settings.warehouse, duckdb.get_connection, getattr(duckdb, "released", nullcontext),
                   settings.compaction_days)
    if done is None:  # nothing purged, or purged fewer days ago than allowed
        with duckdb.get_connection() as con:
            return dg.MaterializeResult(metadata={**days, "compacted": False, "purges_waiting": pending(con)})
    return dg.MaterializeResult(metadata={**days, "compacted": True, "purges_compacted": done.requests,
                                          "bytes_before": done.bytes_before, "bytes_after": done.bytes_after,
                                          "seconds": done.seconds, "cpu_seconds": done.cpu_seconds})
