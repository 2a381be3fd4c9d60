"""Delivery habits of the fifteenth session's sweep, through `customer360 run` on hand-written files: what source
systems deliver on the data engineer's nightly path (a spreadsheet's Windows CSV, a trailer line with a record count,
a full export split in numbered parts, a zip archive)."""

from __future__ import annotations

import io
import zipfile

import duckdb

from tests.hostile import CRM_HEADER, balanced, cli_run, crm_rows, day, project, write


def test_a_windows_csv_in_a_source_declared_utf8_is_read_not_quarantined(tmp_path, capsys, cli_env):
    # Excel's "CSV (semicolon)" saved on Windows is Windows-1252, whatever the sources file declares (UTF-8, the
    # default). Read as UTF-8 every record holding an accent was quarantined (`bytes not valid in declared encoding
    # utf-8`): Léa, Noé, Inès, Lefèvre, Chloé lost, and the source's quarantine share (6 of 14) blocked the run.
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text().replace("    encoding: latin-1\n", ""))
    rows = crm_rows()
    rows[0] = rows[0].replace(";Martin;", ";O’Brien-Cœur;")  # Windows-1252's own characters (bytes 0x80-0x9F)
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode("cp1252"))
    said = cli_run(settings, capsys)  # exit 0: published
    assert "read as Windows-1252, not the declared UTF-8" in said, said
    assert balanced(settings) == {f"crm/{day(-1)}/export.csv": (14, 14, 14, 0)}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        names = dict(con.execute("SELECT source_record_id, first_name || ' ' || last_name FROM staging.person_records "
                                 "WHERE source = 'crm'").fetchall())
    assert names["C00"] == "Jean O’Brien-Cœur" and names["C09"] == "Léa Moreau" and names["C12"] == "Théo Lefèvre", names
    # A UTF-8 file with one row of bad bytes is still UTF-8: that row only is quarantined.
    write(settings.raw_dir, "crm", day(0), "export.csv",
          (CRM_HEADER + "\n" + rows[10] + "\n").encode("utf-8") + rows[11].encode("cp1252") + b"\n")
    cli_run(settings, capsys)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT _line, reason FROM staging.quarantine WHERE _file LIKE ?",
                           [f"%{day(0)}%"]).fetchall() == [(3, "bytes not valid in declared encoding utf-8")]


def test_a_trailer_line_is_the_export_s_count_and_a_count_the_file_misses_retires_nothing(tmp_path, capsys, cli_env):
    # Mainframes and ERPs close a file with a trailer: `TRAILER|N`, the records they wrote. It was read as a record
    # (`1 fields where the header has 6`) counted as bad data: a small export of three records read 25 % bad and
    # blocked the run. Its count was never compared: a full export missing two of its fourteen records (fewer than
    # the shrink guard's 20 %) retired those two customers, their values scrubbed, while its trailer said 14.
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text().replace(
        "    record_id: id\n", "    record_id: id\n    delivery: full\n", 1))
    rows = crm_rows()

    def export(offset: int, held: list[str], trailer: str) -> str:
        write(settings.raw_dir, "crm", day(offset), "export.csv",
              ("\n".join([CRM_HEADER, *held, trailer]) + "\n").encode("latin-1"))
        return f"crm/{day(offset)}/export.csv"

    first = export(-3, rows[:3], "TRAILER|3")
    cli_run(settings, capsys)  # published: the trailer is no bad record
    assert balanced(settings) == {first: (4, 4, 3, 1)}
    second = export(-2, rows, "TRAILER|14|20261127")  # a count and a day
    cli_run(settings, capsys)
    cut = export(-1, rows[:12], "TRAILER|14")
    said = cli_run(settings, capsys)
    assert f"{cut}: its trailer (line 14) counts 14 record(s), the file holds 12: incomplete (a transfer cut short?) " \
           "or miscounted; its records are loaded" in said, said
    assert "holds 1 file(s) whose trailer counts other than their records (cut short?), read as incomplete, so no " \
           "record is retired" in said, said
    assert balanced(settings)[second] == (15, 15, 2, 13) and balanced(settings)[cut] == (13, 13, 12, 1)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'crm'").fetchone() == (14,)
        assert con.execute("SELECT _file, reason FROM staging.quarantine WHERE _line = 16").fetchall() == \
            [(second, "a trailer line (the export's record count, as many as the file holds): not a record")]
        assert con.execute("SELECT footer_rows, quarantine_share FROM marts.data_quality WHERE source = 'crm' "
                           "ORDER BY measured_at DESC LIMIT 1").fetchone() == (2, 0)  # the first file's is superseded


def test_a_full_export_in_numbered_parts_retires_nothing_while_a_part_is_missing(tmp_path, capsys, cli_env):
    # A large export written in parts (`customers_20261127_part1.csv` ... `_part9.csv`), part 4 a day late: the day
    # was read as the whole export, and the two customers of part 4 were retired with the one really deleted (3 of 18:
    # fewer than the shrink guard's 20 %), their values scrubbed, until it came. Said, and nothing retired until the
    # parts are whole.
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text().replace(
        "    record_id: id\n", "    record_id: id\n    delivery: full\n", 1))
    rows = crm_rows(18)
    stamp = day(-2).replace("-", "")

    def part(k: int) -> None:  # C17 left out of every part: deleted in the source
        held = [r for r in rows[2 * k - 2:2 * k] if not r.startswith("C17")]
        write(settings.raw_dir, "crm", "", f"customers_{stamp}_part{k}.csv",
              ("\n".join([CRM_HEADER, *held]) + "\n").encode("latin-1"))

    write(settings.raw_dir, "crm", "", f"customers_{day(-3).replace('-', '')}.csv",
          ("\n".join([CRM_HEADER, *rows]) + "\n").encode("latin-1"))
    for k in (1, 2, 3, 5, 6, 7, 8, 9):
        part(k)
    said = cli_run(settings, capsys)
    assert f"crm/customers_{stamp}_*.csv: part(s) 4 missing (one day's export in numbered parts: late, or lost?)" in said
    assert f"its full export of {day(-2)} is in numbered parts with some missing" in said, said

    def staged() -> set[str]:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            return {r for (r,) in con.execute("SELECT source_record_id FROM staging.person_records "
                                              "WHERE source = 'crm'").fetchall()}

    assert staged() == {f"C{i:02d}" for i in range(18)}
    part(4)  # the late part: its day is loaded again, the export is whole and believed
    cli_run(settings, capsys)
    assert staged() == {f"C{i:02d}" for i in range(17)}
    balanced(settings)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_zip_archive_holding_one_export_is_read_as_it(tmp_path, capsys, cli_env):
    # Exports mailed or sent through a portal come zipped (`export.csv.zip`, with macOS's `__MACOSX/` beside the file
    # when zipped on a Mac). A glob reaching it read the archive's bytes as text: refused as "NUL bytes in the header (a
    # file not yet written ...)", its 14 records counted as 3 lines and quarantined. An archive of several files is
    # refused saying so.
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text().replace("crm/**/*.csv", "crm/**/*.csv*"))
    export = ("\n".join([CRM_HEADER, *crm_rows()]) + "\n").encode("latin-1")
    write(settings.raw_dir, "crm", day(-2), "export.csv.zip", _zip({"export.csv": export, "__MACOSX/._export.csv": b"x"}))
    write(settings.raw_dir, "crm", day(-1), "two.csv.zip", _zip({"a.csv": export, "b.csv": export}))
    said = cli_run(settings, capsys)
    assert f"crm/{day(-1)}/two.csv.zip: a zip archive of 2 files: unzip them into the drop folder, or deliver one file " \
           "a zip; its 1 record(s) are quarantined" in said, said
    assert balanced(settings) == {f"crm/{day(-2)}/export.csv.zip": (14, 14, 14, 0),
                                  f"crm/{day(-1)}/two.csv.zip": (1, 1, 0, 1)}
