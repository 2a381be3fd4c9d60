"""Compare the published tables of two runs row for row: the evidence that a refactoring changed no behaviour.

Usage (the demo at a seed, main's code and this branch's code into two warehouses, then the comparison):

    bench/compare_published.sh            # generates, runs both checkouts, compares
    python bench/compare_published.py A_DIR B_DIR

A_DIR and B_DIR each hold `published.duckdb` and `restricted.duckdb`. Every table of schema `marts` in both
files is compared as a multiset of rows (order-free), leaving out the columns that name the run itself
(run_id, measured_at, published_at...). Exit status 0 when every table matches, 1 otherwise; prints
table names and counts only (no personal value)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

# Columns that identify the run or the clock, not the data: they differ between any two runs.
RUN_COLUMNS = {"run_id", "measured_at", "published_at", "recorded_at", "logged_at", "created_at", "valid_from",
               "valid_to"}
# Splink's training sums floats in a thread-dependent order: two runs of the same code differ in the last digit
# of a match probability. Doubles are compared to this many decimals.
DECIMALS = 9


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'marts' "
        "ORDER BY 1", [catalog]).fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
        "AND table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position", [catalog, table]).fetchall()


def _compared(column: str, kind: str) -> str:
    q = '"' + column.replace('"', '""') + '"'
    return f"round({q}, {DECIMALS}) AS {q}" if kind in ("DOUBLE", "FLOAT") else q


def compare(a: Path, b: Path) -> list[str]:
    """Differences between the marts of two DuckDB files, one line each (empty: identical)."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS a (READ_ONLY)", [str(a)])
    con.execute("ATTACH ? AS b (READ_ONLY)", [str(b)])
    problems = []
    ta, tb = _tables(con, "a"), _tables(con, "b")
    if ta != tb:
        problems.append(f"{a.name}: tables differ: only before {sorted(set(ta) - set(tb))}, "
                        f"only after {sorted(set(tb) - set(ta))}")
    for table in sorted(set(ta) & set(tb)):
        ca, cb = _columns(con, "a", table), _columns(con, "b", table)
        if ca != cb:
            problems.append(f"{a.name} {table}: columns differ: {ca} vs {cb}")
            continue
        cols = ", ".join(_compared(c, kind) for c, kind in ca if c not in RUN_COLUMNS)
        q = f'"{table}"'
        rows_a, rows_b, only_a, only_b = con.execute(f"""
            SELECT (SELECT count(*) FROM a.marts.{q}), (SELECT count(*) FROM b.marts.{q}),
                   (SELECT count(*) FROM (SELECT {cols} FROM a.marts.{q} EXCEPT ALL SELECT {cols} FROM b.marts.{q})),
                   (SELECT count(*) FROM (SELECT {cols} FROM b.marts.{q} EXCEPT ALL SELECT {cols} FROM a.marts.{q}))
            """).fetchall()[0]
        status = "same" if rows_a == rows_b and only_a == only_b == 0 else "DIFFERENT"
        print(f"  {a.name:<18} {table:<22} {rows_a:>8} rows before {rows_b:>8} after  "
              f"{only_a:>6} only before {only_b:>6} only after  {status}")
        if status != "same":
            problems.append(f"{a.name} {table}: {only_a} rows only before, {only_b} only after")
    return problems


def main(argv: list[str]) -> int:
    before, after = Path(argv[0]), Path(argv[1])
    problems = []
    for name in ("published.duckdb", "restricted.duckdb"):
        problems += compare(before / name, after / name)
    for line in problems:
        print("DIFF", line)
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
