"""The linkage input's scope: which records a day's run must read again, from staging's change mark.

A record's row in the linkage input follows from its own staged row and from the data's name counts
(features.linkage_input_sql): a record without a surname reads its lone name as a surname, and its mailbox's words as
names, by how often the data hold each word as a first name and as a surname. Only the sign of that difference, and a
first name's canonical form, enter the reading. So the rows to build again are the records staging wrote, rewrote or
removed since the last build (staging_marks), and the records without a surname whose first name, or a word of whose
mailbox, starts or ends with a word whose sign or canonical form changed (the mailbox's reading cuts its words at a
first name). Every other row is today's whole build's row already. The counts are a whole GROUP BY (cheap); what the
build costs is reading every record (mailbox words, the name joins, the row hash), which the scope avoids.

What the build last read is kept beside the input: the staged files' stamps (READ_FILES), the counts (NAME_COUNTS) and
the last rewrite batch, identifiers and further-contacts mode (READING). Without it, with other identifiers or with
further contacts (whose arrays follow from other records' contacts), the input is built whole."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import duckdb

from pipeline.identity.features import linkage_input_sql, write_linkage_input
from pipeline.sql import one, scalar
from pipeline.staging_marks import changed_records_sql, last_rewrite, remember_files
from pipeline.warehouse import table_exists

READ_FILES = "identity.linkage_input_files"
NAME_COUNTS = "identity.linkage_name_counts"
READING = "identity.linkage_input_reading"
STATE = (READ_FILES, NAME_COUNTS, READING)
SCOPE = "_linkage_scope"  # temp table: (source, source_record_id) of the records to build again
COUNTS = "_linkage_name_counts"  # temp table: today's name counts

# How often each word is a first name and a surname in the staged records (features.linkage_input_sql reads them).
COUNTS_SQL = """
WITH f AS (SELECT first_name_norm AS v, count(*) AS first_n, any_value(first_name_canonical) AS canonical
           FROM staging.person_records WHERE first_name_norm IS NOT NULL GROUP BY 1),
     l AS (SELECT last_name_norm AS v, count(*) AS last_n FROM staging.person_records
           WHERE last_name_norm IS NOT NULL GROUP BY 1)
SELECT v, coalesce(first_n, 0) AS first_n, coalesce(last_n, 0) AS last_n, canonical FROM f FULL JOIN l USING (v)"""

# What is kept of them: no name, for an erased person's names must leave every table (tests/test_personal_data.py),
# but each word's hash and length (and its canonical form's hash), as the purge keeps record hashes.
_KEPT_COUNTS_SQL = f"SELECT hash(v) AS h, length(v) AS len, first_n, last_n, hash(canonical) AS canonical_h FROM {COUNTS}"

# The words whose reading may differ from the last build's: another sign of first minus surname count, another
# canonical form, or a word appearing or leaving either side. A word no record holds any more comes back as its
# length and hash only (`v` NULL).
_MOVED_SQL = f"""
SELECT n.v, o.len, h
FROM (SELECT hash(v) AS h, v, first_n, last_n, hash(canonical) AS canonical_h FROM {COUNTS}) n
FULL JOIN {NAME_COUNTS} o USING (h)
WHERE sign(coalesce(n.first_n, 0) - coalesce(n.last_n, 0)) <> sign(coalesce(o.first_n, 0) - coalesce(o.last_n, 0))
   OR (coalesce(n.first_n, 0) > 0) <> (coalesce(o.first_n, 0) > 0)
   OR (coalesce(n.last_n, 0) > 0) <> (coalesce(o.last_n, 0) > 0)
   OR n.canonical_h IS DISTINCT FROM o.canonical_h"""

# Records without a surname that read a moved word: as their first name, or as a start or an end of a mailbox word
# (the mailbox's words are its runs of a-z, so only such words can be read there). A match anywhere in the e-mail is
# a superset of that: one regular expression over the e-mails (0.016 CPU s over 124k records at 1M) where cutting
# every mailbox into words cost 0.07.
_READ_MOVED_SQL = """
SELECT source, source_record_id FROM staging.person_records
WHERE last_name_norm IS NULL AND (list_contains($moved, first_name_norm) OR $pattern <> '' AND regexp_matches(email_key, $pattern))"""

# A word no record holds any more (an erased person's, a record removed) is known by its hash and length: the
# mailbox words of that length or longer are cut to the start and the end of that length and hashed (~0.05 CPU s a
# length at 1M; no record holds it as a first name any more).
_READ_GONE_SQL = """
WITH words AS (SELECT source, source_record_id,
                      unnest(regexp_extract_all(split_part(email_key, '@', 1), '[a-z]+')) AS w
               FROM staging.person_records WHERE last_name_norm IS NULL AND email_key IS NOT NULL)
SELECT DISTINCT source, source_record_id FROM words, (SELECT unnest($lengths) AS n)
WHERE length(w) >= n AND (list_contains($hashes, hash(w[:n])) OR list_contains($hashes, hash(w[-n:])))"""


def _state(identifiers: list[str], further: bool) -> str:
    return json.dumps({"identifiers": list(identifiers), "further": further})


def read_scope(con: duckdb.DuckDBPyConnection, identifiers: list[str], further: bool) -> bool:
    """Build today's name counts (COUNTS) and, when the input can be built for its changed records only, their keys
    (SCOPE). Returns whether it can: False means build it whole."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {COUNTS} AS {COUNTS_SQL}")
    if further or not (table_exists(con, "identity.linkage_input") and all(table_exists(con, t) for t in STATE)):
        return False
    kept = one(con, f"SELECT rewritten, state FROM {READING}")
    if kept is None or kept[1] != _state(identifiers, further):
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {SCOPE} AS
        {changed_records_sql(con, "staging.person_records", READ_FILES, kept[0])}""")
    moved = con.execute(_MOVED_SQL).fetchall()
    if held := [v for v, _, _ in moved if v is not None]:
        pattern = "|".join(re.escape(w) for w in held if re.fullmatch("[a-z]+", w))
        con.execute(f"INSERT INTO {SCOPE} {_READ_MOVED_SQL}", {"moved": held, "pattern": pattern})
    if gone := [(n, h) for v, n, h in moved if v is None]:
        con.execute(f"INSERT INTO {SCOPE} {_READ_GONE_SQL}",
                    {"lengths": sorted({n for n, _ in gone}), "hashes": [h for _, h in gone]})
    # Records removed since: none left out of the scope when staging holds as many more records than the input as the
    # scope holds more (the scope holds every new record, staging's mark): a count of each side, not a join of both.
    staged, held = (scalar(con, f"SELECT count(*) FROM {t}") for t in ("staging.person_records", "identity.linkage_input"))
    in_staging, in_input = (scalar(con, f"SELECT count(*) FROM {t} SEMI JOIN {SCOPE} "
                                        "USING (source, source_record_id)")
                            for t in ("staging.person_records", "identity.linkage_input"))
    if staged - held != in_staging - in_input:
        con.execute(f"""INSERT INTO {SCOPE} SELECT source, source_record_id FROM identity.linkage_input
            ANTI JOIN staging.person_records USING (source, source_record_id)""")
    return True


def remember_reading(con: duckdb.DuckDBPyConnection, identifiers: list[str], further: bool, rewritten: int) -> None:
    """Keep what the build just read (call inside the transaction that writes the input): the staged files' stamps,
    today's counts (COUNTS), `rewritten` (staging_marks.last_rewrite as the build started) and the input's mode."""
    remember_files(con, READ_FILES)
    con.execute(f"CREATE OR REPLACE TABLE {NAME_COUNTS} AS {_KEPT_COUNTS_SQL}")
    con.execute(f"CREATE OR REPLACE TABLE {READING} AS SELECT ?::BIGINT AS rewritten, ? AS state",
                [rewritten, _state(identifiers, further)])



def build_linkage_input(con: duckdb.DuckDBPyConnection, identifiers: list[str], further: bool,
                        restore: Callable[[duckdb.DuckDBPyConnection, str], object]) -> tuple[int, int | None]:
    """Bring identity.linkage_input up to date with staging: the rows of the changed records only when a reading is
    kept, else every row. `restore` is handed the candidate table before it is written (the purge's kept hashes).
    Returns the rows built and write_linkage_input's rows replaced."""
    rewritten = last_rewrite(con)
    scope = SCOPE if read_scope(con, identifiers, further) else None
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _linkage_input AS
        {linkage_input_sql(identifiers, further, counts=COUNTS, scope=scope)}""")
    restore(con, "_linkage_input")
    replaced = write_linkage_input(con, "_linkage_input", scope,
                                   remember=lambda: remember_reading(con, identifiers, further, rewritten))
    return scalar(con, "SELECT count(*) FROM _linkage_input"), replaced
