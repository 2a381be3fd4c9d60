"""Durable customer ids: a cluster that continues an earlier one keeps its id; changes become events.

The previous run's assignment (record -> customer_id) votes: an old id goes to the cluster holding the
largest share of its records, one cluster per id and one id per cluster; when several old ids continue
whole into one cluster (a merge), the oldest id survives, then the one with most records. Clusters left
without an old id get a new opaque id. Unchanged input changes no id.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class IdAssignment:
    record_ids: dict[str, str]                 # record uid -> customer_id
    events: list[dict] = field(default_factory=list)  # event, old_ids, new_id
    new_ids: list[str] = field(default_factory=list)
    cluster_ids: dict[str, str] = field(default_factory=dict)  # cluster key -> customer_id


def new_customer_id_sql(seed: str) -> str:
    """SQL of new_customer_id's first choice (salt 0) for the seed expression `seed`: the id of every cluster no
    earlier id votes for, computed in DuckDB (the caller checks that none is taken)."""
    return f"'C' || upper(left(sha256({seed} || '#0'), 15))"


def new_customer_id(seed: str, taken: set[str]) -> str:
    """Opaque, deterministic for a seed (the cluster's smallest record uid), never reusing an id."""
    salt = 0
    while True:
        cid = "C" + hashlib.sha256(f"{seed}#{salt}".encode()).hexdigest()[:15].upper()
        if cid not in taken:
            return cid
        salt += 1


def assign_ids(clusters: dict[str, str], previous: dict[str, str], known_ids: set[str],
               age: dict[str, int] | None = None) -> IdAssignment:
    """clusters: record uid -> cluster key; previous: record uid -> customer_id from the last run;
    known_ids: every id ever issued (retired ones included), so none is issued twice; age: id -> rank of
    issue (0 = oldest), to keep the oldest id on a merge."""
    age = age or {}
    members: dict[str, list[str]] = defaultdict(list)
    for uid, key in clusters.items():
        members[key].append(uid)
    votes: dict[str, Counter] = {key: Counter(previous[u] for u in uids if u in previous)
                                 for key, uids in members.items()}
    held = Counter(previous[u] for uids in members.values() for u in uids if u in previous)
    candidates = sorted(((n, key, old) for key, c in votes.items() for old, n in c.items()),
                        key=lambda t: (-t[0] / held[t[2]], age.get(t[2], len(age)), -t[0], t[2], t[1]))
    cluster_id: dict[str, str] = {}
    given: set[str] = set()
    for _, key, old in candidates:
        if key not in cluster_id and old not in given:
            cluster_id[key], _ = old, given.add(old)
    taken = set(known_ids) | given
    result = IdAssignment(record_ids={})
    for key in sorted(members):
        if key not in cluster_id:
            cid = new_customer_id(min(members[key]), taken)
            taken.add(cid)
            cluster_id[key] = cid
            result.new_ids.append(cid)
        for uid in members[key]:
            result.record_ids[uid] = cluster_id[key]
    result.events = _events(members, votes, cluster_id, previous)
    result.cluster_ids = cluster_id
    return result


def _events(members, votes, cluster_id, previous) -> list[dict]:
    events = []
    old_to_new: dict[str, set[str]] = defaultdict(set)
    for key, counter in votes.items():
        for old in counter:
            old_to_new[old].add(cluster_id[key])
    for key in sorted(members):
        olds = sorted(votes[key])
        if not olds:
            events.append({"event": "new", "old_ids": [], "new_id": cluster_id[key]})
        elif len(olds) > 1:
            events.append({"event": "merge", "old_ids": olds, "new_id": cluster_id[key]})
    for old, news in sorted(old_to_new.items()):
        if len(news) > 1:
            events.extend({"event": "split", "old_ids": [old], "new_id": new} for new in sorted(news))
        if old not in news:
            events.append({"event": "retire", "old_ids": [old], "new_id": None})
    gone = sorted(set(previous.values()) - set(old_to_new))
    events.extend({"event": "retire", "old_ids": [old], "new_id": None} for old in gone)
    return events
