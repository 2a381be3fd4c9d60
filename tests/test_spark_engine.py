"""The Spark engine resolves identities like the DuckDB engine: real Splink on both, real Spark (local[2]).

One small demo is staged once; its warehouse is copied per engine and the identity flow (scored pairs, veto,
constrained clustering, durable ids, evaluation against the truth) runs on each copy. Engine tests are parametrised
over the engines the way Splink's own tests are over its backends; Spark's are skipped where it is unavailable."""

import json
import shutil

import dagster as dg
import duckdb
import pytest

from assets import runner
from assets.definitions import build_definitions
from assets.identity import (
    CLUSTERS,
    ID_EVENTS,
    ID_REGISTRY,
    LINKAGE_INPUT,
    LINKAGE_QUALITY,
    PREDICTIONS,
    RECORD_CUSTOMER,
    STEWARD_DECISIONS,
)
from pipeline.config import Settings
from pipeline.identity.spark_engine import SparkConfig, spark_missing
from pipeline.identity.u_sample import term_frequencies_sql, u_sample_sql
from tests.conftest import demo_settings

IDENTITY_FLOW = [PREDICTIONS, STEWARD_DECISIONS, CLUSTERS, RECORD_CUSTOMER, ID_REGISTRY, ID_EVENTS, LINKAGE_QUALITY]
needs_spark = pytest.mark.skipif(spark_missing() is not None, reason=f"Spark engine unavailable: {spark_missing()}")


def _materialise(settings: Settings, selection: dg.AssetSelection):
    defs = build_definitions(settings)
    keys = selection.resolve(defs.resolve_asset_graph())
    result = defs.resolve_job_def("refresh_all").execute_in_process(
        asset_selection=list(keys), partition_key=runner.today(), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _clusters(settings: Settings) -> dict[str, str]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall())


def _quality(settings: Settings) -> dict:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        row = con.sql("SELECT * FROM identity.linkage_quality").to_arrow_table().to_pylist()
    return row[0]


def _prediction_metadata(result) -> dict:
    return next(m.event_specific_data.materialization.metadata for m in result.get_asset_materialization_events()
                if m.asset_key == PREDICTIONS)


ENGINES = ["duckdb", pytest.param("spark", marks=needs_spark)]  # each engine test runs once per engine, as Splink's


@pytest.fixture(scope="module")
def resolve(tmp_path_factory):
    """engine -> (settings, run result) after the identity flow on that engine, on a copy of one staged warehouse
    (each engine resolved once per module, when a test first asks for it)."""
    root = tmp_path_factory.mktemp("engines")
    staged = demo_settings(root / "staged", persons=300, seed=7)
    runner.run(staged, layers=("raw", "staging"))
    _materialise(staged, dg.AssetSelection.keys(LINKAGE_INPUT))
    runs: dict[str, tuple] = {}

    def resolved(engine: str):
        if engine not in runs:
            (root / engine).mkdir()
            shutil.copy(staged.warehouse, root / engine / "warehouse.duckdb")
            # A few hundred records: Spark's cost is per query (planning, code generation), not per row. Fewer
            # partitions and no whole-stage code generation halve it here. A driver JVM that compiles with its quick
            # compiler only and collects garbage on one thread, no adaptive re-planning and expressions interpreted
            # rather than compiled each take more of it (measured on this flow: 233 -> 163 -> 144 -> 115 CPU s, the
            # same F1). All are plain engine settings, none of the engine's code; long-lived JVMs on a cluster want
            # the defaults.
            spark = SparkConfig(shuffle_partitions=1, conf={
                "spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
                "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1"})
            settings = Settings(raw_dir=staged.raw_dir, warehouse=root / engine / "warehouse.duckdb",
                                sources_file=staged.sources_file, truth_file=root / "staged" / "truth.csv",
                                engine=engine, spark=spark)
            runs[engine] = (settings, _materialise(settings, dg.AssetSelection.keys(*IDENTITY_FLOW)))
        return runs[engine]
    return resolved


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_resolves_saves_its_model_in_duckdb_sql_and_explains(engine, resolve, tmp_path):
    from assets.cli import main

    settings, run = resolve(engine)
    meta = _prediction_metadata(run)
    assert meta["engine"].value == engine and meta["comparisons_scored"].value > 0
    assert _quality(settings)["pairwise_f1"] > 0.8
    model = json.loads((settings.artefacts_dir / "splink_model.json").read_text())
    assert model["sql_dialect"] == "duckdb"  # one model file whichever engine trained it
    exchange = settings.artefacts_dir / "spark" / "exchange"
    assert not exchange.exists() or not list(exchange.iterdir()), "exchange files left behind"
    customer = next(c for c, n in _sizes(settings).items() if n >= 2)
    assert main(["explain", customer, "--warehouse", str(settings.warehouse), "--out", str(tmp_path / "w.html")]) == 0


@needs_spark
def test_both_engines_resolve_the_same_customers(resolve):
    (duck, duck_run), (spark, spark_run) = resolve("duckdb"), resolve("spark")
    # Blocking is plain SQL on both: the same candidate pairs.
    assert (_prediction_metadata(spark_run)["comparisons_scored"].value
            == _prediction_metadata(duck_run)["comparisons_scored"].value)
    by_duck, by_spark = _clusters(duck), _clusters(spark)
    assert by_duck.keys() == by_spark.keys()
    if by_duck != by_spark:  # Jaro-Winkler differs slightly between the engines (README): F1 must not
        q_duck, q_spark = _quality(duck), _quality(spark)
        assert abs(q_duck["pairwise_f1"] - q_spark["pairwise_f1"]) <= 0.005, (q_duck, q_spark)
        moved = sum(by_duck[u] != by_spark[u] for u in by_duck)
        assert moved <= len(by_duck) // 100, f"{moved} records resolved differently"


def _sizes(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return dict(con.execute("SELECT customer_id, count(*) FROM identity.record_customer GROUP BY 1").fetchall())


def test_u_sample_sql_is_one_definition_rendered_per_engine():
    duck = u_sample_sql("linkage_input", "_groups")
    assert "QUALIFY" in duck and "s.*" in duck
    spark = u_sample_sql("linkage_input", "_groups", ["unique_id", "first_name"], dialect="spark")
    assert "QUALIFY" not in spark.upper() and "ROW_NUMBER()" in spark
    assert spark.startswith("SELECT unique_id, first_name FROM (")  # the rank column is not kept
    assert "tf_last_name" in term_frequencies_sql("last_name", dialect="spark")


def test_engine_is_chosen_by_configuration(monkeypatch, tmp_path):
    from assets.cli import main

    for name in ("C360_RAW_DIR", "C360_WAREHOUSE", "C360_SOURCES", "C360_TRUTH", "C360_ENGINE"):
        monkeypatch.setenv(name, "")  # restored after the test: the CLI below sets them
    assert main(["run", "--engine", "spark", "--raw-dir", str(tmp_path / "none")]) == 2  # no raw data
    assert Settings.from_env().engine == "spark"
    monkeypatch.setenv("C360_ENGINE", "")
    assert Settings.from_env().engine == "duckdb"
    monkeypatch.setenv("C360_ENGINE", "Spark")
    assert Settings.from_env().engine == "spark"
    monkeypatch.setenv("C360_ENGINE", "hadoop")
    with pytest.raises(ValueError, match="engine must be one of"):
        Settings.from_env()
    monkeypatch.setenv("C360_SPARK_MASTER", "spark://head:7077")
    monkeypatch.setenv("C360_SPARK_CONF", "spark.executor.memory=8g, spark.executor.cores=4")
    monkeypatch.setenv("C360_SPARK_CHECKPOINT_DIR", "/shared/checkpoints")
    config = SparkConfig.from_env()
    assert not config.is_local and config.conf == {"spark.executor.memory": "8g", "spark.executor.cores": "4"}
    assert config.checkpoint_location(tmp_path) == "file:///shared/checkpoints"
    monkeypatch.setenv("C360_SPARK_CHECKPOINT_DIR", "hdfs://head:8020/c360/checkpoints/")
    assert SparkConfig.from_env().checkpoint_location(tmp_path) == "hdfs://head:8020/c360/checkpoints"
    assert config.exchange_path(tmp_path) == tmp_path / "spark" / "exchange"
