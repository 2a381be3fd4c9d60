"""Precision / recall / F1 of the clustering at several thresholds, on a warehouse already built.

    python bench/threshold_sweep.py data/warehouse.duckdb data/truth.csv [0.5 0.8 0.9 0.95 0.99]

Re-clusters identity.pairwise_predictions with the pipeline's own clustering (resolve.cluster: exclusive
alternatives, the learned vetoes, constrained clustering, household-resolved attachment) on a copy of the warehouse,
each threshold in a transaction rolled back, so the threshold can be chosen on data with ground truth before it is
set (C360_MATCH_THRESHOLD, the linkage policy). Plain connected components without the veto are printed beside it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import duckdb

from pipeline.config import Settings
from pipeline.identity.clustering import connected_components
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.resolve import cluster, person_keys
from pipeline.sql import literal


def pair_count(groups: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in groups.values())


def sweep(warehouse: str, truth: str, thresholds: list[float], veto: bool = True) -> list[dict]:
    learned = ConflictModel.load(Path(warehouse).parent / "artefacts" / "conflict_weights.json")  # as the run
    max_size = Settings.from_env().linkage.max_cluster_size
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "warehouse.duckdb"
        shutil.copy(warehouse, copy)  # the pipeline's clustering writes (outweighed pairs, decisions' status)
        with duckdb.connect(str(copy)) as con:
            keys = person_keys(con)
            person = dict(con.execute(
                f"SELECT source || ':' || source_record_id, person_id FROM read_csv({literal(truth)}, all_varchar = true)"
            ).fetchall())
            scored = [u for u in keys if u in person]
            true_pairs = pair_count(Counter(person[u] for u in scored))
            out = []
            for t in thresholds:
                if veto:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        con.execute("DROP TABLE identity.clusters")  # every component clustered afresh at t
                        result = cluster(con, t, max_size, veto=learned.vetoes, apart=learned.cluster_veto,
                                         unshared=learned.unshared, typos=learned.typos)
                    finally:
                        con.execute("ROLLBACK")
                    clusters = dict(zip(*result.frame.select(["unique_id", "cluster_key"]).to_pydict().values(), strict=True))
                    refused = result.refused
                else:
                    edges = con.execute("SELECT unique_id_l, unique_id_r FROM identity.pairwise_predictions "
                                        "WHERE match_probability >= ?", [t]).fetchall()
                    clusters, refused = connected_components(list(keys), edges), 0
                predicted = pair_count(Counter(clusters[u] for u in scored))
                tp = pair_count(Counter((clusters[u], person[u]) for u in scored))
                precision, recall = tp / predicted if predicted else 1.0, tp / true_pairs
                out.append({"threshold": t, "precision": round(precision, 4), "recall": round(recall, 4),
                            "f1": round(2 * precision * recall / (precision + recall), 4), "refused": refused,
                            "largest": max(Counter(clusters.values()).values())})
    return out


if __name__ == "__main__":
    wh, truth, *ts = sys.argv[1:]
    thresholds = [float(t) for t in ts] or [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
    for veto in (True, False):
        print("the pipeline's clustering" if veto else "connected components, no veto")
        for row in sweep(wh, truth, thresholds, veto):
            print("  ", row)
