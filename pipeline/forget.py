"""Forget loaded files on an operator's explicit request: the only way rows leave raw.

Archiving (deleting) a file from the drop folder keeps its rows; a wrong delivery is taken back with
`customer360 forget FILE`. Its raw rows and its entry in raw.<source>__files go; the next run sees the
file gone from raw, restages the source and drops its records from identity and the marts.
"""

from __future__ import annotations

import duckdb

from pipeline.config import Settings, load_sources
from pipeline.sql import raw_table, scalar
from pipeline.warehouse import table_exists, transaction


def forget_files(settings: Settings, files: list[str]) -> dict[str, int]:
    """Raw rows removed per file; a file no source loaded is an error (nothing is removed then)."""
    sources = load_sources(settings.sources_file)
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
                con.execute(f"DELETE FROM {raw_table(name)} WHERE _file = ?", [file])
                con.execute(f"DELETE FROM {raw_table(name, files=True)} WHERE file = ?", [file])
    return removed
