"""The instance's event log: Dagster's SQLite one (one file per run plus an index file), each file's SQLAlchemy
engine kept for the process.

Why: Dagster's SqliteEventLogStorage builds a new engine for every connection, and a run opens two or three
connections per event (the run's file, the index for asset and check events). A new engine has an empty
statement cache, so every INSERT was compiled again: with creating the engine, about a quarter of the event log's
CPU (1.4-2.3 CPU s for the ~240 events of a 100k incremental day, bench/day_two.py --sqlite). The engine keeps no
connection (NullPool, as Dagster's): each use still opens and closes its own SQLite connection, so locking between
processes (the daemon, the webserver, `customer360 run`) is Dagster's own. Files, tables and rows are Dagster's too:
an instance configured with this class reads the history of one without it, and the other way round."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite import sqlite_event_log as dagster_sqlite

KEPT_ENGINES = 16  # files whose engine a long-lived process (the webserver reads many runs) keeps at once


class SqliteEventLog(dagster_sqlite.SqliteEventLogStorage):
    """SqliteEventLogStorage whose engines (and so their compiled statements) outlive one connection; configured
    as Dagster's (`base_dir`, pipeline/instance.py writes it)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, object] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SqliteEventLog:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.pop(shard, None) or dagster_sqlite.create_engine(
            self.conn_string_for_shard(shard), poolclass=dagster_sqlite.NullPool,
            connect_args={"timeout": dagster_sqlite.SQLITE_BUSY_TIMEOUT_SECONDS})
        self._engines[shard] = engine  # the most recently used last
        while len(self._engines) > KEPT_ENGINES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        """Dagster's _connect (one transaction per use, the file created on first use) with the shard's engine
        kept."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
