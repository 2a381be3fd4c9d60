"""A warehouse restored from a copy older than its erasures is refused: a run of it would undo them.

The erasure registry lives in the warehouse. Restored from a copy taken before an erasure (a disk lost, a bad run
rolled back), the warehouse holds the erased person again, in raw, staging and the marts, and no hash to recognise
them by: once the request's file has left the drop folder (archived), the next run republished them to customer service
and the audiences. The run history is kept apart from the warehouse (the Dagster instance), so each run records there,
in the metadata of `identity/erasure_registry` and `golden/purge_log`, the warehouse's id (a random one, made with its
registry) and how many identifiers its registry holds. Every run, whoever starts it (command line, UI, schedule,
sensor), reads the latest such record of its warehouse before touching it, and stops when the registry holds fewer:
the registry is append-only, so fewer means an older copy. Counts and a random id only: no personal value.

What to do then is the operator's to decide, so it is said, not guessed: restore a copy taken after the last erasure,
or put the erasure requests delivered since the copy back in the drop folder and run once with
`customer360 run --restored` (tag `customer360/restored` = `true` on a run launched from the UI), which registers them
again and purges their people, and makes the registry as it then stands the one later runs compare with."""

from __future__ import annotations

import dagster as dg
import duckdb

from assets.keys import ERASURE_REGISTRY, PURGE_LOG
from pipeline.sql import scalar
from pipeline.warehouse import table_exists

IDENTITY_TABLE = "identity.warehouse_identity"
ID_KEY = "warehouse_id"
ROWS_KEY = "erasure_registry_rows"
RESTORED_TAG = "customer360/restored"
LOOKED_AT = 20  # latest materialisations of each asset read: a shared instance may hold other warehouses' runs


class ErasuresUndone(ValueError):
    """The warehouse's erasure registry holds fewer identifiers than a run of it registered before."""


def erasure_watermark(con: duckdb.DuckDBPyConnection) -> dict:
    """The metadata that records the warehouse's id and its registry's size (the id made on first use)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} AS SELECT CAST(uuid() AS VARCHAR) AS warehouse_id, "
                "current_timestamp AS created_at")
    return {ID_KEY: scalar(con, f"SELECT warehouse_id FROM {IDENTITY_TABLE}"), ROWS_KEY: _registry_rows(con)}


def _registry_rows(con: duckdb.DuckDBPyConnection) -> int:
    """How many identifiers the erasure registry holds (none before the first erasure step)."""
    return scalar(con, "SELECT count(*) FROM identity.erasure_registry") \
        if table_exists(con, "identity.erasure_registry") else 0


def check_erasures_kept(con: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance | None) -> None:
    """Raise `ErasuresUndone` when the latest run of this warehouse recorded a larger registry than it holds."""
    if instance is None or not table_exists(con, IDENTITY_TABLE):
        return  # a warehouse no run of this version has recorded
    warehouse_id = scalar(con, f"SELECT warehouse_id FROM {IDENTITY_TABLE}")
    latest = None
    for key in (ERASURE_REGISTRY, PURGE_LOG):
        for record in instance.fetch_materializations(key, limit=LOOKED_AT).records:
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            if getattr(metadata.get(ID_KEY), "value", None) == warehouse_id and (latest is None or
                                                                               record.timestamp > latest.timestamp):
                latest = record
    if latest is None:
        return
    recorded = latest.asset_materialization.metadata[ROWS_KEY].value
    holds = _registry_rows(con)
    if holds < recorded:
        raise ErasuresUndone(
            f"the warehouse's erasure registry holds {holds} identifier(s), but run {latest.run_id} of this warehouse "
            f"recorded {recorded}: it was restored from a copy taken before some erasures, and a run would bring the "
            "erased people back. Restore a copy taken after that run, or put the erasure requests delivered since the "
            "copy back in the drop folder and run `customer360 run --restored` (the UI: tag "
            f"{RESTORED_TAG}=true) once.")
