"""From scored pairs to clusters and durable ids, reading and writing the warehouse's identity schema."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.identity import id_scope, name_typos, reclustering, returning, review
from pipeline.identity.clustering import UnsharedContacts, component_labels, constrained_clusters, outweighed_by_rivals
from pipeline.identity.evidence import NAME_DATE_COLUMNS, PersonKey, conflict
from pipeline.identity.features import IDENTIFIER_PREFIX
from pipeline.identity.household_attach import attach_household_fragments
from pipeline.identity.ids import IdAssignment, assign_ids, new_customer_id_sql
from pipeline.identity.relink import update_linked_records
from pipeline.sql import scalar
from pipeline.warehouse import registered, table_exists, transaction


def person_keys(con: duckdb.DuckDBPyConnection, only: Iterable[str] | None = None) -> dict[str, PersonKey]:
    """unique_id -> the keys the veto reads (names, birth date, mapped identifiers), of every linkage record or of
    those `only` names (chosen in DuckDB)."""
    identifiers = sorted(r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()
                         if r[0].startswith(IDENTIFIER_PREFIX))
    query = (f"SELECT unique_id, {', '.join([*NAME_DATE_COLUMNS, *identifiers])} FROM identity.linkage_input")
    if only is None:
        rows = con.execute(query).fetchall()
    else:
        with registered(con, _only=pa.table({"unique_id": pa.array(sorted(set(only)), pa.string())})):
            rows = con.execute(f"{query} SEMI JOIN _only USING (unique_id)").fetchall()
    if not identifiers:
        return {uid: PersonKey(f, fc, ln, bd) for uid, f, fc, ln, bd in rows}
    return {uid: PersonKey(f, fc, ln, bd, tuple((c, v) for c, v in zip(identifiers, held, strict=True) if v))
            for uid, f, fc, ln, bd, *held in rows}


def merge_rescored(con: duckdb.DuckDBPyConnection, scored: pa.Table, touched: list[str], changed: list[str]) -> dict:
    """Replace every pair involving a touched (changed or removed) record by the newly scored pairs, and
    record what the pairs were scored on, in one transaction. A DELETE and an INSERT: rewriting the whole
    table for a day's few records cost what the base holds, not what the day changed."""
    with registered(con, _scored=scored, _touched=pa.table({"unique_id": pa.array(touched, pa.string())}),
                    _changed=pa.table({"unique_id": pa.array(changed, pa.string())})):
        with transaction(con):
            reclustering.note_rescored(con, "_touched")  # reads the old pairs: before they are deleted
            dropped = scalar(con, """DELETE FROM identity.pairwise_predictions
                WHERE unique_id_l IN (SELECT unique_id FROM _touched) OR unique_id_r IN (SELECT unique_id FROM _touched)
                """)
            known = {r[0] for r in con.execute("DESCRIBE identity.pairwise_predictions").fetchall()}
            if set(scored.column_names) <= known:
                con.execute("INSERT INTO identity.pairwise_predictions BY NAME SELECT * FROM _scored")
            else:  # a column the table lacks (another model's output): the table takes it, NULL on older pairs
                con.execute("""CREATE OR REPLACE TABLE identity.pairwise_predictions AS
                    SELECT * FROM identity.pairwise_predictions UNION ALL BY NAME SELECT * FROM _scored""")
            update_linked_records(con, "_touched", "_changed")
    return {"pairs_dropped": dropped}


class Clustering(NamedTuple):
    frame: pa.Table      # unique_id, cluster_key, component: one row per linkage record, in no set order
    refused: int         # merges refused (a contradiction, or past the size cap)
    recomputed: int      # components clustered again (the others kept last run's clusters)
    reclustered: int | None  # records of the region clustered again (None: every record; reclustering.py)
    outweighed: int      # pairs above the threshold that fell below it against an exclusive alternative
    households: dict     # household-resolved attachments: the evidence and the counts (household_attach.py)
    decided: list[str]   # the records of the stewards' pending link decisions


# _rival_edges: the pairs outweighed_by_rivals weighs, those touching a record whose neighbours differ in first name or
# birth date (only such a record can have a rival). _contested: those of them its first test may let through (at or
# above the threshold, their ends' strongest other matches enough to take them below it), with a margin for rounding
# so that Python's own test, not SQL's, decides; the strongest other match of an end is its top neighbour's odds, or
# its second's when the top one is the pair's other end.
RIVAL_EDGES_SQL = """
CREATE OR REPLACE TEMP TABLE _rival_edges AS
WITH allowed AS (SELECT unique_id_l, unique_id_r, match_weight::DOUBLE AS match_weight
                 FROM {pairs} WHERE NOT contrary_evidence),
     ends AS (SELECT unique_id_l AS node, unique_id_r AS other FROM allowed
              UNION ALL SELECT unique_id_r, unique_id_l FROM allowed),
     hubs AS (SELECT e.node FROM ends e JOIN identity.linkage_input i ON i.unique_id = e.other GROUP BY e.node
              HAVING count(DISTINCT i.first_name) > 1 OR count(DISTINCT i.birth_date) > 1)
SELECT *, pow(2.0, least(match_weight, 1000.0)) AS odds FROM allowed
WHERE unique_id_l IN (SELECT node FROM hubs) OR unique_id_r IN (SELECT node FROM hubs);
CREATE OR REPLACE TEMP TABLE _contested AS
WITH e AS (SELECT unique_id_l AS node, unique_id_r AS other, odds FROM _rival_edges
           UNION ALL SELECT unique_id_r, unique_id_l, odds FROM _rival_edges),
     top AS (SELECT node, max(odds) AS top1, arg_max(other, odds) AS top_other FROM e GROUP BY node),
     other AS (SELECT t.node, t.top1, t.top_other, coalesce(max(e.odds) FILTER (WHERE e.other <> t.top_other), 0) AS top2
               FROM top t JOIN e USING (node) GROUP BY ALL)
SELECT r.unique_id_l, r.unique_id_r FROM _rival_edges r
JOIN other a ON a.node = r.unique_id_l JOIN other b ON b.node = r.unique_id_r
WHERE r.odds / (1 + r.odds) >= $threshold - 1e-9
  AND CASE WHEN a.top_other = r.unique_id_r THEN a.top2 ELSE a.top1 END
      + CASE WHEN b.top_other = r.unique_id_l THEN b.top2 ELSE b.top1 END
      > r.odds * (1 - $threshold) / $threshold - 1 - 1e-6 * (1 + r.odds)"""


def excluded_edges(con: duckdb.DuckDBPyConnection, threshold: float, veto, near: bool = False,
                   typos: dict | None = None) -> pd.DataFrame:
    """(unique_id_l, unique_id_r) of the pairs above the threshold that fall below it once the alternatives they
    exclude are counted (clustering.outweighed_by_rivals). A rival of a pair (a, b) is a neighbour of a that
    conflicts with b: only a record whose neighbours differ in first name or birth date can have one, so only the
    pairs touching such a record are weighed, and only the pairs a rival may outweigh reach Python, with every pair
    weighed touching one of their ends (all its rivals: the same answer as over every pair weighed).

    With `near` (reclustering.py's temp table _near), only the pairs touching a record of _near are weighed again,
    over the pairs within two more steps of it (every end's pairs, and its neighbours' for the hub test, whole); the
    other pairs keep the last run's verdict (identity.outweighed_pairs).

    `typos` (name_typos.learn's first-name split) lets a rival's mistyped first name read as the name it mistypes
    (clustering.outweighed_by_rivals' `mistyped`), counted over the whole linkage input."""
    pairs = "identity.pairwise_predictions"
    if near:
        reclustering.near(con, "_near", "_near_ends")
        reclustering.near(con, "_near_ends", "_near_hubs")
        con.execute("""CREATE OR REPLACE TEMP TABLE _near_pairs AS
            SELECT unique_id_l, unique_id_r, match_weight, contrary_evidence FROM identity.pairwise_predictions
            WHERE unique_id_l IN (SELECT unique_id FROM _near_hubs) OR unique_id_r IN (SELECT unique_id FROM _near_hubs)""")
        pairs = "_near_pairs"
    for statement in RIVAL_EDGES_SQL.format(pairs=pairs).split(";\n"):
        con.execute(statement, {"threshold": threshold} if "$threshold" in statement else None)
    contested = set(con.execute("SELECT unique_id_l, unique_id_r FROM _contested").fetchall())
    edges = con.execute("""WITH ends AS (SELECT unique_id_l AS node FROM _contested UNION SELECT unique_id_r FROM _contested)
        SELECT unique_id_l, unique_id_r, match_weight FROM _rival_edges
        WHERE unique_id_l IN (SELECT node FROM ends) OR unique_id_r IN (SELECT node FROM ends)""").fetchall()
    keys = person_keys(con, {u for a, b, _ in edges for u in (a, b)})
    mistyped = _mistyping(con, typos, keys)
    dropped = outweighed_by_rivals(edges, keys, threshold, veto, mistyped)
    found = [(a, b) for (a, b, _), drop in zip(edges, dropped, strict=True) if drop and (a, b) in contested]
    if near:
        again = {r[0] for r in con.execute("SELECT unique_id FROM _near").fetchall()}
        found = con.execute("""SELECT unique_id_l, unique_id_r FROM identity.outweighed_pairs
            WHERE unique_id_l NOT IN (SELECT unique_id FROM _near) AND unique_id_r NOT IN (SELECT unique_id FROM _near)
            """).fetchall() + [(a, b) for a, b in found if a in again or b in again]
    return pd.DataFrame(found, columns=["unique_id_l", "unique_id_r"], dtype=object)


def _mistyping(con: duckdb.DuckDBPyConnection, typos: dict | None, keys: dict[str, PersonKey]):
    """name_typos.mistyping over the first names of `keys`, counted in the whole linkage input; None without `typos`."""
    if not typos:
        return None
    return name_typos.mistyping(typos, name_typos.held_of(con, name_typos.FIRST, {k.first_name for k in keys.values()}))


def candidate_components(con: duckdb.DuckDBPyConnection, threshold: float, max_size: int,
                         must: list[tuple[str, str]], veto=None, seeded: bool = False, typos: dict | None = None) -> int:
    """Temp tables `_candidate_edges` (scored pairs clustering may join: above the threshold, not vetoed, and,
    given a `veto`, still above it once the alternatives they exclude are counted) and `_components` (unique_id,
    root: its component's smallest id, size, fp: the fingerprint of components.fingerprint, NULL for a
    singleton) over every linkage record, or, when `seeded` (reclustering.seeds' _seeds), over the records of
    reclustering.region only. Edges stay in DuckDB: only their integer ends reach Python, for
    component_labels. The pairs the alternatives outweighed are kept in identity.outweighed_pairs (for the stewards'
    review queue); returns their number."""
    if seeded:
        reclustering.near(con, "_seeds", "_near")
    excluded = excluded_edges(con, threshold, veto, near=seeded, typos=typos) if veto is not None else \
        pd.DataFrame(columns=["unique_id_l", "unique_id_r"], dtype=object)
    with registered(con, _excluded=excluded):
        # the pairs whose verdict changed: their review queue rows change (noted first: a superset if this fails)
        if table_exists(con, "identity.outweighed_pairs"):
            review.note(con, """SELECT unnest([unique_id_l, unique_id_r]), NULL FROM (
                (SELECT unique_id_l, unique_id_r FROM _excluded EXCEPT SELECT * FROM identity.outweighed_pairs)
                UNION ALL (SELECT * FROM identity.outweighed_pairs EXCEPT SELECT unique_id_l, unique_id_r FROM _excluded))""")
        else:
            review.forget(con)
        con.execute("CREATE OR REPLACE TABLE identity.outweighed_pairs AS SELECT unique_id_l, unique_id_r FROM _excluded")
        con.execute("""CREATE OR REPLACE TEMP TABLE _candidate_edges AS SELECT unique_id_l, unique_id_r, match_weight
            FROM identity.pairwise_predictions p WHERE match_probability >= ? AND NOT contrary_evidence
            AND NOT EXISTS (SELECT 1 FROM _excluded x
                            WHERE x.unique_id_l = p.unique_id_l AND x.unique_id_r = p.unique_id_r)""", [threshold])
    # numbered in no set order (sorting every record cost more than the rest): a component's root is its smallest id
    con.execute("""CREATE OR REPLACE TEMP TABLE _nodes AS SELECT unique_id, record_hash,
        (row_number() OVER () - 1)::BIGINT AS i FROM identity.linkage_input""")
    with registered(con, _must=pd.DataFrame(must, columns=["unique_id_l", "unique_id_r"], dtype=object)):
        ends = con.execute("""SELECT l.i AS a, r.i AS b
            FROM (SELECT unique_id_l, unique_id_r FROM _candidate_edges UNION ALL SELECT * FROM _must) e
            JOIN _nodes l ON l.unique_id = e.unique_id_l JOIN _nodes r ON r.unique_id = e.unique_id_r""").fetchnumpy()
    nodes = np.arange(scalar(con, "SELECT count(*) FROM _nodes"), dtype=np.int64)
    roots = component_labels(len(nodes), ends["a"], ends["b"])
    if seeded:  # a region is whole components: only its records, and the edges joining them, are clustered again
        inside = reclustering.region(con, roots)
        nodes, roots = nodes[inside], roots[inside]
        con.execute("DELETE FROM _candidate_edges WHERE unique_id_l NOT IN (SELECT unique_id FROM _region)")
    # The fingerprint's text as components.fingerprint writes it, so components kept before stay kept.
    with registered(con, _labels=pa.table({"i": nodes, "root_i": roots})):
        # sizes and fingerprints per component (integer root), not per record: a window over every record and a
        # SHA-256 per member cost ~15 % more CPU at a million records
        con.execute("""CREATE OR REPLACE TEMP TABLE _components AS
        WITH labelled AS (SELECT l.root_i, n.unique_id, n.record_hash FROM _labels l JOIN _nodes n USING (i)),
        sizes AS (SELECT root_i, count(*) AS size, min(unique_id) AS root FROM labelled GROUP BY root_i),
        multi AS (SELECT l.* FROM labelled l JOIN sizes s USING (root_i) WHERE s.size > 1),
        m AS (SELECT root_i, string_agg(unique_id || '=' || coalesce(record_hash, 'None'), '|' ORDER BY unique_id) AS ms
              FROM multi GROUP BY root_i),
        e AS (SELECT x.root_i, string_agg(e.unique_id_l || '~' || e.unique_id_r || ':' || printf('%.6f', e.match_weight),
                                          '|' ORDER BY e.unique_id_l, e.unique_id_r, e.match_weight) AS es
              FROM _candidate_edges e JOIN multi x ON x.unique_id = e.unique_id_l GROUP BY x.root_i),
        f AS (SELECT root_i, left(sha256(? || '|' || m.ms || coalesce('|' || e.es, '')), 20) AS fp
              FROM m LEFT JOIN e USING (root_i))
        SELECT l.unique_id, s.root, s.size, f.fp FROM labelled l JOIN sizes s USING (root_i) LEFT JOIN f USING (root_i)
        """, [str(max_size)])
    return len(excluded)


# Components that cluster as one whole, no merge refused: within the size guard, and no two records differing in first
# name or birth date (either missing or equal). Every veto and `apart` test (evidence.conflict, conflicts.ConflictModel)
# refuses only records that do, so these components (most of person data's pairs) need no constrained clustering.
# With unshared contacts weighed (clustering.UnsharedContacts), a component holding two values of such a field is
# clustered too: a merge may have to weigh them.
WHOLE_SQL = """
CREATE OR REPLACE TEMP TABLE _whole AS
SELECT c.root FROM _components c JOIN identity.linkage_input i USING (unique_id)
WHERE c.size BETWEEN 2 AND ? GROUP BY c.root
HAVING {one_value_each}"""
WHOLE_FIELDS = ("first_name", "birth_date")  # the fields the vetoes compare
ONE_VALUE_SQL = "coalesce(min(nullif(i.{field}, '')) = max(nullif(i.{field}, '')), true)"  # at most one value


def unshared_contacts(con: duckdb.DuckDBPyConnection, bits: dict[str, float], threshold: float,
                      only: Iterable[str]) -> UnsharedContacts | None:
    """clustering.UnsharedContacts over the records `only` names, for the fields of `bits` (field -> bits of a
    disagreement, the contact fields `cluster` weighs)."""
    fields = sorted(bits)
    if not fields:
        return None
    with registered(con, _only=pa.table({"unique_id": pa.array(sorted(set(only)), pa.string())})):
        rows = con.execute(f"""SELECT unique_id, {", ".join(f"nullif({f}, '')" for f in fields)}
            FROM identity.linkage_input SEMI JOIN _only USING (unique_id)""").fetchall()
    return UnsharedContacts({r[0]: tuple(r[1:]) for r in rows}, tuple(bits[f] for f in fields), threshold)


# The records outside the region (reclustering.py) keep the clusters they had before household attachments, as a
# kept component's are keyed below: a singleton its own id (its fingerprint is NULL), the others the smallest record
# of their component in their last cluster.
OUTSIDE_REGION_SQL = """
UNION ALL
SELECT unique_id, CASE WHEN component IS NULL THEN unique_id
                       ELSE min(unique_id) OVER (PARTITION BY component, cluster_key) END, component
FROM identity.clusters ANTI JOIN _region USING (unique_id)"""


def cluster(con: duckdb.DuckDBPyConnection, threshold: float, max_size: int,
            veto=conflict, apart=None, settings: str | None = None, unshared: dict[str, float] | None = None,
            typos: dict | None = None) -> Clustering:
    """(unique_id, cluster_key, component) for every linkage record, the merges refused and the components
    recomputed. Components unchanged since the last run keep their clusters (see components.py); given the
    `settings` (reclustering.signature) they were last computed with, only the region around the records whose
    pairs or keys changed is clustered again (reclustering.py); the stewards' pending link decisions are applied
    and their status recorded; then fragments their household resolves join their member (household_attach.py).
    `typos` (the first names' learned one-typo split, ConflictModel.typos) reads two mistypings of a name a
    neighbour or a member holds as that name, not as two people (clustering.mistypings_of)."""
    links = con.execute("""SELECT decision_id, decision, record_1, record_2 FROM identity.steward_decisions
        WHERE status IS NULL AND decision IN ('must_link', 'cannot_link') ORDER BY decided_at, decision_id""").fetchall()
    must = [(r1, r2) for _, kind, r1, r2 in links if kind == "must_link"]
    cannot = {frozenset((r1, r2)) for _, kind, r1, r2 in links if kind == "cannot_link"}
    decided = {r for _, _, r1, r2 in links for r in (r1, r2)}
    seeded = settings is not None and reclustering.seeds(con, settings, sorted(decided))
    outweighed = candidate_components(con, threshold, max_size, must, veto, seeded, typos)
    previous_clusters = table_exists(con, "identity.clusters") and "component" in {
        r[0] for r in con.execute("DESCRIBE identity.clusters").fetchall()}
    # The decisions on a component are part of its fingerprint: revoking one (a deleted cannot-link) changes it,
    # so the component is clustered again on the next run instead of keeping the decision's old result.
    found = con.execute("SELECT unique_id, root, fp FROM _components WHERE list_contains(?, unique_id)",
                        [sorted(decided)]).fetchall() if decided else []
    root_of, fp_of = {u: r for u, r, _ in found}, {r: fp for _, r, fp in found}
    decisions_of: dict[str, list[str]] = {}
    for _, kind, r1, r2 in links:
        decisions_of.setdefault(root_of[r1], []).append(f"{kind}:{min(r1, r2)}|{max(r1, r2)}")
    decided_fps = pd.DataFrame({"root": list(decisions_of), "fp": [
        hashlib.sha256("|".join([fp_of[r], *sorted(d)]).encode()).hexdigest()[:20] if fp_of[r] else None
        for r, d in decisions_of.items()]}, dtype=object)
    # Kept: a multi-record component without decisions whose fingerprint is known and all of whose records had a
    # cluster; singletons are their own cluster, and so is a component WHOLE_SQL finds; the rest is clustered again.
    kept = """c.fp IS NOT NULL AND d.root IS NULL AND c.fp IN (SELECT component FROM identity.clusters)
               AND count(p.cluster_key) OVER (PARTITION BY c.root) = c.size""" if previous_clusters else "false"
    previous = "(SELECT unique_id, cluster_key FROM identity.clusters WHERE component IS NOT NULL)" \
        if previous_clusters else "(SELECT NULL::VARCHAR AS unique_id, NULL::VARCHAR AS cluster_key)"
    # the contact fields a merge weighs: those the linkage input holds and whose disagreement counts against a match
    present = {r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()}
    weighed = {f: b for f, b in (unshared or {}).items() if f in present and b < 0}
    one_value_each = " AND ".join(ONE_VALUE_SQL.format(field=f) for f in (*WHOLE_FIELDS, *sorted(weighed)))
    con.execute(WHOLE_SQL.format(one_value_each=one_value_each), [max_size])
    with registered(con, _decided=decided_fps):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _clustered AS
            SELECT c.unique_id, c.root, coalesce(d.fp, c.fp) AS component,
                   CASE WHEN c.size = 1 THEN c.unique_id WHEN w.root IS NOT NULL AND d.root IS NULL THEN c.root
                        WHEN {kept} THEN p.cluster_key END AS cluster_key, coalesce({kept}, false) AS kept
            FROM _components c LEFT JOIN _decided d USING (root) LEFT JOIN _whole w USING (root)
            LEFT JOIN {previous} p USING (unique_id)""")
    unclustered = con.execute("SELECT unique_id, root FROM _clustered WHERE cluster_key IS NULL").fetchall()
    todo, todo_members = len({root for _, root in unclustered}), {uid for uid, _ in unclustered}
    edges = con.execute("""SELECT e.unique_id_l, e.unique_id_r, e.match_weight FROM _candidate_edges e
        SEMI JOIN _clustered c ON c.unique_id = e.unique_id_l AND c.cluster_key IS NULL""").fetchall()
    contradicted: list[tuple[str, str]] = []
    keys = person_keys(con, todo_members)
    mistyped = _mistyping(con, typos, keys)
    recomputed, refused = constrained_clusters(
        keys, edges, must_separate=cannot, max_size=max_size,
        must_link=[p for p in must if p[0] in todo_members], refused_must_links=contradicted, veto=veto,
        apart=apart, unshared=unshared_contacts(con, weighed, threshold, todo_members), mistyped=mistyped)
    # A kept component's records keep last run's key, an attached fragment its member's: every cluster is keyed by
    # its smallest record within its component, so a fragment attached before is detached and its attachment decided
    # again today, against today's clusters. The other records' keys already are (a singleton's own id, a whole
    # component's root, constrained_clusters' smallest member): only kept components are keyed again.
    with registered(con, _recomputed=pa.table({"unique_id": pa.array(list(recomputed), pa.string()),
                                               "cluster_key": pa.array(list(recomputed.values()), pa.string())})):
        frame = con.sql("""WITH c AS (
                SELECT c.unique_id, c.root, c.component, c.kept, coalesce(c.cluster_key, r.cluster_key) AS cluster_key
                FROM _clustered c LEFT JOIN _recomputed r USING (unique_id))
            SELECT unique_id, cluster_key, component FROM c WHERE NOT kept
            UNION ALL
            SELECT unique_id, min(unique_id) OVER (PARTITION BY root, cluster_key), component FROM c WHERE kept
            """ + (OUTSIDE_REGION_SQL if seeded else "")).to_arrow_table()
    attached = attach_household_fragments(con, frame, threshold, max_size, kept_apart={r for p in cannot for r in p})
    before = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer WHERE list_contains(?, unique_id)",
                              [sorted(decided)]).fetchall()) if links and table_exists(con, "identity.record_customer") else {}
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
    reclustered = scalar(con, "SELECT count(*) FROM _region") if seeded else None
    return Clustering(attached.frame.select(["unique_id", "cluster_key", "component"]), refused, todo, reclustered,
                      outweighed, attached.metadata(), sorted(decided))


# A cluster holding exactly the records of one previous customer keeps that id, whatever happens elsewhere: it is
# the id's only candidate and holds all its records, which is what assign_ids would decide too. Found in SQL, so
# only the clusters a run changed (and the ids their records, or removed records, held) reach Python.
KEPT_IDS_SQL = """
CREATE OR REPLACE TEMP TABLE _kept_ids AS
WITH members AS (
    SELECT c.cluster_key, p.customer_id
    FROM _id_clusters c LEFT JOIN _id_previous p USING (unique_id)),
held AS (SELECT customer_id, count(*) AS records FROM _id_previous GROUP BY customer_id),
whole AS (
    SELECT cluster_key, any_value(customer_id) AS customer_id, count(*) AS records FROM members GROUP BY cluster_key
    HAVING count(customer_id) = count(*) AND count(DISTINCT customer_id) = 1)
SELECT c.unique_id, w.customer_id
FROM whole w JOIN held USING (customer_id, records) JOIN _id_clusters c USING (cluster_key)"""


# Clusters none of whose records held an id (all of them on a first run): no earlier id votes for them, so each gets
# new_customer_id's first choice for its smallest record, computed here; stable_ids checks that none is taken.
FRESH_IDS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _fresh_ids AS
WITH fresh AS (
    SELECT c.cluster_key, min(c.unique_id) AS seed FROM _id_clusters c LEFT JOIN {{held}} h USING (unique_id)
    GROUP BY c.cluster_key HAVING count(h.unique_id) = 0)
SELECT c.unique_id, f.cluster_key, {new_customer_id_sql("f.seed")} AS customer_id
FROM fresh f JOIN _id_clusters c USING (cluster_key)"""
# A fresh id that another cluster, an earlier id or the registry already holds: new_customer_id would salt it.
FRESH_TAKEN_SQL = """
SELECT count(DISTINCT cluster_key) > count(DISTINCT customer_id)
    OR EXISTS (SELECT 1 FROM _fresh_ids SEMI JOIN (SELECT customer_id FROM _taken UNION ALL SELECT customer_id FROM _kept_ids
                                               {registry}) t USING (customer_id))
FROM _fresh_ids"""


def stable_ids(con: duckdb.DuckDBPyConnection, scoped: bool = False) -> IdAssignment:
    """Carry the previous run's ids over to today's clusters (identity.clusters): the clusters that are a previous
    customer exactly keep its id in the temp table _kept_ids, the clusters none of whose records held an id get a new
    one in _fresh_ids (save_ids writes both), the others are assigned in Python, all as assign_ids over every cluster
    would; a fresh cluster holding a record back after its source deleted it takes that record's id again
    (returning.py: _returning_ids). `scoped`: only the records of id_scope's _id_scope (the other clusters keep their ids)."""
    # Scoped, the scope's rows are copied once (a few thousand), since each statement below reads them again and a view
    # would scan and semi-join the whole table each time; unscoped, the views are the whole tables.
    within, kind = ("SEMI JOIN _id_scope USING (unique_id)", "TABLE") if scoped else ("", "VIEW")
    con.execute(f"CREATE OR REPLACE TEMP {kind} _id_clusters AS SELECT * FROM identity.clusters {within}")
    previous, age = {}, {}
    if table_exists(con, "identity.record_customer"):
        con.execute(f"CREATE OR REPLACE TEMP {kind} _id_previous AS SELECT * FROM identity.record_customer {within}")
        con.execute(KEPT_IDS_SQL)
        previous = dict(con.execute("""SELECT unique_id, customer_id FROM _id_previous
            WHERE unique_id NOT IN (SELECT unique_id FROM _kept_ids)""").fetchall())
        con.execute(FRESH_IDS_SQL.format(held="_id_previous"))
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _kept_ids (unique_id VARCHAR, customer_id VARCHAR)")
        con.execute(FRESH_IDS_SQL.format(held="(SELECT NULL::VARCHAR AS unique_id)"))
    returning.reinstate(con)
    registry = table_exists(con, "identity.id_registry")
    if registry:
        # the ranks of issue of the ids in play (their order is all assign_ids compares)
        with registered(con, _in_play=pa.table({"customer_id": pa.array(sorted(set(previous.values())), pa.string())})):
            rows = con.execute("""SELECT customer_id FROM identity.id_registry JOIN _in_play USING (customer_id)
                ORDER BY created_at, customer_id""").fetchall()
        age = {cid: rank for rank, (cid,) in enumerate(rows)}
    clusters = dict(con.execute("""SELECT unique_id, cluster_key FROM _id_clusters
        WHERE unique_id NOT IN (SELECT unique_id FROM _kept_ids) AND unique_id NOT IN (SELECT unique_id FROM _fresh_ids)
          AND unique_id NOT IN (SELECT unique_id FROM _returning_ids)""").fetchall())
    # The registry (every id ever issued) is only looked up for the new ids: none in it, they are the ones assign_ids
    # gives knowing it (a new id is the first salt not taken); one in it (never seen: 60 bits), it is read and salts.
    result = assign_ids(clusters, previous, set(), age)
    known = _registry_ids(con) if registry and _issued(con, result.new_ids) else set()
    if known:
        result = assign_ids(clusters, previous, known, age)
    taken = pa.table({"customer_id": pa.array(sorted(set(result.record_ids.values())), pa.string())})
    with registered(con, _taken=taken):
        collides = scalar(con, FRESH_TAKEN_SQL.format(
            registry="UNION ALL SELECT customer_id FROM identity.id_registry" if registry else ""))
    if collides:  # never seen (60 bits): every cluster not kept through Python, which salts
        clusters.update(con.execute("SELECT unique_id, cluster_key FROM _fresh_ids").fetchall())
        con.execute("DELETE FROM _fresh_ids")
        if registry and not known:
            known = _registry_ids(con)
        result = assign_ids(clusters, previous, known, age)
    return result


def _issued(con: duckdb.DuckDBPyConnection, ids: list[str]) -> bool:
    """Whether the id registry holds any of `ids`."""
    with registered(con, _new_ids=pa.table({"customer_id": pa.array(ids, pa.string())})):
        return scalar(con, "SELECT count(*) > 0 FROM identity.id_registry SEMI JOIN _new_ids USING (customer_id)")


def _registry_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every id the registry holds, retired ones included."""
    return {r[0] for r in con.execute("SELECT customer_id FROM identity.id_registry").fetchall()}


# Scoped: the ids held after the write among those the scope's records held before (_id_previous) or hold now.
ACTIVE_IN_SCOPE_SQL = """
CREATE OR REPLACE TEMP TABLE _active AS
SELECT DISTINCT customer_id FROM _assigned
UNION
SELECT DISTINCT customer_id FROM identity.record_customer
WHERE customer_id IN (SELECT customer_id FROM _id_previous EXCEPT SELECT customer_id FROM _assigned)
ORDER BY customer_id"""


def save_ids(con: duckdb.DuckDBPyConnection, result: IdAssignment, run_id: str, scoped: bool = False) -> dict:
    """Write record -> customer_id (the assigned ones and stable_ids' _kept_ids and _fresh_ids), the id registry and
    today's id events in one transaction. Events are in assign_ids' order over every cluster: each cluster's new or
    merge event by cluster key, then splits and retirements. `scoped` (stable_ids'): the records of _id_scope are
    replaced, the others keep their ids."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    records = pd.DataFrame({"unique_id": list(result.record_ids), "customer_id": list(result.record_ids.values())},
                           dtype=object)
    key_of = {cid: key for key, cid in result.cluster_ids.items()}
    events = pd.DataFrame([{**e, "sort_key": key_of[e["new_id"]] if e["event"] in ("new", "merge") else None,
                            "ordinal": i} for i, e in enumerate(result.events)],
                          columns=["event", "old_ids", "new_id", "sort_key", "ordinal"])
    with registered(con, _records=records, _py_events=events):
        con.execute("""CREATE OR REPLACE TEMP TABLE _events AS
            SELECT event, old_ids::VARCHAR[] AS old_ids, new_id, sort_key, ordinal FROM _py_events
            UNION ALL SELECT DISTINCT 'new', []::VARCHAR[], customer_id, cluster_key, 0 FROM _fresh_ids
            UNION ALL SELECT DISTINCT 'reinstate', [customer_id], customer_id, cluster_key, 0 FROM _returning_ids""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _assigned AS
            SELECT unique_id, customer_id FROM _records UNION ALL SELECT * FROM _kept_ids
            UNION ALL SELECT unique_id, customer_id FROM _fresh_ids
            UNION ALL SELECT unique_id, customer_id FROM _returning_ids""")
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
        if table_exists(con, "identity.record_customer"):
            returning.note_departures(con, "_id_previous", "_assigned")
        if scoped:
            # the records whose customer changes, with the one they held: their customers' queue rows change
            review.note(con, """SELECT unique_id, p.customer_id FROM _id_previous p FULL JOIN _assigned a USING (unique_id)
                WHERE a.customer_id IS DISTINCT FROM p.customer_id""")
            con.execute("DELETE FROM identity.record_customer WHERE unique_id IN (SELECT unique_id FROM _id_scope)")
            con.execute("INSERT INTO identity.record_customer SELECT * FROM _assigned ORDER BY unique_id")
        else:
            con.execute("CREATE OR REPLACE TABLE identity.record_customer AS SELECT * FROM _assigned ORDER BY unique_id")
            review.forget(con)
        # Scoped, only the ids the scope's records held or hold can change status: every other id keeps the status
        # the last run gave it (held ids are registered and active, the others retired: assign_ids never reissues a
        # registered id), so the upkeep reads the day's ids, not every record's.
        upkeep = scoped and table_exists(con, "identity.id_registry")
        con.execute(ACTIVE_IN_SCOPE_SQL if upkeep else """CREATE OR REPLACE TEMP TABLE _active AS
            SELECT DISTINCT customer_id FROM identity.record_customer ORDER BY customer_id""")
        con.execute("""CREATE TABLE IF NOT EXISTS identity.id_registry (
            customer_id VARCHAR PRIMARY KEY, status VARCHAR, created_run VARCHAR, created_at TIMESTAMP,
            retired_run VARCHAR, retired_at TIMESTAMP)""")
        con.execute("""CREATE TABLE IF NOT EXISTS identity.id_events (
            run_id VARCHAR, event_at TIMESTAMP, event VARCHAR, old_ids VARCHAR[], new_id VARCHAR)""")
        con.execute("""INSERT INTO identity.id_registry
            SELECT customer_id, 'active', ?, ?, NULL, NULL FROM _active
            WHERE customer_id NOT IN (SELECT customer_id FROM identity.id_registry) ORDER BY customer_id""", [run_id, now])
        con.execute("""UPDATE identity.id_registry SET status = 'active', retired_run = NULL, retired_at = NULL
            WHERE status = 'retired' AND customer_id IN (SELECT customer_id FROM _returning_ids)""")
        con.execute(f"""UPDATE identity.id_registry SET status = 'retired', retired_run = ?, retired_at = ?
            WHERE status = 'active' AND customer_id NOT IN (SELECT customer_id FROM _active)
            {'AND customer_id IN (SELECT customer_id FROM _id_previous)' if upkeep else ''}""", [run_id, now])
        con.execute("""INSERT INTO identity.id_events SELECT ?, ?, event, old_ids, new_id FROM _events
            ORDER BY sort_key IS NULL, sort_key, ordinal""", [run_id, now])
        id_scope.spent(con)
    counts = dict(con.execute("SELECT event, count(*) FROM _events GROUP BY event ORDER BY event").fetchall())
    customers = "SELECT count(*) FROM identity.id_registry WHERE status = 'active'" if upkeep else \
        "SELECT count(*) FROM _active"
    return {"customers": scalar(con, customers),
            "new_ids": len(result.new_ids) + scalar(con, "SELECT count(DISTINCT cluster_key) FROM _fresh_ids"),
            **{f"events_{k}": int(v) for k, v in counts.items()}}
