"""Which staged records changed since a consumer last read them: the change mark staging keeps for its consumers.

Staging writes a row only while staging its raw file, and stamps that file in staging.staged_files in the same
transaction (`staged_at`; a full restage of a source deletes its rows and files and stamps every file again); it
removes rows only by deleting them. So a consumer that keeps a copy of staged_files as it last read it
(`remember_files`) finds the rows written since as those of the files whose stamp its copy lacks, and the rows removed
since as the keys it holds that staging no longer does. One other writer rewrites staged rows in place: the purge
scrubs an excluded customer's values (golden/purge.py). It notes the records it rewrote in REWRITTEN, each batch
numbered, and a consumer keeps the last number it read (`last_rewrite`). Neither needs a clock: a consumer compares
copies and numbers, never times."""

from __future__ import annotations

import duckdb

from pipeline.sql import scalar
from pipeline.warehouse import table_exists

FILES = "staging.staged_files"
REWRITTEN = "staging.rewritten_records"
# The staged tables whose rows the purge's rewrites are noted for (the person records and their further contacts).
NOTED = ("staging.person_records", "staging.person_contacts")


def note_rewritten(con: duckdb.DuckDBPyConnection, rows_sql: str) -> None:
    """Note the records of `rows_sql` (source, source_record_id, ...) as rewritten in place, as one new batch."""
    con.execute(f"""CREATE TABLE IF NOT EXISTS {REWRITTEN} (
        source VARCHAR, source_record_id VARCHAR, batch BIGINT)""")
    con.execute(f"""INSERT INTO {REWRITTEN} SELECT DISTINCT source, source_record_id,
        (SELECT coalesce(max(batch), 0) + 1 FROM {REWRITTEN}) FROM ({rows_sql})""")


def last_rewrite(con: duckdb.DuckDBPyConnection) -> int:
    """The number of the last batch of rewritten records (0: none yet)."""
    return scalar(con, f"SELECT coalesce(max(batch), 0) FROM {REWRITTEN}") if table_exists(con, REWRITTEN) else 0


def remember_files(con: duckdb.DuckDBPyConnection, copy: str) -> None:
    """Keep in `copy` the staged files' stamps as they are now (what the consumer has just read)."""
    con.execute(f"CREATE OR REPLACE TABLE {copy} AS SELECT source, file, sha256, staged_at FROM {FILES}")


def changed_records_sql(con: duckdb.DuckDBPyConnection, table: str, copy: str, rewritten_after: int) -> str:
    """(source, source_record_id) of the rows of the staged `table` written since `copy` was kept, and of the records
    rewritten in place after batch `rewritten_after` (an int: rendered as a literal)."""
    rewritten = (f"\nUNION SELECT source, source_record_id FROM {REWRITTEN} WHERE batch > {int(rewritten_after)}"
                 if table_exists(con, REWRITTEN) else "")
    return f"""SELECT source, source_record_id FROM {table}
WHERE (source, _file) IN (SELECT (source, file) FROM (SELECT source, file, sha256, staged_at FROM {FILES}
                                                       EXCEPT SELECT source, file, sha256, staged_at FROM {copy})){rewritten}"""
