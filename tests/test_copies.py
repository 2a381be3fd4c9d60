"""A published copy merged customer by customer holds what a copy written whole holds, and is written whole whenever
it does not hold the marts the changed customers lead from (pipeline/publish.py, issue 18)."""

from __future__ import annotations

import duckdb

from bench.compare_published import compare
from pipeline.publish import MergeBasis, merged_tables, publish_marts


def _day(con: duckdb.DuckDBPyConnection, timeline: list[tuple[str, int]], changed: list[str]):
    """The warehouse's marts of a day and the customers that changed since the day before."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("CREATE SCHEMA IF NOT EXISTS golden")
    con.execute("CREATE OR REPLACE TABLE marts.customer_timeline (customer_id VARCHAR, amount INTEGER)")
    con.executemany("INSERT INTO marts.customer_timeline VALUES (?, ?)", timeline)
    con.execute("CREATE OR REPLACE TABLE marts.segment_summary AS "
                "SELECT count(DISTINCT customer_id) AS customers FROM marts.customer_timeline")
    con.execute("CREATE OR REPLACE TABLE golden.changed_customers (customer_id VARCHAR)")
    if changed:
        con.executemany("INSERT INTO golden.changed_customers VALUES (?)", [(c,) for c in changed])
    return con


def _basis(previous, current) -> MergeBasis:
    return MergeBasis(previous, current, changed="golden.changed_customers", per_customer=frozenset({"customer_timeline"}))


DAY_ONE = [(f"C{i}", i) for i in range(40) for _ in range(3)]
# C1 has a new order, C2 lost one (a record moved away), C3 is gone, C40 is new; nobody else changed.
DAY_TWO = [r for r in DAY_ONE if r[0] not in ("C2", "C3")] + [("C1", 100), ("C2", 2), ("C40", 7)]
CHANGED = ["C1", "C2", "C3", "C40"]


def test_a_merged_copy_holds_what_a_whole_copy_holds(tmp_path):
    con = _day(duckdb.connect(str(tmp_path / "w.duckdb")), DAY_ONE, [])
    copy = tmp_path / "copy.duckdb"
    publish_marts(con, copy, merge=_basis(None, "g1"))  # day one: written whole, holding g1
    assert merged_tables(copy) == []

    _day(con, DAY_TWO, CHANGED)
    publish_marts(con, copy, merge=_basis("g1", "g2"))
    assert merged_tables(copy) == ["customer_timeline"]  # the summary, no per-customer table, is written whole
    whole = tmp_path / "whole.duckdb"
    publish_marts(con, whole)
    assert compare(copy, whole) == []
    with duckdb.connect(str(copy), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM marts.customer_timeline").fetchone()[0] == len(DAY_TWO)


def test_a_copy_of_another_generation_or_query_is_written_whole(tmp_path):
    con = _day(duckdb.connect(str(tmp_path / "w.duckdb")), DAY_ONE, [])
    copy = tmp_path / "copy.duckdb"
    publish_marts(con, copy, merge=_basis(None, "g1"))
    _day(con, DAY_TWO, CHANGED)
    # the copy holds g1, but these changes lead from g0 (a run whose copies were not written, say)
    publish_marts(con, copy, merge=_basis("g0", "g2"))
    assert merged_tables(copy) == []
    # same generation, but written by another query (a pseudonym key changed, a column added): whole again
    publish_marts(con, copy, merge=_basis(None, "g2"))
    publish_marts(con, copy, merge=_basis("g2", "g3"), fingerprint="another key")
    assert merged_tables(copy) == []
    whole = tmp_path / "whole.duckdb"
    publish_marts(con, whole)
    assert compare(copy, whole) == []


def test_merged_rows_never_outgrow_the_table(tmp_path):
    """Deleted rows stay in the file until a whole write: once merged rows would exceed the rows written whole,
    the table is written whole again."""
    con = _day(duckdb.connect(str(tmp_path / "w.duckdb")), DAY_ONE, [])
    copy = tmp_path / "copy.duckdb"
    publish_marts(con, copy, merge=_basis(None, "g0"))
    everyone = sorted({c for c, _ in DAY_ONE})
    merged = []
    for day in range(1, 5):
        _day(con, DAY_ONE, everyone[:20])  # half the customers each day
        publish_marts(con, copy, merge=_basis(f"g{day - 1}", f"g{day}"))
        merged.append(merged_tables(copy))
    assert merged == [["customer_timeline"], ["customer_timeline"], [], ["customer_timeline"]]
