"""Run Splink on the linkage input: count candidate pairs, train, score pairs, save the model.

Splink works in its own scratch DuckDB file (it creates many intermediate tables, and a file-backed
database can spill to disk); only the scored pairs come back to the warehouse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from splink import Linker
from splink.backends.duckdb import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from pipeline.identity import model

# u-probabilities from this many random pairs: stable to ~3 decimals on the demo and 100k data.
U_SAMPLE_PAIRS = 5_000_000
TRAINING_SEED = 42


@dataclass
class LinkResult:
    predictions: pa.Table
    comparisons: int
    comparisons_by_rule: list[dict]
    model_path: Path
    chart_path: Path


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def open_linker(con: duckdb.DuckDBPyConnection, table: str, settings) -> Linker:
    db = DuckDBAPI(con)
    return Linker(db.register(table), settings, log_level=None)


def count_comparisons(con: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
    db = DuckDBAPI(con)
    records = count_comparisons_from_blocking_rules(
        db.register(table), blocking_rules=model.PREDICTION_BLOCKING_RULES, link_type="dedupe_only",
        record_sample_proportion=1.0)
    return [{"rule": r["blocking_rule"], "comparisons": int(r["marginal_comparison_count"])} for r in records]


def train_and_predict(linkage_input: pa.Table, artefacts_dir: Path) -> LinkResult:
    """Estimate u (random sampling), lambda and m (EM), score candidate pairs above PREDICT_THRESHOLD."""
    _quiet_splink()
    artefacts_dir.mkdir(parents=True, exist_ok=True)
    scratch = artefacts_dir / "splink_scratch.duckdb"
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    try:
        con.register("_input", linkage_input)
        con.execute("CREATE TABLE linkage_input AS SELECT * FROM _input")
        con.unregister("_input")
        by_rule = count_comparisons(con, "linkage_input")
        linker = open_linker(con, "linkage_input", model.settings())
        linker.training.estimate_probability_two_random_records_match(
            [model.block_on("email", "first_name"), model.block_on("first_name", "last_name", "birth_date")],
            recall=0.7)
        linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=TRAINING_SEED)
        for rule in model.TRAINING_BLOCKING_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        predictions = linker.inference.predict(threshold_match_probability=model.PREDICT_THRESHOLD)
        table = con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table()
        model_path = artefacts_dir / "splink_model.json"
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
        chart_path = artefacts_dir / "match_weights_chart.html"
        linker.visualisations.match_weights_chart().save(str(chart_path))
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
    return LinkResult(predictions=table, comparisons=sum(r["comparisons"] for r in by_rule),
                      comparisons_by_rule=by_rule, model_path=model_path, chart_path=chart_path)
