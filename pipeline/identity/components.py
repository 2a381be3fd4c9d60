"""Reuse yesterday's clustering where nothing it depended on changed.

Clustering only ever joins records connected by candidate edges (scored pairs above the threshold, and
must-links), so it decomposes over the connected components of that graph. A component whose records
(and their compared values), edges and size guard are exactly as in the last run clusters exactly as
before: its fingerprint is kept beside the clusters, and a run recomputes only the components whose
fingerprint is new. Components touched by a steward decision are always recomputed (their status is
reported every run).
"""

from __future__ import annotations

import hashlib


def fingerprint(members: list[str], edges: list[tuple[str, str, float]], hashes: dict[str, str],
                max_size: int) -> str:
    """Changes when anything the clustering of this component depends on changes. The definition: clustering
    computes it in DuckDB for every component at once (resolve.candidate_components, tested equal)."""
    text = "|".join([str(max_size), *(f"{m}={hashes.get(m)}" for m in sorted(members)),
                     *(f"{a}~{b}:{w:.6f}" for a, b, w in sorted(edges))])
    return hashlib.sha256(text.encode()).hexdigest()[:20]
