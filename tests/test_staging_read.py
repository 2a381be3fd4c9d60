"""Raw rows read for staging in DuckDB (pipeline/staging_read.py) are the rows stage_source prepares in pandas: the same
trimming (every whitespace Python's str.strip() strips), the purge's token taken out, and the same staged tables,
quarantined rows' raw records included."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd

from pipeline.config import load_sources
from pipeline.normalise import DIRECTION_MARKS, STRIPPED
from pipeline.staging import CLEANED, PURGED_TOKEN, prepare, stage_prepared, stage_source
from pipeline.staging_read import prepared_rows, raw_rows
from tests.test_staging_lookup import HOSTILE_EMAILS, HOSTILE_NAMES, HOSTILE_PHONES, HOSTILE_SOURCE, HOSTILE_STREETS

TODAY = date(2026, 11, 26)


def _hostile_raw(n: int = 400) -> pd.DataFrame:
    """Raw rows as extract writes them (text only): values wrapped in every kind of whitespace, blank ones, the
    purge's token (alone and padded), missing and duplicated record ids, unreadable rows with their raw line."""
    pads = ["", " ", "\t", "\u00a0", "\u3000", "\u2003 ", "\u200b", "\x1c", "\n", "\u0085"]
    columns = {"prenom": HOSTILE_NAMES, "nom": HOSTILE_NAMES[::-1], "naissance": ["02/01/1990", "1990-01-02", "x"],
               "email": HOSTILE_EMAILS, "tel": HOSTILE_PHONES, "rue": HOSTILE_STREETS, "ville": HOSTILE_STREETS[::-1],
               "cp": ["75001", "1000", " 750 01"], "pays": ["FR", "Belgique", "", "ch", "xx"]}
    rows = []
    for i in range(n):
        row = {c: None if (i + k) % 11 == 0 else pads[(i + k) % len(pads)] + v[(i * (k + 1)) % len(v)]
               + pads[(i * 3 + k) % len(pads)] for k, (c, v) in enumerate(columns.items())}
        if i % 17 == 0:  # a purged record: the token in its identifying columns
            row.update(prenom=PURGED_TOKEN, nom=PURGED_TOKEN, email=PURGED_TOKEN if i % 2 else f" {PURGED_TOKEN}")
        if i % 29 == 0:  # nothing to identify the person: quarantined with the raw values as JSON
            row.update(prenom=None, nom="007", email=" ", tel=None)
        record_id = None if i % 31 == 0 else f" H{i % 350} "  # missing ids, and ids delivered twice
        error, raw = ("not valid JSON", f'{{"id": "H{i}"') if i % 37 == 0 else (None, None)
        rows.append({"id": record_id, "extra": f"x{i}", **row, "_file": f"hostile/{i // 200}.csv",
                     "_line": i % 200 + 2, "_error": error, "_raw": raw, "_drop": "2026-11-20"})
    return pd.DataFrame(rows, dtype=object).astype({"_line": "int64"})


def test_whitespace_is_what_python_strips_in_all_of_unicode():
    assert "".join(c for c in map(chr, range(0x110000)) if ("a" + c).strip() == "a") + DIRECTION_MARKS == STRIPPED


def test_rows_read_in_duckdb_stage_as_the_pandas_preparation(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(HOSTILE_SOURCE, encoding="utf-8")
    source, = load_sources(path)
    raw = _hostile_raw()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA raw")
        con.register("_raw_rows", raw)
        con.execute(f"CREATE TABLE raw.{source.name} AS SELECT * FROM _raw_rows")
        con.unregister("_raw_rows")
        files = sorted(raw["_file"].unique())
        read = prepared_rows(con, source, files)
        staged = stage_prepared(source, read, TODAY, None, lambda rows: raw_rows(con, source, rows))
    expected = prepare(source, raw)
    for column in ["_file", "_line", "_error", "_raw", "_record_id", "_purged",
                   *(CLEANED + c for c in source.mapped_columns)]:
        assert read[column].tolist() == expected[column].tolist(), column
    assert read["_purged"].sum() > 10 and read[CLEANED + "prenom"].notna().sum() > 100
    direct = stage_source(source, raw, TODAY)
    assert len(direct.quarantine) > 20 and direct.quarantine["reason"].str.startswith("no name").sum() > 5
    assert PURGED_TOKEN not in "".join(json.loads(r).get("prenom", "") for r in direct.quarantine["raw_record"]
                                       if r.startswith("{") and r.endswith("}"))
    for attr in ("persons", "field_issues", "quarantine"):
        pd.testing.assert_frame_equal(getattr(staged, attr), getattr(direct, attr), obj=attr)
