"""Hostile deliveries of the tenth session, through real runs of the raw and staging layers: a JSON contact list
holding two e-mails, a file delivered twice, a record refused for an oversized field, and export habits of
spreadsheets and reporting tools (each written by hand, as a user's system would)."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd

from assets import runner
from assets.sources import FILES_LOADED
from pipeline.extract import LONE_SURROGATE_REASON
from tests.conftest import checks
from tests.hostile import CRM_HEADER, balanced, crm_rows, day, first_delivery, person, project, shop_lines, write

STAGING = {"layers": ("raw", "staging")}


def _run(settings, **options):
    results = runner.run(settings, console_level="CRITICAL", **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results


def test_every_email_of_a_contact_list_is_read_or_said(tmp_path, cli_env):
    # A shop's contacts array with two e-mails: the second was dropped without a word, then (until 2026-11-29) a field
    # issue of its record. The first is the record's e-mail, the second a further contact point of the record
    # (staging.person_contacts), never a key the export "renamed".
    settings = project(tmp_path)
    settings.sources_file.write_text("""
sources:
  - name: app
    channel: online
    format: jsonl
    files: app/**/*.jsonl
    trust_rank: 1
    record_id: id
    person:
      first_name: name.first
      last_name: name.last
      email: contacts[kind=email].value
      phone: contacts[kind=phone].value
""", encoding="utf-8")
    lines = [{"id": "A1", "name": {"first": "Ayşe", "last": "Kaya"},
              "contacts": [{"kind": "email", "value": "ayse@example.com"}, {"kind": "phone", "value": "0612345601"},
                           {"kind": "EMAIL", "value": "ayse.kaya@work.example"},
                           {"kind": "email", "value": "AYSE@example.com"}]},  # the first again: nothing lost
             {"id": "A2", "name": {"first": "Omar", "last": "Said"},
              "contacts": [{"kind": "email", "value": "omar@example.com"}]}]
    write(settings.raw_dir, "app", day(-1), "users.jsonl",
          "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode())
    results = _run(settings, **STAGING)
    assert checks(results[-1], by_asset=True)[(("raw", "app"), FILES_LOADED)].passed  # no key said renamed
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, email, phone FROM staging.person_records ORDER BY 1").fetchall() \
            == [("A1", "ayse@example.com", "+33612345601"), ("A2", "omar@example.com", None)]
        assert con.execute("SELECT source_record_id, kind, source_column, value, valid, raw FROM staging.person_contacts"
                           ).fetchall() == [("A1", "email", "contacts[kind=email].value", "ayse.kaya@work.example", True,
                                             "ayse.kaya@work.example")]
        assert con.execute("SELECT count(*) FROM staging.field_issues").fetchall() == [(0,)]


def test_a_file_delivered_again_is_said_by_the_run_that_received_it_only(tmp_path, cli_env):
    settings = project(tmp_path)
    export = (CRM_HEADER + "\n" + "\n".join(crm_rows(6)) + "\n").encode("latin-1")
    write(settings.raw_dir, "crm", day(-3), "export.csv", export)
    write(settings.raw_dir, "crm", day(-2), "export_copy.csv", export)
    results = _run(settings, layers=("raw",))
    said = [checks(r, by_asset=True)[(("raw", "crm"), FILES_LOADED)] for r in results]
    assert [c.passed for c in said] == [True, False] and said[1].metadata["duplicate_files"].value == 1
    # The next day's run: nothing duplicated in it, nothing to say (it warned on every later run).
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\n" + crm_rows(8)[7] + "\n").encode("latin-1"))
    (later,) = _run(settings, layers=("raw",))
    check = checks(later, by_asset=True)[(("raw", "crm"), FILES_LOADED)]
    assert check.passed and check.metadata["duplicate_files"].value == 0


def test_a_record_refused_for_an_oversized_field_keeps_its_id(tmp_path, cli_env):
    first_delivery(tmp_path)  # C51 holds a 200,000-character e-mail
    settings = project(tmp_path)
    big = "y" * 200_000
    write(settings.raw_dir, "shop", day(-2), "big.jsonl", json.dumps(
        {"id": "S77", "given": "Big", "family": "Value", "mail": big + "@example.fr", "updated": day(-30)}).encode())
    _run(settings, **STAGING)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("SELECT source, source_record_id, reason FROM staging.quarantine "
                           "WHERE reason LIKE '%characters%' ORDER BY 1").fetchall()
        assert rows == [("crm", "C51", "a field of 200011 characters (limit 131072)"),
                        ("shop", "S77", "a value over 131072 characters")]
        assert not con.execute("SELECT count(*) FROM staging.person_records WHERE source_record_id IN ('C51', 'S77')"
                               ).fetchone()[0]


API_YAML = """
sources:
  - name: api
    channel: online
    format: jsonl
    files: api/**/*.json
    trust_rank: 1
    record_id: customerId
    person:
      first_name: firstName
      last_name: lastName
      email: email
"""


def _customer(i: int, **extra) -> dict:
    first, last = ["Camille", "Bastien", "Nadia", "Hugo", "Inès"][i], ["Durand", "Morel", "Benali", "Lambert", "Roy"][i]
    return {"customerId": 1000 + i, "firstName": first, "lastName": last,
            "email": f"{first}.{last}@example.fr".lower().replace("è", "e"), **extra}


def test_json_exports_that_are_no_json_lines_are_read_record_by_record(tmp_path, cli_env):
    # Three JSON habits each refused whole (the records lacked the id) or stopping the run: objects pretty-printed one
    # after the other (`jq '.[]'`), one object wrapping the array (an API's page: data, count, next), and an array on
    # one line with a bad element (its elements shared line 1: reading the quarantined one back stopped staging).
    settings = project(tmp_path)
    settings.sources_file.write_text(API_YAML, encoding="utf-8")
    raw = settings.raw_dir
    write(raw, "api", day(-3), "stream.json", "\n".join(json.dumps(_customer(i), indent=2) for i in (0, 1)).encode())
    write(raw, "api", day(-2), "page.json", json.dumps({"data": [_customer(1, email="b.morel@example.fr"),
                                                                  _customer(2)], "count": 2, "next": None}).encode())
    write(raw, "api", day(-1), "oneline.json", json.dumps([_customer(3), {"customerId": 1099}, _customer(4)]).encode())
    results = _run(settings, **STAGING)
    assert all(checks(r, by_asset=True)[(("raw", "api"), FILES_LOADED)].passed for r in results)
    files = balanced(settings)
    assert files == {f"api/{day(-3)}/stream.json": (2, 2, 1, 1), f"api/{day(-2)}/page.json": (2, 2, 2, 0),  # 1001 newer
                     f"api/{day(-1)}/oneline.json": (3, 3, 2, 1)}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, email, _line FROM staging.person_records ORDER BY 1").fetchall() \
            == [("1000", "camille.durand@example.fr", 1), ("1001", "b.morel@example.fr", 1),
                ("1002", "nadia.benali@example.fr", 2), ("1003", "hugo.lambert@example.fr", 1),
                ("1004", "ines.roy@example.fr", 3)]
        assert con.execute("SELECT _file, _line, source_record_id, reason FROM staging.quarantine "
                           "WHERE reason NOT LIKE 'duplicate record id%'").fetchall() == \
            [(f"api/{day(-1)}/oneline.json", 2, "1099", "no name, e-mail or phone to identify the person")]


REPORT_YAML = """
sources:
  - name: report
    channel: offline
    format: csv
    files: report/**/*.csv
    encoding: cp1252
    delimiter: ";"
    decimal: ","
    trust_rank: 1
    record_id: N° ticket
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: Prénom
      last_name: Nom
      phone: Téléphone
      postcode: CP
    activity:
      type: store_purchase
      occurred_at: Date
      amount: Montant
"""


def test_a_report_tool_s_csv_with_a_title_text_formulas_and_a_total_is_read(tmp_path, cli_env):
    # A store's report: a title and a blank line above the header (the file was refused: "no header row"), values
    # written as ="..." to keep leading zeros (the id ="00017" was another id than 00017, the amount no number), and
    # a total row without id or person (quarantined as "missing record id", it blocked publication: 1 row of 3).
    settings = project(tmp_path)
    settings.sources_file.write_text(REPORT_YAML, encoding="utf-8")
    for offset, rows in ((-2, ['="00017";Camille;Durand;="0611223344";="06000";24/11/2026;="1 234,50"',
                               '="00018";Élodie;Rousseau;="0677889900";="75011";24/11/2026;89,90']),
                         (-1, ['="00019";Inès;Garnier;="0699001122";="69003";25/11/2026;45,00'])):
        lines = [f"Ventes magasin Nice - export du {day(offset)}", "",
                 "N° ticket;Prénom;Nom;Téléphone;CP;Date;Montant", *rows, ";;;;;Total;1 324,40"]
        write(settings.raw_dir, "report", day(offset), "ventes.csv", "\r\n".join(lines).encode("cp1252"))
    results = _run(settings, **STAGING)
    found = {name: c for r in results for name, c in checks(r).items()}
    assert found["sources_healthy"].passed and found[FILES_LOADED].passed
    assert balanced(settings) == {f"report/{day(-2)}/ventes.csv": (3, 3, 2, 1),
                                  f"report/{day(-1)}/ventes.csv": (2, 2, 1, 1)}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT p.source_record_id, phone, postcode, amount, p._line FROM staging.person_records p "
                           "JOIN staging.activities USING (source, source_record_id) ORDER BY 1").fetchall() == \
            [("00017", "+33611223344", "06000", 1234.5, 4), ("00018", "+33677889900", "75011", 89.9, 5),
             ("00019", "+33699001122", "69003", 45.0, 4)]
        assert con.execute("SELECT DISTINCT reason FROM staging.quarantine").fetchall() == \
            [("no name, e-mail or phone to identify the person",)]
        assert con.execute("SELECT count(*) FROM staging.field_issues").fetchone() == (0,)


def test_a_till_s_total_row_without_an_id_is_its_footer_not_bad_data(tmp_path, cli_env):
    # A till export's total with its id column empty too (`;;;1.258,05;5;`): quarantined as "missing record id", it
    # counted as bad data (1 row of 3: the run blocked); it is the footer of its file, as `Summe;;;48,00` is.
    settings = project(tmp_path, more_sources="""
  - name: till
    channel: offline
    format: csv
    files: till/**/*.csv
    delimiter: ";"
    decimal: ","
    trust_rank: 3
    record_id: bon
    date_formats: ["%d.%m.%Y %H:%M"]
    person_ref: {source: crm, column: kunde}
    activity:
      type: store_purchase
      occurred_at: zeit
      amount: betrag
""")
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\n" + "\n".join(crm_rows(4)) + "\n").encode())
    write(settings.raw_dir, "till", day(-1), "bons.csv", "\r\n".join([
        "bon;kunde;zeit;betrag", "B1;C01;25.11.2026 10:02;1.234,56", "B2;C02;25.11.2026 11:15;23,49",
        ";;;1.258,05"]).encode())
    (result,) = _run(settings, **STAGING)
    assert checks(result)["sources_healthy"].passed
    assert balanced(settings)[f"till/{day(-1)}/bons.csv"] == (3, 3, 2, 1)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT reason FROM staging.quarantine WHERE source = 'till'").fetchall() == \
            [("neither a date nor a person: a summary or footer row (a spreadsheet's total)?",)]


def test_dates_written_as_seconds_or_milliseconds_since_1970_are_read_where_declared(tmp_path, cli_env):
    # A JSON API's account export (update and birth dates in epoch milliseconds, a birth before 1970 negative) and
    # its orders (epoch seconds, an activity-only source: DuckDB's reading path). Every such date was a field issue,
    # the records dated from their drop day and the orders left undated.
    settings = project(tmp_path)
    settings.sources_file.write_text("""
sources:
  - name: api
    channel: online
    format: jsonl
    files: api/**/*.jsonl
    record_id: id
    updated_at: updated
    date_formats: [epoch_ms]
    person:
      first_name: first
      last_name: last
      birth_date: born
      email: mail
  - name: api_orders
    channel: online
    format: jsonl
    files: api_orders/**/*.jsonl
    record_id: order
    date_formats: ["%Y-%m-%d", epoch]
    person_ref: {source: api, column: account}
    activity:
      type: order
      occurred_at: at
      amount: total
""", encoding="utf-8")
    accounts = [{"id": "U1", "first": "Ana", "last": "Lopes", "born": -315619200000, "mail": "ana@example.com",
                 "updated": 1732541234000},
                {"id": "U2", "first": "Rui", "last": "Costa", "born": 631152000000, "mail": "rui@example.com",
                 "updated": "1732541234567"}]
    orders = [{"order": "O1", "account": "U1", "at": 1732541234, "total": 12.5},
              {"order": "O2", "account": "U2", "at": "2024-11-20", "total": 3}]
    for source, name, rows in (("api", "u.jsonl", accounts), ("api_orders", "o.jsonl", orders)):
        write(settings.raw_dir, source, day(-1), name, "\n".join(json.dumps(r) for r in rows).encode())
    _run(settings, **STAGING)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, birth_date::VARCHAR, record_updated_at::VARCHAR "
                           "FROM staging.person_records ORDER BY 1").fetchall() == [
            ("U1", "1960-01-01", "2024-11-25 13:27:14"), ("U2", "1990-01-01", "2024-11-25 13:27:14.567")]
        assert con.execute("SELECT source_record_id, occurred_at::VARCHAR FROM staging.activities ORDER BY 1"
                           ).fetchall() == [("O1", "2024-11-25 13:27:14"), ("O2", "2024-11-20 00:00:00")]
        assert con.execute("SELECT count(*) FROM staging.field_issues").fetchone()[0] == 0


def test_cells_an_export_writes_for_no_value_are_empty_and_a_source_names_its_own(tmp_path, cli_env):
    # A SQL client's export writes NULL (or \N) in empty cells, a Python script None: 'NULL' was staged, and
    # published, as the first name 'Null', 'None' as 'None', and a NULL record id was the record 'NULL'. A name typed
    # 'Null' is a name; a source that writes '-' for nothing says so (`missing_values`), and `[]` reads every cell.
    from pipeline.config import load_sources
    from pipeline.staging import stage_source

    settings = project(tmp_path, more_sources="""
  - name: tickets
    channel: online
    format: csv
    files: tickets/**/*.csv
    record_id: id
    missing_values: ["-"]
    person:
      first_name: first
      last_name: last
      email: email
  - name: legacy
    channel: offline
    format: csv
    files: legacy/**/*.csv
    record_id: id
    missing_values: []
    person:
      first_name: first
      last_name: last
""")
    write(settings.raw_dir, "crm", day(-1), "export.csv", "\n".join([
        CRM_HEADER, "C01;NULL;Martin;null;\\N;75001", "C02; None ;Petit;NULL;NULL;NULL", "C03;Jean;Null;#N/A;N/A;75003",
        "NULL;Ana;Vide;ana.vide@example.fr;;75004", *crm_rows(14)[4:], ""]).encode("latin-1"))
    write(settings.raw_dir, "tickets", day(-1), "t.csv", b"id,first,last,email\nT1,-,Roux,-\nT2,NULL,Roux,x@example.fr\n")
    write(settings.raw_dir, "legacy", day(-1), "l.csv", b"id,first,last\nL1,NULL,Blanc\n")
    (result,) = _run(settings, **STAGING)
    assert checks(result)["sources_healthy"].passed
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        staged = {r[0]: r[1:] for r in con.execute(
            "SELECT source_record_id, first_name, last_name, email, phone, postcode FROM staging.person_records").fetchall()}
        issues = con.execute("SELECT source_record_id, field FROM staging.field_issues WHERE source = 'crm'").fetchall()
        quarantined = con.execute("SELECT reason FROM staging.quarantine WHERE source = 'crm'").fetchall()
    assert staged["C01"] == (None, "Martin", None, None, "75001")
    assert staged["C02"] == (None, "Petit", None, None, None)
    assert staged["C03"] == ("Jean", "Null", None, None, "75003")  # a surname typed 'Null' is kept
    assert issues == []  # nothing was delivered in those cells: no field is invalid
    assert [r for (r,) in quarantined] == ["missing record id (column 'id')"]
    assert staged["T1"] == (None, "Roux", None, None, None) and staged["T2"][0] == "Null"  # its own list only
    assert staged["L1"][0] == "Null"
    # The frame path (staging.stage_source, as the extract's replay and the tests stage a frame) reads them alike.
    crm = next(s for s in load_sources(settings.sources_file) if s.name == "crm")
    raw = pd.DataFrame({"id": ["C01", "NULL"], "prenom": ["NULL", "Ana"], "nom": ["Martin", "Vide"],
                        "email": ["null", "x@example.fr"], "tel": ["\\N", None], "cp": ["75001", "75004"],
                        "_file": "f.csv", "_line": [1, 2], "_drop": day(-1), "_error": None, "_raw": None})
    staged = stage_source(crm, raw, date.today())
    assert staged.persons[["first_name", "email", "phone"]].to_dict("records") == \
        [{"first_name": None, "email": None, "phone": None}]
    assert staged.quarantine["reason"].tolist() == ["missing record id (column 'id')"]


def test_a_json_escape_of_half_a_character_quarantines_its_line_not_the_source_s_day(tmp_path, cli_env):
    # `"\ud800"` (half of a UTF-16 pair, a broken exporter's or an attacker's) is valid JSON that Python reads as a lone
    # surrogate: no text column stores it, and DuckDB refused the whole batch (the sources step failed, its message
    # quoting the value). A line that holds one is quarantined with the reason; a pair (an emoji escaped) is read.
    settings = project(tmp_path)
    lines = shop_lines(range(11, 18))
    lines[1] = lines[1].replace('"family": "', '"family": "\\ud800')
    lines[2] = lines[2].replace('"family": "', '"family": "\\ud83d\\ude00')
    write(settings.raw_dir, "shop", day(-1), "accounts.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    _run(settings, **STAGING)
    assert balanced(settings) == {f"shop/{day(-1)}/accounts.jsonl": (7, 7, 6, 1)}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT reason, _line FROM staging.quarantine").fetchall() == [(LONE_SURROGATE_REASON, 2)]
        assert con.execute("SELECT family FROM raw.shop WHERE id = 'S13'").fetchone() == ("\U0001f600" + person(13)[1],)
