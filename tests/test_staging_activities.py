"""Activity-only sources staged in DuckDB (pipeline/staging_activities.py) give the staging tables stage_source gives
in pandas: the same activities, field issues and quarantined rows, on hostile values (padded, blank, unreadable,
ISO timestamps beside the declared format, numbers with thousands marks, ratings out of range, missing and repeated
record ids, unreadable lines)."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from pipeline.config import load_sources
from pipeline.staging import NO_DATE_NOR_PERSON, stage_source
from pipeline.staging_activities import in_sql
from pipeline.staging_changes import TABLES, _create_tables, _insert, stage_changes

TODAY = date(2026, 11, 26)
SOURCES = """
sources:
  - name: crm
    channel: offline
    format: csv
    files: crm/*.csv
    record_id: id
    person: {first_name: prenom, email: email}
  - name: till
    channel: offline
    format: csv
    files: till/*.csv
    decimal: ","
    record_id: ticket
    date_formats: ['%d/%m/%Y %H:%M']
    person_ref: {source: crm, column: carte}
    activity: {type: store_purchase, occurred_at: achat, closed_at: fin, amount: montant, quantity: articles,
               store_id: magasin}
  - name: reviews
    channel: online
    format: csv
    files: reviews/*.csv
    record_id: review
    updated_at: edited
    date_formats: ['%Y-%m-%d']
    activity: {type: review, occurred_at: written, rating: stars, category: sku, status: state}
"""
PADS = ["", " ", "\t", "\u00a0", "\u3000", "\n"]
VALUES = {
    "achat": ["02/01/2026 10:30", "2026-01-02T10:30:00", "2026-01-02 10:30:00+02:00", "31/02/2026 10:00", "x", ""],
    "fin": [None, "03/01/2026 08:00", "soon"],
    "montant": ["12,50", "1 234,56", "1.234,5", "\u20ac 3,00", "abc", "nan", "-0,0", "7"],
    "articles": ["2", "2,5", "3.5", "0.5", "x", "-1"],
    "magasin": [" S01", "S02 ", "", None],
    "carte": [" C1 ", "C2", None, ""],
    "written": ["2026-01-05", "2026-1-5", "2026-01-05T09:00:00", "05/01/2026", "2026-02-30"],
    "edited": ["2026-01-06", "never", None],
    "stars": ["1", "5", "0", "6", "4.5", "2.5", "three", " 3 "],
    "sku": ["A-1", " B-2 ", None], "state": ["ok", "", "hidden"],
}


def _raw(columns: list[str], record_id: str, folder: str, n: int = 300) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = {c: None if (values := VALUES[c])[(i * (k + 1)) % len(values)] is None
               else PADS[(i + k) % len(PADS)] + values[(i * (k + 1)) % len(values)] + PADS[(i * 3 + k) % len(PADS)]
               for k, c in enumerate(columns)}
        error, line = ("unterminated quote", f'"T{i};') if i % 37 == 0 else (None, None)
        rows.append({record_id: None if i % 31 == 0 else f" T{i % 260} ", **row, "extra": f"x{i}",
                     "_file": f"{folder}/{i // 150}.csv", "_line": i % 150 + 2, "_error": error, "_raw": line,
                     "_drop": "2026-11-20"})
    return pd.DataFrame(rows, dtype=object).astype({"_line": "int64"})


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    return {t: con.execute(f"SELECT * FROM staging.{t} ORDER BY ALL").fetchall() for t in TABLES}


def _staged_both_ways(tmp_path, raws: list[tuple]) -> dict[str, list]:
    """stage_changes (DuckDB SQL for activity-only sources) and stage_source (pandas) of the same raw rows: their
    staging tables, asserted equal."""
    with duckdb.connect(str(tmp_path / "sql.duckdb")) as sql, duckdb.connect(str(tmp_path / "pandas.duckdb")) as pd_:
        for con in (sql, pd_):
            con.execute("CREATE SCHEMA raw")
            for source, raw in raws:
                con.register("_raw_rows", raw)
                con.execute(f'CREATE TABLE raw."{source.name}" AS SELECT * FROM _raw_rows')
                con.execute(f'CREATE TABLE raw."{source.name}__files" AS SELECT DISTINCT _file AS file, '
                            "'sha' || _file AS sha256, 'loaded' AS status, CAST($day AS VARCHAR) AS drop FROM _raw_rows",
                            {"day": TODAY.isoformat()})
                con.unregister("_raw_rows")
        stage_changes(sql, [source for source, _ in raws], TODAY, full_refresh=True)
        _create_tables(pd_, fresh=True)
        for source, raw in raws:
            _insert(pd_, stage_source(source, raw, TODAY))
        in_duckdb, in_pandas = _tables(sql), _tables(pd_)
    assert in_duckdb == in_pandas
    return in_duckdb


def test_activity_only_sources_stage_in_duckdb_as_in_pandas(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    _, till, reviews = load_sources(path)
    assert in_sql(till) and in_sql(reviews)
    in_duckdb = _staged_both_ways(tmp_path, [
        (till, _raw(["achat", "fin", "montant", "articles", "magasin", "carte"], "ticket", "till")),
        (reviews, _raw(["written", "edited", "stars", "sku", "state"], "review", "reviews"))])
    counts = {t: len(rows) for t, rows in in_duckdb.items()}
    assert counts["activities"] > 400 and counts["quarantine"] > 100 and counts["field_issues"] > 300
    issues = {(r[2], r[4].split(" ")[0]) for r in in_duckdb["field_issues"]}
    assert {f for f, _ in issues} == {"occurred_at", "closed_at", "amount", "quantity", "rating", "updated_at"}
    reasons = {r[4].split(";")[0].split(" (")[0] for r in in_duckdb["quarantine"]}
    assert reasons == {"unterminated quote", "missing record id", "duplicate record id", NO_DATE_NOR_PERSON.split(" (")[0]}


def test_a_date_two_declared_formats_read_differently_is_a_field_issue_in_both_ways(tmp_path):
    # A till that writes day first and month first, both declared: 03/04 is April 3rd or March 4th; neither is
    # taken (the first listed was, silently). 13/04 and 04/13 read one way; 05/05 reads the same both ways.
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES.replace("['%d/%m/%Y %H:%M']", "['%d/%m/%Y %H:%M', '%m/%d/%Y %H:%M']"), encoding="utf-8")
    till = load_sources(path)[1]
    written = ["03/04/2026 10:00", "13/04/2026 10:00", "04/13/2026 10:00", "05/05/2026 10:00", "2026-04-03 10:00"]
    raw = pd.DataFrame({"ticket": [f"T{i}" for i in range(5)], "achat": written, "carte": "C1",
                        "_file": "till/1.csv", "_line": range(2, 7), "_error": None, "_raw": None,
                        "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    tables = _staged_both_ways(tmp_path, [(till, raw)])
    assert len(tables["activities"]) == 5 and not tables["quarantine"]  # the record stays; only the value is unread
    with duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True) as con:
        occurred = dict(con.execute("SELECT source_record_id, strftime(occurred_at, '%Y-%m-%d') "
                                    "FROM staging.activities").fetchall())
        issues = con.execute("SELECT source_record_id, field, reason FROM staging.field_issues").fetchall()
    assert occurred == {"T0": None, "T1": "2026-04-13", "T2": "2026-04-13", "T3": "2026-05-05", "T4": "2026-04-03"}
    assert issues == [("T0", "occurred_at", "'03/04/2026 10:00' is ambiguous: 2026-04-03 10:00:00 (%d/%m/%Y %H:%M) or "
                       "2026-03-04 10:00:00 (%m/%d/%Y %H:%M) under the declared formats ['%d/%m/%Y %H:%M', "
                       "'%m/%d/%Y %H:%M']")]


def test_a_row_with_neither_date_nor_person_is_no_purchase_in_both_ways(tmp_path):
    # A spreadsheet's footer under the record id column (`Summe;;;48,00;`) was staged as a purchase of the total,
    # and each day's footer superseded the last as a version of it.
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    till = load_sources(path)[1]
    raw = pd.DataFrame({"ticket": ["T1", "T2", "T3", "Summe"], "achat": ["02/01/2026 10:30", None, "02/01/2026 11:00", " "],
                        "carte": ["C1", "C2", None, None], "montant": ["12,50", "3,00", "1,00", "16,50"],
                        "_file": "till/1.csv", "_line": range(2, 6), "_error": None, "_raw": None,
                        "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    tables = _staged_both_ways(tmp_path, [(till, raw)])
    assert sorted(r[1] for r in tables["activities"]) == ["T1", "T2", "T3"]  # a date or a person: kept
    assert [(r[3], r[4]) for r in tables["quarantine"]] == [("Summe", NO_DATE_NOR_PERSON)]


def test_a_label_in_the_date_column_is_no_date_in_both_ways(tmp_path):
    # A German till's footer puts its label under the date (`;;Summe;1.331,49 €`): it was `missing record id`, bad
    # data, and a till of three receipts a day read 25 % quarantined and blocked every run. A date holds a digit.
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    till = load_sources(path)[1]
    raw = pd.DataFrame({"ticket": ["T1", "T2", None, None], "achat": ["02/01/2026 10:30", "Mittag", "Summe", "２６/１１"],
                        "carte": ["C1", None, None, None], "montant": ["12,50", "3,00", "1.331,49 €", "1,00"],
                        "_file": "till/1.csv", "_line": range(2, 6), "_error": None, "_raw": None,
                        "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    tables = _staged_both_ways(tmp_path, [(till, raw)])
    assert sorted(r[1] for r in tables["activities"]) == ["T1"]
    assert sorted((r[2], r[4]) for r in tables["quarantine"]) == [
        (3, NO_DATE_NOR_PERSON), (4, NO_DATE_NOR_PERSON), (5, "missing record id (column 'ticket')")]


def test_a_mark_that_cannot_group_thousands_is_the_decimal_one_in_both_ways(tmp_path):
    # '12.5' in a till declaring ',' (a JSON number, a second export tool) was read as 125, '2,0' articles as 20, and a
    # review's '4,0' stars (a source declaring '.') as 40, then dropped as out of range: silently. A mark between
    # groups of three digits stays a thousands separator as declared ('1.234' is 1234 under ',').
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    _, till, reviews = load_sources(path)
    amounts, articles = ["12.5", "1.234", "1.234,56", "0,99", "1,234.5", "1.2.3"], ["2,0", "1", "3.0", "1.000", "2", "1"]
    till_raw = pd.DataFrame({"ticket": [f"T{i}" for i in range(6)], "achat": "02/01/2026 10:30", "carte": "C1",
                             "montant": amounts, "articles": articles, "_file": "till/1.csv", "_line": range(2, 8),
                             "_error": None, "_raw": None, "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    reviews_raw = pd.DataFrame({"review": ["R1", "R2", "R3"], "written": "2026-01-05", "stars": ["4,0", "4.0", "3,5"],
                                "_file": "reviews/1.csv", "_line": range(2, 5), "_error": None, "_raw": None,
                                "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    _staged_both_ways(tmp_path, [(till, till_raw), (reviews, reviews_raw)])
    with duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True) as con:
        staged = dict(con.execute("SELECT source_record_id, (amount, quantity, rating) FROM staging.activities").fetchall())
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues").fetchall()
    assert staged == {"T0": (12.5, 2, None), "T1": (1234.0, 1, None), "T2": (1234.56, 3, None), "T3": (0.99, 1000, None),
                      "T4": (1234.5, 2, None), "T5": (None, 1, None), "R1": (None, None, 4), "R2": (None, None, 4),
                      "R3": (None, None, 4)}
    assert issues == [("T5", "amount")]


def test_a_count_beyond_an_integer_is_a_field_issue_in_both_ways_not_a_failed_step(tmp_path):
    # One till line of 99999999999999999999999 articles stopped the whole staging step with DuckDB's conversion
    # error (`with value 1e+23 can't be cast`), every source's day with it; a review's stars the same in pandas.
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    _, till, reviews = load_sources(path)
    till_raw = pd.DataFrame({"ticket": ["T0", "T1", "T2"], "achat": "02/01/2026 10:30", "carte": "C1", "montant": "1",
                             "articles": ["99999999999999999999999", "3000000000", "2147483647"], "_file": "till/1.csv",
                             "_line": range(2, 5), "_error": None, "_raw": None, "_drop": "2026-11-20"},
                            dtype=object).astype({"_line": "int64"})
    reviews_raw = pd.DataFrame({"review": ["R1", "R2"], "written": "2026-01-05", "stars": ["1e30", "5"],
                                "_file": "reviews/1.csv", "_line": range(2, 4), "_error": None, "_raw": None,
                                "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    tables = _staged_both_ways(tmp_path, [(till, till_raw), (reviews, reviews_raw)])
    staged = {r[1]: r for r in tables["activities"]}
    with duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT source_record_id, (quantity, rating) FROM staging.activities").fetchall())
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues ORDER BY ALL").fetchall()
    assert set(staged) == {"T0", "T1", "T2", "R1", "R2"}  # every row staged, its count left out
    assert counts == {"T0": (None, None), "T1": (None, None), "T2": (2147483647, None), "R1": (None, None),
                      "R2": (None, 5)}
    assert issues == [("R1", "rating"), ("T0", "quantity"), ("T1", "quantity")]


def test_an_amount_no_till_writes_is_a_field_issue_in_both_ways_and_revenue_still_sums(tmp_path):
    # A card number or a phone in the amount column (`99999999999999999999999999999`) was staged as an amount, and
    # summing it as DECIMAL(38, 9) (sql.exact_sum) stopped the day's golden and review steps with DuckDB's conversion
    # error, which quoted the number unquoted (`Could not cast value 99999999999999991433150857216.000000`).
    from pipeline.sql import exact_sum

    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    _, till, _ = load_sources(path)
    till_raw = pd.DataFrame({"ticket": ["T0", "T1", "T2"], "achat": "02/01/2026 10:30", "carte": "C1",
                             "montant": ["99999999999999999999999999999", "-1e16", "999999999999,99"],
                             "articles": "1", "_file": "till/1.csv", "_line": range(2, 5), "_error": None,
                             "_raw": None, "_drop": "2026-11-20"}, dtype=object).astype({"_line": "int64"})
    _staged_both_ways(tmp_path, [(till, till_raw)])
    with duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True) as con:
        amounts = dict(con.execute("SELECT source_record_id, amount FROM staging.activities").fetchall())
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues ORDER BY ALL").fetchall()
        total = con.execute(f"SELECT {exact_sum('amount')} FROM staging.activities").fetchone()[0]
    assert amounts == {"T0": None, "T1": None, "T2": 999999999999.99}
    assert issues == [("T0", "amount"), ("T1", "amount")] and total == 999999999999.99


def test_a_currency_column_gives_each_amount_its_currency_in_both_ways(tmp_path):
    # A Shopify-like export names each order's currency in its own column: the amount is in it (`$` read as the
    # column's dollar), an empty cell leaves the source's, and a cell naming no currency or another currency than the
    # amount writes is the amount's field issue. Until 2026-11-29 `activity.currency` was no field at all.
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES.replace("store_id: magasin}", "store_id: magasin, currency: devise}")
                    .replace("decimal: \",\"", "decimal: \",\"\n    currency: CHF"), encoding="utf-8")
    till = load_sources(path)[1]
    rows = [("T1", "12,50", "gbp"), ("T2", "$5", "CAD"), ("T3", "7", ""), ("T4", "7", None), ("T5", "€3", "USD"),
            ("T6", "8", "XYZ"), ("T7", "9", " £ "), ("T8", "", "GBP"), ("T9", "3", "EUR")]
    raw = pd.DataFrame({"ticket": [r[0] for r in rows], "achat": "02/01/2026 10:30", "carte": "C1",
                        "montant": [r[1] for r in rows], "devise": [r[2] for r in rows], "_file": "till/1.csv",
                        "_line": range(2, 2 + len(rows)), "_error": None, "_raw": None, "_drop": "2026-11-20"},
                       dtype=object).astype({"_line": "int64"})
    tables = _staged_both_ways(tmp_path, [(till, raw)])
    with duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True) as con:
        staged = dict(con.execute("SELECT source_record_id, (amount, currency) FROM staging.activities").fetchall())
        issues = dict(con.execute("SELECT source_record_id, reason FROM staging.field_issues").fetchall())
    assert staged == {"T1": (12.5, "GBP"), "T2": (5.0, "CAD"), "T3": (7.0, "CHF"), "T4": (7.0, "CHF"),
                      "T5": (None, None), "T6": (None, None), "T7": (9.0, "GBP"), "T8": (None, None),
                      "T9": (3.0, "EUR")}
    assert issues == {"T5": "'€3' writes EUR, its currency column USD",
                      "T6": "'XYZ' is no currency (an ISO 4217 code, sign or name): its amount left out"}
    assert len(tables["activities"]) == len(rows) and not tables["quarantine"]
