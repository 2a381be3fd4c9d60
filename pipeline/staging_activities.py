"""An activity-only source (orders, receipts, sessions: no person mapping) staged in DuckDB: its rows never framed.

Three quarters of the demo's rows are such activities; read into pandas, staged there and inserted back they cost
~7.5 CPU s of a 1M full run, for rules that hold per row or per distinct value. Here the rows go from the raw
table to staging.activities in SQL, by stage_prepared's rules (pipeline/staging.py), which tests/test_staging_activities.py
checks table for table on hostile rows:
- a row is rejected for its extract error, a missing record id, or a later version of its record id (file, line);
- timestamps by values.strptime_sql (DuckDB's try_strptime with the declared formats, as values.parse_datetimes); the values it cannot read
  (ISO 8601, errors with their reason) and every number go through values.py once per distinct value, joined back;
- the few rejected rows go through quarantine_rows, with their raw values read back by file and line.
A source whose rules need Python per row (consent mappings) or DuckDB's time zones (a %z format) stays in pandas.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd

from pipeline.config import Source
from pipeline.normalise import values
from pipeline.sql import named, scalar
from pipeline.staging import NO_DATE_NOR_PERSON, SUPERSEDED_BY, Staged, footer_rule, quarantine_rows
from pipeline.staging_read import cleaned, new_files, prepared_query, raw_columns, raw_rows
from pipeline.warehouse import registered

ROWS = "_activity_rows"  # the prepared rows of the files staged, with the reason a row is rejected (NULL: kept)
PARSED = "_activity_values"  # field, distinct text -> timestamp or number and the reason it is unreadable
TIMESTAMPS = ("updated_at", "occurred_at", "closed_at")
NUMBERS = ("amount", "quantity", "rating")
PASSED = ("status", "category", "store_id", "device_id", "collection_point")  # staged as read (trimmed)


def in_sql(source: Source) -> bool:
    """Whether stage_activities can stage the source."""
    return (bool(source.activity) and not source.has_person and source.activity_type != "consent"
            and not {"consent_channel", "consent_action"} & set(source.activity) and not source.activity_values
            and not any("%z" in f or "%Z" in f for f in source.date_formats))


def stage_activities(con: duckdb.DuckDBPyConnection, source: Source, files: list[str],
                     insert: Callable[[duckdb.DuckDBPyConnection, Staged], None]) -> tuple[int, pd.DataFrame]:
    """Stage the rows of `files` into staging.activities and field_issues, the rejected ones into quarantine through
    `insert` (staging_changes._insert). Returns the number of raw rows and the record ids staged."""
    present = raw_columns(con, source)
    mapped = {**source.activity, "updated_at": source.updated_at,
              "person_record_id": source.person_ref.column if source.person_ref else source.record_id}
    fields = {f: cleaned(source, c, present) for f, c in mapped.items() if c is not None}
    superseded_before, superseded_after = SUPERSEDED_BY.split("{kept}")  # around the kept version's file:line
    # before a missing id: a footer's id column is often empty too (`;;;1.258,05;5;`), and only this reason sets it apart
    # a label in the date column (`;;Summe;1.331,49 €`) is no date either: a date holds a digit (staging.py alike)
    footer = (f"WHEN NOT coalesce(regexp_matches({fields['occurred_at']}, '\\p{{Nd}}'), false) "
              f"AND {fields['person_record_id']} IS NULL THEN $no_date_nor_person" if footer_rule(source) else "")
    with registered(con, _new_files=new_files(files)):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {ROWS} AS
            WITH prepared AS MATERIALIZED (
                SELECT *, coalesce(_error, CASE {footer} WHEN _record_id IS NULL THEN $missing_id END) AS early
                FROM ({prepared_query(source, present)})),
            -- the same record id twice: the last version read (latest file, last line) wins
            latest AS (SELECT _record_id, max(struct_pack(_file, _line)) AS kept FROM prepared WHERE early IS NULL
                       GROUP BY _record_id HAVING count(*) > 1)
            SELECT prepared.* EXCLUDE (early), coalesce(early, CASE WHEN struct_pack(_file, _line) <> kept THEN
                $superseded_before || kept._file || ':' || kept._line || $superseded_after END) AS _reason
            FROM prepared LEFT JOIN latest USING (_record_id)""",
                    {"missing_id": f"missing record id (column '{source.record_id}')",
                     "superseded_before": superseded_before, "superseded_after": superseded_after,
                     **({"no_date_nor_person": NO_DATE_NOR_PERSON} if footer else {})})
    rejected = con.execute(f"SELECT _file, _line, _record_id, _reason FROM {ROWS} WHERE _reason IS NOT NULL "
                           "ORDER BY _file, _line").df()
    if len(rejected):
        insert(con, Staged(persons=None, activities=None, field_issues=None, quarantine=quarantine_rows(
            source, raw_rows(con, source, rejected), rejected["_reason"])))
    unreadable = _parse(con, source, fields)
    _insert_activities(con, source, fields, unreadable)
    rows = scalar(con, f"SELECT count(*) FROM {ROWS}")
    ids = con.execute(f"SELECT DISTINCT _record_id AS source_record_id FROM {ROWS} WHERE _reason IS NULL").df()
    con.execute(f"DROP TABLE {ROWS}")
    con.execute(f"DROP TABLE {PARSED}")
    return rows, ids


def _distinct(con: duckdb.DuckDBPyConnection, column: str, where: str = "true", params: dict | None = None) -> list:
    """The distinct values of a column of the kept rows (those `where` holds for)."""
    return [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {ROWS} WHERE _reason IS NULL AND {column} "
                                      f"IS NOT NULL AND {where}", params).fetchall()]


def _parse(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, str]) -> set[str]:
    """PARSED: what values.py makes of each distinct value DuckDB cannot read as a timestamp and of every distinct
    number, with the reason it is unreadable. Returns the fields with an unreadable value."""
    parsed = []  # (field, text, its currency column's text, timestamp, number, currency, reason)
    for field in (f for f in TIMESTAMPS if f in fields):
        for text in _distinct(con, fields[field], f"{values.strptime_sql(fields[field], source.date_formats)} IS NULL",
                              values.format_params(source.date_formats)):
            stamp, why = values.parse_datetime(text, source.date_formats)
            parsed.append((field, text, None, stamp, None, None, why))
    if "amount" in fields:  # per distinct amount and the cell of its currency column, when the source maps one
        cell = fields.get("currency", "NULL::VARCHAR")
        for text, currency_cell in con.execute(f"SELECT DISTINCT {fields['amount']}, {cell} FROM {ROWS} "
                                               f"WHERE _reason IS NULL AND {fields['amount']} IS NOT NULL").fetchall():
            parsed.append(("amount", text, currency_cell, None,
                           *values.parse_priced(text, currency_cell, source.decimal, source.currency)))
    for field in (f for f in NUMBERS if f != "amount" and f in fields):  # counts
        for text in _distinct(con, fields[field]):
            number, why = values.parse_count(text, source.decimal)
            parsed.append((field, text, None, None, number, None, why))
    field, text, cell, stamp, number, currency, why = zip(*parsed, strict=True) if parsed else ((),) * 7
    frame = pd.DataFrame({"field": pd.Series(field, dtype=object), "v": pd.Series(text, dtype=object),
                          "c": pd.Series(cell, dtype=object),
                          "stamp": pd.Series(stamp, dtype="datetime64[us]"),
                          "number": pd.Series(number, dtype="float64"), "currency": pd.Series(currency, dtype=object),
                          "why": pd.Series(why, dtype=object)})
    with registered(con, _parsed=frame):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PARSED} AS SELECT field::VARCHAR AS field, v::VARCHAR AS v, "
                    "c::VARCHAR AS c, "
                    "stamp::TIMESTAMP AS stamp, number::DOUBLE AS number, currency::VARCHAR AS currency, "
                    "why::VARCHAR AS why FROM _parsed")
    return {f for f, *_, why in parsed if why is not None}


def _insert_activities(con: duckdb.DuckDBPyConnection, source: Source, fields: dict[str, str],
                       unreadable: set[str]) -> None:
    """The kept rows into staging.activities; each value of the `unreadable` fields that is into staging.field_issues."""
    parsed = [f for f in (*TIMESTAMPS, *NUMBERS) if f in fields]
    def match(f: str, alias: str) -> str:  # a row's parsed value: by its text, and an amount by its currency cell too
        currency = f" AND {alias}.c IS NOT DISTINCT FROM {fields['currency']}" \
            if f == "amount" and "currency" in fields else ""
        return f"{alias}.field = '{f}' AND {alias}.v = {fields[f]}{currency}"

    joins = " ".join(f"LEFT JOIN {PARSED} {f} ON {match(f, f)}" for f in parsed)

    def stamp(f: str) -> str:
        return f"coalesce({values.strptime_sql(fields[f], source.date_formats)}, {f}.stamp)" if f in fields \
            else "NULL::TIMESTAMP"

    def number(f: str) -> str:  # pandas' round() (half to even) before the integer columns' cast
        return f"round_even({f}.number, 0)" if f in fields else "NULL::DOUBLE"

    sql = f"""INSERT INTO staging.activities BY NAME
        SELECT $source AS source, _record_id AS source_record_id, $channel AS channel, $type AS activity_type,
               $person_source AS person_source, {fields["person_record_id"]} AS person_record_id,
               {stamp("occurred_at")} AS occurred_at, {stamp("closed_at")} AS closed_at,
               {"amount.number" if "amount" in fields else "NULL::DOUBLE"} AS amount,
               {"CASE WHEN amount.number IS NOT NULL THEN coalesce(amount.currency, $currency) END"
                if "amount" in fields else "NULL::VARCHAR"} AS currency,
               CAST({number("quantity")} AS INTEGER) AS quantity,
               CASE WHEN {number("rating")} BETWEEN 1 AND 5 THEN CAST({number("rating")} AS INTEGER) END AS rating,
               {", ".join(f"{fields.get(f, 'NULL::VARCHAR')} AS {f}" for f in PASSED)},
               NULL AS consent_channel, NULL AS consent_action, _file, _line
        FROM {ROWS} {joins} WHERE _reason IS NULL ORDER BY _file, _line"""
    con.execute(sql, named(sql, source=source.name, channel=source.channel, type=source.activity_type,
                           person_source=source.person_ref.source if source.person_ref else source.name,
                           currency=source.currency,
                           **values.format_params(source.date_formats)))
    for f in (f for f in parsed if f in unreadable):  # a day's few rows seldom hold one: no statement then
        con.execute(f"""INSERT INTO staging.field_issues BY NAME
            SELECT $source AS source, _record_id AS source_record_id, $field AS field, p.v AS raw_value,
                   p.why AS reason, _file, _line
            FROM {ROWS} JOIN {PARSED} p ON {match(f, "p")}
            WHERE _reason IS NULL AND p.why IS NOT NULL ORDER BY _file, _line""", {"source": source.name, "field": f})
