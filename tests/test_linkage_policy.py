"""One linkage policy: a threshold overridden in Settings reaches clustering, the review queue and the blocking
cluster check alike (they once read three copies of the defaults and disagreed silently)."""

from __future__ import annotations

import duckdb
import pytest

from pipeline.config import LinkagePolicy, Settings
from tests.conftest import demo_settings, materialise

POLICY = LinkagePolicy(threshold=0.97, review_floor=0.3, max_cluster_size=6, review_cluster_size=2)


def _metadata(result, path: list[str]) -> dict:
    return next(m.event_specific_data.materialization.metadata for m in result.get_asset_materialization_events()
                if m.event_specific_data.materialization.asset_key.path == path)


def test_an_overridden_policy_reaches_clustering_review_and_the_check(tmp_path):
    settings = demo_settings(tmp_path, 150, seed=13, as_of="2026-11-24", linkage=POLICY)
    result = materialise(settings)

    clusters = _metadata(result, ["identity", "clusters"])
    assert clusters["threshold"].value == POLICY.threshold
    review = _metadata(result, ["identity", "review_queue"])
    assert (review["threshold"].value, review["review_floor"].value) == (POLICY.threshold, POLICY.review_floor)
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "identity_clusters_valid")
    assert check.passed and check.metadata["max_cluster_size"].value == POLICY.max_cluster_size

    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        largest, flagged, wrongly_flagged = con.execute(
            "SELECT max(cluster_size), count(*) FILTER (WHERE needs_review), "
            "count(*) FILTER (WHERE needs_review <> (cluster_size > ?)) FROM identity.clusters",
            [POLICY.review_cluster_size]).fetchall()[0]
        # The uncertain pairs are exactly those scored in [floor, threshold) (no steward decided any here).
        expected, queued, outside = con.execute("""
            SELECT (SELECT count(*) FROM identity.pairwise_predictions
                    WHERE match_probability >= $floor AND match_probability < $threshold AND NOT contrary_evidence),
                   (SELECT count(*) FROM identity.review_queue WHERE item = 'uncertain_pair'),
                   (SELECT count(*) FROM identity.review_queue WHERE item = 'uncertain_pair'
                    AND NOT (match_probability >= $floor AND match_probability <= $threshold))""",  # the queue rounds
            {"floor": POLICY.review_floor, "threshold": POLICY.threshold}).fetchall()[0]
        between_defaults = con.execute(
            "SELECT count(*) FROM identity.review_queue WHERE item = 'uncertain_pair' AND match_probability >= ?",
            [LinkagePolicy().threshold]).fetchall()[0][0]
    assert largest <= POLICY.max_cluster_size and wrongly_flagged == 0 and flagged > 0
    assert queued == expected > 0 and outside == 0
    assert between_defaults > 0  # pairs the default threshold would have linked are now reviewed instead


def test_a_policy_that_contradicts_itself_is_refused_when_configured(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="review_floor"):
        LinkagePolicy(threshold=0.5, review_floor=0.8)
    monkeypatch.setenv("C360_MATCH_THRESHOLD", "0.9")
    assert Settings.from_env().linkage.threshold == 0.9
    monkeypatch.setenv("C360_AS_OF", "2026-02-30")
    with pytest.raises(ValueError, match="C360_AS_OF"):
        Settings.from_env()
