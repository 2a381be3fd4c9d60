"""Identity layer: who is who. Splink scores pairs, a veto and constrained clustering group them,
durable customer ids are carried over from run to run."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.metadata import table_metadata
from assets.staging import PERSON_RECORDS
from pipeline.identity import link
from pipeline.identity.features import LINKAGE_INPUT_SQL
from pipeline.identity.resolve import cluster, flag_contrary_evidence, save_ids, stable_ids
from pipeline.resources import WAREHOUSE_POOL, PipelineSettings
from pipeline.warehouse import replace_table

GROUP = "identity"
LINKAGE_INPUT = dg.AssetKey(["identity", "linkage_input"])
PREDICTIONS = dg.AssetKey(["identity", "pairwise_predictions"])
CLUSTERS = dg.AssetKey(["identity", "clusters"])
ID_REGISTRY = dg.AssetKey(["identity", "id_registry"])
RECORD_CUSTOMER = dg.AssetKey(["identity", "record_customer"])
ID_EVENTS = dg.AssetKey(["identity", "id_events"])


class ClusteringConfig(dg.Config):
    """Pairs at or above `threshold` (match probability) are linked unless contrary evidence vetoes
    them; no cluster grows past `max_cluster_size`, and clusters above `review_cluster_size` are flagged."""

    threshold: float = 0.8
    max_cluster_size: int = 25
    review_cluster_size: int = 8


@dg.asset(key=LINKAGE_INPUT, deps=[PERSON_RECORDS], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def linkage_input(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Staged person records in the match forms Splink compares, keyed '<source>:<record id>'."""
    with duckdb.get_connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
        con.execute(f"CREATE OR REPLACE TABLE identity.linkage_input AS {LINKAGE_INPUT_SQL}")
        return dg.MaterializeResult(metadata=table_metadata(con, "identity.linkage_input"))


def _engine(name: str):
    if name == "spark":
        from pipeline.identity import spark_engine  # pyspark is an optional extra

        return spark_engine
    if name != "duckdb":
        raise ValueError(f"unknown identity engine {name!r}: 'duckdb' or 'spark'")
    return link


@dg.asset(key=PREDICTIONS, deps=[LINKAGE_INPUT], group_name=GROUP, kinds={"duckdb", "splink"},
          pool=WAREHOUSE_POOL)
def pairwise_predictions(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                         settings: PipelineSettings) -> dg.MaterializeResult:
    """Candidate pairs scored by Splink (match weight, probability, per-comparison levels) and the veto flag.

    The `engine` setting picks where Splink runs: DuckDB (link.py) or Spark (spark_engine.py)."""
    with duckdb.get_connection() as con:
        records = con.sql("SELECT * FROM identity.linkage_input").to_arrow_table()
        result = _engine(settings.engine).train_and_predict(records, settings.artefacts_path)
        predictions = flag_contrary_evidence(result.predictions)
        replace_table(con, "identity.pairwise_predictions", predictions)
        meta = table_metadata(con, "identity.pairwise_predictions")
        vetoed = con.execute("SELECT count(*) FROM identity.pairwise_predictions WHERE contrary_evidence").fetchall()[0][0]
    return dg.MaterializeResult(metadata={
        **meta, "comparisons_scored": result.comparisons, "pairs_vetoed": vetoed,
        "u_sample_distinct_people": result.distinct_people_sample,
        "em_sessions_trained": dg.MetadataValue.json(result.em_sessions or []),
        "comparisons_by_blocking_rule": dg.MetadataValue.json(result.comparisons_by_rule),
        "engine": settings.engine,
        "model": dg.MetadataValue.path(str(result.model_path)),
        "match_weights_chart": dg.MetadataValue.path(str(result.chart_path))})


@dg.asset(key=CLUSTERS, deps=[PREDICTIONS], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def clusters(duckdb: DuckDBResource, config: ClusteringConfig) -> dg.MaterializeResult:
    """One row per person record with its cluster; strongest links first, never across contrary evidence."""
    with duckdb.get_connection() as con:
        frame, refused = cluster(con, config.threshold, config.max_cluster_size)
        frame["cluster_size"] = frame.groupby("cluster_key")["unique_id"].transform("size")
        frame["needs_review"] = frame["cluster_size"] > config.review_cluster_size
        replace_table(con, "identity.clusters", frame)
        meta = table_metadata(con, "identity.clusters")
    sizes = frame.drop_duplicates("cluster_key")["cluster_size"]
    return dg.MaterializeResult(metadata={
        **meta, "clusters": len(sizes), "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "singletons": int((sizes == 1).sum()), "merges_refused": refused,
        "clusters_flagged_for_review": int((sizes > config.review_cluster_size).sum()),
        "threshold": config.threshold})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(RECORD_CUSTOMER, deps=[CLUSTERS], description="Each person record's durable customer_id."),
        dg.AssetSpec(ID_REGISTRY, deps=[CLUSTERS], description="Every customer_id ever issued, active or retired."),
        dg.AssetSpec(ID_EVENTS, deps=[CLUSTERS], description="New, merged, split and retired ids, per run."),
    ],
    group_name=GROUP, pool=WAREHOUSE_POOL,
)
def customer_ids(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Carry ids over from the previous run by majority of records; log merges and splits."""
    with duckdb.get_connection() as con:
        counts = save_ids(con, stable_ids(con), context.run_id)
        for key in (RECORD_CUSTOMER, ID_REGISTRY, ID_EVENTS):
            meta = table_metadata(con, ".".join(key.path))
            yield dg.MaterializeResult(asset_key=key, metadata={**meta, **counts} if key == ID_EVENTS else meta)
