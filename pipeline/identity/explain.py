"""Why were these records linked (or not)? Splink's waterfall chart for a customer's records or a pair.

Reads the warehouse read-only and the model saved by the last run; writes one HTML file.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from splink import Linker

from pipeline.identity import recipe
from pipeline.identity.conflicts import ConflictModel
from pipeline.identity.evidence import PersonKey
from pipeline.identity.link import DuckDBEngine, conflicts_path


def _linker(records, model_path: Path) -> Linker:
    engine = DuckDBEngine(duckdb.connect())
    engine.put(records, "linkage_input")
    model = json.loads(model_path.read_text(encoding="utf-8"))
    # The waterfall chart needs each comparison's intermediate columns, which the run does not keep.
    model.update(retain_intermediate_calculation_columns=True, retain_matching_columns=True)
    # Term frequencies exactly as the run computed them: the recipe's, from the sample of distinct people.
    tf_tables, _, _ = recipe.term_frequency_tables(engine, records)
    return recipe.open_linker(engine.api(), "linkage_input", model, tf_tables)


def explain(warehouse: Path, model_path: Path, out: Path, customer_id: str | None = None,
            pair: tuple[str, str] | None = None) -> dict:
    """Score every pair of the customer's records (or the given pair of unique_ids) and chart them."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        everyone = con.sql("SELECT * FROM identity.linkage_input").to_arrow_table()
        if customer_id:
            ids = [r[0] for r in con.execute(
                "SELECT unique_id FROM identity.record_customer WHERE customer_id = ? ORDER BY 1",
                [customer_id]).fetchall()]
        else:
            ids = list(pair or ())
    if len(ids) < 2:
        raise ValueError(f"need at least two records to explain, found {len(ids)} "
                         f"for {'customer ' + customer_id if customer_id else 'the pair'}")
    linker = _linker(everyone, model_path)
    chosen = everyone.filter(pc.is_in(everyone["unique_id"], value_set=pa.array(ids)))
    by_id = {r["unique_id"]: r for r in chosen.to_pylist()}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"unknown record(s): {missing}")
    scored = []
    for left, right in combinations(ids, 2):
        rows = linker.inference.score_pairs([by_id[left]], [by_id[right]]).as_record_list()
        scored.extend(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    linker.visualisations.waterfall_chart(scored, filter_nulls=False).save_offline_chart(
        str(out), overwrite=True, print_msg=False)  # Vega bundled: opens without network
    keys = {i: PersonKey(by_id[i]["first_name"], by_id[i]["first_name_canonical"], by_id[i]["last_name"],
                         by_id[i]["birth_date"]) for i in ids}
    learned = ConflictModel.load(conflicts_path(model_path))  # the contrary evidence the run applied
    return {"pairs": [(r["unique_id_l"], r["unique_id_r"], round(r["match_probability"], 4),
                       learned.vetoes(keys[r["unique_id_l"]], keys[r["unique_id_r"]])) for r in scored],
            "chart": str(out)}
