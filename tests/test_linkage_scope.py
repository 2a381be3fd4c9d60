"""The linkage input built for the records staging changed (pipeline/identity/input_scope.py) is the input built whole:
records nobody delivered again are read again when the data's name counts move a word they read."""

from __future__ import annotations

import duckdb

from pipeline.identity.features import linkage_input_sql
from pipeline.identity.input_scope import build_linkage_input
from pipeline.sql import quote
from pipeline.staging import PERSON_TYPES


def _stage(con, day: int, rows: list[tuple[str, str | None, str | None, str | None]]) -> None:
    """Stage `rows` (record id, first name, surname, e-mail) from the file of `day`, stamped as staging stamps it."""
    file = f"crm/day{day}.csv"
    for record_id, first, last, email in rows:
        con.execute("DELETE FROM staging.person_records WHERE source_record_id = ?", [record_id])
        con.execute("INSERT INTO staging.person_records (source, source_record_id, first_name_norm, "
                    "first_name_canonical, last_name_norm, email_key, _file, _line) VALUES ('crm', ?, ?, ?, ?, ?, ?, 1)",
                    [record_id, first, first, last, email, file])
    con.execute("INSERT INTO staging.staged_files VALUES ('crm', ?, ?, 'f', now())", [file, f"sha{day}"])


def _built_as_whole(con) -> bool:
    build = build_linkage_input(con, [], False, lambda con, table: 0)
    whole = con.execute(f"SELECT * FROM ({linkage_input_sql()}) ORDER BY unique_id").fetchall()
    assert con.execute("SELECT * FROM identity.linkage_input ORDER BY unique_id").fetchall() == whole
    return build


def test_a_record_not_delivered_again_is_read_again_when_a_word_it_reads_changes_side():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging; CREATE SCHEMA identity")
    con.execute(f"CREATE TABLE staging.person_records ({', '.join(f'{quote(c)} {t}' for c, t in PERSON_TYPES.items())})")
    con.execute("CREATE TABLE staging.staged_files (source VARCHAR, file VARCHAR, sha256 VARCHAR, fingerprint VARCHAR, "
                "staged_at TIMESTAMP)")
    # 'morel' alone is a first name; 'jeanmartin@' reads nothing while no record holds 'martin' as a surname
    _stage(con, 1, [("1", "morel", None, None), ("2", None, None, "jeanmartin@mail.fr"), ("3", "jean", "roux", None),
                    ("4", "jean", "blanc", None), ("9", "paul", "petit", None)])
    _built_as_whole(con)
    with_martin = con.execute("SELECT first_name, last_name FROM identity.linkage_input WHERE source_record_id = '2'")
    assert with_martin.fetchall() == [(None, None)]

    # Day two: two Morels and a Martin arrive; records 1 and 2 are not delivered again but read otherwise now
    _stage(con, 2, [("5", "anne", "morel", None), ("6", "luc", "morel", None), ("7", "eve", "martin", None)])
    rows, _ = _built_as_whole(con)
    assert rows < 7
    assert con.execute("SELECT source_record_id, first_name, last_name FROM identity.linkage_input "
                       "WHERE source_record_id IN ('1', '2') ORDER BY 1").fetchall() == [
        ("1", None, "morel"), ("2", "jean", "martin")]

    # Day three: the Martin leaves staging (a record retired or erased), and a delivery changes another record
    con.execute("DELETE FROM staging.person_records WHERE source_record_id = '7'")
    _stage(con, 3, [("9", "paul", "petit", "paul@mail.fr")])
    rows, _ = _built_as_whole(con)
    assert rows < 7
    assert con.execute("SELECT first_name, last_name FROM identity.linkage_input WHERE source_record_id = '2'"
                       ).fetchall() == [(None, None)]
    # no name is kept beside the input: a word's hash and length only
    assert "martin" not in str(con.execute("SELECT * FROM identity.linkage_name_counts").fetchall())
