"""The one owner of how Python text becomes DuckDB SQL: identifiers, literals, parameters, single values.

House rules (README "Layout"):
- A value from data or settings is bound as a parameter, never spliced: `?` when it appears once, `$name`
  when a query uses it more than once (`named(sql, **values)` passes only the names the query uses).
- A name from configuration (a source name from the sources file, a column) goes in through `quote` /
  `raw_table`: double-quoted, so any spelling is one identifier and cannot end the statement.
- A text the SQL must hold itself (a file path in a view, a constant list) goes in through `literal`.
- One value of a query: `scalar(con, sql, params)`; one row: `one(...)`.
- A long query with no placeholder lives in `pipeline/queries/<name>.sql`, read by `query(name)`: sqlfluff lints it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

_NAMED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """schema."name": the schemas are the pipeline's own (raw, staging...), the name may come from configuration."""
    return f"{schema}.{quote(name)}"


def raw_table(source_name: str, files: bool = False) -> str:
    """A source's raw table (raw."<name>"), or its file ledger (raw."<name>__files")."""
    return qualified("raw", f"{source_name}__files" if files else source_name)


def literal(value: str | Path) -> str:
    """A single-quoted SQL string literal (embedded quotes doubled): file paths where no parameter is allowed
    (a view's body, a DDL statement), constant lists."""
    return "'" + str(value).replace("'", "''") + "'"


def literals(values: Iterable[str]) -> str:
    """Comma-separated literals, for IN (...) or a list [...]."""
    return ", ".join(literal(v) for v in values)


def named(sql: str, **values) -> dict:
    """The `$name` parameters `sql` uses, with their values: DuckDB refuses a value the query does not use."""
    used = set(_NAMED.findall(sql))
    missing = used - set(values)
    if missing:
        raise ValueError(f"no value for SQL parameter(s) {sorted(missing)}")
    return {k: v for k, v in values.items() if k in used}


def exact_sum(expr: str, where: str | None = None) -> str:
    """SQL for sum(expr) (FILTER (WHERE where)) as a DOUBLE that does not depend on the order rows are added in: summed
    as decimals. A sum of doubles moves in its last bits with the order DuckDB's threads add them, so a customer's
    revenue differed between runs (83 of 92k customers at 1M) and a stored total looked changed when it was not."""
    filtered = f" FILTER (WHERE {where})" if where else ""
    return f"CAST(sum(CAST({expr} AS DECIMAL(38, 9))){filtered} AS DOUBLE)"


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> tuple:
    """The single row of a query, () when none. (DuckDB 2 keeps a result open until fully fetched: no fetchone().)"""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else ()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None):
    """The single value of a query (its first row's first column), None when there is no row."""
    row = one(con, sql, params)
    return row[0] if row else None


_QUERIES = Path(__file__).parent / "queries"


def query(name: str) -> str:
    """The text of `pipeline/queries/<name>.sql`: a long query kept as SQL, where sqlfluff lints it (make lint)."""
    return (_QUERIES / f"{name}.sql").read_text(encoding="utf-8")
