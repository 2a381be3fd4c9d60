"""Which staged rows changed since a consumer last read them: the per-row change mark staging keeps (issue 18).

A day writes a few staged rows; the consumers that read every staged row (the golden fingerprints, the review queue's
activity totals) need only the records of those. Each writer of the marked tables (MARKED) notes the rows it touches in
JOURNAL, stamped with a mark: a number that staging raises by one each run (COUNTER), never a clock.
- staging notes every row it writes (the rows of the files it stages) and every row it deletes (a superseded or retired
  version), keys only; a source staged whole or taken out of the sources file is noted as one row without a record id,
  which sends every consumer to a whole build;
- the purge, the one writer that rewrites staged rows in place, notes the rows it scrubs with the next run's mark (it
  runs after the consumers of its own run).
A consumer keeps in READERS the mark it last read up to (`remember`, in its own transaction) and reads the rows noted
above it (`changed_since`); without a mark kept, or after a whole restage, it builds whole. Entries every consumer has
read are dropped by staging (`_prune`). Keys only: no personal value is noted."""

from __future__ import annotations

import duckdb

from pipeline.sql import scalar
from pipeline.warehouse import table_exists

JOURNAL = "staging.row_marks"
COUNTER = "staging.row_mark"
READERS = "staging.mark_readers"
# The staged tables whose rows are noted, with the columns that name a row's own person record in activities.
MARKED = ("person_records", "person_contacts", "activities")
# Who reads the journal (a mark kept per reader); entries all of them read are dropped.
READER_NAMES = ("golden_fingerprints", "review_values")


def create(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {JOURNAL} (table_name VARCHAR, source VARCHAR, source_record_id VARCHAR,
        person_source VARCHAR, person_record_id VARCHAR, mark BIGINT)""")
    con.execute(f"CREATE TABLE IF NOT EXISTS {COUNTER} (mark BIGINT)")
    con.execute(f"CREATE TABLE IF NOT EXISTS {READERS} (reader VARCHAR, mark BIGINT)")


def current(con: duckdb.DuckDBPyConnection) -> int:
    """The mark of the last staging run (0: none yet)."""
    return scalar(con, f"SELECT coalesce(max(mark), 0) FROM {COUNTER}") if table_exists(con, COUNTER) else 0


def begin(con: duckdb.DuckDBPyConnection) -> int:
    """Staging starts a run: its mark, one above the last (in staging's transaction)."""
    create(con)
    mark = current(con) + 1
    con.execute(f"DELETE FROM {COUNTER}")
    con.execute(f"INSERT INTO {COUNTER} VALUES (?)", [mark])
    _prune(con)
    return mark


def _person_keys(con: duckdb.DuckDBPyConnection, table: str) -> str:
    return ("person_source, person_record_id" if table == "activities" else "NULL, NULL")


def note(con: duckdb.DuckDBPyConnection, table: str, where_sql: str, params: list | None = None,
         mark: int | None = None, alias: str = "") -> None:
    """Note the rows of staging.`table` that `where_sql` names (before deleting them, or after writing them), with
    `mark` (default: the next run's, for a writer that runs after the consumers)."""
    if table not in MARKED:
        return
    create(con)
    mark = current(con) + 1 if mark is None else int(mark)
    con.execute(f"""INSERT INTO {JOURNAL} SELECT '{table}', source, source_record_id, {_person_keys(con, table)}, {mark}
        FROM staging.{table} {alias} WHERE {where_sql}""", params)


def note_whole(con: duckdb.DuckDBPyConnection, source: str | None, mark: int) -> None:
    """Every row of `source` (None: of every source) was written or removed: its consumers build whole."""
    create(con)
    con.execute(f"INSERT INTO {JOURNAL} VALUES ('*', ?, NULL, NULL, NULL, ?)", [source, mark])


def read_mark(con: duckdb.DuckDBPyConnection, reader: str) -> int | None:
    """The mark `reader` last read up to, None when it never read (or the journal is missing)."""
    if not all(table_exists(con, t) for t in (JOURNAL, READERS)):
        return None
    return scalar(con, f"SELECT max(mark) FROM {READERS} WHERE reader = ?", [reader])


def changed_since(con: duckdb.DuckDBPyConnection, reader: str) -> str | None:
    """The rows noted since `reader` last read (a query of table_name, source, source_record_id, person_source,
    person_record_id), or None when it must read everything: no mark kept, or a whole source written since."""
    last = read_mark(con, reader)
    if last is None or scalar(con, f"SELECT count(*) FROM {JOURNAL} WHERE mark > ? AND table_name = '*'", [last]):
        return None
    return (f"SELECT table_name, source, source_record_id, person_source, person_record_id FROM {JOURNAL} "
            f"WHERE mark > {int(last)}")


def remember(con: duckdb.DuckDBPyConnection, reader: str, mark: int) -> None:
    """`reader` has read every row noted up to `mark` (in the caller's transaction)."""
    create(con)
    con.execute(f"DELETE FROM {READERS} WHERE reader = ?", [reader])
    con.execute(f"INSERT INTO {READERS} VALUES (?, ?)", [reader, int(mark)])


def forget(con: duckdb.DuckDBPyConnection, reader: str) -> None:
    """`reader`'s output was written by other means: its next read is whole."""
    if table_exists(con, READERS):
        con.execute(f"DELETE FROM {READERS} WHERE reader = ?", [reader])


def _prune(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the entries every reader has read (none while a reader has never read)."""
    oldest = scalar(con, f"""SELECT CASE WHEN count(DISTINCT reader) = {len(READER_NAMES)} THEN min(mark) END
        FROM {READERS} WHERE list_contains(?, reader)""", [list(READER_NAMES)])
    if oldest is not None:
        con.execute(f"DELETE FROM {JOURNAL} WHERE mark <= ?", [oldest])
