"""Which records' customer ids a run must decide again: those of the clusters that changed since ids were assigned.

A cluster whose records are exactly those of a cluster of the last run held one customer id, and only that cluster
held it: resolve.stable_ids keeps it (the cluster is that customer exactly), whatever happens elsewhere. So ids need
deciding again only for the clusters holding a record whose cluster key changed (or a new record), and for the
clusters that lost one (a record's old key): every record of the last run's customers they touch is among them.
The clusters step keeps those records and their old keys in the journal identity.reclustered_records; customer_ids
empties it when it commits. Without a journal (a first run, or clusters written with none before them), every
cluster is assigned.
"""

from __future__ import annotations

import duckdb

from pipeline.warehouse import table_exists

JOURNAL = "identity.reclustered_records"


def note_reclustered(con: duckdb.DuckDBPyConnection, clusters: str, gone: str | None = None) -> None:
    """Before identity.clusters is replaced by `clusters` (unique_id, cluster_key), in the same transaction: the
    records whose cluster key changes, with their old key (NULL for a new record), join the journal. With `gone`
    (the old rows whose record is no longer clustered), `clusters` may be only the new rows that differ from the old
    ones (reclustering.write_clusters' diff): a record keeping its key is among neither, so only those few rows are
    joined, not every cluster row."""
    if not table_exists(con, "identity.clusters"):
        con.execute(f"DROP TABLE IF EXISTS {JOURNAL}")
    elif table_exists(con, JOURNAL) and gone is None:
        con.execute(f"""INSERT INTO {JOURNAL}
            SELECT unique_id, o.cluster_key FROM {clusters} n FULL JOIN identity.clusters o USING (unique_id)
            WHERE n.cluster_key IS DISTINCT FROM o.cluster_key""")
    elif table_exists(con, JOURNAL):
        con.execute(f"""INSERT INTO {JOURNAL}
            SELECT unique_id, o.cluster_key FROM {clusters} n LEFT JOIN identity.clusters o USING (unique_id)
            WHERE n.cluster_key IS DISTINCT FROM o.cluster_key
            UNION ALL SELECT unique_id, cluster_key FROM {gone}""")


def scope(con: duckdb.DuckDBPyConnection) -> bool:
    """Temp table _id_scope (unique_id): the records of the clusters today's keys or the journal's old keys name, and
    the journal's records gone from the clusters; False (no table) when there is no journal."""
    if not (table_exists(con, JOURNAL) and table_exists(con, "identity.record_customer")):
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _id_scope AS
        WITH keys AS (SELECT c.cluster_key FROM identity.clusters c SEMI JOIN {JOURNAL} j USING (unique_id)
                      UNION SELECT old_key FROM {JOURNAL} WHERE old_key IS NOT NULL)
        SELECT unique_id FROM identity.clusters SEMI JOIN keys USING (cluster_key)
        UNION SELECT unique_id FROM {JOURNAL} ANTI JOIN identity.clusters USING (unique_id)""")
    return True


def spent(con: duckdb.DuckDBPyConnection) -> None:
    """Ids are assigned to today's clusters (in save_ids' transaction): the journal starts again, empty."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {JOURNAL} (unique_id VARCHAR, old_key VARCHAR)")
    con.execute(f"DELETE FROM {JOURNAL}")
