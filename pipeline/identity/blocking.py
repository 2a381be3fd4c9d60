"""Candidate pairs derived from the fields the sources map, within a comparison budget.

A pair is scored only if it agrees exactly on some blocking rule. Rules leaning on e-mail and phone miss
data that has neither (FEBRL: 82-94 % of true pairs reached); single-field rules on each identifying field
reach a pair with a typo in the surname *and* another in the first name or birth date (>= 99 %). A single
field that is too common to block on alone (a surname at a million records) would cost more than the
budget: Splink's blocking analysis counts each rule's comparisons, and such a field is kept only in
combination with another. Error-tolerant keys (prefixes of names, a surname's last letters, the birth year,
an e-mail's mailbox name) reach pairs with an error in every exactly blocked field, within the same budget.
The count per rule goes to the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from splink import block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.database_api import DatabaseAPI

from pipeline.identity.features import CONTACT_KEYS, IDENTIFIER_PREFIX

# Fields that identify a person (or a household, for the landline) often enough to block on alone, most
# selective first; not the street or the city (many people each). Blocking only proposes pairs: the score
# and the vetoes decide.
SINGLE_FIELDS = ("email", "mobile", "birth_date", "last_name", "first_name_canonical", "postcode", "landline")
# Pairs of fields: what a single rule over budget still reaches, and moves (new address, same name and birth).
COMBINATIONS = (
    ("first_name_canonical", "last_name"),
    ("last_name", "birth_date"),
    ("first_name_canonical", "birth_date"),
    ("postcode", "street"),
    ("last_name", "postcode"),
    ("first_name_canonical", "postcode"),
)
# Error-tolerant keys: what a pair with an error in *every* field it could be blocked on exactly still shares
# (FEBRL: a typo in the surname, another given name and a digit off in the birth date). (label, fields it needs,
# keys as Splink SQL: `{}` is a prefix (or suffix) length, its shortest first). Their vocabularies are bounded (three letters
# of a name, a year), so their comparisons per record grow with the base (at 100k persons 0.5-1.4 each, at 1M
# 11-26): they share one budget, and a key over it is split (prefixes one letter longer) before it is left out.
TOLERANT_KEYS = (
    ("surname prefix & birth year", ("last_name", "birth_date"), (("substr(last_name, 1, {})", 3), ("substr(birth_date, 1, 4)", None))),
    ("name prefixes", ("first_name", "last_name"), (("substr(first_name, 1, {})", 3), ("substr(last_name, 1, {})", 3))),
    ("first name prefix & birth month-day", ("first_name", "birth_date"),
     (("substr(first_name, 1, {})", 2), ("substr(birth_date, 6, 5)", None))),
    ("postcode & birth year", ("postcode", "birth_date"), (("postcode", None), ("substr(birth_date, 1, 4)", None))),
    ("e-mail mailbox name", ("email",), (("split_part(email, '@', 1)", None),)),
    # a typo in the surname's first letters, which its prefix keys miss ('dupont' / 'dypont')
    ("first name & surname suffix", ("first_name", "last_name"), (("first_name", None), ("substr(last_name, -{})", 3))),
    # its mirror: a typo in the first name's first letters ('marie' / 'nmarie', 'anne' / 'amne') beside a surname too
    # common to block on alone, which every prefix key and the initial below miss. Where the surname is blocked alone
    # this is a subset of it and keep_productive_rules drops it; where it is over its budget (100k persons, seed 563:
    # 19.2M comparisons against 9.6M) this key reaches 1,172 true pairs one typo apart no kept rule reached, for 0.83M
    # comparisons (the initial below reaches 974 for 2.4M)
    ("surname & first-name suffix", ("first_name", "last_name"), (("last_name", None), ("substr(first_name, -{})", 2))),
    # a surname too common to block on alone, split by the first name's first letters: a typo in the first name's
    # second letter; where the surname is blocked alone this is a subset of it, and keep_productive_rules drops it
    ("surname & first-name initial", ("first_name", "last_name"), (("last_name", None), ("substr(first_name, 1, {})", 1))),
)
# How many letters a tolerant key's prefixes may grow to fit the budget: each letter divides its blocks by about
# the alphabet, and a longer prefix misses the pairs with a typo in that letter.
MAX_PREFIX_GROWTH = 2


def tolerant_keys(keys: tuple, longer: int = 0) -> tuple[str, ...]:
    """A tolerant key's SQL expressions, its prefixes `longer` letters longer."""
    return tuple(sql.format(length + longer) if length else sql for sql, length in keys)


SWAP_RULE = "l.first_name = r.last_name AND l.last_name = r.first_name"
# Comparisons one rule may generate, per input record: a cost guard (predict time grows with comparisons),
# the same whatever the data; 30 per record is ~10 s of predict per 100k records on 2 cores.
COMPARISONS_PER_RECORD = 30
# Rule costs are estimated from a sample of this many records per side when the input is larger.
COUNT_SAMPLE_RECORDS = 20_000


@dataclass
class BlockingPlan:
    rules: list                       # Splink blocking rules, in order
    labels: list[str]                 # one readable label per rule
    over_budget: list[dict] = field(default_factory=list)  # single fields left out, with their estimated cost
    # Per rule, its key expressions (DuckDB SQL; a pair is blocked when they all agree), or None for a rule that is
    # always kept (a strong identifier, the name swap): what recipe.keep_productive_rules samples blocks by.
    keys: list = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # rules left out for their expected yield, with the figures

    def keep(self, indices: list[int]) -> None:
        self.rules, self.labels, self.keys = ([xs[i] for i in indices] for xs in (self.rules, self.labels, self.keys))


def present_columns(records: pa.Table) -> set[str]:
    """Columns with at least one value: rules over empty fields would only cost a join."""
    return {c for c in records.column_names if pc.count(records[c]).as_py() > 0}


def _cost(db: DatabaseAPI, table: str, rule, n_records: int) -> int:
    share = min(1.0, COUNT_SAMPLE_RECORDS / max(n_records, 1))
    record = count_comparisons_from_blocking_rules(db.register(table), blocking_rules=[rule],
                                                   link_type="dedupe_only", record_sample_proportion=share)[0]
    return int(record["marginal_comparison_count"])


def plan_blocking(db: DatabaseAPI, table: str, records: pa.Table) -> BlockingPlan:
    present = present_columns(records)
    n = records.num_rows
    budget = COMPARISONS_PER_RECORD * max(n, 1)
    ids = sorted(c for c in present if c.startswith(IDENTIFIER_PREFIX))
    rules, labels, keys_of, over = [], [], [], []
    for column in ids:  # a strong identifier is rarely shared by two people: always a rule of its own
        rules.append(block_on(column))
        labels.append(column)
        keys_of.append(None)

    def keep_within_budget(label: str, needs: tuple[str, ...], keys: tuple[str, ...]) -> None:
        if not set(needs) <= present:
            return
        rule = block_on(*keys)
        cost = _cost(db, table, rule, n)
        if cost > budget:
            over.append({"field": label, "estimated_comparisons": cost, "budget": budget})
            return
        rules.append(rule)
        labels.append(label)
        keys_of.append(keys)

    for column in SINGLE_FIELDS:
        keep_within_budget(column, (column,), (column,))
    for combo in COMBINATIONS:
        if set(combo) <= present and not set(combo) & set(labels):  # a single rule already covers it
            rules.append(block_on(*combo))
            labels.append(" & ".join(combo))
            keys_of.append(combo)
    tolerant_left = budget  # one budget for all of them: they serve one purpose
    for label, needs, keys in TOLERANT_KEYS:
        if not set(needs) <= present:
            continue
        growth = range(MAX_PREFIX_GROWTH + 1) if any(length for _, length in keys) else range(1)
        for longer in growth:
            sql_keys = tolerant_keys(keys, longer)
            rule = block_on(*sql_keys)
            cost = _cost(db, table, rule, n)
            if cost <= tolerant_left:
                rules.append(rule)
                labels.append(label + (f" (prefixes +{longer})" if longer else ""))
                keys_of.append(sql_keys)
                tolerant_left -= cost
                break
        else:
            over.append({"field": label, "estimated_comparisons": cost, "budget": tolerant_left})
    if CONTACT_KEYS in present:  # a further contact shared (features.FURTHER_CONTACTS), on the exploded keys: within
        # the budget as a single field (a switchboard number on thousands of cards), else left out; not sampled for
        # its yield (keys_of None): few keys, and no hash of an array's elements to sample blocks by
        rule = block_on(CONTACT_KEYS, arrays_to_explode=[CONTACT_KEYS])
        cost = _cost(db, table, rule, n)
        if cost > budget:
            over.append({"field": "further contacts", "estimated_comparisons": cost, "budget": budget})
        else:
            rules.append(rule)
            labels.append("a further contact shared")
            keys_of.append(None)
    if {"first_name", "last_name"} <= present:
        rules.append(SWAP_RULE)
        labels.append("first and last name swapped")
        keys_of.append(None)
    return BlockingPlan(rules=rules, labels=labels, over_budget=over, keys=keys_of)
