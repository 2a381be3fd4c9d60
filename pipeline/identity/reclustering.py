"""Which records a day's clustering must look at again, after scoring changed a few records' pairs.

Clustering decides a pair from the pair's score and its ends' other pairs and keys (a rival that may outweigh it,
clustering.outweighed_by_rivals), and clusters each component of the candidate graph on its own. So when only some
records' pairs or keys changed (`seeds`), a pair not touching a seed or a seed's neighbour (`near`) keeps its verdict,
and a component (of the last run or today's) without a `near` record is the same component with the same pairs and
records: it clusters as it did (kept, whole or a singleton). Only the `region`, the records of the components holding
a `near` record, is clustered again; the other records keep last run's clusters.

The seeds: the records whose pairs merge_rescored replaced, with their old partners (the journal
identity.rescored_records, emptied when clustering commits), the records purged since (their keys were scrubbed),
the records of the stewards' link decisions (this run's and the last run's) and any record new to or gone from the
clusters. identity.clustering_state says what the clusters were computed with: without it (a first run, a full
re-link drops it) or with other settings, every record is clustered.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.identity import id_scope, review
from pipeline.warehouse import registered, table_exists

JOURNAL = "identity.rescored_records"
STATE = "identity.clustering_state"


def note_rescored(con: duckdb.DuckDBPyConnection, touched: str) -> None:
    """Add the records of `touched` (a relation of unique_id) and their partners in identity.pairwise_predictions,
    before their pairs are replaced, to the journal and to the review queue's (in the caller's transaction)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {JOURNAL} (unique_id VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rescored AS {_with_partners(touched)}")
    con.execute(f"INSERT INTO {JOURNAL} SELECT unique_id FROM _rescored")
    review.note(con, "SELECT unique_id, NULL FROM _rescored")


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Every pair was scored again: the next clustering looks at every record."""
    con.execute(f"DROP TABLE IF EXISTS {STATE}")
    con.execute(f"DROP TABLE IF EXISTS {JOURNAL}")


def signature(threshold: float, max_size: int, review_size: int, conflicts: Path) -> str:
    """What the clusters depend on besides the pairs and records: the policy and the learned vetoes."""
    vetoes = hashlib.sha256(conflicts.read_bytes()).hexdigest() if conflicts.is_file() else "none"
    return f"{threshold!r}|{max_size}|{review_size}|{vetoes}"


def save_state(con: duckdb.DuckDBPyConnection, settings: str, decided: list[str]) -> None:
    """After identity.clusters is written (in its transaction): what it was computed with; the journal is spent."""
    con.execute(f"""CREATE OR REPLACE TABLE {STATE} AS
        SELECT ?::VARCHAR AS settings, now()::TIMESTAMP AS clustered_at, ?::VARCHAR[] AS decided""",
                [settings, sorted(decided)])
    if table_exists(con, JOURNAL):
        con.execute(f"DELETE FROM {JOURNAL}")


def seeds(con: duckdb.DuckDBPyConnection, settings: str, decided: list[str]) -> bool:
    """Temp table _seeds (unique_id) of the records whose pairs or keys changed since the last clustering; False
    (and no table) when every record must be clustered."""
    if not (table_exists(con, STATE) and table_exists(con, "identity.outweighed_pairs")
            and table_exists(con, "identity.clusters")):
        return False
    (last_settings, clustered_at, last_decided), = con.execute(
        f"SELECT settings, clustered_at, decided FROM {STATE}").fetchall()
    if last_settings != settings:
        return False
    purged = ("UNION SELECT unique_id FROM identity.purged_records WHERE last_purged_at >= $at"
              if table_exists(con, "identity.purged_records") else "")
    journal = f"UNION SELECT unique_id FROM {JOURNAL}" if table_exists(con, JOURNAL) else ""
    with registered(con, _decided=pa.table({"unique_id": pa.array(sorted({*decided, *last_decided}), pa.string())})):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _seeds AS
            SELECT unique_id FROM _decided {journal} {purged}
            UNION SELECT unique_id FROM identity.linkage_input l FULL JOIN identity.clusters c USING (unique_id)
                  WHERE l.unique_id IS NULL OR c.unique_id IS NULL  -- new or gone: one join, not two anti-joins""",
                    {"at": clustered_at} if purged else None)
    return True


def near(con: duckdb.DuckDBPyConnection, nodes: str, out: str) -> None:
    """Temp table `out` (unique_id): the records of `nodes` and their partners in any scored pair."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS {_with_partners(nodes)}")


def _with_partners(nodes: str) -> str:
    """SELECT of the records of `nodes` (a relation of unique_id) and their partners in any scored pair."""
    # one scan of the pairs, taking both ends of a pair touching `nodes` (its end in `nodes` is in the union anyway):
    # a semi-join per side read every pair twice (0.33 against 0.24 CPU s for the three hops of a 1M records' day)
    return f"""SELECT unique_id FROM {nodes}
        UNION SELECT unnest([unique_id_l, unique_id_r]) FROM identity.pairwise_predictions
              WHERE unique_id_l IN (SELECT unique_id FROM {nodes}) OR unique_id_r IN (SELECT unique_id FROM {nodes})"""


def region(con: duckdb.DuckDBPyConnection, labels: np.ndarray) -> np.ndarray:
    """Temp table _region (unique_id): the records of the last run's components and of today's components that hold a
    record of _near. Today's components are `labels` (component_labels over today's edges, node i the i-th record of
    the temp table _nodes); returns the mask of the nodes in the region. Labelling every record's component once in
    numpy replaced walking the edges from _near in SQL, a scan of every edge per step (~0.5 CPU s at 1M records)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _region AS
        SELECT unique_id FROM _near
        UNION SELECT unique_id FROM identity.clusters WHERE component IN (
            SELECT component FROM identity.clusters SEMI JOIN _near USING (unique_id) WHERE component IS NOT NULL)""")
    start = con.execute("SELECT i FROM _nodes SEMI JOIN _region USING (unique_id)").fetchnumpy()["i"]
    inside = np.isin(labels, labels[start])
    with registered(con, _inside=pa.table({"i": np.flatnonzero(inside)})):
        con.execute("INSERT INTO _region SELECT unique_id FROM _nodes SEMI JOIN _inside USING (i) ANTI JOIN _region USING (unique_id)")
    return inside


# identity.clusters' rows from the clustered frame _clusters (unique_id, cluster_key, component). The sizes are a GROUP
# BY joined back: a window partitioned by cluster key cost 2.5 times as much (0.25 against 0.10 CPU s at 1M records).
CLUSTERS_SQL = """SELECT c.*, s.cluster_size, s.cluster_size > ? AS needs_review
    FROM _clusters c JOIN (SELECT cluster_key, count(*) AS cluster_size FROM _clusters GROUP BY cluster_key) s
    USING (cluster_key)"""


def write_clusters(con: duckdb.DuckDBPyConnection, review_size: int) -> str:
    """identity.clusters from _clusters, in the caller's transaction: only the rows that differ are deleted and
    inserted (a day changes a few clusters; rewriting a million rows costs ~1 CPU s), or the table is created whole
    (a first run, or a table of another shape); id_scope's journal is told which records' keys change, from that
    diff. Returns the temp table of the rows written (the clusters check validates those)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _clusters_new AS {CLUSTERS_SQL}", [review_size])
    same_shape = table_exists(con, "identity.clusters") and con.execute("DESCRIBE identity.clusters").fetchall() == \
        con.execute("DESCRIBE _clusters_new").fetchall()
    if not same_shape:
        id_scope.note_reclustered(con, "_clusters_new")
        review.forget(con)
        con.execute("CREATE OR REPLACE TABLE identity.clusters AS SELECT * FROM _clusters_new ORDER BY unique_id")
        return "_clusters_new"
    con.execute("""CREATE OR REPLACE TEMP TABLE _clusters_changed AS
        SELECT * FROM _clusters_new EXCEPT SELECT * FROM identity.clusters""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _clusters_gone AS
        SELECT unique_id, cluster_key FROM identity.clusters ANTI JOIN _clusters_new USING (unique_id)""")
    id_scope.note_reclustered(con, "_clusters_changed", "_clusters_gone")
    review.note(con, "SELECT unique_id, NULL FROM _clusters_changed UNION ALL SELECT unique_id, NULL FROM _clusters_gone")
    con.execute("""DELETE FROM identity.clusters WHERE unique_id IN (SELECT unique_id FROM _clusters_changed)
        OR unique_id IN (SELECT unique_id FROM _clusters_gone)""")
    con.execute("INSERT INTO identity.clusters SELECT * FROM _clusters_changed ORDER BY unique_id")
    return "_clusters_changed"
