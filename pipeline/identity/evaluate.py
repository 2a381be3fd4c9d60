"""Linkage quality against ground truth: pairwise precision / recall / F1 and cluster-level figures.

Pairs are counted, never listed: within a group of n records there are n(n-1)/2 pairs, so
true positives are the pairs inside each (cluster, person) group.
"""

from __future__ import annotations

import duckdb

PAIRS = "sum(n * (n - 1) / 2)"


def linkage_quality(con: duckdb.DuckDBPyConnection, assignments: str, truth: str) -> dict:
    """assignments: table/view (unique_id, customer_id); truth: (unique_id, person_id).

    Only records present in both are scored."""
    # One pass over the records: every figure below is a sum over the (cluster, person) groups, far fewer rows.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _groups AS
        SELECT a.customer_id, t.person_id, count(*) AS n FROM {assignments} a JOIN {truth} t USING (unique_id) GROUP BY ALL""")
    try:
        predicted, true_pairs, tp, records, persons, clusters, exact, largest = con.execute(f"""
            WITH c AS (SELECT customer_id, sum(n) AS n, count(*) AS persons FROM _groups GROUP BY 1),
                 p AS (SELECT person_id, sum(n) AS n, count(*) AS clusters, any_value(customer_id) AS customer_id
                       FROM _groups GROUP BY 1)
            SELECT (SELECT {PAIRS} FROM c), (SELECT {PAIRS} FROM p), (SELECT {PAIRS} FROM _groups),
                   (SELECT sum(n) FROM _groups), (SELECT count(*) FROM p), (SELECT count(*) FROM c),
                   (SELECT count(*) FROM p JOIN c USING (customer_id) WHERE p.clusters = 1 AND c.persons = 1),
                   (SELECT max(n) FROM c)""").fetchone()
    finally:
        con.execute("DROP TABLE _groups")
    predicted, true_pairs, tp = float(predicted or 0), float(true_pairs or 0), float(tp or 0)
    precision = tp / predicted if predicted else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records_scored": int(records or 0), "true_persons": int(persons), "clusters": int(clusters),
        "pairs_predicted": int(predicted), "pairs_true": int(true_pairs), "pairs_true_positive": int(tp),
        "pairwise_precision": round(precision, 5), "pairwise_recall": round(recall, 5),
        "pairwise_f1": round(f1, 5),
        # A person is resolved exactly when all its records, and no other's, form one cluster.
        "persons_exactly_resolved": round(exact / persons, 5) if persons else 1.0,
        "largest_cluster": int(largest or 0),
    }
