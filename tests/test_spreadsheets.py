"""Spreadsheet deliveries (`format: xlsx`) through real runs, each workbook written here with openpyxl as a store's,
a till's or a consent tool's export would be: typed cells (ids and postcodes typed as numbers, date cells, a formula,
booleans, an error value), a report's title merged above the header, an empty row, a hidden sheet, a footer row."""

from __future__ import annotations

import io
import re
import shutil
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest
import xlwt

from assets import runner
from assets.cli import main
from assets.sources import FILES_LOADED
from pipeline.config import SourcesFileError, load_sources
from pipeline.extract import read_source
from tests.conftest import checks
from tests.hostile import balanced, day, person, project, workbook, write

SOURCES = """
sources:
  - name: stores
    channel: offline
    format: xlsx
    files: stores/**/*.xlsx
    decimal: ","
    trust_rank: 1
    record_id: carte
    updated_at: maj
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      email: email
      phone: tel
      postcode: cp
  - name: till
    channel: offline
    format: xlsx
    sheet: tickets
    files: till/**/*.xlsx
    decimal: ","
    record_id: ticket
    date_formats: ["%d/%m/%Y %H:%M", excel]
    person_ref: {source: stores, column: carte}
    activity:
      type: store_purchase
      occurred_at: quand
      amount: montant
  - name: events
    channel: online
    format: xlsx
    files: events/**/*.xlsx
    record_id: event_id
    person:
      email: email
    activity:
      type: consent
      occurred_at: at
      consent_channel: channel
      consent_action: accepte
"""
STORES_HEADER = ["carte", "prenom", "nom", "naissance", "email", "tel", "cp", "maj"]


def _run(settings, **options):
    results = runner.run(settings, console_level="CRITICAL", **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results


def _store_rows(ids: range) -> list[list]:
    rows = []
    for i in ids:
        first, last, mail, tel, cp = person(i)
        rows.append([100 + i, first, last, f"0{i % 9 + 1}/02/198{i % 10}", mail, tel, cp, "20/11/2026"])
    return rows


def _storesworkbook() -> bytes:
    clients = [
        ["Ventes magasin Nice - export du 25/11/2026"],  # merged across the header's width: a title, not the header
        [],
        STORES_HEADER,
        [17, "Ana", "Lopes", date(1980, 1, 2), "ana@example.fr", 612345617, 1000, datetime(2026, 11, 20, 10, 31)],
        [18.0, "Rui", "Costa", "03/04/1985", "rui@example.fr", "06 12 34 56 18", "75009", "20/11/2026"],
        [],  # an empty row in the middle
        [19, '=PROPER("marie")', "Curie", date(1967, 11, 7), "#N/A", None, 75005, None],  # a formula, an error cell
        [20, None, None, None, None, None, 75001, None],  # nothing to identify anyone
        *_store_rows(range(6)),
        ["Total : 10 clients"],  # the report's footer
    ]
    return workbook({"Listes": [["segments"], ["gold"]], "Clients": clients}, hidden=("Listes",),
                     merged={"Clients": "A1:H1"}, cached={"B7": "Marie"})


def _tillworkbook() -> bytes:
    tickets = [
        ["Tickets du 20/11/2026"], ["Magasin", "Nice"],  # a report's title block, not merged: the CSV's title rule
        ["ticket", "carte", "quand", "montant"],
        ["T1", 17, datetime(2026, 11, 20, 10, 2), 1.234],  # a typed amount: 1.234, not 1234 under the decimal comma
        ["T2", 18, 45232, "12,50 €"],  # a date column formatted as a number: Excel's serial day
        ["T3", 18, "20/11/2026 11:15", "12 euros"],
        ["T4", 19, 45232.5, "chf 3"],
        ["T5", 101, "20/11/2026 12:00", "12 apples"],  # not an amount: a field issue
        [None, None, None, 1258.05],  # the total
    ]
    return workbook({"Résumé": [["total", 1258.05]], "Tickets": tickets})


def _eventsworkbook() -> bytes:
    return workbook({"Consentements": [
        ["event_id", "email", "channel", "accepte", "at"],
        ["E1", "ana@example.fr", "email", True, datetime(2026, 11, 19, 9, 0)],
        ["E2", "rui@example.fr", "sms", False, datetime(2026, 11, 19, 9, 5)]]})


def test_workbooks_stage_as_their_csv_exports_would(tmp_path, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES, encoding="utf-8")
    stores = write(settings.raw_dir, "stores", day(-2), "clients.xlsx", _storesworkbook())
    write(settings.raw_dir, "till", day(-2), "tickets.xlsx", _tillworkbook())
    write(settings.raw_dir, "events", day(-2), "consent.xlsx", _eventsworkbook())
    # The next day: the same workbook again (skipped as its duplicate), and one whose e-mail column was renamed.
    shutil.copy(stores, write(settings.raw_dir, "stores", day(-1), "clients_copy.xlsx", b""))
    renamed = [["carte", "prenom", "nom", "naissance", "e-mail", "tel", "cp", "maj"], *_store_rows(range(6, 8))]
    write(settings.raw_dir, "stores", day(-1), "renamed.xlsx", workbook({"Clients": renamed}))
    results = _run(settings, layers=("raw", "staging"))
    first, second = (checks(r, by_asset=True)[(("raw", "stores"), FILES_LOADED)] for r in results)
    assert first.passed and not second.passed and second.metadata["duplicate_files"].value == 1
    counts = balanced(settings)  # per file: its records = raw rows = staged + quarantined
    assert counts[f"stores/{day(-2)}/clients.xlsx"] == (11, 11, 9, 2)
    assert counts[f"stores/{day(-1)}/renamed.xlsx"] == (2, 2, 0, 2)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        people = con.execute("""SELECT source_record_id, _line, first_name, email, phone, postcode, birth_date::VARCHAR,
                                       record_updated_at::VARCHAR
                                FROM staging.person_records WHERE source = 'stores' AND _line < 10 ORDER BY _line""").fetchall()
        assert people == [
            ("17", 4, "Ana", "ana@example.fr", "+33612345617", "01000", "1980-01-02", "2026-11-20 10:31:00"),
            ("18", 5, "Rui", "rui@example.fr", "+33612345618", "75009", "1985-04-03", "2026-11-20 00:00:00"),
            ("19", 7, "Marie", None, None, "75005", "1967-11-07", None),
            ("100", 9, "Jean", "jean.martin@example.fr", "+33612345600", "75001", "1980-02-01", "2026-11-20 00:00:00")]
        assert con.execute("SELECT _file, _line, reason FROM staging.quarantine WHERE source = 'stores' ORDER BY ALL"
                           ).fetchall() == [
            (f"stores/{day(-2)}/clients.xlsx", 8, "no name, e-mail or phone to identify the person"),
            (f"stores/{day(-2)}/clients.xlsx", 15, "no name, e-mail or phone to identify the person"),
            (f"stores/{day(-1)}/renamed.xlsx", 2, "file refused: lacks mapped column(s) ['email']"),
            (f"stores/{day(-1)}/renamed.xlsx", 3, "file refused: lacks mapped column(s) ['email']")]
        assert con.execute("""SELECT source_record_id, person_record_id, occurred_at::VARCHAR, amount
                              FROM staging.activities WHERE source = 'till' ORDER BY 1""").fetchall() == [
            ("T1", "17", "2026-11-20 10:02:00", 1.234), ("T2", "18", "2023-11-02 00:00:00", 12.5),
            ("T3", "18", "2026-11-20 11:15:00", 12.0), ("T4", "19", "2023-11-02 12:00:00", 3.0),
            ("T5", "101", "2026-11-20 12:00:00", None)]
        assert con.execute("SELECT source_record_id, field, raw_value FROM staging.field_issues WHERE source = 'till'"
                           ).fetchall() == [("T5", "amount", "12 apples")]
        assert con.execute("SELECT _line, reason FROM staging.quarantine WHERE source = 'till'").fetchall() == [
            (9, "neither a date nor a person: a summary or footer row (a spreadsheet's total)?")]
        assert con.execute("""SELECT source_record_id, consent_channel, consent_action FROM staging.activities
                              WHERE source = 'events' ORDER BY 1""").fetchall() == [
            ("E1", "email", "opt_in"), ("E2", "sms", "opt_out")]


def test_what_the_workbook_does_not_hold_is_said_and_a_missing_sheet_refuses_the_file(tmp_path):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES.replace("sheet: tickets", "sheet: 3"), encoding="utf-8")
    write(settings.raw_dir, "stores", day(-1), "clients.xlsx", _storesworkbook())
    script = [STORES_HEADER, *_store_rows(range(6, 9)), [200, '=UPPER("x")', "Y", None, None, None, None, None]]
    write(settings.raw_dir, "stores", day(-1), "script.xlsx", workbook({"Clients": script}))
    # Three labels merged over the columns they group (a CSV's title rule reads at most two values a line above the
    # header: the file was refused as having no header row).
    grouped = [["Client", None, None, "Contact", None, None, "Suivi", None], STORES_HEADER, *_store_rows(range(9, 11))]
    write(settings.raw_dir, "stores", day(-1), "grouped.xlsx",
          workbook({"Clients": grouped}, merged={"Clients": "A1:C1 D1:F1 G1:H1"}))
    write(settings.raw_dir, "till", day(-1), "tickets.xlsx", _tillworkbook())
    # The lock file Excel keeps beside a workbook open on a shared drive: a `*.xlsx` glob reaches it.
    write(settings.raw_dir, "stores", day(-1), "~$clients.xlsx", b"\x0bMarie Curie" + b"\x00" * 153)
    sources = {s.name: s for s in load_sources(settings.sources_file)}
    stores = read_source(sources["stores"], settings.raw_dir)
    clients, grouped, script = (f"stores/{day(-1)}/{name}.xlsx" for name in ("clients", "grouped", "script"))
    assert stores.warnings == [
        f"stores/{day(-1)}/~$clients.xlsx: an Office lock file (the workbook it names is open in a spreadsheet, maybe "
        "still being written): not read",
        f"{clients}: sheet 2 of 2 read; 1 other sheet(s) not read (1 of them hidden) (the sources file's `sheet:` "
        "names the ones to read, `\"*\"` every visible one)",
        f"{clients}: 1 row(s) above the header of merged cells only (a title, or labels grouping columns) not read as "
        "records: row(s) 1",
        f"{clients}: 1 cell(s) hold an error value (#N/A, #DIV/0!, ...): read as empty, in row(s) 7",
        f"{grouped}: 1 row(s) above the header of merged cells only (a title, or labels grouping columns) not read as "
        "records: row(s) 1",
        f"{script}: 1 cell(s) hold a formula without a computed value (a file written by a program, never saved by a "
        "spreadsheet): read as empty, in row(s) 5"]
    assert [(f.file, f.status, f.records) for f in stores.files] == [
        (clients, "loaded", 11), (grouped, "loaded", 2), (script, "loaded", 4)]
    assert stores.rows.loc[stores.rows["_file"] == grouped, ["carte", "prenom", "_line"]].values.tolist() == [
        ["109", "Léa", 3], ["110", "Noé", 4]]
    till = read_source(sources["till"], settings.raw_dir)
    refusal = "no sheet at position 3 (from 0): the workbook has 2 sheet(s)"
    assert [f.status for f in till.files] == [f"refused: {refusal}"]
    assert till.rows["_error"].tolist() == [f"file refused: {refusal}"]


def test_the_sheet_key_is_checked(tmp_path):
    for spec, why in (("sheet: -1", "sheet must be a sheet's name, its position from 0"),
                      ("sheet: ''", "sheet must be"), ("sheet: true", "sheet must be"), ("sheet: []", "sheet must be"),
                      ("sheet: [Clients, -2]", "a list of them")):
        path = tmp_path / "sources.yaml"
        path.write_text(SOURCES.replace("sheet: tickets", spec), encoding="utf-8")
        with pytest.raises(SourcesFileError, match=f"source 'till'.*{re.escape(why)}"):
            load_sources(path)
    path.write_text(SOURCES.replace("format: xlsx\n    sheet: tickets", "format: csv\n    sheet: tickets"),
                    encoding="utf-8")
    with pytest.raises(SourcesFileError, match="only an xlsx source has one"):
        load_sources(path)


def test_a_workbook_of_a_store_per_sheet_reads_every_sheet_it_is_told_to(tmp_path, cli_env):
    """A chain's export with one sheet per store: only the first visible sheet was read (the others were said, never
    loaded). `sheet: "*"` reads every visible one, each under its own header, rows numbered apart by sheet; a sheet
    refused for its header quarantines its own rows only; a list names the sheets."""
    settings = project(tmp_path)
    every = SOURCES.replace("    files: stores/**/*.xlsx\n", "    files: stores/**/*.xlsx\n    sheet: \"*\"\n")
    settings.sources_file.write_text(every.split("  - name: till")[0], encoding="utf-8")
    reordered = [STORES_HEADER[1], STORES_HEADER[0], *STORES_HEADER[2:]]  # its own column order
    sheets = {"Nice": [STORES_HEADER, *_store_rows(range(0, 3))],
              "Listes": [["segments"], ["gold"]],  # hidden: not read
              "Lyon": [["Magasin de Lyon"], reordered, *([r[1], r[0], *r[2:]] for r in _store_rows(range(3, 5)))],
              "Notes": [["carte", "remarque"], [103, "appelle le mardi"]]}  # no mapped column: refused, its row kept
    write(settings.raw_dir, "stores", day(-1), "magasins.xlsx", workbook(sheets, hidden=("Listes",)))
    stores = {s.name: s for s in load_sources(settings.sources_file)}["stores"]
    read = read_source(stores, settings.raw_dir)
    assert read.rows.loc[read.rows["_error"].isna(), ["carte", "_line"]].values.tolist() == [
        ["100", 2], ["101", 3], ["102", 4], ["103", 20000003], ["104", 20000004]]
    file = f"stores/{day(-1)}/magasins.xlsx"
    assert [(f.status, f.records) for f in read.files] == [("loaded", 6)]  # Lyon's title line is none
    assert any(w.startswith(f"{file}: sheet 4: lacks mapped column(s)") and "its 1 record(s) are quarantined" in w
               for w in read.warnings), read.warnings
    assert f"{file}: sheets 1, 3, 4 of 4 read; 1 other sheet(s) not read (1 of them hidden)" in read.warnings[0]
    _run(settings)
    assert balanced(settings)[file] == (6, 6, 5, 1)  # records, raw rows, staged, quarantined (Notes' row)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.customer_360").fetchone()[0] == 5
    # A list of sheets by name and position: Lyon only (the second twice).
    settings.sources_file.write_text(every.split("  - name: till")[0].replace('sheet: "*"', "sheet: [lyon, 2]"),
                                     encoding="utf-8")
    stores = {s.name: s for s in load_sources(settings.sources_file)}["stores"]
    assert read_source(stores, settings.raw_dir).rows["carte"].tolist() == ["103", "104"]


def test_a_workbook_delivery_reaches_the_published_copies(tmp_path, cli_env, capsys):
    # The command line on a workbook: every record accounted for from the file to customer_360.
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES.split("  - name: till")[0], encoding="utf-8")
    write(settings.raw_dir, "stores", day(-1), "clients.xlsx", _storesworkbook())
    code = main(["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                 "--sources", str(settings.sources_file), "--quiet"])
    assert code == 0, capsys.readouterr()
    balanced(settings)
    with duckdb.connect(str(settings.warehouse.with_name("restricted.duckdb")), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.customer_xref").fetchone()[0] == 9
        assert con.execute("SELECT birth_date::VARCHAR, email, mobile FROM marts.customer_360 WHERE first_name = 'Ana'"
                           ).fetchall() == [("1980-01-02", "ana@example.fr", "+33612345617")]


def _as_ods(rows: list[list]) -> bytes:
    """An OpenDocument spreadsheet (LibreOffice's .ods) of these rows under their header, typed cells as given."""
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="odf") as writer:
        pd.DataFrame(rows[1:], columns=rows[0]).to_excel(writer, sheet_name="Clients", index=False)
    return out.getvalue()


def _as_xls(rows: list[list]) -> bytes:
    """An Excel 97-2003 workbook (.xls, what older ERPs and tills still export) of these rows."""
    book = xlwt.Workbook()
    sheet, dated = book.add_sheet("Clients"), xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value, dated) if isinstance(value, date) else sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_opendocument_and_excel_97_workbooks_read_as_the_xlsx(tmp_path):
    # The same sheet saved by LibreOffice (.ods) and by an older Excel (.xls): the same rows as the .xlsx, typed cells
    # (a date, a date-time, a phone and a postcode typed as numbers) read alike. Said nowhere until 2026-11-29.
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES.replace("stores/**/*.xlsx", "stores/**/*.*"), encoding="utf-8")
    rows = [STORES_HEADER, *([100 + i, first, last, date(1980, 1, i + 1), mail, 612345600 + i, 1000 + i,
                              datetime(2026, 11, 20, 10, 30)]
                             for i in range(4) for first, last, mail, _, _ in [person(i)])]
    frames = {}
    for suffix, data in (("xlsx", workbook({"Clients": rows})), ("ods", _as_ods(rows)), ("xls", _as_xls(rows))):
        write(settings.raw_dir, "stores", day(-1), f"clients.{suffix}", data)
    stores = next(s for s in load_sources(settings.sources_file) if s.name == "stores")
    read = read_source(stores, settings.raw_dir)
    assert [(f.file.rsplit(".", 1)[1], f.status, f.records) for f in read.files] == [
        ("ods", "loaded", 4), ("xls", "loaded", 4), ("xlsx", "loaded", 4)]
    for suffix in ("xlsx", "ods", "xls"):
        frame = read.rows[read.rows["_file"].str.endswith(f".{suffix}")]
        frames[suffix] = frame[STORES_HEADER + ["_line"]].values.tolist()
    assert frames["ods"] == frames["xls"] == frames["xlsx"]
    assert frames["xlsx"][1] == ["101", "Claire", "Bernard", "1980-01-02", "claire.bernard@example.fr", "612345601",
                                 "1001", "2026-11-20 10:30:00", 3]
