"""The identity work of link.py on Spark: count candidate pairs, train, score pairs, save the model.

Chosen by configuration (`C360_ENGINE=spark`, `customer360 run --engine spark`); everything downstream of
the scored pairs (veto, constrained clustering, stable ids, evaluation) is the same on both engines.

The recipe is recipe.train / recipe.predict, the one DuckDB runs too: this module only says how Spark holds
the recipe's tables (`_Engine`: put, materialise, a fresh SparkAPI per linker). The data crosses between DuckDB and Spark as
Parquet in an exchange directory: the linkage input goes in, the scored pairs come back and DuckDB reads them.
On a cluster that directory (and the checkpoint directory) must be storage the driver, the executors and
the DuckDB process can all read and write.

Settings (pipeline.config.SparkConfig, read from the environment with every other setting; defaults for
this machine: local mode, 2 cores):
    C360_SPARK_MASTER              local[2]
    C360_SPARK_DRIVER_MEMORY       4g
    C360_SPARK_SHUFFLE_PARTITIONS  8
    C360_SPARK_CHECKPOINT_DIR      <artefacts>/spark/checkpoints (Splink breaks lineage there, as Parquet;
                                   a path, or a URI such as hdfs://... that the executors can write)
    C360_SPARK_EXCHANGE_DIR        <artefacts>/spark/exchange (linkage input in, scored pairs out: a path
                                   mounted at the same place on the driver, the executors and this process)
    C360_SPARK_CONF                further Spark settings, "key=value" separated by spaces or commas,
                                   e.g. "spark.executor.memory=8g spark.executor.cores=4"
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import SparkConfig
from pipeline.identity import link, model, recipe
from pipeline.private_files import memory_db
from pipeline.sql import literal


class SparkUnavailable(RuntimeError):
    """pyspark or a Java runtime is missing: the Spark engine cannot start."""


def spark_missing() -> str | None:
    """Why the Spark engine cannot run here, or None when it can (pyspark importable, java on PATH)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (java on PATH or JAVA_HOME); e.g. apt-get install openjdk-17-jre-headless"
    return None


def start_spark(config: SparkConfig, checkpoint_dir: str):
    """A Spark session with Splink's similarity UDF jar (Jaro-Winkler, Damerau-Levenshtein...)."""
    reason = spark_missing()
    if reason:
        raise SparkUnavailable(f"the Spark engine cannot start: {reason}")
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    builder = (SparkSession.builder.master(config.master).appName("customer360-identity")
               .config("spark.jars", similarity_jar_location())
               .config("spark.driver.memory", config.driver_memory)
               .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
               .config("spark.default.parallelism", str(config.shuffle_partitions))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    if config.is_local:  # nothing listens beyond this machine, and no UI port to collide with
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false"))
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(checkpoint_dir)  # Spark creates it
    return spark


def stop_spark(spark) -> None:
    """Stop the session and the driver JVM this process launched: the pipeline goes on without Spark, and
    a stopped session's JVM would keep its heap (gigabytes) until the process ends. A later run starts anew."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    proc = getattr(gateway, "proc", None)
    if proc is not None:  # pyspark's launcher JVM exits when its stdin closes
        proc.stdin.close()
        with contextlib.suppress(Exception):  # past the wait, leave it to exit on its own
            proc.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


def render_model(fitted: dict, dialect: str, trained: recipe.Trained) -> dict:
    """The fitted model with its SQL rendered for `dialect` (from the one definition in model.settings()),
    parameters unchanged: the saved model stays loadable by DuckDB (explain) whichever engine trained it."""
    rendered = model.settings(recipe.identifiers_of_model(fitted), trained.plan.rules,
                              model.has_whole_name_level(fitted),
                              further=model.further_fields(fitted)).get_settings(dialect).as_dict()
    out = {**fitted, "sql_dialect": rendered["sql_dialect"],
           "blocking_rules_to_generate_predictions": rendered["blocking_rules_to_generate_predictions"]}
    by_name = {c["output_column_name"]: c for c in rendered["comparisons"]}
    comparisons = []
    for fit in fitted["comparisons"]:  # matched by name: the trained model need not keep the settings' order
        ren = by_name.get(fit["output_column_name"])
        if ren is None or len(ren["comparison_levels"]) != len(fit["comparison_levels"]):
            raise ValueError(f"model mismatch on comparison {fit['output_column_name']}")
        levels = [{**lf, "sql_condition": lr["sql_condition"]}
                  for lf, lr in zip(fit["comparison_levels"], ren["comparison_levels"], strict=True)]
        comparisons.append({**fit, "comparison_levels": levels})
    out["comparisons"] = comparisons
    return out


class _Engine:
    """One Spark session; a fresh SparkAPI per linker, as link.py builds a fresh DuckDBAPI per linker
    (Splink caches intermediate tables such as the input-with-term-frequencies per backend object)."""

    def __init__(self, spark, exchange: Path):
        self.spark, self.exchange = spark, exchange

    def api(self):
        from splink.backends.spark import SparkAPI

        return SparkAPI(spark_session=self.spark)

    @property
    def dialect(self) -> str:
        from splink.internals.dialects import SparkDialect

        return SparkDialect().sqlglot_dialect

    def put(self, table: pa.Table, name: str) -> None:
        """An Arrow table as a Spark view, through Parquet in the exchange directory."""
        path = self.exchange / f"{name.lstrip('_')}.parquet"  # Spark skips files named _*
        pq.write_table(table, path)
        self.spark.read.parquet(path.as_uri()).createOrReplaceTempView(name)

    def materialise(self, sql: str, name: str) -> int:
        """Run `sql` once into Parquet and expose it as view `name`; returns its row count."""
        path = (self.exchange / name.lstrip("_")).as_uri()
        self.spark.sql(sql).write.mode("overwrite").parquet(path)
        frame = self.spark.read.parquet(path)
        frame.createOrReplaceTempView(name)
        return frame.count()


def train_and_predict(linkage_input: pa.Table, artefacts_dir: Path,
                      config: SparkConfig | None = None) -> link.LinkResult:
    """link.train_and_predict on Spark: the same recipe (recipe.py), same outputs (scored pairs as Arrow)."""
    config = config or SparkConfig()
    link._quiet_splink()
    artefacts_dir.mkdir(parents=True, exist_ok=True)
    run = f"run-{uuid.uuid4().hex[:12]}"  # a subdirectory of its own: the configured ones may be shared
    exchange = (config.exchange_path(artefacts_dir) / run).resolve()
    checkpoints = f"{config.checkpoint_location(artefacts_dir)}/{run}"
    exchange.mkdir(parents=True)
    spark = start_spark(config, checkpoints)
    engine = _Engine(spark, exchange)
    try:
        trained = recipe.train(engine, linkage_input)
        linker, predictions, ids = recipe.predict(engine, trained, linkage_input)
        scored = exchange / "predictions"
        predictions.as_spark_dataframe().write.mode("overwrite").parquet(scored.as_uri())
        with memory_db() as con:  # the scored pairs come back through DuckDB, as the warehouse reads them
            table = recipe.with_text_ids(
                con.sql(f"SELECT * FROM read_parquet({literal(f'{scored}/*.parquet')})").to_arrow_table(), ids)
        model_path = artefacts_dir / "splink_model.json"
        _write_json(render_model(linker.misc.save_model_to_json(), "duckdb", trained), model_path)
        recipe.settle_conflicts(trained, table)
        trained.conflicts.save(link.conflicts_path(model_path))
        chart_path = artefacts_dir / "match_weights_chart.html"
        linker.visualisations.match_weights_chart().save_offline_chart(str(chart_path), overwrite=True, print_msg=False)
    finally:
        stop_spark(spark)
        if checkpoints.startswith("file://"):  # elsewhere (hdfs://...) the cluster's retention applies
            shutil.rmtree(urlparse(checkpoints).path, ignore_errors=True)
        shutil.rmtree(exchange, ignore_errors=True)
    return link.result_of(trained, table, model_path, chart_path)


def _write_json(model_dict: dict, path: Path) -> None:
    import json

    path.write_text(json.dumps(model_dict, indent=4), encoding="utf-8")
