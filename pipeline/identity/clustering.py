"""Clustering that does not chain weak links: strongest edges first, never merging across a veto.

Connected components at a threshold join A and C whenever A-B and B-C score above it, even when A
and C are plainly two people (a parent and a child sharing a household contact). Here edges are
taken by decreasing match weight and two clusters merge only if no record of one conflicts with a
record of the other (`veto`: the conflicts the data show to be absolute, conflicts.py; by default every
`evidence.conflict`) and the two clusters are not two people by a conflict both confirm (`apart`), and the result
stays within the size guard. Before that, a pair loses the evidence it
shares with an exclusive alternative (`outweighed_by_rivals`): a record matching two people who can never be one
(both spouses through a family e-mail it alone carries) is not given to whichever scored a hair higher.
Steward decisions come first and win over the model: must-link pairs are joined before any scored
edge (whatever the evidence and the size guard say), cannot-link pairs are never put together.
A merge also weighs the contact points its edge could not compare (`UnsharedContacts`): two clusters joined by a
pair that agrees on a full name, one side lacking an e-mail, while each cluster holds e-mails the other never does.
Two first names that are each a mistyping of a third one beside them (`mistypings_of`: 'murice', 'mauuice' and
'maurice', read by the learned split of names one typo apart) are that one name to both tests, not two people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from pipeline.identity.evidence import PersonKey, conflict, first_names_conflict


def component_labels(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected components of nodes 0..n-1 joined by the edges left[i]-right[i]: each node's label is the
    smallest node of its component. Vectorised (hook each root onto the smaller root across an edge, then
    jump pointers to the roots) instead of a Python loop over every edge: a few numpy passes, as most
    components of person data are singletons and pairs."""
    parent = np.arange(n)
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    while len(left):
        a, b = parent[left], parent[right]
        apart = a != b
        if not apart.any():
            break
        left, right, a, b = left[apart], right[apart], a[apart], b[apart]
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))  # parent[x] <= x always: no cycles
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def component_table(n: int, left: np.ndarray, right: np.ndarray) -> pa.Table:
    """component_labels as a table (i, root_i) to join back to the numbered nodes in DuckDB."""
    return pa.table({"i": np.arange(n, dtype=np.int64), "root_i": component_labels(n, left, right)})


def connected_components(ids: Sequence[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """id -> the first of `ids` in its component, for the graph of `pairs` over `ids` (singletons included;
    every id of a pair must be in `ids`). The one connected-components routine of the project."""
    ids = list(ids)
    position = {uid: i for i, uid in enumerate(ids)}
    ends = np.array([(position[a], position[b]) for a, b in pairs], dtype=np.int64).reshape(-1, 2)
    labels = component_labels(len(ids), ends[:, 0], ends[:, 1])
    return {uid: ids[label] for uid, label in zip(ids, labels.tolist(), strict=False)}


def _odds(weight: float) -> float:
    return 2.0 ** min(weight, 1000.0)


class UnsharedContacts(NamedTuple):
    """What a merge's edge could not compare: a pair scores only its own two records, so a ticket holding a name and
    nothing else scores a full-name match against a namesake, whatever e-mails, mobiles and landlines each cluster's
    other records hold (at 100k persons, seed 97, 2,655 of 5,062 false pairs in clusters were two persons joined so).
    For each contact field the pair could not compare (one of its records lacks it) and on which both clusters hold
    values, none in common, the merge takes the model's own weight of a disagreement on that field (Splink's else
    level, log2(m / u), learned by EM: how often one person's records carry two e-mails); the merge is refused when
    the edge's probability, so weighed, falls below the threshold. A field the pair compared is in its score
    already: never counted twice. Only merges of two clusters of two records or more are weighed so: a single
    record's values were compared with each record of the other cluster its blocking reached, pair by pair (seed 97,
    weighing single records too: P 0.9946, R 0.9418, 2 of 3 such refusals kept one person apart)."""

    values: dict[str, tuple[str | None, ...]]  # record id -> its value of each field (None where it has none)
    bits: tuple[float, ...]                    # per field, the weight of a disagreement (<= 0)
    threshold: float

    def refuses(self, weight: float, left: str, right: str, ma: list[str], mb: list[str]) -> bool:
        if len(ma) < 2 or len(mb) < 2:
            return False
        extra = 0.0
        for f, bits in enumerate(self.bits):
            if self.values[left][f] is not None and self.values[right][f] is not None:
                continue
            va = {self.values[x][f] for x in ma} - {None}
            vb = {self.values[y][f] for y in mb} - {None}
            if va and vb and va.isdisjoint(vb):
                extra += bits
        odds = _odds(weight + extra)
        return extra < 0 and odds / (1 + odds) < self.threshold


def mistypings_of(z: PersonKey, x: PersonKey, y: PersonKey, veto: Callable[[PersonKey, PersonKey], bool],
                  mistyped: Callable[[str, str], bool] | None) -> bool:
    """x and y hold first names that are each a mistyping of z's (`mistyped`: name_typos.mistyping, the learned split)
    and conflict on nothing else once read as it: one name mistyped twice ('murice', 'mauuice' beside 'maurice'),
    which the veto reads as two people (two edits apart)."""
    name, a, b = z.first_name, x.first_name, y.first_name
    if mistyped is None or not (name and a and b) or not (mistyped(a, name) and mistyped(b, name)):
        return False
    return not veto(x, replace(y, first_name=name, first_name_canonical=z.first_name_canonical))


def _numbered_keys(records: dict[str, PersonKey]) -> tuple[dict[str, int], list[PersonKey]]:
    """(record id -> the number of its key, the distinct keys): records of one person often carry the same key."""
    key_ids: dict[PersonKey, int] = {}
    kid = {uid: key_ids.setdefault(k, len(key_ids)) for uid, k in records.items()}
    return kid, list(key_ids)


def _per_key_pair(keys: list[PersonKey], test: Callable[[PersonKey, PersonKey], bool]) -> Callable[[int, int], bool]:
    """`test` on two key numbers, asked once per pair: a veto (names, nicknames, typos) costs far more than a lookup."""
    @cache
    def tested(x: int, y: int) -> bool:
        return test(keys[x], keys[y])

    return tested


def outweighed_by_rivals(
    edges: Sequence[tuple[str, str, float]],
    records: dict[str, PersonKey],
    threshold: float,
    veto: Callable[[PersonKey, PersonKey], bool] = conflict,
    mistyped: Callable[[str, str], bool] | None = None,
) -> list[bool]:
    """For each edge at or above `threshold`, whether its probability falls below it once the alternatives it
    excludes are counted (False for the others).

    A pair's score weighs it against "not the same person" only. When record a also matches y and y can never be
    b's person (a veto between b and y: a family e-mail on a record without a first name matches both spouses; a
    full name alone matches two namesakes born years apart), "a is b" and "a is y" exclude each other and a's
    evidence is shared between them: P(a is b) = o_b / (1 + o_b + o_y + o_z), with o the odds of each pair
    (2^match_weight), y a's strongest such rival and z b's strongest rival against a. An edge without a rival
    keeps its probability. `edges` are (id_l, id_r, match_weight) of every pair clustering may use or that may
    rival one (no vetoed pair); `records` holds the keys of every id they name.

    `mistyped(name, of)` (name_typos.mistyping: the learned split of names one typo apart) reads two first names
    that are each a mistyping of the node's own ('murice', 'mauuice' beside 'maurice') as that one name, not as two
    people: they differ by two edits, so the veto tells them apart, and the node's two mistyped records outweighed
    each other's link to it.
    """
    kid, keys = _numbered_keys(records)
    vetoed = _per_key_pair(keys, veto)
    neighbours: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
    for a, b, w in edges:
        neighbours[a].append((_odds(w), b, kid[b]))
        neighbours[b].append((_odds(w), a, kid[a]))
    for ns in neighbours.values():
        ns.sort(reverse=True)

    def strongest_other(node: str, other: str) -> float:
        return next((o for o, y, _ in neighbours[node] if y != other), 0.0)

    def rival(node: str, other: str, floor: float) -> float:
        """Odds of node's strongest match among records that can never be `other`'s person; 0 when it could not
        exceed `floor` (neighbours come strongest first)."""
        other_key = kid[other]
        for o, y, y_key in neighbours[node]:
            if o <= floor:
                return 0.0
            if y != other and y_key != other_key and vetoed(other_key, y_key) \
                    and not mistypings_of(records[node], records[other], records[y], veto, mistyped):
                return o
        return 0.0

    out = []
    for a, b, w in edges:
        odds = _odds(w)
        needed = odds * (1 - threshold) / threshold - 1  # rival odds that take the edge below the threshold
        # Most edges have no neighbour strong enough to matter: the veto is tested only where one could.
        if odds / (1 + odds) < threshold or strongest_other(a, b) + strongest_other(b, a) <= needed:
            out.append(False)
            continue
        from_a = rival(a, b, needed - strongest_other(b, a))
        out.append(from_a + rival(b, a, needed - from_a) > needed)
    return out


def constrained_clusters(
    records: dict[str, PersonKey],
    edges: Iterable[tuple[str, str, float]],
    must_separate: set[frozenset[str]] = frozenset(),
    max_size: int = 50,
    must_link: Iterable[tuple[str, str]] = (),
    refused_must_links: list[tuple[str, str]] | None = None,
    veto: Callable[[PersonKey, PersonKey], bool] = conflict,
    apart: Callable[[list[PersonKey], list[PersonKey]], bool] | None = None,
    unshared: UnsharedContacts | None = None,
    mistyped: Callable[[str, str], bool] | None = None,
) -> tuple[dict[str, str], int]:
    """(record id -> cluster id (its smallest member id), number of edges refused).

    `edges` are (id_l, id_r, match_weight) above the clustering threshold. Every record gets a
    cluster, singletons included. Must-links that would join a cannot-link pair are skipped and
    appended to `refused_must_links`. `apart` is a test on two clusters' records as a whole (a conflict each
    side confirms, conflicts.ConflictModel.apart), asked only where no pair of records vetoes; `unshared` weighs the
    contact points the edge could not compare (UnsharedContacts), asked last. A veto between two records whose first
    names are both mistypings of a name a record of the two clusters holds (`mistypings_of`) does not refuse.
    """
    parent = {uid: uid for uid in records}
    members = {uid: [uid] for uid in records}

    def find(uid: str) -> str:
        root = uid
        while parent[root] != root:
            root = parent[root]
        while parent[uid] != root:
            parent[uid], uid = root, parent[uid]
        return root

    kid, keys = _numbered_keys(records)
    vetoed, names_conflict = _per_key_pair(keys, veto), _per_key_pair(keys, first_names_conflict)
    kept_apart = {uid for pair in must_separate for uid in pair}

    def separated(ma: list[str], mb: list[str]) -> bool:
        return any(frozenset((x, y)) in must_separate for x in ma if x in kept_apart for y in mb)

    def join(a: str, b: str) -> None:
        ma, mb = members[a], members[b]
        if len(ma) < len(mb):
            a, b, ma, mb = b, a, mb, ma
        parent[b] = a
        ma.extend(mb)
        del members[b]

    for left, right in must_link:
        a, b = find(left), find(right)
        if a == b:
            continue
        if separated(members[a], members[b]):
            if refused_must_links is not None:
                refused_must_links.append((left, right))
            continue
        join(a, b)
    refused = 0
    def order(e: tuple[str, str, float]) -> tuple:
        # With a test on whole clusters, edges across a first-name conflict come after the others: each side's records
        # gather first, so a twin's second record confirms its name before the edge to the other twin is weighed.
        across = apart is not None and names_conflict(kid[e[0]], kid[e[1]])
        return across, -e[2], e[0], e[1]

    for left, right, weight in sorted(edges, key=order):
        a, b = find(left), find(right)
        if a == b:
            continue
        ma, mb = members[a], members[b]
        if len(ma) + len(mb) > max_size or separated(ma, mb) or any(
            vetoed(kid[x], kid[y]) and not any(mistypings_of(records[z], records[x], records[y], veto, mistyped)
                                               for z in (*ma, *mb))
            for x in ma for y in mb
        ) or (apart is not None and apart([records[x] for x in ma], [records[y] for y in mb])) or (
            unshared is not None and unshared.refuses(weight, left, right, ma, mb)
        ):
            refused += 1
            continue
        join(a, b)
    roots = {root: min(ms) for root, ms in members.items()}
    return {uid: roots[find(uid)] for uid in records}, refused
