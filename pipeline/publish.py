"""Publish the marts to a separate DuckDB file for analysts, swapped in atomically.

DuckDB allows one writer per file, and an analyst's open session on the warehouse would block the run. The
marts are copied into `<name>.tmp`, then os.replace() swaps the file: readers that opened the old copy keep
reading it, new readers get the new one, nobody sees a half-built table and nobody locks the run out."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipeline.warehouse import quote


def publish_marts(con: duckdb.DuckDBPyConnection, target: Path, schema: str = "marts") -> dict[str, int]:
    """Copy every table of `schema` into the file `target` (as schema `marts`); returns rows per table."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_catalog = current_database() "
        "ORDER BY 1", [schema]).fetchall()]
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = str(tmp).replace("'", "''")
    con.execute(f"ATTACH '{path}' AS published")
    try:
        con.execute("CREATE SCHEMA published.marts")
        for table in tables:
            con.execute(f"CREATE TABLE published.marts.{quote(table)} AS SELECT * FROM {schema}.{quote(table)}")
        counts = {t: con.execute(f"SELECT count(*) FROM published.marts.{quote(t)}").fetchall()[0][0] for t in tables}
    finally:
        con.execute("DETACH published")
    os.replace(tmp, target)
    return counts
