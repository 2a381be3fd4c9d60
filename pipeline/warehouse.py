"""DuckDB writes: a table is rebuilt and swapped in inside one transaction, so readers never see it half-built."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.private_files import memory_db
from pipeline.sql import named, quote, scalar

# The run's warehouse connection is held for the whole run (assets/resources.py): unbounded, DuckDB's buffer cache kept
# what every step read (its default limit is 80 % of RAM) and the process entered scoring ~0.4 GB heavier. Bounded,
# DuckDB evicts cached pages and spills big joins and sorts to `<warehouse>.tmp` (owner-only: the run's umask).
# 1M person records (bench/benchmark.py --person-only): with link.SCRATCH_MEMORY_LIMIT, peak 4.12 -> 3.41 GB at equal
# CPU seconds (198.9 / 203.6, noise).
RUN_MEMORY_LIMIT = "2GB"


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together or not at all (readers never see half of it)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


_SCRATCH: list[duckdb.DuckDBPyConnection] = []  # one in-memory database per process, opened on first use


@contextmanager
def scratch() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of its own on an in-memory DuckDB kept for the process (views registered on it stay its own):
    opening a database costs ~25 ms, and staging parses timestamps a few times per source and run."""
    if not _SCRATCH:
        _SCRATCH.append(memory_db())
    cursor = _SCRATCH[0].cursor()
    try:
        yield cursor
    finally:
        cursor.close()


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **frames) -> Iterator[None]:
    """Each frame (pandas or Arrow) readable as the view its keyword names inside the block, unregistered after
    it, also on error. With transaction(): `with registered(con, _rows=frame), transaction(con): ...`."""
    for view, frame in frames.items():
        con.register(view, frame)
    try:
        yield
    finally:
        for view in frames:
            con.unregister(view)


def append_run(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, run_id: str) -> None:
    """Add one run's rows to a per-run table (created on first use, with its columns added when a newer version
    measures more), replacing what an earlier attempt of the same run wrote: in one transaction, so a reader
    sees the run's rows whole or not at all."""
    schema, name = table.split(".")
    target = f"{schema}.{quote(name)}"
    view = f"_append_{name}"
    with registered(con, **{view: frame}), transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {view} LIMIT 0")
        add_columns(con, table, dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})").fetchall()))
        con.execute(f"DELETE FROM {target} WHERE run_id = ?", [run_id])
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {view}")


def add_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> list[str]:
    """Add to schema.table the `columns` (name -> type) it lacks, names compared case-insensitively as DuckDB
    does (a table kept from an older version gains the newer columns). Returns the columns added."""
    schema, name = table.split(".")
    # The bound table's own columns (what ALTER TABLE binds), without a catalogue query (~2 extracts a source a day)
    known = {c.lower() for c in con.table(f"{schema}.{quote(name)}").columns}
    added = [c for c in columns if c.lower() not in known]
    for column in added:
        con.execute(f"ALTER TABLE {schema}.{quote(name)} ADD COLUMN {quote(column)} {columns[column]}")
    return added


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table,
                  types: dict[str, str] | None = None) -> int:
    """Replace schema.table with a pandas or Arrow frame; `types` casts columns (and types an empty
    pandas frame, whose missing columns become NULL). Returns rows."""
    schema, name = table.split(".")
    types = types or {}
    if isinstance(frame, pa.Table):
        columns = list(types) or frame.column_names
    else:
        columns = list(types) or list(frame.columns)
        for col in columns:
            if col not in frame.columns:
                frame[col] = None
    select = ", ".join(
        f"CAST({quote(c)} AS {types[c]}) AS {quote(c)}" if c in types else quote(c) for c in columns
    )
    view = f"_frame_{name}"
    with registered(con, **{view: frame}), transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{quote(name)} AS SELECT {select} FROM {view}")
    return len(frame)


def table_exists(con: duckdb.DuckDBPyConnection, table: str, views: bool = True) -> bool:
    """A table or view of that name in any attached database: what information_schema.tables lists (its definition
    reads these two catalogue functions, internal views left out), without building its thirteen columns. `views=False`:
    a table only, not a view of that name. Names compare as DuckDB binds them (case-insensitively)."""
    schema, name = table.split(".")
    # Fast path, ~0.15 against ~0.7 ms (~86 calls a day): the name bound in the run's own database, fully qualified
    # (`schema.name` alone also binds an attached database named `schema`). A miss may still be a temp table or one
    # of another attached database, and a view is a QUERY_RELATION: the catalogue decides those.
    database = scalar(con, "SELECT current_database()")
    try:
        found = con.table(f"{quote(database)}.{quote(schema)}.{quote(name)}")
    except duckdb.CatalogException:
        found = None
    if found is not None and found.type == "TABLE_RELATION":
        return True
    view = ("+ (SELECT count(*) FROM duckdb_views() WHERE NOT internal AND schema_name = $schema "
            "AND view_name = $name)") if views else ""
    return bool(scalar(con, f"""
        SELECT (SELECT count(*) FROM duckdb_tables() WHERE schema_name = $schema AND table_name = $name)
             {view}""", {"schema": schema, "name": name}))


def create_table_as(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, **params) -> None:
    """Rebuild schema.table from a SELECT (its `$name` parameters bound from `params`) and swap it in inside
    one transaction."""
    schema, name = table.split(".")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{quote(name)} AS {select_sql}", named(select_sql, **params))


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: str, value: str,
                 types: dict[str, str] | None = None, keep: tuple[str, list[str]] | None = None) -> list[str]:
    """Replace the rows of schema.table whose `key` column equals `value` with `frame`, in one transaction
    (one daily partition of a raw table), except the rows whose `keep[0]` column is in `keep[1]`. Columns
    are text unless `types` says otherwise; new columns of the frame are added (names compared
    case-insensitively, as DuckDB does), columns it lacks stay NULL. Returns the columns added."""
    schema, name = table.split(".")
    types = types or {}
    view = f"_rows_{name}"
    select = ", ".join(f"CAST({quote(c)} AS {types.get(c, 'VARCHAR')}) AS {quote(c)}" for c in frame.columns)
    with registered(con, **{view: frame}), transaction(con):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{quote(name)} AS SELECT {select} FROM {view} LIMIT 0")
        added = add_columns(con, table, {c: types.get(c, "VARCHAR") for c in frame.columns})
        column, kept = keep or (key, [])
        con.execute(f"DELETE FROM {schema}.{quote(name)} WHERE {quote(key)} = ? "
                    f"AND NOT list_contains(?::VARCHAR[], {quote(column)})", [value, kept])
        con.execute(f"INSERT INTO {schema}.{quote(name)} BY NAME SELECT {select} FROM {view}")
    return added
