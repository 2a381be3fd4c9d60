"""What a source's earlier drop days show of its delivery habits, to read a new day's files against them.

A source system delivers the same way every day: the same trailer line closing each file, counted the same way, the
same number of numbered parts. What a single day's files cannot tell (a transfer cut short that lost its trailer with
its end; a trailer counting the file's lines, not its records; a last part that is late when no name says `of 9`),
its earlier days do. Learned from the raw ledger (raw.<source>__files) and the trailer rows kept in raw.<source>,
over the last EARLIER_DAYS drop days before the day read: a habit must hold on each of them, so a source changing its
habit is read by its new one after one day (a trailer dropped) or a few (a smaller export in fewer parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline import trailers
from pipeline.config import Source
from pipeline.sql import raw_table
from pipeline.warehouse import table_exists

EARLIER_DAYS = 3  # the drop days a habit is learned from (the most recent ones before the day read)


@dataclass
class History:
    """A source's habits as its last earlier days show them."""
    days: dict[str, list[str]] = field(default_factory=dict)  # earlier drop day -> the files it delivered
    trailer_days: list[str] = field(default_factory=list)  # days every CSV file of which ended in a trailer (all)
    # the header/trailer lines every earlier trailer counted beside the records (0: none, or not all alike; None: no
    # earlier trailer with a count)
    lines_counted: int | None = None


def earlier_files(con: duckdb.DuckDBPyConnection, source: Source, day: str) -> dict[str, list[str]]:
    """The files (read, or skipped as a copy of another: still delivered) of the source's last EARLIER_DAYS drop days
    before `day`, by day."""
    if not table_exists(con, f"raw.{source.name}__files"):
        return {}
    rows = con.execute(f"""
        WITH files AS (SELECT file, CAST(drop AS VARCHAR) AS drop FROM {raw_table(source.name, files=True)}
                       WHERE CAST(drop AS VARCHAR) < ? AND NOT starts_with(status, 'refused'))
        SELECT drop, file FROM files WHERE drop IN (SELECT DISTINCT drop FROM files ORDER BY drop DESC LIMIT ?)
        ORDER BY ALL""", [day, EARLIER_DAYS]).fetchall()
    days: dict[str, list[str]] = {}
    for drop, file in rows:
        days.setdefault(drop, []).append(file)
    return days


def history(con: duckdb.DuckDBPyConnection, source: Source, day: str) -> History:
    """The habits of `source` its last earlier days before `day` show (none before its first day)."""
    days = earlier_files(con, source, day)
    found = History(days)
    if source.format != "csv" or not days or not table_exists(con, f"raw.{source.name}"):
        return found
    # Each earlier file holding records, with its trailer line when it has one (its raw row keeps the line)
    files = con.execute(f"""
        SELECT CAST(f.drop AS VARCHAR), f.records, t._raw
        FROM {raw_table(source.name, files=True)} f
        LEFT JOIN (SELECT _file, _raw FROM {raw_table(source.name)} WHERE list_contains(?, _error)) t
          ON t._file = f.file
        WHERE list_contains(?, f.file) AND f.records > 0""",
                        [list(trailers.REASONS), [f for fs in days.values() for f in fs]]).fetchall()
    if files and all(line is not None for _, _, line in files):
        found.trailer_days = sorted({drop for drop, _, _ in files})
    counted = [read.lines_counted(records - 1) for _, records, line in files  # records: the trailer's line among them
               if line is not None and (read := trailers.trailer(line, "\0", -1)) and read.counts]
    if counted:
        found.lines_counted = counted[0] if len(set(counted)) == 1 else 0
    return found
