"""Clustering that does not chain weak links: strongest edges first, never merging across a veto.

Connected components at a threshold join A and C whenever A-B and B-C score above it, even when A
and C are plainly two people (a parent and a child sharing a household contact). Here edges are
taken by decreasing match weight and two clusters merge only if no record of one conflicts with a
record of the other (`veto`: the conflicts the data show to be absolute, conflicts.py; by default every
`evidence.conflict`), and the result stays within the size guard.
Steward decisions come first and win over the model: must-link pairs are joined before any scored
edge (whatever the evidence and the size guard say), cannot-link pairs are never put together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pipeline.identity.evidence import PersonKey, conflict


def constrained_clusters(
    records: dict[str, PersonKey],
    edges: Iterable[tuple[str, str, float]],
    must_separate: set[frozenset[str]] = frozenset(),
    max_size: int = 50,
    must_link: Iterable[tuple[str, str]] = (),
    refused_must_links: list[tuple[str, str]] | None = None,
    veto: Callable[[PersonKey, PersonKey], bool] = conflict,
) -> tuple[dict[str, str], int]:
    """(record id -> cluster id (its smallest member id), number of edges refused).

    `edges` are (id_l, id_r, match_weight) above the clustering threshold. Every record gets a
    cluster, singletons included. Must-links that would join a cannot-link pair are skipped and
    appended to `refused_must_links`.
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

    def separated(ma: list[str], mb: list[str]) -> bool:
        return any(frozenset((x, y)) in must_separate for x in ma for y in mb)

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
    for left, right, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        a, b = find(left), find(right)
        if a == b:
            continue
        ma, mb = members[a], members[b]
        if len(ma) + len(mb) > max_size or separated(ma, mb) or any(
            veto(records[x], records[y]) for x in ma for y in mb
        ):
            refused += 1
            continue
        join(a, b)
    roots = {root: min(ms) for root, ms in members.items()}
    return {uid: roots[find(uid)] for uid in records}, refused
