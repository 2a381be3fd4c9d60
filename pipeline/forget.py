"""Forget loaded files on an operator's explicit request: the only way rows leave raw.

Archiving (deleting) a file from the drop folder keeps its rows; a wrong delivery is taken back with
`customer360 forget FILE`. Its raw rows, its entry in raw.<source>__files and the values the normalisation lookup
holds of its rows go; the next run sees the file gone from raw, restages the source and drops its records from
identity and the marts (the history of a customer left with them keeps no value: marts/history.py), and compacts
the warehouse file (pipeline/compaction.py): the deleted rows' bytes stayed in its free blocks until then.
"""

from __future__ import annotations

import duckdb

from pipeline.compaction import request
from pipeline.config import Settings, Source, load_sources
from pipeline.sql import raw_table, scalar
from pipeline.staging import looked_up_values
from pipeline.staging_lookup import TABLE as NORMALISED_VALUES
from pipeline.warehouse import table_exists, transaction


def forget_files(settings: Settings, files: list[str]) -> dict[str, int]:
    """Raw rows removed per file; a file no source loaded is an error (nothing is removed then)."""
    sources = load_sources(settings.sources_file)
    by_name = {s.name: s for s in sources}
    removed: dict[str, int] = {}
    still_there = [f for f in files if (settings.raw_dir / f).exists()]
    if still_there:  # the next run would load it again
        raise ValueError(f"{still_there} still in the drop folder: move the file(s) away first")
    with duckdb.connect(str(settings.warehouse)) as con, transaction(con):
        for file in files:
            owners = [s.name for s in sources if table_exists(con, f"raw.{s.name}__files") and scalar(con,
                f"SELECT count(*) FROM {raw_table(s.name, files=True)} WHERE file = ?", [file])]
            if not owners:
                raise ValueError(f"no source loaded a file named {file!r} (names are relative to the raw dir)")
            for name in owners:
                removed[file] = removed.get(file, 0) + scalar(con,
                    f"SELECT count(*) FROM {raw_table(name)} WHERE _file = ?", [file])
                _forget_looked_up(con, by_name[name], file)
                con.execute(f"DELETE FROM {raw_table(name)} WHERE _file = ?", [file])
                con.execute(f"DELETE FROM {raw_table(name, files=True)} WHERE file = ?", [file])
        # compacted by the next run, the copies written whole then (they published the file's people)
        request(con, "customer360 forget", sum(removed.values()), erasure=True, customers=sum(removed.values()))
    return removed


def _forget_looked_up(con: duckdb.DuckDBPyConnection, source: Source, file: str) -> None:
    """The normalisation lookup forgets the values the file's rows were looked up by (names, e-mails, phones, further
    ones, addresses): keyed by raw value, it kept a wrong delivery's people after their rows left raw (until
    2026-11-29). Another row holding the same value has it normalised again when next staged."""
    if source.has_person and table_exists(con, NORMALISED_VALUES):
        rows = con.execute(f"SELECT * FROM {raw_table(source.name)} WHERE _file = ?", [file]).df()
        if values := sorted(looked_up_values(source, rows)):
            con.execute(f"DELETE FROM {NORMALISED_VALUES} WHERE raw IN (SELECT unnest(?))", [values])
