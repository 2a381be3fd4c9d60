"""After a purge, the warehouse file is rewritten so that the purged values leave its bytes, not only its tables.

Why: the purge replaces a purged row by its scrubbed copy (deleted, inserted again), and the tables the run rebuilt
drop their old versions; DuckDB frees the blocks that held them and reuses them for later writes, without overwriting
them first. Until then the file, and every backup taken of it, held the purged person (until 2026-11-29: an erased
person's e-mail, surname and phone in the warehouse's bytes after the purge, in no cell). DuckDB's `VACUUM` reclaims
nothing and `CHECKPOINT` only frees blocks (DuckDB 2.0 docs, "Reclaiming space"); the documented way to compact is a
fresh copy (`COPY FROM DATABASE`), which writes only what the tables hold now.

When: at most `days` after the purge (C360_COMPACTION_DAYS, default 7; 0: on its run), erasure or not. A rewrite
costs ~9 CPU s at 1M source records (and the copies are then written whole, ~3.5 more): done on every run an erasure
took effect, retention purged someone (nearly every day) or a source re-delivered an erased person, it cost more than
the rest of the incremental day (bench/HISTORY.md, sixteenth session). The values are out of every table and copy
at once; only the file's freed blocks wait, in an owner-only file. An officer who needs them gone now runs with
C360_COMPACTION_DAYS=0.

How: the purge asks for it (`request`, the run's rows scrubbed); the compaction copies the database through the run's
own connection into `<warehouse>.compacting` (owner-only), closes every connection to the warehouse (DuckDB
checkpoints and removes its WAL), and swaps the copy in with `os.replace`: a crash leaves the old file or the new one
whole, never half. The copy keeps every table, so the warehouse id the erasure guard records
(`identity.warehouse_identity`) stays valid. A WAL still beside the warehouse after the close means another
connection holds it: the swap is refused (old file kept, copy removed) rather than let DuckDB replay that WAL onto
the copy. `identity.warehouse_compactions` logs each request and when its bytes left the file (sizes and seconds).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.private_files import owner_only, restrict
from pipeline.sql import quote, scalar

LOG = "identity.warehouse_compactions"
_ALIAS = "_compacted"
_HELD = "_copy_held"


@dataclass(frozen=True)
class Compacted:
    """What a compaction did (sizes and seconds only)."""

    requests: int          # purges whose freed bytes it removed
    bytes_before: int      # the warehouse file before (checkpointed)
    bytes_after: int
    seconds: float
    cpu_seconds: float     # the process's, DuckDB's threads included


def request(con: duckdb.DuckDBPyConnection, run_id: str, rows_purged: int, erasure: bool, customers: int = 0) -> bool:
    """Ask for a compaction when a purge removed values (`rows_purged` rows scrubbed); `erasure`: an erasure request
    took effect on the run (recorded; every purge is compacted within `days`, see `due`); `customers`: customers
    it purged that the copies held until then. True if asked."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {LOG.split('.')[0]}")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {LOG} (run_id VARCHAR, requested_at TIMESTAMP, rows_purged BIGINT,
        erasure BOOLEAN, customers_purged BIGINT, compacted_at TIMESTAMP, copy_id VARCHAR, bytes_before BIGINT,
        bytes_after BIGINT, seconds DOUBLE)""")
    if rows_purged > 0:
        con.execute(f"INSERT INTO {LOG} (run_id, requested_at, rows_purged, erasure, customers_purged) "
                    "VALUES (?, now(), ?, ?, ?)", [run_id, rows_purged, erasure, customers])
    return rows_purged > 0


def held_by_copy(con: duckdb.DuckDBPyConnection, copy: Path, run_id: str) -> int:
    """How many of the customers the run's purge logged (golden.purge_log) the copy at `copy` still publishes: an
    erased person's later record makes a customer no copy ever held."""
    if not copy.is_file():
        return 0
    con.execute(f"ATTACH ? AS {_HELD} (READ_ONLY)", [str(copy)])
    try:
        return scalar(con, f"SELECT count(*) FROM golden.purge_log WHERE run_id = ? AND customer_id IN "
                           f"(SELECT customer_id FROM {_HELD}.marts.customer_xref)", [run_id])
    except duckdb.CatalogException:  # a copy without the cross-reference (an older layout): assume it held them
        return scalar(con, "SELECT count(*) FROM golden.purge_log WHERE run_id = ?", [run_id])
    finally:
        con.execute(f"DETACH {_HELD}")


def pending(con: duckdb.DuckDBPyConnection) -> int:
    """Purges whose freed bytes are still in the file (asked for, not compacted yet)."""
    exists = scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                         "AND schema_name = ? AND table_name = ?", LOG.split("."))
    return scalar(con, f"SELECT count(*) FROM {LOG} WHERE compacted_at IS NULL") if exists else 0


def due(con: duckdb.DuckDBPyConnection, days: int) -> bool:
    """A compaction is due: a pending purge asked for `days` days ago or more (by the calendar: a nightly run a few
    seconds earlier than a week ago still counts)."""
    return bool(pending(con)) and bool(scalar(con, f"SELECT count(*) FROM {LOG} WHERE compacted_at IS NULL "
                                                   "AND CAST(requested_at AS DATE) <= current_date - ?",
                                              [days]))


def copies_whole(con: duckdb.DuckDBPyConnection, days: int) -> bool:
    """The published copies are written whole into fresh files on this run: it compacts the warehouse, and a purge
    since the last compaction took out customers the copies held (merged, a copy keeps the previous file's blocks,
    and in them the rows it deleted). An erased person's later record, scrubbed on arrival, was never in a copy."""
    return due(con, days) and bool(scalar(con, f"SELECT count(*) FROM {LOG} WHERE compacted_at IS NULL "
                                                "AND customers_purged > 0"))


def compact(path: Path, connection: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
            released: Callable[[], AbstractContextManager[None]], days: int) -> Compacted | None:
    """Rewrite the warehouse at `path` when a compaction is `due` (None when not). `connection()` gives a connection
    to it; inside `released()` no connection of this process holds the file."""
    wall, cpu = time.perf_counter(), time.process_time()
    copy = path.with_name(path.name + ".compacting")
    copy_id = uuid.uuid4().hex
    with connection() as con:
        if not due(con, days):
            return None
        requests = pending(con)
        _remove(copy)  # a crash's leftover
        with owner_only():  # whoever calls: the copy holds every value the warehouse holds
            con.execute(f"ATTACH ? AS {_ALIAS}", [str(copy)])
            try:
                con.execute(f"COPY FROM DATABASE {quote(scalar(con, 'SELECT current_database()'))} TO {_ALIAS}")
                con.execute(f"UPDATE {_ALIAS}.{LOG} SET compacted_at = now(), copy_id = ? WHERE compacted_at IS NULL",
                            [copy_id])
            finally:
                con.execute(f"DETACH {_ALIAS}")  # checkpointed: the copy is whole on disk, no WAL
    try:
        with released():
            wal = path.with_name(path.name + ".wal")
            if wal.exists() and wal.stat().st_size:
                raise RuntimeError(f"{path.name} is still open elsewhere in this process (its WAL was not "
                                   "checkpointed): not compacted, the purged values stay in its free blocks")
            wal.unlink(missing_ok=True)
            before = path.stat().st_size  # as checkpointed on close
            restrict(copy)
            _fsync(copy)
            os.replace(copy, path)
            _fsync(path.parent)
    finally:
        _remove(copy)
    after = path.stat().st_size
    seconds = time.perf_counter() - wall
    with connection() as con:
        if not scalar(con, f"SELECT count(*) FROM {LOG} WHERE copy_id = ?", [copy_id]):
            raise RuntimeError(f"{path.name} reopened is not the compacted copy: a connection of this process kept "
                               "the old file open")
        con.execute(f"UPDATE {LOG} SET bytes_before = ?, bytes_after = ?, seconds = ? WHERE copy_id = ?",
                    [before, after, seconds, copy_id])
    return Compacted(requests, before, after, round(seconds, 3), round(time.process_time() - cpu, 3))


def _remove(copy: Path) -> None:
    for leftover in (copy, copy.with_name(copy.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
