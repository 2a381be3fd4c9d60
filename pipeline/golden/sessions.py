"""Web and app sessions joined to customers: by login, or stitched through a device that logged in.

A session with an account id belongs to that account's customer (`logged_in`). A session without one is
stitched to a customer only when every logged-in session of the same device (cookie, per source) belongs to
that one customer: `stitched_pre_login` when it started before the device's first login, `stitched_after_login`
when later (the visitor logged out). Never across customers: a device logged in by two or more customers (a
household tablet) is shared, and its anonymous sessions stay unattributed (`unattributed_shared_device`), as do
those of a device that never logged in (`unattributed_unknown_device`) and a session whose account id matches
no staged account (`unattributed_unknown_account`). Deterministic: the same staged sessions and customer ids
give the same attribution.

A session's attribution reads its own row, its account's customer and the logged-in sessions of its device, nothing
else: a daily run attributes again only the sessions of the devices whose sessions changed (new, gone, or another
device, time or account) or whose accounts' customers changed (golden.changed_rows of marts.customer_xref), and
replaces those rows; every other row is what the whole attribution would give (issue 18: at 1M source records the
whole attribution, rewriting 300k rows a day, cost ~0.3 CPU s and its share of the checkpoints)."""

from __future__ import annotations

import hashlib

import duckdb

from pipeline.golden.candidates import SCOPED_XREF_SQL
from pipeline.sql import query, scalar
from pipeline.warehouse import table_exists, transaction

# Reads the temp view stitch_input: the session activities attributed (build_stitched_sessions).
STITCHED_SESSIONS_SQL = query("stitched_sessions")  # pipeline/queries/stitched_sessions.sql
STITCHED = "golden.stitched_sessions"
# (generation, recipe): the marts generation (golden/changes.py) the table was last brought up to date in, and a hash
# of the query that wrote it. Ids and hashes only.
BASIS = "golden.stitched_sessions_basis"
_RECIPE = hashlib.sha256(STITCHED_SESSIONS_SQL.encode()).hexdigest()[:16]
_SESSIONS = "SELECT * FROM staging.activities WHERE activity_type = 'session'"
# What a stored row keeps of its session's input: a session whose hash differs is attributed again with its device.
_INPUT_HASH = "hash(device_id, occurred_at, person_source, person_record_id)"


def _changed_sessions_sql(moved: str) -> str:
    """The keys (source, source_record_id) of the sessions new, gone or changed since the table was written, and of
    those whose account belongs, or belonged, to a customer of `moved` (a relation of customer_id). A session not
    changed is as stored: its account and customer are looked up in the stored rows, not by joining every session
    of the base to the cross-reference."""
    return f"""
    WITH now AS (SELECT source, source_record_id, {_INPUT_HASH} AS h FROM staging.activities
                 WHERE activity_type = 'session'),
    stored AS (SELECT source, source_record_id, {_INPUT_HASH} AS h FROM {STITCHED})
    SELECT source, source_record_id FROM now FULL JOIN stored USING (source, source_record_id)
    WHERE now.h IS DISTINCT FROM stored.h
    UNION
    SELECT source, source_record_id FROM {STITCHED} WHERE customer_id IN (SELECT customer_id FROM {moved})
    UNION
    SELECT s.source, s.source_record_id FROM {STITCHED} s
    SEMI JOIN (SELECT source, source_record_id FROM marts.customer_xref
               WHERE customer_id IN (SELECT customer_id FROM {moved})) x
        ON x.source = s.person_source AND x.source_record_id = s.person_record_id"""


def _moved_customers(con: duckdb.DuckDBPyConnection, full: bool, generation: tuple | None) -> str | None:
    """The customers whose cross-reference rows changed since the table was last written (a relation of
    customer_id), or None when that is not known and every session is attributed again: a full run, no table or
    basis yet, another query, or a table written before the last commit but one (a run that left it out).
    `generation`: (previous, current) of golden.marts_generation, None when there is none."""
    from pipeline.golden import changes  # changes reads this module's view: imported when called

    if full or generation is None or not all(table_exists(con, t) for t in (STITCHED, BASIS, changes.CHANGED_ROWS)):
        return None
    previous, current = generation
    written, recipe = con.execute(f"SELECT generation, recipe FROM {BASIS}").fetchone()
    # the xref's changes are recorded against the generation `current` until it is committed: since the table was
    # written in `current` (a run that stopped), or in `previous` (the last run, which committed after it)
    if recipe != _RECIPE or written not in (current, previous):
        return None
    return changes.changed_rows("customer_xref", current)


def build_stitched_sessions(con: duckdb.DuckDBPyConnection, full: bool = False) -> int | None:
    """Bring golden.stitched_sessions up to date with staging and the cross-reference, in one transaction: every
    session attributed (`full`, or when what changed is not known: returns None), or the sessions of the devices
    whose sessions or accounts' customers changed (returns how many). Few statements: at 100k source records each
    costs about what the day's attribution does."""
    from pipeline.golden import changes

    generation = (con.execute(f"SELECT previous, current FROM {changes.GENERATION}").fetchone()
                  if table_exists(con, changes.GENERATION) else None)
    moved = _moved_customers(con, full, generation)
    attributed = None
    con.execute("CREATE SCHEMA IF NOT EXISTS golden")
    if moved is None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW stitch_input AS {_SESSIONS}")
    else:  # whole devices: a device's attribution reads every logged-in session of it
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stitch_keys AS {_changed_sessions_sql(moved)}")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _stitch_devices AS
            SELECT DISTINCT source, device_id FROM (
                SELECT a.source, a.device_id FROM staging.activities a SEMI JOIN _stitch_keys USING (source, source_record_id)
                WHERE a.activity_type = 'session'
                UNION ALL
                SELECT s.source, s.device_id FROM {STITCHED} s SEMI JOIN _stitch_keys USING (source, source_record_id))
            WHERE device_id IS NOT NULL""")
        # a CREATE TABLE AS returns its row count
        attributed = scalar(con, """CREATE OR REPLACE TEMP TABLE _stitch_input AS
            SELECT * FROM staging.activities WHERE rowid IN (
                SELECT a.rowid FROM staging.activities a SEMI JOIN _stitch_devices USING (source, device_id)
                WHERE a.activity_type = 'session'
                UNION ALL
                SELECT a.rowid FROM staging.activities a SEMI JOIN _stitch_keys USING (source, source_record_id)
                WHERE a.activity_type = 'session')""")
        con.execute("CREATE OR REPLACE TEMP VIEW stitch_input AS SELECT * FROM _stitch_input")
    with transaction(con):
        if moved is None:
            con.execute(f"CREATE OR REPLACE TABLE {STITCHED} AS {STITCHED_SESSIONS_SQL}")
        else:
            con.execute(f"""DELETE FROM {STITCHED} s WHERE (source, source_record_id) IN (SELECT (source, source_record_id) FROM _stitch_keys)
                OR (source, device_id) IN (SELECT (source, device_id) FROM _stitch_devices)""")
            con.execute(f"INSERT INTO {STITCHED} BY NAME {STITCHED_SESSIONS_SQL}")
        con.execute(f"CREATE OR REPLACE TABLE {BASIS} AS SELECT ?::VARCHAR AS generation, ?::VARCHAR AS recipe",
                    [generation[1] if generation else None, _RECIPE])
    return attributed


SHARED_DEVICES_SQL = """
SELECT source,
       device_id,
       count(DISTINCT customer_id) FILTER (WHERE attribution = 'logged_in')  AS customers,
       count(*) FILTER (WHERE attribution = 'logged_in')                    AS logged_in_sessions,
       count(*) FILTER (WHERE attribution = 'unattributed_shared_device')   AS unattributed_sessions,
       min(occurred_at)                                                     AS first_seen_at,
       max(occurred_at)                                                     AS last_seen_at
FROM golden.stitched_sessions
WHERE device_id IS NOT NULL
GROUP BY source, device_id
HAVING count(DISTINCT customer_id) FILTER (WHERE attribution = 'logged_in') >= 2
ORDER BY source, device_id
"""

# The activities of each customer in_scope (golden/changes.py, defined first) as golden.customer_activity counts
# them: every non-session activity through its person record (as candidates.CUSTOMER_ACTIVITIES_SQL), and sessions
# as attributed above. A view of its own name: `customer_activities` (candidates.py) has no stitched sessions.
CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL = SCOPED_XREF_SQL + """;
CREATE OR REPLACE TEMP VIEW customer_activities_stitched AS
SELECT x.customer_id, a.*
FROM staging.activities a
JOIN scoped_xref x ON x.source = a.person_source AND x.source_record_id = a.person_record_id
WHERE a.activity_type IS DISTINCT FROM 'session'
UNION ALL BY NAME
SELECT s.customer_id, a.*
FROM staging.activities a
JOIN golden.stitched_sessions s USING (source, source_record_id)
WHERE s.customer_id IS NOT NULL AND in_scope(s.customer_id)
"""
