"""Different surnames on two records sharing a household contact point: what that is worth, learned from the data.

Splink weighs each comparison as if it were independent of the others. Two different people sharing an e-mail, a
landline or an address are mostly one household and share its surname, while two random people almost never do:
once a contact point is shared, "surnames differ" says far less against a match than the surname's else level
counts (its u, ~0.99, is the chance among random pairs). A married or maiden name beside the family's e-mail or
landline lost 2-3 bits too many: at 100k persons (seed 173, `main` 52cf55e) 604 pairs sharing an e-mail, no first
name on one side, surnames different and nothing else to compare scored 0.78 and were 0.935 true.

The correction is made after scoring, beside the conflicts' penalties (conflicts.apply), not as a level of the
model: a level reading the contact columns makes Splink's EM leave the whole surname comparison out of every
session blocked on one of them (branch rec16, reverted), which changed what EM learned on household data.

- u_shared = P(surnames differ | two people share a contact point), counted on the records (`learn`): among the
  records holding a first name, a surname and a birth date, the pairs sharing a contact point whose first names and
  birth dates both fall on their comparisons' lowest level are two people (as recipe.unique_value_u reads them);
  u_shared is the share of them whose surnames fall on the surname's else level, taken at its upper 95 % bound
  (Wilson's, `bounds.wilson_upper`): the cautious side. Counted on a handful of pairs (FEBRL holds 1-14 such pairs
  of two people sharing an address) the share says little, and a smoothed share still gave 1.6-3 bits back; the
  bound gives what the pairs support (0.3 bits for 1 pair) and is the share itself where they are thousands.
- m stays the surname's else-level m: a person's surname changes whatever contact points the records share.
- A pair on the surname's else level that shares a contact point gets log2(u_else / max(u_shared, m)) bits back
  (`bits`): never below 0, and never so much that a different surname becomes evidence for a match.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.identity.bounds import wilson_upper

# The contact points a household shares (identity/households.py's, without the mobile: a person's own).
CONTACTS = (("email",), ("landline",), ("street", "postcode"))
NAMES = ("first_name", "birth_date", "last_name")
SURNAME = "last_name"
ELSE_LEVEL = 0  # Splink's comparison vector value of a comparison's last, else level

SHARING_SQL = """
        SELECT l.unique_id AS a, r.unique_id AS b FROM held l JOIN held r
        ON {on} AND l.unique_id < r.unique_id"""

# Two people sharing a contact point (first names and birth dates both on their lowest level), and how many of them
# have surnames on the surname's lowest level. Splink's CASE of each comparison, in the engine's dialect.
APART_SQL = """
        WITH held AS (SELECT * FROM {source}
                      WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND birth_date IS NOT NULL),
        sharing AS ({sharing}),
        vectors AS (SELECT {cases} FROM (
                        SELECT {columns} FROM sharing p JOIN held l ON l.unique_id = p.a
                        JOIN held r ON r.unique_id = p.b) pairs)
        SELECT count(*) AS apart, coalesce(sum(CASE WHEN {surname} = 0 THEN 1 ELSE 0 END), 0) AS differ
        FROM vectors WHERE {first_name} = 0 AND {birth_date} = 0"""


def learn(engine, u_linker, source: str, columns_held: set[str], left_out: frozenset[str] = frozenset()) -> dict:
    """Counts of two people sharing a contact point and of those whose surnames differ, and u_shared; {} where the
    records of `source` (holding `columns_held`) show no such pair. The contact points `left_out` (the blocking
    plan's over its budget: a shop's placeholder e-mail) are not joined. Counts only, no value."""
    comparisons = {c.output_column_name: c for c in u_linker._settings_obj.comparisons}
    contacts = [c for c in CONTACTS if set(c) <= columns_held and not set(c) & left_out]
    if not contacts or not set(NAMES) <= set(comparisons):
        return {}
    sharing = " UNION ".join(SHARING_SQL.format(on=" AND ".join(f"l.{c} = r.{c}" for c in contact))
                             for contact in contacts)
    columns = sorted({name for f in NAMES for column in comparisons[f]._input_columns_used_by_case_statement
                      for name in column.l_r_names_as_l_r})
    sql = APART_SQL.format(source=source, sharing=sharing,
                           cases=", ".join(comparisons[f]._case_statement for f in NAMES),
                           columns=", ".join(columns), surname=comparisons[SURNAME]._gamma_column_name,
                           first_name=comparisons["first_name"]._gamma_column_name,
                           birth_date=comparisons["birth_date"]._gamma_column_name)
    frame = engine.api().query_sql(sql, output_type="pandas")
    apart, differ = int(frame["apart"].iloc[0]), int(frame["differ"].iloc[0])
    if not apart:
        return {}
    return {"pairs_apart_sharing_a_contact": apart, "surnames_differ": differ,
            "u": round(wilson_upper(differ, apart), 6)}


def bits(learned: dict, fitted: dict) -> float:
    """What a pair on the surname's else level sharing a contact point gets back, in bits (see the module)."""
    comparison = next((c for c in fitted["comparisons"] if c["output_column_name"] == SURNAME), None)
    if not learned or comparison is None:
        return 0.0
    last = comparison["comparison_levels"][-1]
    m, u = last.get("m_probability"), last.get("u_probability")
    if not m or not u:
        return 0.0
    return round(max(0.0, math.log2(u / max(learned["u"], m))), 4)


def corrected(pairs: pa.Table) -> np.ndarray:
    """Which scored pairs (Splink's columns) have surnames on the else level and share a contact point."""
    if f"gamma_{SURNAME}" not in pairs.column_names:
        return np.zeros(pairs.num_rows, dtype=bool)
    shared = None
    for contact in CONTACTS:
        # A column no record holds (Arrow's null type: no comparison kernel) shares nothing.
        if not all(f"{c}_l" in pairs.column_names and not pa.types.is_null(pairs[f"{c}_l"].type) for c in contact):
            continue
        same = reduce(pc.and_kleene, [pc.equal(pairs[f"{c}_l"], pairs[f"{c}_r"]) for c in contact])
        shared = same if shared is None else pc.or_kleene(shared, same)
    if shared is None:
        return np.zeros(pairs.num_rows, dtype=bool)
    mask = pc.and_kleene(pc.equal(pairs[f"gamma_{SURNAME}"], ELSE_LEVEL), shared)
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
