"""pipeline/sql.py and the warehouse helpers on a real DuckDB: names and paths that would break hand-made SQL,
parameters bound by name, and a per-run append that is whole or absent."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from pipeline.sql import literal, named, qualified, quote, raw_table, scalar
from pipeline.warehouse import append_run, registered, table_exists


def test_names_and_paths_with_quotes_reach_duckdb_intact(tmp_path):
    folder = tmp_path / "l'été \"quoted\""
    folder.mkdir()
    (folder / "t.csv").write_text("a\n1\n2\n", encoding="utf-8")
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    hostile = 'shop"; DROP TABLE x; --'
    con.execute(f"CREATE TABLE {raw_table(hostile)} AS SELECT * FROM read_csv({literal(folder / 't.csv')})")
    assert scalar(con, f"SELECT sum(a) FROM {qualified('raw', hostile)}") == 3
    assert raw_table("shop", files=True) == 'raw."shop__files"' and quote('a"b') == '"a""b"'
    assert scalar(con, "SELECT 1 WHERE false") is None


def test_named_parameters_pass_only_what_the_query_uses():
    con = duckdb.connect()
    sql = "SELECT $as_of::DATE - INTERVAL 1 DAY, $as_of::DATE"
    params = named(sql, as_of=date(2026, 3, 1), unused=5)  # DuckDB refuses a value the query does not use
    assert params == {"as_of": date(2026, 3, 1)}
    assert con.execute(sql, params).fetchall()[0][1] == date(2026, 3, 1)
    with pytest.raises(ValueError, match="as_of"):
        named(sql)


def test_a_per_run_append_is_whole_or_absent_and_replaces_a_retry():
    con = duckdb.connect()
    append_run(con, "marts.figures", pd.DataFrame({"run_id": ["r1", "r1"], "n": [1, 2]}), "r1")
    append_run(con, "marts.figures", pd.DataFrame({"run_id": ["r2"], "n": [3], "added": ["x"]}), "r2")
    append_run(con, "marts.figures", pd.DataFrame({"run_id": ["r2"], "n": [4], "added": ["y"]}), "r2")  # a retry
    assert con.execute("SELECT run_id, n, added FROM marts.figures ORDER BY n").fetchall() == [
        ("r1", 1, None), ("r1", 2, None), ("r2", 4, "y")]
    with pytest.raises(duckdb.Error):  # a value the column cannot hold: nothing of r3 is kept, r2 is untouched
        append_run(con, "marts.figures", pd.DataFrame({"run_id": ["r3", "r2"], "n": ["5", "not a number"]}), "r2")
    assert con.execute("SELECT run_id, n FROM marts.figures WHERE run_id <> 'r1'").fetchall() == [("r2", 4)]
    assert not con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()


def test_registered_views_are_gone_after_an_error():
    con = duckdb.connect()
    with pytest.raises(ZeroDivisionError), registered(con, _a=pd.DataFrame({"x": [1]})):
        assert scalar(con, "SELECT x FROM _a") == 1
        1 / 0  # noqa: B018 - fails inside the block
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM _a")


def test_table_exists_finds_what_information_schema_lists(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA s; CREATE TABLE s.t (a INT); CREATE VIEW s.v AS SELECT 1 AS a; CREATE TEMP TABLE tt (a INT)")
    con.execute(f"ATTACH '{tmp_path / 'other.duckdb'}' AS other; CREATE SCHEMA other.o; CREATE TABLE other.o.t (a INT); "
                "CREATE TABLE other.main.m (a INT)")
    # `other.m` names no schema `other` (DuckDB alone would bind it to the attached database); names compare as
    # DuckDB binds them, case-insensitively (`S.T` is s.t)
    names = ["s.t", "s.v", "main.tt", "o.t", "s.missing", "missing.t", "S.T", "information_schema.tables", "other.m"]
    listed = {f"{s}.{n}".lower() for s, n in
              con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    assert [table_exists(con, n) for n in names] == [n.lower() in listed for n in names]
    assert [table_exists(con, n) for n in names[:4]] == [True] * 4
    # a table only: the view's name is not one
    tables = {f"{s}.{n}".lower() for s, n in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type <> 'VIEW'").fetchall()}
    assert [table_exists(con, n, views=False) for n in names] == [n.lower() in tables for n in names]
    assert [table_exists(con, n, views=False) for n in names[:4]] == [True, False, True, True]
