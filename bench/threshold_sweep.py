"""Precision / recall / F1 of the clustering at several thresholds, on a warehouse already built.

    python bench/threshold_sweep.py data/warehouse.duckdb data/truth.csv [0.5 0.8 0.9 0.95 0.99]

Re-clusters identity.pairwise_predictions in memory (nothing is written), so the threshold can be chosen
on data with ground truth before it is set (C360_MATCH_THRESHOLD, the linkage policy).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import duckdb

from pipeline.identity.clustering import connected_components, constrained_clusters
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.resolve import person_keys
from pipeline.sql import literal


def pair_count(groups: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in groups.values())


def sweep(warehouse: str, truth: str, thresholds: list[float], veto: bool = True) -> list[dict]:
    con = duckdb.connect(warehouse, read_only=True)
    keys = person_keys(con)
    person = dict(con.execute(
        f"SELECT source || ':' || source_record_id, person_id FROM read_csv({literal(truth)}, all_varchar = true)"
    ).fetchall())
    edges_all = con.execute("SELECT unique_id_l, unique_id_r, match_weight, match_probability, contrary_evidence "
                            "FROM identity.pairwise_predictions").fetchall()
    scored = [u for u in keys if u in person]
    true_pairs = pair_count(Counter(person[u] for u in scored))
    learned = ConflictModel.load(Path(warehouse).parent / "artefacts" / "conflict_weights.json")  # as the run
    out = []
    for t in thresholds:
        edges = [(a, b, w) for a, b, w, p, v in edges_all if p >= t and not (veto and v)]
        clusters, refused = constrained_clusters(keys, edges, veto=learned.vetoes) if veto else _components(keys, edges)
        predicted = pair_count(Counter(clusters[u] for u in scored))
        tp = pair_count(Counter((clusters[u], person[u]) for u in scored))
        precision, recall = tp / predicted if predicted else 1.0, tp / true_pairs
        out.append({"threshold": t, "precision": round(precision, 4), "recall": round(recall, 4),
                    "f1": round(2 * precision * recall / (precision + recall), 4), "refused": refused,
                    "largest": max(Counter(clusters.values()).values())})
    return out


def _components(keys, edges):
    """Plain connected components (what a threshold alone gives), for comparison."""
    return connected_components(list(keys), [(a, b) for a, b, _ in edges]), 0


if __name__ == "__main__":
    wh, truth, *ts = sys.argv[1:]
    thresholds = [float(t) for t in ts] or [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
    for veto in (True, False):
        print("veto + constrained clustering" if veto else "connected components, no veto")
        for row in sweep(wh, truth, thresholds, veto):
            print("  ", row)
