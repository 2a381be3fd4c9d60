"""Different surnames on two records sharing a household contact point: what that is worth, learned from the data.

Splink weighs each comparison as if it were independent of the others. Two different people sharing an e-mail, a
landline or an address are mostly one household and share its surname, while two random people almost never do:
so once a contact point is shared, "surnames differ" says far less against a match than the surname's else level
counts (its u, ~0.99, is the chance among random pairs). A married or maiden name beside the family's e-mail or
landline lost 2-3 bits too many: at 100k persons (seed 173, `main` 52cf55e) 604 pairs sharing an e-mail, no first
name on one side, surnames different and nothing else to compare scored 0.78 and were 0.935 true; a first name and
a landline shared with surnames different, 0.71 scored and 0.97 true.

The surname comparison has a level for it (`level`): surnames different (past every closer level) and a contact
point shared. Its u is P(surnames differ | two people share a contact point), counted on the records (`learn`):
among the records holding a first name, a surname and a birth date, the pairs sharing a contact point whose first
names and birth dates both fall on their comparisons' lowest level are two people (as recipe.unique_value_u reads
them), and u is the share of them whose surnames differ. Its m is the surname's whole m of differing (`settle_m`):
a person's surname changes whatever contact points the records share. Never evidence for a match (u >= m), and
where no two people share a contact point the level weighs what the else level weighs.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
from splink import Linker

LABEL = "Different surname, a household contact point shared"
# The contact points a household shares (identity/households.py's, without the mobile: a person's own).
CONTACTS = (("email",), ("landline",), ("street", "postcode"))
NAMES = ("first_name", "birth_date", "last_name")

SHARING_SQL = """
        SELECT l.unique_id AS a, r.unique_id AS b FROM held l JOIN held r
        ON {on} AND l.unique_id < r.unique_id"""

APART_SQL = """
        WITH held AS (SELECT * FROM linkage_input
                      WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND birth_date IS NOT NULL),
        sharing AS ({sharing}),
        vectors AS (SELECT {cases} FROM (
                        SELECT {columns} FROM sharing p JOIN held l ON l.unique_id = p.a
                        JOIN held r ON r.unique_id = p.b) pairs)
        SELECT count(*) AS apart, coalesce(sum(CASE WHEN {surname} = {level} THEN 1 ELSE 0 END), 0) AS differ
        FROM vectors WHERE {first_name} = 0 AND {birth_date} = 0"""


def level(dialect: str) -> cll.CustomLevel:
    shared = " OR ".join("(" + " AND ".join(f'"{c}_l" = "{c}_r"' for c in contact) + ")" for contact in CONTACTS)
    return cll.CustomLevel(shared, label_for_charts=LABEL, base_dialect_str=dialect)


def _levels(model_dict: dict) -> tuple[dict, dict] | None:
    """(this level, the else level) of the surname comparison of a saved model, None without them."""
    comparison = next((c for c in model_dict["comparisons"] if c["output_column_name"] == "last_name"), None)
    levels = comparison["comparison_levels"] if comparison else []
    contact = next((lv for lv in levels if lv.get("label_for_charts") == LABEL), None)
    return (contact, levels[-1]) if contact else None


def learn(engine, u_linker: Linker, left_out: frozenset[str] = frozenset()) -> dict:
    """Two people sharing a contact point, and how many of them have different surnames (counts only). The contact
    points `left_out` (the blocking plan's over its budget: a shop's placeholder e-mail) are not joined."""
    comparisons = {c.output_column_name: c for c in u_linker._settings_obj.comparisons}
    contacts = [c for c in CONTACTS if not set(c) & left_out]
    if not contacts or not set(NAMES) <= set(comparisons):
        return {}
    surname = comparisons["last_name"]
    value = next(lv.comparison_vector_value for lv in surname.comparison_levels if lv.label_for_charts == LABEL)
    sharing = " UNION ".join(SHARING_SQL.format(on=" AND ".join(f"l.{c} = r.{c}" for c in contact))
                             for contact in contacts)
    columns = sorted({name for f in NAMES for column in comparisons[f]._input_columns_used_by_case_statement
                      for name in column.l_r_names_as_l_r})
    sql = APART_SQL.format(sharing=sharing, cases=", ".join(comparisons[f]._case_statement for f in NAMES),
                           columns=", ".join(columns), surname=surname._gamma_column_name, level=value,
                           first_name=comparisons["first_name"]._gamma_column_name,
                           birth_date=comparisons["birth_date"]._gamma_column_name)
    frame = engine.api().query_sql(sql, output_type="pandas")
    apart, differ = int(frame["apart"].iloc[0]), int(frame["differ"].iloc[0])
    return {"pairs_apart_sharing_a_contact": apart, "surnames_differ": differ,
            "u": max(differ, 1) / apart} if apart else {}


def with_u(u_model: dict) -> dict:
    """Before EM the level takes the else level's u: EM then trains it as part of "surnames differ" (a u far below
    the else level's during EM took a session's pairs for matches and cost the run a comparison on household data)."""
    levels = _levels(u_model)
    if levels:
        contact, other = levels
        contact["u_probability"] = other.get("u_probability")
    return u_model


def settle_m(fitted: dict, learned: dict) -> dict:
    """After EM: both the level and the else level take the surname's whole m of differing (EM split it between the
    two by whether a contact point is shared, a fact the other comparisons already count); the level takes the
    learned u, kept at or above that m, so a different surname is never evidence for a match."""
    levels = _levels(fitted)
    if levels:
        contact, other = levels
        m = (contact.get("m_probability") or 0) + (other.get("m_probability") or 0)
        contact["m_probability"] = other["m_probability"] = m
        contact["u_probability"] = min(1.0, max(learned.get("u", other["u_probability"]), m))
    return fitted
