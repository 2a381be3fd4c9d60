"""An operator fixes the sources file after a delivery was read wrong (a refused file's `delimiter`, a workbook's
`sheet`): the next run, however launched, reads the files again with the new settings. Until 2026-11-29 nothing
reloaded them (their checksums were loaded already), so a refused file stayed refused and its people unpublished
after the fix the README's row says to make."""

from __future__ import annotations

import dagster as dg
import duckdb

from assets import runner
from assets.definitions import build_definitions
from tests.hostile import CRM_HEADER, balanced, crm_rows, day, person, project, shop_lines, workbook, write


def _run(settings) -> list[str]:
    said = []
    for result in runner.run(settings, console_level="CRITICAL", report=said.append):
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return said


def _crm(settings) -> tuple[list, int]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return (con.execute("SELECT file, status FROM raw.crm__files ORDER BY file").fetchall(),
                con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'crm'").fetchone()[0])


def test_a_refused_file_is_read_again_once_its_delimiter_is_fixed(tmp_path, cli_env):
    settings = project(tmp_path)
    rows = [CRM_HEADER, *crm_rows()]
    write(settings.raw_dir, "crm", day(-2), "export.csv", ("\n".join(r.replace(";", ",") for r in rows) + "\n").encode())
    write(settings.raw_dir, "shop", day(-2), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    _run(settings)
    files, staged = _crm(settings)
    assert files[0][1].startswith("refused: the header is delimited by ','") and staged == 0

    sensor = build_definitions(settings).resolve_sensor_def("new_source_drop")
    assert isinstance(sensor(dg.build_sensor_context()), dg.SkipReason)  # nothing changed yet
    text = settings.sources_file.read_text(encoding="utf-8")
    settings.sources_file.write_text(text.replace('delimiter: ";"', 'delimiter: ","', 1), encoding="utf-8")
    requests = build_definitions(settings).resolve_sensor_def("new_source_drop")(dg.build_sensor_context())
    assert [r.partition_key for r in requests] == [day(-2)]  # the sensor asks for the day again, under a new key

    said = _run(settings)
    assert any("crm: 1 file(s) read before with other settings" in line for line in said), said
    files, staged = _crm(settings)
    assert files == [(f"crm/{day(-2)}/export.csv", "loaded")] and staged == 14
    assert balanced(settings)[f"crm/{day(-2)}/export.csv"] == (14, 14, 14, 0)
    assert runner.plan(settings).days_to_load == []  # read once with these settings: not again
    with duckdb.connect(str(settings.published), read_only=True) as pub:
        assert pub.execute("SELECT count(*) FROM marts.customer_360").fetchone()[0] == 17  # 14 CRM + 3 shop-only


def test_a_workbook_is_read_again_from_the_sheet_the_sources_file_now_names(tmp_path, cli_env):
    settings = project(tmp_path)
    text = settings.sources_file.read_text(encoding="utf-8")
    crm = text[text.index("  - name: crm"):text.index("  - name: shop")]
    book = crm.replace("format: csv", "format: xlsx").replace("crm/**/*.csv", "crm/**/*.xlsx")
    settings.sources_file.write_text(text.replace(crm, book), encoding="utf-8")
    header = CRM_HEADER.split(";")
    clients = [header, *[[f"C{i:02d}", *person(i)] for i in range(5)]]
    notes = [["note"], ["to be filled"]]  # the first sheet, the wrong one: no mapped column, the file is refused
    write(settings.raw_dir, "crm", day(-2), "clients.xlsx", workbook({"Notes": notes, "Clients": clients}))
    write(settings.raw_dir, "shop", day(-2), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    _run(settings)
    assert _crm(settings)[0][0][1].startswith("refused") and _crm(settings)[1] == 0

    settings.sources_file.write_text(text.replace(crm, book.replace("format: xlsx", "format: xlsx\n    sheet: Clients")),
                                     encoding="utf-8")
    _run(settings)
    assert _crm(settings) == ([(f"crm/{day(-2)}/clients.xlsx", "loaded")], 5)
    assert balanced(settings)[f"crm/{day(-2)}/clients.xlsx"] == (5, 5, 5, 0)
