"""Identity layer: who is who. Splink scores pairs, a veto and constrained clustering group them,
durable customer ids are carried over from run to run."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.evaluation import linkage_quality
from assets.keys import (
    CLUSTERS,
    ID_EVENTS,
    ID_REGISTRY,
    LINKAGE_INPUT,
    LINKAGE_QUALITY,
    PERSON_RECORDS,
    PREDICTIONS,
    RECORD_CUSTOMER,
    REVIEW_QUEUE,
    STEWARD_DECISIONS,
    VALIDATED_FILES,
)
from assets.metadata import table_metadata
from assets.quality import CLUSTERS_VALID_SPEC, identity_clusters_valid, validated_files
from assets.resources import WAREHOUSE_POOL, GreatExpectations, RunSettings
from assets.steps import Step
from pipeline.currency import read_rates
from pipeline.golden.purge import restore_purged_hashes
from pipeline.identity import id_scope, link, placeholders, reclustering, spellings
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.decisions import COLUMNS as DECISION_COLUMNS
from pipeline.identity.decisions import mark_missing_records, read_decisions
from pipeline.identity.features import (
    has_further_contacts,
    identifier_names,
    linkage_input_sql,
    write_linkage_input,
)
from pipeline.identity.resolve import cluster, save_ids, stable_ids
from pipeline.identity.review import build_review_queue
from pipeline.identity.scoring import NothingToLink, score_pairs
from pipeline.warehouse import registered, replace_table, transaction

GROUP = "identity"
DECISION_TYPES = {**dict.fromkeys(DECISION_COLUMNS, "VARCHAR"), "status": "VARCHAR", "applied": "BOOLEAN",
                  "effect": "VARCHAR", "run_id": "VARCHAR"}
PREDICTIONS_OP = PREDICTIONS.to_python_identifier()  # its op's name in run config (LinkConfig)
CLUSTERS_OP = CLUSTERS.to_python_identifier()


# What linkage reads, in one step (assets/steps.py): the records to compare and the stewards' decisions on them,
# after marking the staged files validated (staging's asset: it too waits only for the blocking checks on the person
# records, and a step of its own cost Dagster's bookkeeping for one UPDATE).
INPUT_STEP = Step("identity_input")
INPUT_STEP.asset(VALIDATED_FILES, deps=[PERSON_RECORDS], group_name="staging")(validated_files)


@INPUT_STEP.asset(LINKAGE_INPUT, deps=[PERSON_RECORDS], group_name=GROUP)
def linkage_input(duckdb: DuckDBResource, settings: RunSettings) -> dg.MaterializeResult:
    """Staged person records in the match forms Splink compares, keyed '<source>:<record id>', with one
    column per strong identifier the sources map (`id_<name>`); an e-mail or phone more records hold than one
    customer may (a till's placeholder) read as empty (pipeline/identity/placeholders.py)."""
    with duckdb.get_connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
        placeholder_counts = placeholders.refresh(con, settings.linkage.max_cluster_size)
        identifiers = identifier_names(con)
        further = has_further_contacts(con)
        name_spellings = spellings.refresh(con)
        con.execute("CREATE OR REPLACE TEMP TABLE _linkage_input AS "
                    f"{linkage_input_sql(identifiers, further, spelled=True)}")
        restore_purged_hashes(con, "_linkage_input")  # purged records (erasure, retention) read as unchanged
        replaced = write_linkage_input(con, "_linkage_input")
        return dg.MaterializeResult(metadata={**table_metadata(con, "identity.linkage_input"),
                                              "identifiers": dg.MetadataValue.json(identifiers),
                                              "further_contacts_compared": further, **placeholder_counts,
                                              "name_spellings": name_spellings,
                                              **({"rows_replaced": replaced} if replaced is not None else {})})


@INPUT_STEP.asset(STEWARD_DECISIONS, deps=[LINKAGE_INPUT], group_name=GROUP)
def steward_decisions(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                      settings: RunSettings) -> dg.MaterializeResult:
    """Stewards' must-link, cannot-link and override decisions from the decisions folder, with who, when,
    why, and whether each was applied this run."""
    decisions = read_decisions(settings.decisions_dir)
    with duckdb.get_connection() as con:
        # only the records the decisions name: not every record's id read into Python each day
        named = sorted({r for c in ("record_1", "record_2") for r in decisions[c].dropna()})
        known = {r[0] for r in con.execute("""SELECT unique_id FROM identity.linkage_input
            SEMI JOIN (SELECT unnest(?::VARCHAR[]) AS unique_id) USING (unique_id)""", [named]).fetchall()}
        decisions = mark_missing_records(decisions, known)
        decisions["applied"] = False
        decisions["effect"] = None
        decisions["run_id"] = context.run_id
        replace_table(con, "identity.steward_decisions", decisions, DECISION_TYPES)
        meta = table_metadata(con, "identity.steward_decisions")
    return dg.MaterializeResult(metadata={**meta, "decisions_folder": dg.MetadataValue.path(str(settings.decisions_dir)),
                                          "not_applicable": int(decisions["status"].notna().sum())})


@dg.multi_asset(specs=INPUT_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=INPUT_STEP.name)
@values_left_out
def identity_input(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings):
    """The linkage input and the stewards' decisions on its records."""
    yield from INPUT_STEP.materialize(context, duckdb=duckdb, settings=settings)


class LinkConfig(dg.Config):
    """`full_relink` retrains the model and rescores every pair; otherwise only new or changed records are
    scored with the saved model, unless more than the linkage policy's `max_incremental_share` changed."""

    full_relink: bool = False


@dg.asset(key=PREDICTIONS, deps=[LINKAGE_INPUT], group_name=GROUP, kinds={"duckdb", "splink"},
          pool=WAREHOUSE_POOL)
@values_left_out
def pairwise_predictions(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                         settings: RunSettings, config: LinkConfig) -> dg.MaterializeResult:
    """Candidate pairs scored by Splink (match weight, probability, per-comparison levels) and the veto flag.

    The `engine` setting picks where a full re-link trains and scores: DuckDB (link.py) or Spark
    (spark_engine.py). An incremental run scores its few changed records with the saved model on DuckDB
    (pipeline/identity/scoring.py decides and does it)."""
    with duckdb.get_connection() as con:
        try:
            scoring = score_pairs(con, settings, config.full_relink, context.run_id)
        except NothingToLink as exc:  # a clear failure, not Splink's ZeroDivisionError
            raise dg.Failure(description=str(exc)) from None
        meta = table_metadata(con, "identity.pairwise_predictions")
    plan, full = scoring.plan, scoring.full
    context.log.info(f"linkage: {plan.mode} ({plan.reason})")
    extra: dict = {}
    if full is not None:
        extra = {"comparisons_scored": full.comparisons,
                 "conflict_weights": dg.MetadataValue.json(full.conflicts.as_dict()),
                 "model_health": dg.MetadataValue.json(full.health),
                 "blocking_fields_over_budget": dg.MetadataValue.json(full.blocking_over_budget or []),
                 "blocking_rules_dropped": dg.MetadataValue.json(full.blocking_rules_dropped or []),
                 "u_sample_distinct_people": full.distinct_people_sample,
                 "em_sessions_trained": dg.MetadataValue.json(full.em_sessions or []),
                 "comparisons_by_blocking_rule": dg.MetadataValue.json(full.comparisons_by_rule),
                 "match_weights_chart": dg.MetadataValue.path(str(full.chart_path))}
    elif plan.mode == "incremental":
        extra = {"pairs_rescored": scoring.rescored, **scoring.merged}
    return dg.MaterializeResult(metadata={
        **meta, "engine": settings.engine, "linkage_mode": plan.mode, "linkage_reason": plan.reason,
        "records_changed": len(plan.changed), "records_removed": len(plan.removed), "pairs_vetoed": scoring.vetoed,
        "model": dg.MetadataValue.path(str(settings.model_path)), **extra})


@dg.asset(key=CLUSTERS, deps=[PREDICTIONS, STEWARD_DECISIONS], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=[CLUSTERS_VALID_SPEC])
@values_left_out
def clusters(duckdb: DuckDBResource, settings: RunSettings,
             great_expectations: GreatExpectations) -> dg.MaterializeResult:
    """One row per person record with its cluster; strongest links first, never across a conflict the data
    show to be a veto (conflict_weights.json, learned on the last full re-link)."""
    conflicts = link.conflicts_path(settings.model_path)
    learned = ConflictModel.load(conflicts)
    policy = settings.linkage
    state = reclustering.signature(policy.threshold, policy.max_cluster_size, policy.review_cluster_size, conflicts)
    with duckdb.get_connection() as con:
        clustering = cluster(con, policy.threshold, policy.max_cluster_size, veto=learned.vetoes,
                             apart=learned.cluster_veto, settings=state, unshared=learned.unshared,
                             typos=learned.typos)
        with registered(con, _clusters=clustering.frame), transaction(con):
            written = reclustering.write_clusters(con, policy.review_cluster_size)
            reclustering.save_state(con, state, clustering.decided)
        check = identity_clusters_valid(con, written, great_expectations, settings)  # blocking: fails the step
        meta = table_metadata(con, "identity.clusters")
        count, largest, singletons, flagged = con.execute("""SELECT count(*), coalesce(max(cluster_size), 0),
            count(*) FILTER (WHERE cluster_size = 1), count(*) FILTER (WHERE needs_review)
            FROM (SELECT DISTINCT cluster_key, cluster_size, needs_review FROM identity.clusters)""").fetchone()
    return dg.MaterializeResult(metadata={
        **meta, "clusters": count, "largest_cluster": largest,
        "singletons": singletons, "merges_refused": clustering.refused,
        "pairs_outweighed_by_rivals": clustering.outweighed, **clustering.households,
        "clusters_flagged_for_review": flagged,
        "components_recomputed": clustering.recomputed,
        **({"records_reclustered": clustering.reclustered} if clustering.reclustered is not None else {}),
        "threshold": policy.threshold},
        check_results=[check])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(RECORD_CUSTOMER, deps=[CLUSTERS], description="Each person record's durable customer_id."),
        dg.AssetSpec(ID_REGISTRY, deps=[CLUSTERS], description="Every customer_id ever issued, active or retired."),
        dg.AssetSpec(ID_EVENTS, deps=[CLUSTERS], description="New, merged, split and retired ids, per run."),
    ],
    group_name=GROUP, pool=WAREHOUSE_POOL,
)
@values_left_out
def customer_ids(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Carry ids over from the previous run by majority of records; log merges and splits."""
    with duckdb.get_connection() as con:
        scoped = id_scope.scope(con)  # only the clusters that changed since ids were last assigned
        counts = save_ids(con, stable_ids(con, scoped), context.run_id, scoped)
        for key in (RECORD_CUSTOMER, ID_REGISTRY, ID_EVENTS):
            meta = table_metadata(con, ".".join(key.path))
            yield dg.MaterializeResult(asset_key=key, metadata={**meta, **counts} if key == ID_EVENTS else meta)


# What the stewards and the evaluation read once ids are assigned, in one step (assets/steps.py): both only read the
# clusters and ids, and nothing downstream waits for one without the other.
REVIEW_STEP = Step("identity_review")


@REVIEW_STEP.asset(REVIEW_QUEUE, deps=[CLUSTERS, RECORD_CUSTOMER, STEWARD_DECISIONS], group_name=GROUP)
def review_queue(duckdb: DuckDBResource, settings: RunSettings) -> dg.MaterializeResult:
    """Uncertain pairs (scored in [review_floor, threshold)) and doubtful clusters for stewards, most valuable
    first, facts masked, with the command that explains each."""
    policy = settings.linkage
    with duckdb.get_connection() as con:
        scope = build_review_queue(con, policy.review_floor, policy.threshold, policy.review_cluster_size,
                                   read_rates(settings.rates_file, settings.currency), settings.currency)
        items = dict(con.execute("SELECT item, count(*) FROM identity.review_queue GROUP BY 1").fetchall())
        return dg.MaterializeResult(metadata={**table_metadata(con, "identity.review_queue"),
                                              **{f"items_{k}": v for k, v in items.items()}, **scope,
                                              "review_floor": policy.review_floor, "threshold": policy.threshold,
                                              "review_cluster_size": policy.review_cluster_size})


REVIEW_STEP.asset(LINKAGE_QUALITY, deps=[RECORD_CUSTOMER], group_name=GROUP)(linkage_quality)


@dg.multi_asset(specs=REVIEW_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=REVIEW_STEP.name)
@values_left_out
def identity_review(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings):
    """The stewards' review queue and the linkage quality against the truth file."""
    yield from REVIEW_STEP.materialize(context, duckdb=duckdb, settings=settings)
