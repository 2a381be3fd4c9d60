"""Run Splink on the linkage input with DuckDB: train (the one recipe, recipe.py), score pairs, save the model.

Splink works in its own scratch DuckDB file (it creates many intermediate tables, and a file-backed
database can spill to disk); only the scored pairs come back to the warehouse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from splink.backends.duckdb import DuckDBAPI
from splink.internals.database_api import DatabaseAPI

from pipeline.identity import model, recipe
from pipeline.identity.conflicts import ConflictModel, predict_weight
from pipeline.identity.u_sample import (
    GROUP_KEYS,
    RANKED_BY,
    provisional_labels,
    term_frequencies_sql,
    u_sample_sql,
)
from pipeline.sql import quote, scalar
from pipeline.warehouse import registered, scratch


@dataclass
class LinkResult:
    predictions: pa.Table
    comparisons: int
    comparisons_by_rule: list[dict]
    model_path: Path
    chart_path: Path
    distinct_people_sample: int = 0
    em_sessions: list[str] | None = None
    conflicts: ConflictModel | None = None
    blocking_over_budget: list[dict] | None = None
    blocking_rules_dropped: list[dict] | None = None  # rules left out for their expected yield (recipe.py)
    health: dict | None = None


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


class DuckDBEngine:
    """The recipe's tables in one DuckDB connection (Splink's scratch file); a fresh DuckDBAPI per linker
    (Splink caches intermediate tables per backend object)."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def api(self) -> DatabaseAPI:
        return DuckDBAPI(self.con)

    def put(self, table: pa.Table, name: str) -> None:
        self.con.register("_arrow_in", table)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _arrow_in")
        self.con.unregister("_arrow_in")

    def materialise(self, sql: str, name: str) -> int:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        return scalar(self.con, f"SELECT count(*) FROM {name}")


def conflicts_path(model_path: Path) -> Path:
    """The learned contrary-evidence weights, saved beside the Splink model (one model artefact)."""
    return model_path.with_name("conflict_weights.json")


# DuckDB's default memory limit is 80 % of RAM, so Splink's joins grow in memory rather than spill: at 1M records
# predict alone took 4 GB. Bounded, DuckDB spills its joins and sorts to the temp folder instead; the Arrow tables
# the pipeline holds beside it (linkage input, scored pairs) stay outside this limit. 1 GB rather than 1.5: predict's
# own rise at 1M person records 1.4 -> 0.9 GB (the pairs kept down to conflicts.predict_weight grew it), CPU equal.
SCRATCH_MEMORY_LIMIT = "1GB"


def _scratch(artefacts_dir: Path, in_memory: bool = False,
             **tables: pa.Table) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """Splink's own DuckDB, its memory bounded and spilling to an owner-only folder beside it, holding `tables`
    (each under its keyword's name). `in_memory`: no database file; its tables spill to the same folder beyond the
    limit. A file compresses and writes every table Splink makes: at 1M records the full re-link's millions of blocked
    pairs and comparison vectors cost ~20 % more CPU in a file than in memory."""
    artefacts_dir.mkdir(parents=True, exist_ok=True)
    scratch = artefacts_dir / "splink_scratch.duckdb"
    scratch.unlink(missing_ok=True)
    spill = _spill_dir(scratch)
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(mode=0o700)
    con = duckdb.connect(":memory:" if in_memory else str(scratch),
                         config={"memory_limit": SCRATCH_MEMORY_LIMIT, "temp_directory": str(spill)})
    for name, table in tables.items():
        DuckDBEngine(con).put(table, name)
    return con, scratch


def _spill_dir(scratch: Path) -> Path:
    return scratch.with_suffix(".spill")


def _drop_scratch(con: duckdb.DuckDBPyConnection, scratch: Path) -> None:
    # The file is deleted next: DuckDB's checkpoint on close would write its tables out for nothing (~0.2 CPU s of
    # an incremental day at 100k), leaving them in the write-ahead log instead, deleted with it.
    with contextlib.suppress(duckdb.Error):  # a connection a failure invalidated still closes below
        con.execute("PRAGMA disable_checkpoint_on_shutdown")
    con.close()
    scratch.unlink(missing_ok=True)
    scratch.with_name(scratch.name + ".wal").unlink(missing_ok=True)
    shutil.rmtree(_spill_dir(scratch), ignore_errors=True)


def l_before_r(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of `table` with each pair's sides ordered as predict() orders them (unique_id_l < unique_id_r)."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    swap = "unique_id_l > unique_id_r"

    def side(column: str) -> str:
        if column.endswith("_l") and column[:-2] + "_r" in columns:
            return f'CASE WHEN {swap} THEN {quote(column[:-2] + "_r")} ELSE {quote(column)} END AS {quote(column)}'
        if column.endswith("_r") and column[:-2] + "_l" in columns:
            return f'CASE WHEN {swap} THEN {quote(column[:-2] + "_l")} ELSE {quote(column)} END AS {quote(column)}'
        return quote(column)

    return f"SELECT {', '.join(side(c) for c in columns)} FROM {table}"


def predict_changed(con: duckdb.DuckDBPyConnection, changed: list[str], model_path: Path,
                    artefacts_dir: Path) -> pa.Table:
    """Incremental linkage with the saved model: score the changed records of the warehouse's identity.linkage_input
    against the unchanged ones (Splink's predict_between) and against each other (predict_within); no training, no
    other pairs. Splink's scratch holds only the changed records, the unchanged ones a blocking rule pairs with them
    (no other can be paired: the same pairs as against the whole base) and the term frequencies, computed on the
    whole base as the full run's (`term_frequency_frames`)."""
    _quiet_splink()
    settings = json.loads(model_path.read_text())
    with registered(con, _changed=pa.table({"unique_id": pa.array(changed, pa.string())})):
        changed_records = con.sql(f"{LINKAGE_INPUT} SEMI JOIN _changed USING (unique_id)").to_arrow_table()
        tf = term_frequency_frames(con, "identity.linkage_input")
    with registered(con, changed_records=changed_records):
        others = con.sql(blocked_with_sql(_prediction_rules(settings), "identity.linkage_input",
                                          "changed_records")).to_arrow_table()
    # In memory: a file compressed and wrote each of these tables and every one Splink makes, to be deleted after.
    scratch_con, scratch = _scratch(artefacts_dir, in_memory=True, changed_records=changed_records,
                                    other_records=others, **{f"tf_{c}": t for c, t in tf.items()})
    try:
        db = DuckDBAPI(scratch_con)
        linker = recipe.open_linker(db, "changed_records", settings, {c: f"tf_{c}" for c in tf}, validate=False)
        return score_changed_records(scratch_con, db, linker,
                                     predict_weight(ConflictModel.load(conflicts_path(model_path))))
    finally:
        _drop_scratch(scratch_con, scratch)


def score_changed_records(con: duckdb.DuckDBPyConnection, db: DatabaseAPI, linker, threshold: float) -> pa.Table:
    """The pairs of `con`'s changed_records with its other_records and among themselves, each pair's sides ordered:
    what predict_between(other, changed) and predict_within(changed) give, in one predict_between of every record
    against the changed ones. Splink writes each prediction's SQL in Python (~0.2-0.3 CPU s a call, more than a day's
    pairs cost to score); a pair of changed records comes out both ways round and a changed record with itself: only
    the way round predict_within scores it is kept (unique_id_l < unique_id_r, the same comparison and match key).
    `threshold`: the match weight kept from (conflicts.predict_weight)."""
    con.execute("CREATE TABLE every_record AS SELECT * FROM other_records UNION ALL SELECT * FROM changed_records")
    scored = linker.inference.predict_between(db.register("every_record"), db.register("changed_records"),
                                              warning_mode="never", threshold_match_weight=threshold)
    con.execute(f"""CREATE TABLE scored AS SELECT * FROM {scored.physical_name}
        WHERE unique_id_l NOT IN (SELECT unique_id FROM changed_records) OR unique_id_l < unique_id_r""")
    return con.sql(l_before_r(con, "scored")).to_arrow_table()


LINKAGE_INPUT = "SELECT * FROM identity.linkage_input"


# A saved rule is its SQL, or a dict of it with these keys; any other is not a plain join, but for one: a rule on one
# array's exploded keys (blocking.py's further contacts), read as a join on the keys of both sides' arrays.
PLAIN_RULE_KEYS = {"blocking_rule", "sql_dialect", "salting_partitions"}


class ExplodedKeys(str):
    """A rule pairing records whose array column (the string's value) shares an element (Splink's arrays_to_explode)."""


def _prediction_rules(settings: dict) -> list[str] | None:
    """The saved model's blocking rules for predictions, as the SQL Splink joins on (`l.` and `r.` sides) or the
    ExplodedKeys of a rule on one exploded array; None when one is neither."""
    rules = []
    for rule in settings["blocking_rules_to_generate_predictions"]:
        if isinstance(rule, str) or set(rule) <= PLAIN_RULE_KEYS:
            rules.append(rule if isinstance(rule, str) else rule["blocking_rule"])
            continue
        arrays = rule.get("arrays_to_explode") or []
        if set(rule) - PLAIN_RULE_KEYS != {"arrays_to_explode"} or len(arrays) != 1 \
                or rule["blocking_rule"] != f'l."{arrays[0]}" = r."{arrays[0]}"':
            return None
        rules.append(ExplodedKeys(arrays[0]))
    return rules


def _pairs_with(rule: str, table: str, changed: str) -> str:
    if isinstance(rule, ExplodedKeys):  # symmetric: one side suffices
        return (f"SELECT l.unique_id FROM (SELECT unique_id, unnest({rule}) AS k FROM {table}) l "
                f"SEMI JOIN (SELECT unnest({rule}) AS k FROM {changed}) r USING (k)")
    return (f"SELECT l.unique_id FROM {table} l JOIN {changed} r ON {rule} UNION "
            f"SELECT r.unique_id FROM {changed} l JOIN {table} r ON {rule}")


def blocked_with_sql(rules: list[str] | None, table: str, changed: str) -> str:
    """SELECT of the records of `table` (not in `changed`) that some rule pairs with a record of `changed`, either
    side: every record predict_between could pair a changed record with (every record when `rules` is None)."""
    if rules is None:
        return f"SELECT * FROM {table} WHERE unique_id NOT IN (SELECT unique_id FROM {changed})"
    ends = " UNION ".join(_pairs_with(rule, table, changed) for rule in rules)
    # The ids, then their rows: as `unique_id IN (ends)` DuckDB filtered every row of `table` (0.62 CPU s at 1M, 0.29 so)
    return f"SELECT t.* FROM {table} t JOIN (({ends}) EXCEPT SELECT unique_id FROM {changed}) USING (unique_id)"


def term_frequency_frames(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, pa.Table]:
    """recipe.term_frequency_tables' tables (column -> Arrow), computed on `table` in `con`, reading only the columns
    the provisional identities, the choice of each one's record and the frequencies need: the same values. The
    sample is drawn in the process's in-memory DuckDB from the records read once (drawn in the warehouse, it joined
    the groups back to every stored record: 0.25 against 0.15 CPU s at 1M records)."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    identifiers = recipe.identifiers_of_columns(columns)
    keys = sorted({c for key in GROUP_KEYS for c in key} | set(identifiers) | set(RANKED_BY) | set(model.TF_COLUMNS))
    records = con.sql(f"SELECT unique_id, {', '.join(map(quote, keys))} FROM {table}").to_arrow_table()
    # numbered, not named by a record: the sample's grouping compares numbers (the same groups)
    groups = pa.table({"unique_id": records["unique_id"], "grp": provisional_labels(records, identifiers)})
    with scratch() as memory, registered(memory, _records=records, _groups=groups):
        sample = memory.sql(u_sample_sql("_records", "_groups", list(model.TF_COLUMNS))).to_arrow_table()
        with registered(memory, _tf_sample=sample):
            return {c: memory.sql(term_frequencies_sql(c, "_tf_sample")).to_arrow_table() for c in model.TF_COLUMNS}


def train_and_predict(linkage_input: pa.Table, artefacts_dir: Path) -> LinkResult:
    """Train with the one recipe (recipe.py) on DuckDB, score candidate pairs (down to conflicts.predict_weight)."""
    _quiet_splink()
    con, scratch = _scratch(artefacts_dir, in_memory=True, linkage_input=linkage_input)
    try:
        engine = DuckDBEngine(con)
        trained = recipe.train(engine, linkage_input)
        linker, predictions, ids = recipe.predict(engine, trained, linkage_input)
        table = recipe.with_text_ids(con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table(), ids)
        recipe.done_with(linker)
        model_path = artefacts_dir / "splink_model.json"
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
        recipe.settle_conflicts(trained, table)
        trained.conflicts.save(conflicts_path(model_path))
        chart_path = artefacts_dir / "match_weights_chart.html"
        linker.visualisations.match_weights_chart().save_offline_chart(str(chart_path), overwrite=True, print_msg=False)
    finally:
        _drop_scratch(con, scratch)
    return result_of(trained, table, model_path, chart_path)


def result_of(trained: recipe.Trained, table: pa.Table, model_path: Path, chart_path: Path) -> LinkResult:
    by_rule = trained.comparisons_by_rule
    return LinkResult(predictions=table, comparisons=sum(r["comparisons"] for r in by_rule),
                      comparisons_by_rule=by_rule, model_path=model_path, chart_path=chart_path,
                      distinct_people_sample=trained.distinct_people, em_sessions=trained.em_sessions,
                      conflicts=trained.conflicts, blocking_over_budget=trained.plan.over_budget,
                      blocking_rules_dropped=trained.plan.dropped,
                      health=recipe.health(trained))
