"""Run Splink on the linkage input: count candidate pairs, train, score pairs, save the model.

Splink works in its own scratch DuckDB file (it creates many intermediate tables, and a file-backed
database can spill to disk); only the scored pairs come back to the warehouse.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from splink import Linker
from splink.backends.duckdb import DuckDBAPI
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.database_api import DatabaseAPI

from pipeline.identity import model
from pipeline.identity.u_sample import build_u_sample, term_frequencies

# u-probabilities from this many random pairs of distinct people (see u_sample.py).
U_SAMPLE_PAIRS = 5_000_000
TRAINING_SEED = 42
# No level's m-probability falls below this (nor below u for an agreement level): EM can learn m = 0 for
# "different landline" when no duplicate in the data changed landline, which would forbid the link forever.
M_FLOOR = 0.01
# An EM session needs enough candidate pairs to learn from; smaller ones are skipped (and reported).
MIN_EM_PAIRS = 200


@dataclass
class LinkResult:
    predictions: pa.Table
    comparisons: int
    comparisons_by_rule: list[dict]
    model_path: Path
    chart_path: Path
    distinct_people_sample: int = 0
    em_sessions: list[str] | None = None


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _db_api(con: duckdb.DuckDBPyConnection | DatabaseAPI) -> DatabaseAPI:
    """A DuckDB connection, or any Splink backend (the Spark engine passes its SparkAPI)."""
    return con if isinstance(con, DatabaseAPI) else DuckDBAPI(con)


def open_linker(con: duckdb.DuckDBPyConnection | DatabaseAPI, table: str, settings,
                tf_tables: dict | None = None) -> Linker:
    db = _db_api(con)
    linker = Linker(db.register(table), settings, log_level=None)
    for column, tf_table in (tf_tables or {}).items():
        linker.table_management.register_term_frequency_lookup(db.register(tf_table), column)
    return linker


def fill_unobserved_u(model_dict: dict) -> dict:
    """A level no two distinct people agreed on in the sample (an exact e-mail, a mobile) has no u;
    its honest value is below one in the number of pairs sampled."""
    for comparison in model_dict["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("u_probability") is None:
                level["u_probability"] = 1 / U_SAMPLE_PAIRS
    return model_dict


def clamp_lambda(model_dict: dict) -> dict:
    """On very small inputs the deterministic-rule estimate of the prior can reach 0 or 1."""
    prior = model_dict.get("probability_two_random_records_match") or 1e-6
    model_dict["probability_two_random_records_match"] = min(max(prior, 1e-9), 0.5)
    return model_dict


def floor_m(model_dict: dict) -> dict:
    """Apply M_FLOOR to every comparison and renormalise its m-probabilities."""
    for comparison in model_dict["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for i, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None or u is None:
                continue
            is_else = i == len(levels) - 1
            level["m_probability"] = max(m, M_FLOOR if is_else else min(u, M_FLOOR))
        total = sum(lv["m_probability"] for lv in levels if lv.get("m_probability") is not None)
        for level in levels:
            if level.get("m_probability") is not None:
                level["m_probability"] /= total
    return model_dict


def count_comparisons(con: duckdb.DuckDBPyConnection | DatabaseAPI, table: str, rules=None) -> list[dict]:
    db = _db_api(con)
    records = count_comparisons_from_blocking_rules(
        db.register(table), blocking_rules=rules or model.PREDICTION_BLOCKING_RULES, link_type="dedupe_only",
        record_sample_proportion=1.0)
    return [{"rule": r["blocking_rule"], "comparisons": int(r["marginal_comparison_count"])} for r in records]


def _scratch(artefacts_dir: Path, linkage_input: pa.Table) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """Splink's own file-backed DuckDB (it spills to disk), holding the linkage input."""
    artefacts_dir.mkdir(parents=True, exist_ok=True)
    scratch = artefacts_dir / "splink_scratch.duckdb"
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    con.register("_input", linkage_input)
    con.execute("CREATE TABLE linkage_input AS SELECT * FROM _input")
    con.unregister("_input")
    return con, scratch


def l_before_r(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of `table` with each pair's sides ordered as predict() orders them (unique_id_l < unique_id_r)."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    swap = "unique_id_l > unique_id_r"

    def side(column: str) -> str:
        if column.endswith("_l") and column[:-2] + "_r" in columns:
            return f'CASE WHEN {swap} THEN "{column[:-2]}_r" ELSE "{column}" END AS "{column}"'
        if column.endswith("_r") and column[:-2] + "_l" in columns:
            return f'CASE WHEN {swap} THEN "{column[:-2]}_l" ELSE "{column}" END AS "{column}"'
        return f'"{column}"'

    return f"SELECT {', '.join(side(c) for c in columns)} FROM {table}"


def predict_changed(linkage_input: pa.Table, changed: list[str], model_path: Path, artefacts_dir: Path) -> pa.Table:
    """Incremental linkage with the saved model: score the changed records against the unchanged ones
    (Splink's predict_between) and against each other (predict_within); no training, no other pairs."""
    _quiet_splink()
    con, scratch = _scratch(artefacts_dir, linkage_input)
    try:
        con.register("_changed", pa.table({"unique_id": pa.array(changed, pa.string())}))
        con.execute("CREATE TABLE changed_records AS SELECT * FROM linkage_input WHERE unique_id IN "
                    "(SELECT unique_id FROM _changed)")
        con.execute("CREATE TABLE other_records AS SELECT * FROM linkage_input WHERE unique_id NOT IN "
                    "(SELECT unique_id FROM _changed)")
        build_u_sample(con, "linkage_input", "u_sample")  # term frequencies as a full run computes them
        tf_tables = {c: term_frequencies(con, c, "u_sample") for c in model.TF_COLUMNS}
        db = DuckDBAPI(con)
        linker = open_linker(db, "linkage_input", json.loads(model_path.read_text()), tf_tables)
        changed_df, other_df = db.register("changed_records"), db.register("other_records")
        between = linker.inference.predict_between(other_df, changed_df, warning_mode="never",
                                                   threshold_match_probability=model.PREDICT_THRESHOLD)
        within = linker.inference.predict_within(changed_df, warning_mode="never",
                                                 threshold_match_probability=model.PREDICT_THRESHOLD)
        con.execute(f"CREATE TABLE scored AS SELECT * FROM {between.physical_name} "
                    f"UNION ALL BY NAME SELECT * FROM {within.physical_name}")
        return con.sql(l_before_r(con, "scored")).to_arrow_table()
    finally:
        con.close()
        scratch.unlink(missing_ok=True)


def train_and_predict(linkage_input: pa.Table, artefacts_dir: Path) -> LinkResult:
    """Estimate u (random sampling), lambda and m (EM), score candidate pairs above PREDICT_THRESHOLD."""
    _quiet_splink()
    con, scratch = _scratch(artefacts_dir, linkage_input)
    try:
        by_rule = count_comparisons(con, "linkage_input")
        people = build_u_sample(con, "linkage_input", "u_sample")
        tf_tables = {c: term_frequencies(con, c, "u_sample") for c in model.TF_COLUMNS}
        u_linker = open_linker(con, "u_sample", model.settings(), tf_tables)
        u_linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=TRAINING_SEED)
        u_model = fill_unobserved_u(u_linker.misc.save_model_to_json())
        linker = open_linker(con, "linkage_input", u_model, tf_tables)
        linker.training.estimate_probability_two_random_records_match(
            [model.block_on("email", "first_name"), model.block_on("first_name", "last_name", "birth_date")],
            recall=0.7)
        trained = []
        for rule in model.TRAINING_BLOCKING_RULES:
            pairs = count_comparisons(con, "linkage_input", [rule])[0]["comparisons"]
            if pairs >= MIN_EM_PAIRS:
                linker.training.estimate_parameters_using_expectation_maximisation(rule)
                trained.append(rule.get_blocking_rule("duckdb").blocking_rule_sql)
        fitted = floor_m(clamp_lambda(linker.misc.save_model_to_json()))
        linker = open_linker(con, "linkage_input", fitted, tf_tables)
        predictions = linker.inference.predict(threshold_match_probability=model.PREDICT_THRESHOLD)
        table = con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table()
        model_path = artefacts_dir / "splink_model.json"
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
        chart_path = artefacts_dir / "match_weights_chart.html"
        linker.visualisations.match_weights_chart().save_offline_chart(str(chart_path), overwrite=True, print_msg=False)
    finally:
        con.close()
        scratch.unlink(missing_ok=True)
    return LinkResult(predictions=table, comparisons=sum(r["comparisons"] for r in by_rule),
                      comparisons_by_rule=by_rule, model_path=model_path, chart_path=chart_path,
                      distinct_people_sample=people, em_sessions=trained)
