"""Why were these records linked (or not)? Splink's waterfall chart for a customer's records or a pair.

Reads the warehouse read-only and the model saved by the last run; writes one HTML file. For a pair the run put in
two customers, it also says what keeps the two customers apart when that is more than the pair itself: clustering
never joins two clusters a record of each contradicts (a learned veto), nor two clusters that each confirm a
first-name conflict with two records (conflicts.ConflictModel.apart, where the data make it a veto).
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
from pipeline.identity.evidence import person_key
from pipeline.identity.link import DuckDBEngine, conflicts_path
from pipeline.identity.resolve import person_keys
from pipeline.private_files import memory_db


def _linker(records, model_path: Path) -> Linker:
    engine = DuckDBEngine(memory_db())
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
        everyone = con.sql("SELECT * FROM identity.linkage_input ORDER BY unique_id").to_arrow_table()
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
    learned = ConflictModel.load(conflicts_path(model_path))  # the contrary evidence the run applied
    keys = {i: person_key(by_id[i], "", learned.identifiers) for i in ids}
    return {"pairs": [(r["unique_id_l"], r["unique_id_r"], round(r["match_probability"], 4),
                       learned.vetoes(keys[r["unique_id_l"]], keys[r["unique_id_r"]])) for r in scored],
            "customers_apart": customers_apart(warehouse, learned, *ids) if pair else None,
            "chart": str(out)}


def customers_apart(warehouse: Path, learned: ConflictModel, left: str, right: str) -> str | None:
    """Why the customers of two records are kept apart by clustering's tests on whole clusters, as a sentence naming
    records only (no value); None when the records share a customer or nothing beyond their scores parts them."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("""SELECT c.customer_id, c.unique_id FROM identity.record_customer c
            WHERE c.customer_id IN (SELECT customer_id FROM identity.record_customer WHERE unique_id IN (?, ?))
            ORDER BY c.unique_id""", [left, right]).fetchall()
        keys = person_keys(con, {uid for _, uid in rows})
    of = {uid: cid for cid, uid in rows}
    if left not in of or right not in of or of[left] == of[right]:
        return None
    sides = [[uid for cid, uid in rows if cid == of[r]] for r in (left, right)]
    vetoed = next(((x, y) for x in sides[0] for y in sides[1] if learned.vetoes(keys[x], keys[y])), None)
    if vetoed:
        return (f"customers {of[left]} and {of[right]} are kept apart: their records {vetoed[0]} and {vetoed[1]} "
                f"contradict each other (contrary evidence the data make a veto)")
    if learned.apart([keys[x] for x in sides[0]], [keys[y] for y in sides[1]]):
        return (f"customers {of[left]} and {of[right]} are kept apart by a confirmed first-name conflict: two records "
                f"of each agree on their own first name and conflict with the other's two (a veto learned from the data)")
    return None
