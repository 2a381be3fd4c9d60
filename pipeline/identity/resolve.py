"""From scored pairs to clusters and durable ids, reading and writing the warehouse's identity schema."""

from __future__ import annotations

import hashlib

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.identity.clustering import constrained_clusters
from pipeline.identity.components import connected, fingerprint
from pipeline.identity.evidence import PersonKey, conflict
from pipeline.identity.ids import IdAssignment, assign_ids
from pipeline.identity.relink import save_linked_records
from pipeline.warehouse import table_exists, transaction


def person_keys(con: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> dict[str, PersonKey]:
    rows = con.execute("SELECT unique_id, first_name, first_name_canonical, last_name, birth_date "
                       "FROM identity.linkage_input").fetchall()
    return {uid: PersonKey(f, fc, ln, bd) for uid, f, fc, ln, bd in rows if only is None or uid in only}


def merge_rescored(con: duckdb.DuckDBPyConnection, scored: pa.Table, touched: list[str]) -> dict:
    """Replace every pair involving a touched (changed or removed) record by the newly scored pairs, and
    record what the pairs were scored on, in one transaction."""
    con.register("_scored", scored)
    con.register("_touched", pa.table({"unique_id": pa.array(touched, pa.string())}))
    try:
        with transaction(con):
            dropped = con.execute("""SELECT count(*) FROM identity.pairwise_predictions
                WHERE unique_id_l IN (SELECT unique_id FROM _touched) OR unique_id_r IN (SELECT unique_id FROM _touched)
                """).fetchall()[0][0]
            con.execute("""CREATE OR REPLACE TABLE identity.pairwise_predictions AS
                SELECT * FROM identity.pairwise_predictions
                WHERE unique_id_l NOT IN (SELECT unique_id FROM _touched)
                  AND unique_id_r NOT IN (SELECT unique_id FROM _touched)
                UNION ALL BY NAME SELECT * FROM _scored""")
            save_linked_records(con)
    finally:
        con.unregister("_scored")
        con.unregister("_touched")
    return {"pairs_dropped": dropped}


def cluster(con: duckdb.DuckDBPyConnection, threshold: float, max_size: int,
            veto=conflict) -> tuple[pd.DataFrame, int, int]:
    """(unique_id, cluster_key, component) for every linkage record, the merges refused and the components
    recomputed. Components unchanged since the last run keep their clusters (see components.py); the
    stewards' pending link decisions are applied and their status recorded."""
    edges = con.execute("""
        SELECT unique_id_l, unique_id_r, match_weight FROM identity.pairwise_predictions
        WHERE match_probability >= ? AND NOT contrary_evidence""", [threshold]).fetchall()
    links = con.execute("""SELECT decision_id, decision, record_1, record_2 FROM identity.steward_decisions
        WHERE status IS NULL AND decision IN ('must_link', 'cannot_link') ORDER BY decided_at, decision_id""").fetchall()
    must = [(r1, r2) for _, kind, r1, r2 in links if kind == "must_link"]
    cannot = {frozenset((r1, r2)) for _, kind, r1, r2 in links if kind == "cannot_link"}
    hashes = dict(con.execute("SELECT unique_id, record_hash FROM identity.linkage_input").fetchall())
    groups = connected(sorted(hashes), [(a, b) for a, b, _ in edges] + must)
    root_of = {u: root for root, members in groups.items() for u in members}
    edges_of: dict[str, list] = {}
    for a, b, w in edges:
        edges_of.setdefault(root_of[a], []).append((a, b, w))
    decided = {root_of[r] for _, _, r1, r2 in links for r in (r1, r2)}
    previous, known = {}, set()
    if table_exists(con, "identity.clusters") and "component" in {
            r[0] for r in con.execute("DESCRIBE identity.clusters").fetchall()}:
        previous = dict(con.execute("SELECT unique_id, cluster_key FROM identity.clusters "
                                    "WHERE component IS NOT NULL").fetchall())
        known = {r[0] for r in con.execute("SELECT DISTINCT component FROM identity.clusters").fetchall()}
    assignment, component, todo = {}, {}, []
    # The decisions on a component are part of its fingerprint: revoking one (a deleted cannot-link) changes it,
    # so the component is clustered again on the next run instead of keeping the decision's old result.
    decisions_of: dict[str, list[str]] = {}
    for _, kind, r1, r2 in links:
        decisions_of.setdefault(root_of[r1], []).append(f"{kind}:{min(r1, r2)}|{max(r1, r2)}")
    for root, members in groups.items():
        fp = None if len(members) == 1 else fingerprint(members, edges_of.get(root, []), hashes, max_size)
        if fp and root in decisions_of:
            fp = hashlib.sha256("|".join([fp, *sorted(decisions_of[root])]).encode()).hexdigest()[:20]
        for m in members:
            component[m] = fp
        if len(members) == 1:
            assignment[members[0]] = members[0]
        elif previous and root not in decided and fp in known and all(m in previous for m in members):
            assignment.update({m: previous[m] for m in members})
        else:
            todo.append(root)
    todo_members = {m for root in todo for m in groups[root]}
    keys = person_keys(con, todo_members)
    contradicted: list[tuple[str, str]] = []
    recomputed, refused = constrained_clusters(
        keys, [e for root in todo for e in edges_of.get(root, [])], must_separate=cannot, max_size=max_size,
        must_link=[p for p in must if p[0] in todo_members], refused_must_links=contradicted, veto=veto)
    assignment.update(recomputed)
    before = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall()) \
        if links and table_exists(con, "identity.record_customer") else {}
    for decision_id, kind, r1, r2 in links:
        status, effect = "applied", None
        if kind == "must_link" and (r1, r2) in contradicted:
            status = "not applied: it would join records a cannot-link keeps apart"
        elif before.get(r1) is not None and before.get(r2) is not None:  # against the last run's customers
            together = before[r1] == before[r2]
            effect = {("must_link", False): "merged customers", ("must_link", True): "kept together",
                      ("cannot_link", True): "split a customer", ("cannot_link", False): "kept apart"}[(kind, together)]
        else:
            effect = "joined" if kind == "must_link" else "kept apart"
        con.execute("UPDATE identity.steward_decisions SET status = ?, applied = ?, effect = ? WHERE decision_id = ?",
                    [status, status == "applied", effect, decision_id])
    frame = pd.DataFrame({"unique_id": list(assignment), "cluster_key": list(assignment.values())})
    frame["component"] = frame["unique_id"].map(component)
    return frame, refused, len(todo)


def stable_ids(con: duckdb.DuckDBPyConnection) -> IdAssignment:
    """Carry the previous run's ids over to today's clusters (identity.clusters)."""
    previous, known, age = {}, set(), {}
    if table_exists(con, "identity.record_customer"):
        previous = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall())
    if table_exists(con, "identity.id_registry"):
        rows = con.execute("SELECT customer_id, created_at FROM identity.id_registry ORDER BY created_at, customer_id").fetchall()
        known = {r[0] for r in rows}
        age = {cid: rank for rank, (cid, _) in enumerate(rows)}
    clusters = dict(con.execute("SELECT unique_id, cluster_key FROM identity.clusters").fetchall())
    return assign_ids(clusters, previous, known, age)


def save_ids(con: duckdb.DuckDBPyConnection, result: IdAssignment, run_id: str) -> dict:
    """Write record -> customer_id, the id registry and today's id events in one transaction."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    records = pd.DataFrame({"unique_id": list(result.record_ids), "customer_id": list(result.record_ids.values())})
    events = pd.DataFrame([{**e, "run_id": run_id, "event_at": now} for e in result.events],
                          columns=["run_id", "event_at", "event", "old_ids", "new_id"])
    active = set(result.record_ids.values())
    con.register("_records", records)
    con.register("_events", events)
    con.register("_active", pd.DataFrame({"customer_id": sorted(active)}))
    try:
        with transaction(con):
            con.execute("CREATE SCHEMA IF NOT EXISTS identity")
            con.execute("""CREATE TABLE IF NOT EXISTS identity.id_registry (
                customer_id VARCHAR PRIMARY KEY, status VARCHAR, created_run VARCHAR, created_at TIMESTAMP,
                retired_run VARCHAR, retired_at TIMESTAMP)""")
            con.execute("""CREATE TABLE IF NOT EXISTS identity.id_events (
                run_id VARCHAR, event_at TIMESTAMP, event VARCHAR, old_ids VARCHAR[], new_id VARCHAR)""")
            con.execute("""INSERT INTO identity.id_registry
                SELECT customer_id, 'active', ?, ?, NULL, NULL FROM _active
                WHERE customer_id NOT IN (SELECT customer_id FROM identity.id_registry)""", [run_id, now])
            con.execute("""UPDATE identity.id_registry SET status = 'retired', retired_run = ?, retired_at = ?
                WHERE status = 'active' AND customer_id NOT IN (SELECT customer_id FROM _active)""", [run_id, now])
            con.execute("INSERT INTO identity.id_events SELECT run_id, event_at, event, old_ids::VARCHAR[], new_id FROM _events")
            con.execute("CREATE OR REPLACE TABLE identity.record_customer AS SELECT * FROM _records ORDER BY unique_id")
    finally:
        for view in ("_records", "_events", "_active"):
            con.unregister(view)
    counts = events["event"].value_counts().to_dict() if len(events) else {}
    return {"customers": len(active), "new_ids": len(result.new_ids),
            **{f"events_{k}": int(v) for k, v in counts.items()}}
