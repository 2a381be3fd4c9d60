"""A published copy merged customer by customer holds what a copy written whole holds, and is written whole whenever
it does not hold the marts the changed customers lead from (pipeline/publish.py, issue 18)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from bench.compare_published import compare
from pipeline.dictionary import column_description
from pipeline.golden.changes import CHANGED_ROWS, GENERATION, changed_rows, replace_changed_rows
from pipeline.marts.customer_360 import ROWS, keep_older_rows, show_customer_360
from pipeline.publish import (
    MergeBasis,
    age_bands_moved,
    analyst_select,
    merged_tables,
    publish_marts,
    register_pseudonym,
)


def _day(con: duckdb.DuckDBPyConnection, timeline: list[tuple[str, int]], changed: list[str]):
    """The warehouse's marts of a day and the customers that changed since the day before."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("CREATE SCHEMA IF NOT EXISTS golden")
    con.execute("CREATE OR REPLACE TABLE marts.customer_timeline (customer_id VARCHAR, amount INTEGER)")
    con.executemany("INSERT INTO marts.customer_timeline VALUES (?, ?)", timeline)
    con.execute("CREATE OR REPLACE TABLE marts.segment_summary AS "
                "SELECT count(DISTINCT customer_id) AS customers FROM marts.customer_timeline")
    con.execute("CREATE OR REPLACE TABLE golden.changed_customers (customer_id VARCHAR, why VARCHAR)")
    if changed:
        con.executemany("INSERT INTO golden.changed_customers VALUES (?, 'inputs')", [(c,) for c in changed])
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


def test_a_copy_leaves_the_warehouse_vacuuming_its_deletes(tmp_path):
    """A copy is checkpointed without vacuuming its merged tables' deleted rows (a setting of the whole DuckDB
    instance): once it is written, or its writing failed, the warehouse's own checkpoints vacuum again, and a failed
    copy leaves nothing attached."""
    con = _day(duckdb.connect(str(tmp_path / "w.duckdb")), DAY_ONE, [])
    setting = "SELECT current_setting('max_vacuum_tasks')"
    default = con.execute(setting).fetchone()[0]
    assert default > 0
    copy = tmp_path / "copy.duckdb"
    publish_marts(con, copy, merge=_basis(None, "g1"))
    _day(con, DAY_TWO, CHANGED)
    publish_marts(con, copy, merge=_basis("g1", "g2"))
    assert merged_tables(copy) == ["customer_timeline"]
    assert con.execute(setting).fetchone()[0] == default

    def failing(table: str, columns: list[str]) -> str:
        raise RuntimeError(f"no SELECT list for {table}")

    with pytest.raises(RuntimeError):
        publish_marts(con, tmp_path / "failed.duckdb", select=failing)
    assert con.execute(setting).fetchone()[0] == default
    assert con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'published'").fetchone()[0] == 0


def _ranked(con: duckdb.DuckDBPyConnection, spend: dict[str, int], generation: tuple[str | None, str]) -> None:
    """A day's candidate of a mart whose rows rank every customer (customer_360's RFM), and the committed generation
    the day leads from."""
    con.execute("CREATE OR REPLACE TEMP TABLE candidate (customer_id VARCHAR, spend INTEGER, spend_rank BIGINT)")
    con.executemany("INSERT INTO candidate SELECT ?, ?, NULL", list(spend.items()))
    con.execute("UPDATE candidate c SET spend_rank = r.n FROM (SELECT customer_id, rank() OVER (ORDER BY spend) AS n "
                "FROM candidate) r WHERE r.customer_id = c.customer_id")
    con.execute(f"CREATE OR REPLACE TABLE {GENERATION} AS SELECT ?::VARCHAR AS previous, ?::VARCHAR AS current",
                list(generation))


def test_a_ranked_mart_is_merged_for_the_customers_whose_rows_changed(tmp_path):
    """customer_360's ranks move customers whose inputs did not change: the warehouse table takes the rows that
    differ, records them against the generation they changed from (kept across a run that stopped before
    committing), and a copy of that generation merges exactly them."""
    con = _day(duckdb.connect(str(tmp_path / "w.duckdb")), DAY_ONE, [])
    spend = {f"C{i}": 10 * i for i in range(40)}
    _ranked(con, spend, (None, "g0"))  # day one: its run commits g1
    assert replace_changed_rows(con, "marts.customer_360", "candidate") is None  # no table yet: written whole
    copy = tmp_path / "copy.duckdb"
    publish_marts(con, copy, merge=_basis(None, "g1"))

    _day(con, DAY_ONE, ["C5"])  # only C5's inputs changed: it now out-spends C6 and C7, whose ranks move
    _ranked(con, {**spend, "C5": 75}, ("g0", "g1"))
    assert replace_changed_rows(con, "marts.customer_360", "candidate") == 3
    # the run stopped before committing; the next one moves C39 out (gone) and C40 in (new)
    day_three = {**{k: v for k, v in spend.items() if k != "C39"}, "C5": 75, "C40": 1000}
    _ranked(con, day_three, ("g0", "g1"))
    assert replace_changed_rows(con, "marts.customer_360", "candidate") == 2
    _ranked(con, day_three, ("g1", "g2"))  # committed
    assert sorted(r[0] for r in con.execute(changed_rows("customer_360", "g1")).fetchall()) == [
        "C39", "C40", "C5", "C6", "C7"]
    basis = MergeBasis("g1", "g2", changed="golden.changed_customers", per_customer=frozenset({"customer_timeline"}),
                       own_changes={"customer_360": changed_rows("customer_360", "g1")})
    publish_marts(con, copy, merge=basis)
    assert merged_tables(copy) == ["customer_360", "customer_timeline"]
    whole = tmp_path / "whole.duckdb"
    publish_marts(con, whole)
    assert compare(copy, whole) == []
    with duckdb.connect(str(copy), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM marts.customer_360").fetchone()[0] == len(day_three)
        # the merged table kept the description analysts read in it (one written again is described again)
        assert c.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'customer_360' "
                         "AND column_name = 'customer_id'").fetchall() == [(column_description("customer_360",
                                                                                               "customer_id"),)]
    # the next run drops what the committed generation's copies took
    _ranked(con, day_three, ("g1", "g2"))
    assert replace_changed_rows(con, "marts.customer_360", "candidate") == 0
    assert con.execute(changed_rows("customer_360", "g1")).fetchall() == []


def _birth_dates(con: duckdb.DuckDBPyConnection, births: dict[str, str | None]) -> None:
    """The warehouse's customer_360 rows of a day: a birth date (the analysts' copy derives the age band from it and
    the reference date) and an e-mail (pseudonymised there)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("CREATE OR REPLACE TABLE marts.customer_360_rows (customer_id VARCHAR, birth_date DATE, email VARCHAR)")
    con.executemany("INSERT INTO marts.customer_360_rows VALUES (?, ?, ?)",
                    [(c, born, f"{c.lower()}@example.org") for c, born in births.items()])


def _bands(copy) -> dict[str, str | None]:
    with duckdb.connect(str(copy), read_only=True) as c:
        return dict(c.execute("SELECT customer_id, age_band FROM marts.customer_360_rows").fetchall())


def test_the_analysts_copy_merges_the_age_bands_a_moved_reference_date_crossed(tmp_path):
    """The analysts' copy derives each customer's age band from the birth date it does not hold and the reference
    date: when the date moves, the customers whose birthday crossed a band's edge are merged with the changed ones,
    and the copy equals one written whole on the new date (forward by a day, by 75 days, and back)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    register_pseudonym(con, b"a test key")
    births = {f"C{i}": f"{1950 + i}-06-15" for i in range(40)}  # no birthday near the dates below
    births |= {"TURNS_18": "2008-11-28", "TURNS_65": "1961-11-28", "TURNS_30": "1996-11-28", "UNKNOWN": None,
               "LEAP": "2008-02-29", "CHANGED": "1990-01-01"}
    _birth_dates(con, births)
    _day(con, DAY_ONE, [])
    day = date(2026, 11, 27)
    copy = tmp_path / "copy.duckdb"

    def publish(merge: MergeBasis, as_of: date, target=copy, moved=age_bands_moved):
        return publish_marts(con, target, select=analyst_select(), params={"as_of": as_of}, merge=merge, moved=moved)

    publish(_basis(None, "g0"), day)
    before = _bands(copy)
    assert (before["TURNS_18"], before["TURNS_65"], before["TURNS_30"]) == ("under 18", "55-64", "25-34")
    merged = []
    for n, as_of in enumerate([day + timedelta(days=1), day + timedelta(days=76), day + timedelta(days=75)], 1):
        births["CHANGED"] = f"{1990 - n}-01-01"  # a changed customer's birth date: merged as the changed are
        _birth_dates(con, births)
        _day(con, DAY_ONE, ["CHANGED"])
        basis = MergeBasis(f"g{n - 1}", f"g{n}", changed="golden.changed_customers",
                           per_customer=frozenset({"customer_360_rows"}))
        merged.append(publish(basis, as_of).merged)
        whole = tmp_path / f"whole{n}.duckdb"
        publish(MergeBasis(None, f"g{n}", changed="golden.changed_customers", per_customer=frozenset()), as_of, whole)
        assert compare(copy, whole) == [], as_of
        if n == 1:  # the two whose birthday on the moved day is a band's edge moved, no one else
            after = _bands(copy)
            assert {c for c in births if after[c] != before[c]} == {"TURNS_18", "TURNS_65"}
            assert (after["TURNS_18"], after["TURNS_65"]) == ("18-24", "65+")
    assert merged == [["customer_360_rows"]] * 3
    # without knowing which rows a move changes, a copy of another date is written whole
    _day(con, DAY_ONE, [])
    publish(MergeBasis("g3", "g4", changed="golden.changed_customers", per_customer=frozenset({"customer_360_rows"})),
            day, moved=None)
    assert merged_tables(copy) == []
    publish(MergeBasis(None, "g4", changed="golden.changed_customers", per_customer=frozenset()), day,
            tmp_path / "whole4.duckdb")
    assert compare(copy, tmp_path / "whole4.duckdb") == []


def test_an_older_warehouses_customer_360_table_becomes_its_rows(tmp_path):
    """An earlier version stored marts.customer_360 as a table: its rows become marts.customer_360_rows (recency, which
    the view derives, emptied) and its customers recorded as changed under the old name go; once the view stands in
    its place (or the rows exist), nothing is renamed again."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA golden")
    con.execute("CREATE TABLE marts.customer_360 AS SELECT 'C' || range AS customer_id, "
                "DATE '2026-11-01' AS last_purchase_at, range AS recency_days FROM range(3)")
    con.execute(f"CREATE TABLE {CHANGED_ROWS} AS SELECT * FROM (VALUES ('customer_360', 'C1', 'g1'), "
                "('customer_xref', 'C1', 'g1')) t(table_name, customer_id, base)")
    keep_older_rows(con)
    assert con.execute(f"SELECT customer_id, recency_days FROM {ROWS} ORDER BY 1").fetchall() == [
        ("C0", None), ("C1", None), ("C2", None)]
    assert con.execute(f"SELECT table_name FROM {CHANGED_ROWS}").fetchall() == [("customer_xref",)]
    con.execute(show_customer_360(date(2026, 11, 28)))  # the view in the table's place: left as it is
    keep_older_rows(con)
    assert con.execute(f"SELECT count(*) FROM {ROWS}").fetchall() == [(3,)]
    assert con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'customer_360'"
                       ).fetchall() == [("VIEW",)]
    assert con.execute("SELECT recency_days FROM marts.customer_360").fetchall() == [(27,)] * 3
