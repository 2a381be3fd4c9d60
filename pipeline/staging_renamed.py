"""Versions from a JSON-lines file whose export renamed a mapped key (`mail` -> `e_mail`: no line holds the mapped
key, and the file holds unmapped ones; extract.renamed_keys reads that from the file's status).

Such a version reads the field as empty because of the file's shape, not because the source cleared it. As the newest
version it would supersede, and so erase, the e-mail an earlier version held. A version of such a file whose record
has another version (earlier file or line) holding a value for a key the file lacks is therefore quarantined with
the reason, and the other version stays; a record met for the first time stages as before (its field empty, the file's
check says why). Both staging paths (stage_prepared's versions rule, staging_changes._supersede) ask here."""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.config import Source
from pipeline.extract import RENAMED_HINT, renamed_keys
from pipeline.sql import raw_table

RENAMED_REASON = ("its file holds no mapped key(s) {keys} (" + RENAMED_HINT + "): this version would erase what the "
                  "version at {kept} holds; map the new key, or deliver the file again with it")


def renamed_files(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, list[str]]:
    """file -> the person keys (mapped columns of person fields and identifiers) its export renamed."""
    if source.format != "jsonl" or not source.has_person:
        return {}
    person = {c.lower() for c in source.person_columns}
    files = con.execute(f"SELECT file, status FROM {raw_table(source.name, files=True)} "
                        "WHERE contains(status, ?)", [RENAMED_HINT]).fetchall()
    keys = {file: [k for k in renamed_keys(status) if k.lower() in person] for file, status in files}
    return {file: k for file, k in keys.items() if k}


def erased_by_rename(rows: pd.DataFrame, renamed: dict[str, list[str]], column) -> pd.Series:
    """For each of `rows` (`_record_id`, `_file`, `_line` and the values `column(key)` names), the reason it must not
    be taken as its record's newest version (RENAMED_REASON, naming the last version of an earlier file holding a value
    for a key its file lacks), or None. A later version supersedes it as any version."""
    reason = pd.Series(None, index=rows.index, dtype=object)
    suspects = rows[rows["_file"].isin(renamed.keys())]
    if suspects.empty:
        return reason
    others = rows[rows["_record_id"].isin(suspects["_record_id"])].sort_values(["_file", "_line"])
    for index, row in suspects.iterrows():
        keys = renamed[row["_file"]]
        values = [column(k) for k in keys if column(k) in rows]
        held = others[(others["_record_id"] == row["_record_id"]) & (others["_file"] < row["_file"])]
        held = held[held[values].notna().any(axis=1)] if values else held.iloc[:0]
        if len(held):
            last = held.iloc[-1]
            reason[index] = RENAMED_REASON.format(keys=keys, kept=f"{last['_file']}:{last['_line']}")
    return reason
