"""The Splink model: what is compared, how candidate pairs are blocked, how the model is trained.

Input rows are `identity.linkage_input` (see features.py): match forms only, one row per staged
person record, `unique_id` = '<source>:<source_record_id>'.
"""

from __future__ import annotations

from collections.abc import Sequence

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

from pipeline.identity.features import FURTHER_CONTACTS
from pipeline.normalise.names import nickname_groups
from pipeline.sql import literals

# Pairs scoring below this are not kept at all; pairs between it and the clustering threshold are
# kept in identity.pairwise_predictions for review.
PREDICT_THRESHOLD = 0.5
# Custom SQL below is written in DuckDB's dialect; Splink renders it for the engine in use (Spark reads
# "double-quoted" names as string literals, so without this the name-swap level would never match there).
SQL_DIALECT = "duckdb"
# Columns whose exact-match weight is adjusted by the value's frequency (common names weigh less).
TF_COLUMNS = ("first_name", "last_name")


# The one-edit level's label: how name_typos finds it in a fitted model, whatever dialect its SQL is in.
ONE_EDIT_LABEL = "Damerau-Levenshtein distance of {column} <= 1"


def _one_edit(column: str) -> cll.CustomLevel:
    """Splink's DamerauLevenshteinLevel(column, 1) (one typo or one swap of adjacent characters), at a fraction of
    its cost: DuckDB's damerau_levenshtein took 4x the CPU of levenshtein on birth dates (2 us a pair), and predict
    asks it of every candidate pair whose birth dates or postcodes differ. One edit of Damerau-Levenshtein is at
    most two of Levenshtein (a swap is two), so only the pairs within two Levenshtein edits need the exact measure;
    equal values (most postcodes of a pair blocked on the postcode) need neither. Same pairs, same level."""
    left, right = f"{column}_l", f"{column}_r"
    return cll.CustomLevel(
        f"CASE WHEN {left} = {right} THEN true "
        f"WHEN abs(length({left}) - length({right})) <= 1 AND levenshtein({left}, {right}) <= 2 "
        f"THEN damerau_levenshtein({left}, {right}) <= 1 ELSE false END",
        label_for_charts=ONE_EDIT_LABEL.format(column=column), base_dialect_str=SQL_DIALECT)


def _same_formal_name(column: str) -> cll.CustomLevel:
    """Same formal name: equal canonical forms, or a short form that stands for several formal names ('charlie':
    charles or charlotte) and one of them is the other side's. The canonical form keeps one formal name per short
    form (the seed's first), so 'charlie' / 'charles' compared as different names (Splink's else or Jaro-Winkler
    level) while the veto (evidence._formal_names) reads them as one: of the pairs scored >= 0.5, 463 at 20k persons
    (seed 61) and 1,921 at 100k (seed 97), 1,918 of them true (all at 20k)."""
    shared = literals(sorted(f"{short}|{formal}" for short, formals in nickname_groups().items() if len(formals) > 1
                             for formal in formals))
    left, right, canonical_l, canonical_r = f"{column}_l", f"{column}_r", f"{column}_canonical_l", f"{column}_canonical_r"
    return cll.CustomLevel(
        f"{canonical_l} = {canonical_r} OR concat({left}, '|', {canonical_r}) IN ({shared}) "
        f"OR concat({right}, '|', {canonical_l}) IN ({shared})",
        label_for_charts="Same formal name (nickname)", base_dialect_str=SQL_DIALECT)


# The first-name comparison's level "each one's first name is the other's surname" (its u per pair: name_swaps.py).
SWAP_LABEL = "First and last name swapped"
WHOLE_NAME_LABEL = "Whole name the same, split elsewhere"


def _whole_name(column: str, other: str) -> cll.CustomLevel:
    """The given names and surnames read as one name, in either order, cut at another word: a name in one column
    split where people write it ('Maria Garcia Lopez': 'maria garcia' / 'lopez') against a system that keeps the
    Spanish double surname apart ('maria' / 'garcia lopez'), or 'GARCIA LOPEZ MARIA' ('garcia lopez' / 'maria').
    Compared as two names, both differed (bench/iberian_set.py: such pairs of one person scored 0.6-0.77). Both names
    held on both sides: a lone name is read elsewhere."""
    def orders(side: str) -> tuple[str, str]:
        first, last = f'"{column}_{side}"', f'"{other}_{side}"'
        return f"concat({first}, ' ', {last})", f"concat({last}, ' ', {first})"
    (a, b), (c, d) = orders("l"), orders("r")
    held = " AND ".join(f'"{n}_{s}" IS NOT NULL' for n in (column, other) for s in "lr")
    return cll.CustomLevel(f"{held} AND ({a} = {c} OR {a} = {d} OR {b} = {c} OR {b} = {d})",
                           label_for_charts=WHOLE_NAME_LABEL, base_dialect_str=SQL_DIALECT)


# Whether the linkage input holds two records whose whole names read the same cut at different words (the level
# above can be reached): a comparison level no pair reaches still takes M_FLOOR of its comparison's m (recipe.floor_m),
# which moved the demo's scores (a true pair 0.8006 -> 0.7990, under the clustering threshold) for no evidence.
WHOLE_NAMES_SQL = """SELECT count(*) AS n FROM (
    SELECT k FROM (
        SELECT concat(first_name, ' ', last_name) AS k, least(first_name, last_name) || '|' || greatest(first_name, last_name) AS pr
        FROM {table} WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND (first_name LIKE '% %' OR last_name LIKE '% %')
        UNION ALL
        SELECT concat(last_name, ' ', first_name), least(first_name, last_name) || '|' || greatest(first_name, last_name)
        FROM {table} WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND (first_name LIKE '% %' OR last_name LIKE '% %')
    ) w GROUP BY k HAVING count(DISTINCT pr) > 1 LIMIT 1) g"""  # two cuts of the same words: each record holds a name of
#   two words or more (read only there: 0.47 -> 0.08 CPU s at 1M records)


def has_whole_name_level(model_dict: dict) -> bool:
    return any(level.get("label_for_charts") == WHOLE_NAME_LABEL for c in model_dict["comparisons"]
               for level in c["comparison_levels"])


def _name(column: str, other: str, with_nickname: bool, whole_names: bool = False) -> cl.CustomComparison:
    levels = [
        cll.NullLevel(column),
        cll.ExactMatchLevel(column).configure(tf_adjustment_column=column),
    ]
    if with_nickname:
        levels.append(_same_formal_name(column))
    swapped = cll.ColumnsReversedLevel(column, other, symmetrical=True).configure(label_for_charts=SWAP_LABEL)
    if not with_nickname:
        # A swap is one piece of evidence: the first-name comparison counts it, this one stays neutral.
        swapped = swapped.configure(is_null_level=True)
    levels.append(swapped)
    if whole_names:
        whole = _whole_name(column, other)
        # One piece of evidence too: the first-name comparison counts it, the surname's stays neutral.
        levels.append(whole if with_nickname else whole.configure(is_null_level=True))
    if not with_nickname:
        # A lone name read as a surname (features.py: 'flor' alone on a ticket, a name the data hold as a surname more
        # often) that is the other side's first name: that side has no surname to compare, not a different one. Read
        # as a different surname it cost true pairs joined by an e-mail or a mobile 4.6 bits: at 100k persons (seed 97)
        # 643 such pairs scored 0.58-0.61, all true.
        levels.append(cll.CustomLevel(
            f'("{other}_l" IS NULL AND "{column}_l" = "{other}_r") OR ("{other}_r" IS NULL AND "{column}_r" = "{other}_l")',
            label_for_charts="Lone name: the other side's first name", base_dialect_str=SQL_DIALECT,
        ).configure(is_null_level=True))
    if with_nickname:
        # One name typed in the other field on one side only ('skvaril anneliese' / 'skvaril matthew'): not a
        # different first name (evidence.py reads it so too).
        levels.append(cll.CustomLevel(
            f'"{column}_l" = "{other}_r" OR "{other}_l" = "{column}_r"',
            label_for_charts="First name in the surname field", base_dialect_str=SQL_DIALECT))
    levels += [
        # One typo apart ('julue' / 'julie', 'zoe' / 'zxe'): the reading evidence.py gives a mistyped name. Jaro-Winkler
        # alone put such pairs with different names that look alike ('adele' / 'adelmo'): at 0.80-0.92 one typo was
        # 0.80 true against 0.16 for the rest (20k persons, seed 61), and EM gave both one weight.
        _one_edit(column),
        cll.JaroWinklerLevel(column, 0.92),
        cll.JaroWinklerLevel(column, 0.80),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(comparison_levels=levels, output_column_name=column)


def _birth_date() -> cl.CustomComparison:
    return cl.CustomComparison(output_column_name="birth_date", comparison_levels=[
        cll.NullLevel("birth_date"),
        cll.ExactMatchLevel("birth_date"),
        cll.CustomLevel(
            "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4) "
            "AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2) "
            "AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)",
            label_for_charts="Day and month swapped", base_dialect_str=SQL_DIALECT),
        _one_edit("birth_date"),
        cll.ElseLevel(),
    ])


def _address() -> cl.CustomComparison:
    return cl.CustomComparison(output_column_name="address", comparison_levels=[
        cll.And(cll.NullLevel("street"), cll.NullLevel("postcode"), cll.NullLevel("city")),
        cll.And(cll.ExactMatchLevel("street"), cll.ExactMatchLevel("postcode")),
        cll.And(cll.JaroWinklerLevel("street", 0.9), cll.ExactMatchLevel("postcode")),
        # A typo in the postcode ('2164' / '2614') or none at all on one side: the street still speaks.
        cll.And(cll.JaroWinklerLevel("street", 0.9), _one_edit("postcode")),
        cll.JaroWinklerLevel("street", 0.9),
        cll.ExactMatchLevel("postcode"),
        cll.ExactMatchLevel("city"),
        cll.ElseLevel(),
    ])


def _exact(column: str, tf: bool = False) -> cl.CustomComparison:
    exact = cll.ExactMatchLevel(column)
    if tf:
        exact = exact.configure(tf_adjustment_column=column)
    return cl.CustomComparison(output_column_name=column,
                               comparison_levels=[cll.NullLevel(column), exact, cll.ElseLevel()])


def _email() -> cl.CustomComparison:
    return cl.CustomComparison(output_column_name="email", comparison_levels=[
        cll.NullLevel("email"),
        # No fuzzy level: 'jean.martin2@' and 'jean.martin5@' are namesakes far more often than typos.
        # No term frequencies: an address's frequency counts one person's duplicates, not its commonness.
        cll.ExactMatchLevel("email"),
        cll.ElseLevel(),
    ])


def _identifier(column: str) -> cl.CustomComparison:
    """A strong identifier (national id, loyalty number): exact, or one typo; its u is tiny, so its weight is strong."""
    return cl.CustomComparison(output_column_name=column, comparison_levels=[
        cll.NullLevel(column),
        cll.ExactMatchLevel(column),
        _one_edit(column),
        cll.ElseLevel(),
    ])


# The further contacts' comparisons, one per kind: the array (features.FURTHER_CONTACTS) holding each own field's kind.
FURTHER_OF = dict(zip(("email", "mobile", "landline"), FURTHER_CONTACTS, strict=True))
FURTHER_PREFIX = "further_"


def _further_contact(field: str) -> cl.CustomComparison:
    """A `field` (e-mail, mobile, landline) shared through a further value of either record (a CRM's work address that
    is the web account's e-mail, a second phone that is the loyalty card's): Splink's array intersection of the two
    records' keys of that kind, asked only where their own `field` does not agree already (that agreement is the
    field's own comparison: never counted twice). A record's array holds only keys that are some record's further
    value (features.py), so "none shared" is asked of few pairs: two records that each hold such keys. m by EM; u is
    the own field's exact level's (`further_contacts_u`): two people share a work address as rarely as a personal one,
    a landline as a household does. No term frequencies, as for the own fields (an address's count is one person's
    records)."""
    array = FURTHER_OF[field]
    return cl.CustomComparison(output_column_name=FURTHER_PREFIX + field, comparison_levels=[
        cll.Or(cll.NullLevel(array), cll.ExactMatchLevel(field)).configure(
            is_null_level=True, label_for_charts=f"No further {field} to compare, or the own ones agree"),
        cll.ArrayIntersectLevel(array, 1).configure(label_for_charts=f"A further {field} shared"),
        cll.ElseLevel(),
    ])


def further_contacts_u(model_dict: dict) -> dict:
    """Each further-contact level takes the u of its own field's exact level (recipe: after unique_value_u): the
    u-sample, one record per person, almost never sees two people share a further value."""
    comparisons = {c["output_column_name"]: c for c in model_dict["comparisons"]}
    for field in further_fields(model_dict):
        shared = [lv for lv in comparisons[FURTHER_PREFIX + field]["comparison_levels"] if not lv.get("is_null_level")]
        own = [lv for lv in comparisons.get(field, {}).get("comparison_levels", []) if not lv.get("is_null_level")]
        if own and own[0].get("u_probability"):
            shared[0]["u_probability"] = own[0]["u_probability"]
    return model_dict


def further_fields(model_dict: dict) -> list[str]:
    """The own fields whose further-contact comparison `model_dict` holds."""
    names = {c["output_column_name"] for c in model_dict["comparisons"]}
    return [f for f in FURTHER_OF if FURTHER_PREFIX + f in names]


# Candidate pairs when no blocking plan is given (see blocking.py, which derives the rules from the mapped
# fields): a pair is scored if it agrees on any of these (each rule catches what the others miss:
# a new e-mail, a moved address, a married name, a typo in the surname...).
PREDICTION_BLOCKING_RULES = [
    block_on("email"),
    block_on("mobile"),
    block_on("landline"),
    block_on("first_name_canonical", "last_name"),
    block_on("last_name", "birth_date"),
    block_on("first_name_canonical", "birth_date"),
    block_on("postcode", "street"),
    "l.first_name = r.last_name AND l.last_name = r.first_name",
]
SWAP_RULE = PREDICTION_BLOCKING_RULES[-1]

# EM sessions blocked on exact fields, after those on error-tolerant keys (recipe.training_sessions): each fixes
# some fields by blocking and learns the m-probabilities of the others. Sessions over fields a data set lacks,
# or with too few pairs, are skipped.
TRAINING_FIELDS = [("birth_date",), ("email",)]


def settings(identifiers: list[str] = (), blocking_rules: list | None = None,
             whole_names: bool = False, further: Sequence[str] = ()) -> SettingsCreator:
    """The model over the mapped identifier columns (`id_<name>`), blocked by `blocking_rules`; the whole-name level
    where the data can reach it (`WHOLE_NAMES_SQL`); `further`: the own fields (FURTHER_OF) whose further values the
    input holds, each compared (`_further_contact`)."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            _name("first_name", "last_name", with_nickname=True, whole_names=whole_names),
            _name("last_name", "first_name", with_nickname=False, whole_names=whole_names),
            _birth_date(),
            _email(),
            _exact("mobile"),
            _exact("landline"),
            _address(),
            *(_identifier(c) for c in identifiers),
            *(_further_contact(f) for f in further),
        ],
        blocking_rules_to_generate_predictions=blocking_rules or PREDICTION_BLOCKING_RULES,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
        # The names and birth date are read by the conflicts (conflicts.KEY_COLUMNS) on every scored pair: kept even
        # where no comparison or kept blocking rule reads them (Splink drops a comparison EM could not train).
        additional_columns_to_retain=["source", "first_name_canonical", "first_name", "last_name", "birth_date"],
    )
