"""A record its source deleted and later delivers alive again gets its customer id back.

A deletion at the source (a tombstone, a record a full export stopped holding: staging's retired records) retires the
record's customer when no other record keeps it. The same record in a later delivery is the same person: a new id
there broke customer service's notes, marketing's lists and every system that had stored the old one (a CRM export
that dropped a record for one night changed that customer's id for good). So each record that leaves the assignment
because its source deleted it is kept here with the id it held (ids and record keys only, no value of the person);
when it comes back in a cluster no earlier id continues (it would otherwise get a new id), that cluster takes the
retired id again and the run records a `reinstate` event. A record that comes back into a live customer joins it, as
any new record does. Erased records never come back (the erasure registry keeps them out of staging), and the purge
drops the rows of the records it purges.
"""

from __future__ import annotations

import duckdb

from pipeline.staging import RETIRED_RECORDS_SQL
from pipeline.warehouse import table_exists

DEPARTED = "identity.departed_records"

# The fresh clusters (no record held an id: _fresh_ids) holding a record that left with an id now retired. Each id
# goes to one cluster (the one holding most of its records, then the smallest key) and each cluster takes one id
# (the most records, then the oldest id): two records of one customer back apart, or two customers' records back
# together, keep the assignment one-to-one as assign_ids does.
RETURNING_IDS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _returning_ids AS
WITH back AS (
    SELECT f.cluster_key, d.customer_id, count(*) AS records, any_value(r.created_at) AS created_at
    FROM _fresh_ids f JOIN {DEPARTED} d USING (unique_id) JOIN identity.id_registry r ON r.customer_id = d.customer_id
    WHERE r.status = 'retired'
    GROUP BY ALL),
per_id AS (
    SELECT * FROM back QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY records DESC, cluster_key) = 1),
per_cluster AS (
    SELECT cluster_key, customer_id FROM per_id
    QUALIFY row_number() OVER (PARTITION BY cluster_key ORDER BY records DESC, created_at, customer_id) = 1)
SELECT f.unique_id, f.cluster_key, c.customer_id FROM _fresh_ids f JOIN per_cluster c USING (cluster_key)"""


def reinstate(con: duckdb.DuckDBPyConnection) -> None:
    """Move the fresh clusters that take a returning record's retired id from _fresh_ids to _returning_ids."""
    con.execute("CREATE OR REPLACE TEMP TABLE _returning_ids (unique_id VARCHAR, cluster_key VARCHAR, customer_id VARCHAR)")
    if table_exists(con, DEPARTED) and table_exists(con, "identity.id_registry"):
        con.execute(RETURNING_IDS_SQL)
        con.execute("DELETE FROM _fresh_ids WHERE cluster_key IN (SELECT cluster_key FROM _returning_ids)")


def note_departures(con: duckdb.DuckDBPyConnection, previous: str, assigned: str) -> None:
    """Inside save_ids' transaction, before `previous` (unique_id, customer_id: the ids the records held) is replaced
    by `assigned`: the records leaving because their source deleted them are kept with their id; the records assigned
    again (back, under whatever id) leave the table."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {DEPARTED} (unique_id VARCHAR, customer_id VARCHAR, departed_at TIMESTAMP)")
    con.execute(f"DELETE FROM {DEPARTED} WHERE unique_id IN (SELECT unique_id FROM {assigned})")
    if not table_exists(con, "staging.quarantine"):
        return
    con.execute(f"""INSERT INTO {DEPARTED}
        SELECT p.unique_id, p.customer_id, now()::TIMESTAMP
        FROM {previous} p ANTI JOIN {assigned} a USING (unique_id)
        WHERE p.unique_id IN (SELECT source || ':' || source_record_id FROM ({RETIRED_RECORDS_SQL}))
          AND p.unique_id NOT IN (SELECT unique_id FROM {DEPARTED})""")


def forget(con: duckdb.DuckDBPyConnection, records: str) -> int:
    """The purge's: drop the rows of the purged records (`records`: source, source_record_id); their count."""
    if not table_exists(con, DEPARTED):
        return 0
    return con.execute(f"""DELETE FROM {DEPARTED} WHERE unique_id IN (
        SELECT source || ':' || source_record_id FROM {records})""").fetchone()[0]
