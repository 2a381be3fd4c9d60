"""Delivery habits of the twelfth session, through real runs of the raw and staging layers: drop folders named by
other spellings of their day, and change-data-capture exports (each written by hand, as a user's system would)."""

from __future__ import annotations

import json
import os
from datetime import date, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from assets import runner
from tests.hostile import CRM_HEADER, balanced, cli_run, crm_rows, day, project, write

STAGING = {"layers": ("raw", "staging")}


def _run(settings, **options):
    results = runner.run(settings, console_level="CRITICAL", **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results


def test_drop_folders_spelled_otherwise_are_their_day(tmp_path, cli_env):
    # Exporters name a day's folder `20261126`, `2026/11/27`, `2026-11-28_2` (a second drop) or `dt=...` (Hive). They
    # took the files' modification day, all one day, and a record's versions were ordered by folder name: the oldest
    # (`2026...` sorts `-` < `/` < digits) won over the newer ones.
    settings = project(tmp_path)
    rows = crm_rows(3)
    folders = {day(-4).replace("-", ""): "", "/".join(day(-3).split("-")): ".v3", f"dt={day(-2)}": ".v2",
               f"{day(-1)}_2": ".v1"}
    for folder, tag in folders.items():
        write(settings.raw_dir, "crm", folder, "export.csv",
              (CRM_HEADER + "\n" + "\n".join([rows[0].replace("@", f"{tag}@"), *rows[1:]]) + "\n").encode("latin-1"))
    write(settings.raw_dir, "crm", "/".join(["2026", "02", "30"]), "export.csv", (CRM_HEADER + "\n").encode())
    refused = []
    _run(settings, report=refused.append, **STAGING)
    assert any("drop folder '2026/02/30' is not a real day" in line for line in refused), refused
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        drops = con.execute('SELECT "drop" FROM raw.crm__files ORDER BY 1').fetchall()
        assert drops == [(day(d),) for d in (-4, -3, -2, -1)]
        assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'C00'").fetchall() == \
            [("jean.martin.v1@example.fr",)]


def test_a_change_feed_s_delete_events_retire_their_record(tmp_path, cli_env):
    # Debezium's change events: the row under `after`, a delete's under `before` with `"after": null`, then Kafka's
    # `null` tombstone message. Mapped on `after.*`, the delete was "no name, e-mail or phone" (counted as its file's
    # footer when last: the deletion lost without a word, the record still published) and the `null` line bad data.
    # A delete carrying no row at all (a table without replica identity: `before` null too) is said as such.
    settings = project(tmp_path)
    settings.sources_file.write_text("""
sources:
  - name: feed
    channel: online
    format: jsonl
    files: feed/**/*.json
    trust_rank: 1
    record_id: after.id
    updated_at: ts_ms
    date_formats: [epoch_ms]
    deleted: {column: op, values: [d]}
    person:
      first_name: after.first
      email: after.email
""", encoding="utf-8")
    rows = [{"id": 1, "first": "Jean", "email": "jean@x.fr"}, {"id": 2, "first": "Claire", "email": "claire@x.fr"},
            {"id": 3, "first": "Louis", "email": "louis@x.fr"}]
    events = [{"op": "c", "ts_ms": 1764000000000 + i, "before": None, "after": row} for i, row in enumerate(rows)]
    events += [{"op": "d", "ts_ms": 1764000001000, "before": rows[1], "after": None}, None,
               {"op": "d", "ts_ms": 1764000002000, "before": None, "after": None}]
    write(settings.raw_dir, "feed", day(-1), "events.json", "\n".join(map(json.dumps, events)).encode())
    runner.run(settings, console_level="CRITICAL", **STAGING)  # its staging checks fail: the last delete is bad data
    assert balanced(settings) == {f"feed/{day(-1)}/events.json": (5, 5, 2, 3)}  # the `null` line is no record
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id FROM staging.person_records ORDER BY 1").fetchall() == [("1",), ("3",)]
        assert con.execute("SELECT _line, source_record_id, split_part(reason, ';', 1) FROM staging.quarantine "
                           "ORDER BY 1").fetchall() == [
            (2, "2", "duplicate record id"), (4, "2", "deleted at the source (a tombstone row): the record is retired"),
            (6, None, "a deletion (tombstone row, column 'op') without its record id (column 'after.id' is empty): "
                      "nothing can be retired")]


def test_parquet_nested_records_and_lists_read_as_json_paths(tmp_path, cli_env):
    # A Parquet export of a document store or a data lake: a struct column (the address), a list of phones, a list of
    # structs. The struct was one column of Python text (`{'city': 'Paris', ...}`; a mapped `address.city` refused the
    # file), the list numpy's (`['0612345678' '0145678901']`). They read as the same JSON would.
    settings = project(tmp_path)
    settings.sources_file.write_text("""
sources:
  - name: lake
    channel: online
    format: parquet
    files: lake/**/*.parquet
    trust_rank: 1
    record_id: id
    person:
      first_name: name.first
      last_name: name.last
      postcode: address.zip
      city: address.city
""", encoding="utf-8")
    table = pa.table({"id": pa.array([1, 2], pa.int64()),
                      "name": [{"first": "Jean", "last": "Martin"}, {"first": "Zoé", "last": "Roux"}],
                      "address": pa.array([{"city": "Paris", "zip": "75001"}, None]),
                      "phones": [["0612345678", "0145678901"], None],
                      "orders": [[{"n": 1, "on": date(2026, 11, 2)}], []]})
    (settings.raw_dir / "lake" / day(-1)).mkdir(parents=True)
    pq.write_table(table, settings.raw_dir / "lake" / day(-1) / "people.parquet")
    _run(settings, **STAGING)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT phones, orders FROM raw.lake ORDER BY id").fetchall() == \
            [("0612345678 0145678901", '[{"n": 1, "on": "2026-11-02"}]'), (None, None)]
        assert con.execute("SELECT source_record_id, first_name, last_name, postcode, city "
                           "FROM staging.person_records ORDER BY 1").fetchall() == \
            [("1", "Jean", "Martin", "75001", "Paris"), ("2", "Zoé", "Roux", None, None)]


def test_record_ids_written_as_floats_are_the_integers_they_stand_for(tmp_path, cli_env):
    # pandas writes an integer column holding a gap as floats (`2.0`), so does a spreadsheet's number format: the next
    # day's export gave every record a second id (`2.0` beside `2`), the newer e-mail never superseded the older one,
    # and receipts pointing at `2.0` reached no card. A file whose ids are all whole numbers with `.0` reads them so.
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text() + """
  - name: tills
    channel: offline
    format: csv
    files: tills/**/*.csv
    trust_rank: 3
    record_id: receipt
    person_ref: {source: crm, column: card}
    activity:
      type: store_purchase
      occurred_at: sold_at
      amount: total
""", encoding="utf-8")
    rows = [row.replace(f"C{i:02d};", f"{i + 1};", 1) for i, row in enumerate(crm_rows(3))]
    write(settings.raw_dir, "crm", day(-3), "export.csv", (CRM_HEADER + "\n" + "\n".join(rows) + "\n").encode())
    floats = [row.replace(";", ".0;", 1) for row in rows]
    floats[1] = floats[1].replace("@", ".new@")
    write(settings.raw_dir, "crm", day(-2), "export.csv", (CRM_HEADER + "\n" + "\n".join(floats) + "\n").encode())
    write(settings.raw_dir, "tills", day(-2), "receipts.csv", b"receipt,card,sold_at,total\nR1,2.0,2026-11-20,12.5\n"
          b"R2,3.0,2026-11-20,3\n")
    _run(settings, **STAGING)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, email FROM staging.person_records ORDER BY 1").fetchall() == [
            ("1", "jean.martin@example.fr"), ("2", "claire.bernard.new@example.fr"), ("3", "louis.dubois@example.fr")]
        assert con.execute("SELECT count(*) FROM staging.quarantine").fetchall() == [(3,)]  # day -3's, superseded
        assert con.execute("SELECT source_record_id, person_record_id FROM staging.activities ORDER BY 1").fetchall() \
            == [("R1", "2"), ("R2", "3")]


def test_a_file_still_being_transferred_is_not_read(tmp_path, cli_env):
    # `export.csv.part` (a transfer under way) beside the exports: the `*.csv*` glob of gzip deliveries reached it,
    # and its first half loaded under that name (its rows staying when the whole file came as `export.csv`).
    settings = project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text().replace("crm/**/*.csv", "crm/**/*.csv*"))
    rows = crm_rows(4)
    write(settings.raw_dir, "crm", day(-1), "a.csv", (CRM_HEADER + "\n" + rows[0] + "\n").encode())
    write(settings.raw_dir, "crm", day(-1), "b.csv.part", (CRM_HEADER + "\n" + rows[1] + "\n" + rows[2][:7]).encode())
    said = []
    _run(settings, report=said.append, **STAGING)
    assert said == [f"refused crm: crm/{day(-1)}/b.csv.part: a file still being transferred ('.part' after its name): "
                    "not read until it is renamed whole"]
    (settings.raw_dir / "crm" / day(-1) / "b.csv.part").rename(settings.raw_dir / "crm" / day(-1) / "b.csv")
    write(settings.raw_dir, "crm", day(-1), "b.csv", (CRM_HEADER + "\n" + "\n".join(rows[1:]) + "\n").encode())
    _run(settings, **STAGING)
    assert set(balanced(settings)) == {f"crm/{day(-1)}/a.csv", f"crm/{day(-1)}/b.csv"}


def _copied(raw, at: float) -> None:
    """Every file's modification time set to one moment, as a copy of a month of exports in one go leaves them."""
    for path in raw.rglob("*"):
        if path.is_file():
            os.utime(path, (at, at))


def test_a_file_named_by_its_timestamp_as_one_number_is_that_day(tmp_path):
    # `export_202611270300.csv` (a scheduler's %Y%m%d%H%M) and `..._20261127031500` named no day: the twelve or fourteen
    # digits are no eight-digit day, and the files took their modification day. Digits after the day that are no time
    # of day are a batch number, no day.
    from pipeline.drop_days import named_day

    def day_of(name: str) -> str | None:
        found = named_day(tmp_path / "crm" / name, tmp_path)
        return found.day if found else None

    assert day_of("export_202611270300.csv") == "2026-11-27"
    assert day_of("crm-20261127031500.jsonl") == "2026-11-27"
    assert day_of("export_202611279999.csv") is None
    assert day_of("export_202602300300.csv") is None  # no day: a number


def test_flat_files_named_by_their_day_are_that_day(tmp_path, capsys, cli_env):
    # Exporters that drop every day's file into one folder spell the day in the file's name. The files took their
    # modification day: copied in one go (every mtime the copy's), two deliveries loaded as one day, a record's versions
    # were ordered by file name (the oldest export, `web-...`, won over the newest, `crm_...`), the tenth file of a day
    # lost to its second (`_10` < `_2`), and a copy made again gave every file a new day, loaded again.
    settings = project(tmp_path)
    rows = crm_rows(3)

    def export(name: str, tag: str = "", *more: str) -> None:
        held = [rows[0].replace("@", f"{tag}@"), *rows[1:]] if tag else []
        write(settings.raw_dir, "crm", "", name, (CRM_HEADER + "\n" + "\n".join([*held, *more]) + "\n").encode("latin-1"))

    copied_at = datetime.fromisoformat(f"{day(-1)}T12:00:00+00:00").timestamp()
    d = {offset: date.fromisoformat(day(offset)) for offset in range(-7, 4)}
    export(f"loyalty_{d[-7]:%Y_%m_%d}_0300.csv", ".v7")
    export(f"web-export.{d[-6]:%Y-%m-%d}T03-00.csv", ".v6")
    export(f"export-{d[-5]:%d.%m.%Y}.csv", ".v5")
    export(f"customers_{d[-4]:%Y%m%d}.csv", ".v4")
    export(f"crm_{d[-3]:%Y-%m-%d}.csv", ".v3")
    _copied(settings.raw_dir, copied_at)
    cli_run(settings, capsys)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'C00'").fetchall() == \
            [("jean.martin.v3@example.fr",)]
    # The next delivery, copied the same way: a day's second and tenth file (as numbered), a day to come, a day that
    # is none, a batch number (no day: its modification day) and a day the name spells in either order (said).
    export(f"crm_{d[-2]:%Y-%m-%d}_2.csv", ".v2b")
    export(f"crm_{d[-2]:%Y-%m-%d}_10.csv", ".v2j")
    export(f"crm_{d[3]:%Y-%m-%d}.csv", ".future")
    export("crm_2026-02-30.csv", ".none")
    export("crm_batch_20261399.csv", "", "C05;Marc;Robert;marc.batch@example.fr;0612345605;75006")
    export(f"crm_{d[-2]:%m-%d-%Y}.csv", "", "C06;Julie;Richard;julie.either@example.fr;0612345606;75007")
    _copied(settings.raw_dir, copied_at)
    said = cli_run(settings, capsys)
    assert f"refused crm: crm/crm_{d[3]:%Y-%m-%d}.csv: drop day {d[3]} is in the future (its file name says so)" in said
    assert "refused crm: crm/crm_2026-02-30.csv: its file name spells '2026-02-30', not a real day" in said
    assert f"warning: crm: 1 file(s) count for their modification day, their name naming no day it can be sure of " \
           f"(crm/crm_{d[-2]:%m-%d-%Y}.csv: its name spells a day with the year last" in said
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        drops = dict(con.execute('SELECT file, CAST("drop" AS VARCHAR) FROM raw.crm__files').fetchall())
        assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'C00'").fetchall() == \
            [("jean.martin.v2j@example.fr",)]
    assert drops == {f"crm/loyalty_{d[-7]:%Y_%m_%d}_0300.csv": day(-7), f"crm/web-export.{d[-6]:%Y-%m-%d}T03-00.csv": day(-6),
                     f"crm/export-{d[-5]:%d.%m.%Y}.csv": day(-5), f"crm/customers_{d[-4]:%Y%m%d}.csv": day(-4),
                     f"crm/crm_{d[-3]:%Y-%m-%d}.csv": day(-3), f"crm/crm_{d[-2]:%Y-%m-%d}_2.csv": day(-2),
                     f"crm/crm_{d[-2]:%Y-%m-%d}_10.csv": day(-2), "crm/crm_batch_20261399.csv": day(-1),
                     f"crm/crm_{d[-2]:%m-%d-%Y}.csv": day(-1)}
    balanced(settings)
    # Copied again the next day: a file named by its day keeps it (not loaded again); the others take the new day.
    _copied(settings.raw_dir, copied_at + 86_400)
    assert runner.plan(settings).new_files == {day(0): [f"crm/crm_{d[-2]:%m-%d-%Y}.csv", "crm/crm_batch_20261399.csv"]}
