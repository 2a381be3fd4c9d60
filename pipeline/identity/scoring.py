"""identity.pairwise_predictions: score the candidate pairs in full, incrementally, or keep them unchanged.

relink.plan_link says which (a first run, a requested re-link or too many changes retrain; a few changed
records are scored with the saved model; none changed keeps the pairs). This module does it and returns a
named result; the Dagster asset only turns that into metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pipeline.config import Settings
from pipeline.identity import link, name_typos, reclustering, review
from pipeline.identity.conflicts import ConflictModel, kept
from pipeline.identity.conflicts import apply as apply_conflicts
from pipeline.identity.relink import LinkPlan, plan_link, save_linked_records
from pipeline.identity.resolve import merge_rescored
from pipeline.sql import scalar
from pipeline.warehouse import replace_table


@dataclass(frozen=True)
class Scoring:
    """What a scoring run did: the plan (mode, reason, records changed and removed) and its figures."""

    plan: LinkPlan
    vetoed: int                          # pairs kept apart by contrary evidence, after this run
    full: link.LinkResult | None = None  # a full re-link's training figures (None otherwise)
    rescored: int = 0                    # pairs scored by an incremental run
    merged: dict = field(default_factory=dict)  # an incremental run's counts (pairs dropped)


def train_and_predict(settings: Settings, records) -> link.LinkResult:
    """The full re-link on the configured engine (Settings validated its name)."""
    if settings.engine == "spark":
        from pipeline.identity import spark_engine  # pyspark is an optional extra

        return spark_engine.train_and_predict(records, settings.artefacts_dir, settings.spark)
    return link.train_and_predict(records, settings.artefacts_dir)


class NothingToLink(ValueError):
    """A first (or requested) training with no person record at all: Splink's u sampling divided by zero."""


NOTHING_TO_LINK = ("no person record to link: every person source's files are empty, header-only or refused "
                   "(files_loaded says which); nothing is trained or published until one delivers records")


def score_pairs(con: duckdb.DuckDBPyConnection, settings: Settings, full_relink: bool, run_id: str) -> Scoring:
    """Rebuild identity.pairwise_predictions (and identity.model_health on a full re-link) as the plan says."""
    plan = plan_link(con, settings.model_path, full_relink, settings.linkage.max_incremental_share)
    full, rescored, merged = None, 0, {}
    if plan.mode == "full":
        records = con.sql("SELECT * FROM identity.linkage_input ORDER BY unique_id").to_arrow_table()
        if not records.num_rows:
            raise NothingToLink(NOTHING_TO_LINK)
        full = train_and_predict(settings, records)
        replace_table(con, "identity.pairwise_predictions",
                      kept(apply_conflicts(full.predictions, full.conflicts, name_typos.held(con))))
        replace_table(con, "identity.model_health", pd.DataFrame([{
            "run_id": run_id, "records": records.num_rows, **{
                k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in full.health.items()}}]))
        save_linked_records(con)
        reclustering.forget(con)  # every pair is new: the next clustering looks at every record
        review.forget(con)  # and the next review queue is built whole
    elif plan.mode == "incremental":
        scored = kept(apply_conflicts(
            link.predict_changed(con, plan.changed, settings.model_path, settings.artefacts_dir),
            ConflictModel.load(link.conflicts_path(settings.model_path)), name_typos.held(con)))
        rescored = scored.num_rows
        merged = merge_rescored(con, scored, plan.changed + plan.removed, plan.changed)
    vetoed = scalar(con, "SELECT count(*) FROM identity.pairwise_predictions WHERE contrary_evidence")
    return Scoring(plan=plan, vetoed=vetoed, full=full, rescored=rescored, merged=merged)
