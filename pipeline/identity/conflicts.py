"""How much contrary evidence counts against a merge, estimated from the data on each full re-link.

"First names differ" (beyond a typo, a nickname, a swap) and "birth dates differ" (beyond a typo or a
day/month swap) are evidence against a merge whose strength is a property of each data set: in household-rich
retail data true duplicates almost never disagree so (the disagreement marks a spouse, a twin, a child), in
FEBRL a duplicate often carries another given name or a birth date off by several digits.

For each conflict kind k:
- m_k = P(conflict | same person), from *anchor* pairs: pairs that agree on strong evidence the conflict does
  not involve (an exact e-mail, mobile or mapped identifier where the birth date, for first names, or the first
  name, for birth dates, does not disagree; or, for first names, surname + birth date + postcode; for birth dates,
  first name + surname + postcode). Anchors are mostly true pairs, so m_k is an upper estimate: they also pair twins
  (surname, birth date and postcode shared) and, for birth dates, namesakes. An anchor pair whose two values are each
  confirmed by a second record (see CONFIRMED below: a duplicate's changed value repeats only by chance) is two
  people and left out (`_confirmed_pairs`); a twin with a single record still counts as a duplicate with a conflict
  (on the French / German set 99 of 191 conflicting first-name anchors are left out so, and m falls from 0.136 to
  0.071: the conflict becomes a veto).
- u_k = P(conflict | different people), from random pairs of the sample of distinct people (u_sample.py).
The conflict is worth log2(m_k / u_k) bits. Splink already counts "first names differ" in its own comparison
(the else level, learned by EM, which the shared household fields bias), so only the difference between the two
is added to the pair's match weight, and only when it strengthens the penalty (`calibrate`).

Veto or penalty is decided from the scored pairs (`decide`). Of the candidate pairs Splink's score calls a match
(probability >= 0.5) across conflict k, about m_k x (expected matches among the pairs comparable on k's field)
can be duplicates (m_k's estimate: the decision that makes the fewest wrong links in expectation; its upper
95 % bound is reported beside it). When that is fewer than half of them, the data say
such links are mostly two people (a spouse, a twin: the naive-Bayes score is carried by fields correlated with
the household, its surname, address and landline) and true duplicates next to never disagree so: the conflict
becomes a veto, the pair is never linked and clustering never joins clusters across it. Where the pairs across
the conflict can be duplicates (FEBRL changes given names), it stays a penalty.

A first-name conflict *confirmed on both sides* (`CONFIRMED`: each of the two names is held by another record that
the score links to its side, so two records of each side agree on their name) is weighed the same way, with its m
derived rather than read off anchors: a duplicate replaces a given name on one record, and for two records of one
person to carry the same other name the replacement must repeat, by chance, the name of the first: m_confirmed =
m x (1 - u), (1 - u) the chance that two people's first names do not conflict. Anchors cannot measure it where
twins are all that shares surname, birth date and address (they would count the twins as duplicates). On
FEBRL 3 one first-name conflict among 344 duplicate anchor pairs is confirmed; on the French / German set 99 of
191 twin pairs are. Where it vetoes, clustering never joins two clusters each holding two records of a name the
other cluster's two records conflict with (`ConflictModel.apart`).

Each mapped identifier (`id_<name>`, the sources file's `identifiers`) is a conflict of its own kind: both records
hold it and the values differ beyond one typo (evidence.identifier_conflict). How much that counts is a property of
the identifier: a national id true duplicates never hold twice, a loyalty number one person may hold twice (a second
card), a customer number given per store. Learned as above: anchors agree on the whole name and birth date (postcode
not disagreeing), or on an e-mail, a mobile or another identifier where neither first name nor birth date disagrees;
no pair is left out as confirmed (one person's second card repeats on their records as a twin's name does); veto or
penalty decided on the scored pairs as the others (`decide`). A veto where the anchors show duplicates
never differ so (`iberia`'s twins `María` / `Ana María` at one address, own DNIs), a penalty where they sometimes do,
nothing where they mostly do (m >= u).
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from splink.internals.misc import prob_to_match_weight

from pipeline.identity import name_swaps, name_typos, shared_contact_surnames
from pipeline.identity.bounds import wilson_upper
from pipeline.identity.evidence import (
    NAME_DATE_COLUMNS,
    PersonKey,
    birth_dates_conflict,
    first_names_conflict,
    identifier_conflict,
    person_key,
)
from pipeline.identity.features import IDENTIFIER_PREFIX
from pipeline.identity.model import PREDICT_THRESHOLD
from pipeline.private_files import memory_db

KINDS = {"first_name": first_names_conflict, "birth_date": birth_dates_conflict}
CONFIRMED = "first_name_confirmed"  # a first-name conflict two records of each side confirm (see the docstring)
# The artefact's key of each learned part of ConflictModel beside its weights (an empty part is not written).
SECTIONS = {"unshared_contacts": "unshared", "surnames_differing_beside_a_shared_contact": "surnames",
            "first_names_one_typo_apart": "typos", "last_names_one_typo_apart": "surname_typos",
            "first_and_last_names_swapped": "swaps"}
KEY_COLUMNS = NAME_DATE_COLUMNS
# Anchors that leave each kind's own field free to disagree (columns compared exactly; postcode may be missing). An
# identifier's (IDENTIFIER_KIND) are the whole name and birth date: a son named after his father, or twins, share
# no such anchor (twins' first names differ), a namesake born the same day seldom.
FIELD_ANCHORS = {"first_name": ("last_name", "birth_date"), "birth_date": ("first_name_canonical", "last_name")}
IDENTIFIER_KIND = "identifier"  # the anchors and seconds of every mapped identifier's conflict (kind `id_<name>`)
FIELD_ANCHORS[IDENTIFIER_KIND] = ("first_name_canonical", "last_name", "birth_date")
PERSONAL_ANCHORS = ("email", "mobile")
# A personal anchor counts only where a second field independent of the conflict does not disagree: a family
# e-mail also joins a spouse, who differs in first name *and* birth date; a duplicate keeps one of them. (Required
# to agree, it left small data too few anchors, and twins among the field anchors made the veto a penalty.) An
# identifier's conflict involves neither field: both must not disagree (a spouse keeps neither).
PERSONAL_SECOND = {"first_name": ("birth_date",), "birth_date": ("first_name_canonical",),
                   IDENTIFIER_KIND: ("first_name_canonical", "birth_date")}
# A link is worth making when it is more likely a match than not: the Bayes decision, not a tuned constant.
LINK_DECISION = 0.5
# Contact points a person's records hold (not a name): a merge weighs those its edge could not compare
# (clustering.UnsharedContacts), with the weight the model learned for a disagreement on each.
UNSHARED_FIELDS = ("email", "mobile", "landline")
MAX_ANCHOR_PAIRS = 200_000
RANDOM_PAIRS = 20_000
SEED = 42


@dataclass
class ConflictWeight:
    kind: str
    anchor_pairs: int
    anchor_conflicts: int
    m: float          # P(conflict | same person)
    u: float          # P(conflict | different people)
    weight: float     # log2(m / u): what the conflict is worth, in bits
    absolute: bool    # a veto, not a penalty
    applied: float = 0.0  # bits added to Splink's match weight (see calibrate)
    m_upper: float = 1.0  # upper 95 % bound of m
    crossing_pairs: int = 0         # pairs Splink's score calls a match (>= 0.5) across the conflict
    expected_duplicates: float = 0.0  # how many of them can be duplicates (m x expected matches)
    link_precision: float = 1.0     # expected_duplicates / crossing_pairs: below LINK_DECISION it is a veto
    confirmed_anchors: int = 0      # anchor pairs left out as two people each side confirms (_confirmed_pairs)


@dataclass
class ConflictModel:
    weights: dict[str, ConflictWeight] = field(default_factory=dict)
    unshared: dict[str, float] = field(default_factory=dict)  # contact field -> bits of a disagreement (calibrate)
    # shared_contact_surnames.learn's counts and u, and `applied`: the bits a pair it corrects gets back (calibrate)
    surnames: dict = field(default_factory=dict)
    # name_typos.learn's threshold, counts and bits, and `gamma`: the one-typo level they refine (calibrate), for the
    # first name and the surname
    typos: dict = field(default_factory=dict)
    surname_typos: dict = field(default_factory=dict)
    # name_swaps.learn's reading of the swap level (gamma, m, u, swap rate): each swapped pair's u from its names
    swaps: dict = field(default_factory=dict)

    @property
    def typos_by_column(self) -> dict[str, dict]:
        return {name_typos.FIRST: self.typos, name_typos.LAST: self.surname_typos}

    @property
    def largest_lift(self) -> float:
        """The most bits one learned correction gives a pair back (a name in the rare class of a typo, a different
        surname beside a shared contact): Splink's predict keeps pairs that far below model.PREDICT_THRESHOLD, so that
        `apply` can lift them (`predict_weight`). At 20k persons (seed 257) 65 pairs so crossed 0.8, 55 of them true,
        and 224 swapped pairs the swap's own u lifts (name_swaps.py), 222 true: predict's 0.5 cut all of them. A pair
        a correction would lift from further below is not kept (a swap beside a different e-mail: 52 pairs, 16 true)."""
        return max(0.0, self.typos.get("bits_rare", 0.0), self.surname_typos.get("bits_rare", 0.0),
                   self.surnames.get("applied", 0.0))

    @property
    def tests(self) -> dict[str, Callable[[PersonKey, PersonKey], bool]]:
        """Each conflict applied to pairs and clusters: KINDS, and each mapped identifier the model learned."""
        return {**KINDS, **{k: identifier_conflict(k) for k in self.weights if k.startswith(IDENTIFIER_PREFIX)}}

    @property
    def identifiers(self) -> list[str]:
        """The identifier columns whose conflict the model learned (what its keys must hold: evidence.person_key)."""
        return sorted(k for k in self.weights if k.startswith(IDENTIFIER_PREFIX))

    @property
    def absolute(self) -> set[str]:
        return {k for k, w in self.weights.items() if w.absolute and k in self.tests}

    @property
    def confirmed_vetoes(self) -> bool:
        """A confirmed first-name conflict keeps clusters apart where a plain one does not already."""
        w = self.weights.get(CONFIRMED)
        return w is not None and w.absolute and "first_name" not in self.absolute

    @property
    def cluster_veto(self) -> Callable[[list[PersonKey], list[PersonKey]], bool] | None:
        """`apart` where it can refuse a merge the pairwise vetoes allow, else None (clustering.constrained_clusters)."""
        return self.apart if self.confirmed_vetoes else None

    def apart(self, xs: list[PersonKey], ys: list[PersonKey]) -> bool:
        """Whether two clusters (their records' keys) hold two people by a confirmed first-name conflict: two records
        of one, agreeing on their first name, both conflict with two records of the other, agreeing on theirs."""
        return self.confirmed_vetoes and confirmed_conflict(xs, ys)

    def as_dict(self) -> dict:
        return {**{k: asdict(w) for k, w in self.weights.items()},
                **{key: getattr(self, part) for key, part in SECTIONS.items() if getattr(self, part)}}

    @classmethod
    def from_dict(cls, data: dict) -> ConflictModel:
        return cls({k: ConflictWeight(**w) for k, w in data.items() if k not in SECTIONS},
                   **{part: dict(data.get(key, {})) for key, part in SECTIONS.items()})

    @classmethod
    def default(cls) -> ConflictModel:
        """No estimate available (a model saved before conflicts were learned): every conflict vetoes."""
        return cls({k: ConflictWeight(k, 0, 0, 0.0, 1.0, -math.inf, True) for k in KINDS})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ConflictModel:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else cls.default()

    def kinds(self, x: PersonKey, y: PersonKey) -> list[str]:
        return [k for k, test in self.tests.items() if test(x, y)]

    def vetoes(self, x: PersonKey, y: PersonKey) -> bool:
        """Records that can never be one person (clustering's test, see clustering.py)."""
        return any(test(x, y) for k, test in self.tests.items() if k in self.weights and self.weights[k].absolute)


def predict_weight(model: ConflictModel) -> float:
    """The match weight Splink's predict keeps pairs from: model.PREDICT_THRESHOLD's, less the largest lift."""
    return prob_to_match_weight(PREDICT_THRESHOLD) - model.largest_lift


def scored_by_splink(pairs: pa.Table) -> pa.Table:
    """The pairs Splink's own score puts at or above model.PREDICT_THRESHOLD (what the veto decision reads)."""
    return pairs.filter(pc.fill_null(pc.greater_equal(pairs["match_probability"], PREDICT_THRESHOLD), False))


def confirmed_conflict(xs: list[PersonKey], ys: list[PersonKey]) -> bool:
    """Two records of xs that do not conflict with each other both conflict on first names with two records of
    ys that do not conflict with each other."""
    if len(xs) < 2 or len(ys) < 2:
        return False
    against = [frozenset(j for j, y in enumerate(ys) if first_names_conflict(x, y)) for x in xs]
    for a in range(len(xs)):
        for b in range(a + 1, len(xs)):
            common = sorted(against[a] & against[b])
            if len(common) < 2 or first_names_conflict(xs[a], xs[b]):
                continue
            if any(not first_names_conflict(ys[c], ys[d]) for i, c in enumerate(common) for d in common[i + 1:]):
                return True
    return False


def calibrate(model: ConflictModel, fitted: dict, surnames: dict | None = None) -> ConflictModel:
    """Set each penalty to what the learned weight adds beyond the weight Splink's model already gives a
    disagreement on the same field (its last, 'else' level): evidence counted once, never twice. `surnames`
    (shared_contact_surnames.learn's) sets the bits given back to different surnames beside a shared contact."""
    tests = model.tests
    for kind, w in model.weights.items():
        if kind not in tests:
            continue  # applied at clustering only, never to a pair's weight
        comparison = next((c for c in fitted["comparisons"] if c["output_column_name"] == kind), None)
        levels = [lv for lv in (comparison or {}).get("comparison_levels", []) if not lv.get("is_null_level")]
        m, u = (levels[-1].get("m_probability"), levels[-1].get("u_probability")) if levels else (None, None)
        splink_weight = math.log2(m / u) if m and u else 0.0
        w.applied = 0.0 if w.absolute else round(min(0.0, w.weight - splink_weight), 4)
    model.unshared = disagreement_weights(fitted)
    if surnames:
        model.surnames = {**surnames, "applied": shared_contact_surnames.bits(surnames, fitted)}
    for column, learned in model.typos_by_column.items():
        if learned:
            learned["gamma"] = name_typos.level_of(fitted, column)
    model.swaps = name_swaps.learn(fitted)
    return model


def disagreement_weights(fitted: dict) -> dict[str, float]:
    """Each contact field's weight of a disagreement in the fitted Splink model (its else level, log2(m / u), never
    above 0), for the fields the model compares."""
    out = {}
    for comparison in fitted["comparisons"]:
        if comparison["output_column_name"] not in UNSHARED_FIELDS:
            continue
        last = comparison["comparison_levels"][-1]
        m, u = last.get("m_probability"), last.get("u_probability")
        if m and u:
            out[comparison["output_column_name"]] = round(min(0.0, math.log2(m / u)), 4)
    return out


def decide(model: ConflictModel, predictions: pa.Table) -> ConflictModel:
    """Veto or penalty, per conflict, from the scored pairs (see the module docstring). Counts only."""
    probabilities = pc.fill_null(predictions["match_probability"], 0.0).to_numpy()
    matched = pc.fill_null(pc.greater_equal(predictions["match_weight"], 0), False).to_numpy(zero_copy_only=False)
    crossing = {}  # kind -> pairs across the conflict that the rest of the evidence calls a match
    for kind, test in model.tests.items():
        w = model.weights[kind]
        expected_matches = float(probabilities[_both_present(predictions, kind)].sum())
        crossing[kind] = _conflicting(predictions, kind, test) & matched
        _settle(w, int(crossing[kind].sum()), w.m * expected_matches)
        if w.absolute:
            w.applied = 0.0
    confirmed, first = model.weights.get(CONFIRMED), model.weights["first_name"]
    if confirmed is not None and first.absolute:
        confirmed.absolute = True  # a confirmed conflict is a first-name conflict: vetoed already
    elif confirmed is not None:
        _settle(confirmed, _confirmed_crossings(predictions, matched, crossing["first_name"]),
                confirmed.m * first.expected_duplicates / first.m if first.m else 0.0)
    return model


def _settle(w: ConflictWeight, crossing_pairs: int, expected_duplicates: float) -> None:
    """Veto or penalty: a veto when fewer than LINK_DECISION of the pairs linked across the conflict can be duplicates."""
    w.crossing_pairs = crossing_pairs
    w.expected_duplicates = round(expected_duplicates, 1)
    w.link_precision = round(min(1.0, w.expected_duplicates / crossing_pairs), 4) if crossing_pairs else 1.0
    w.absolute = w.link_precision < LINK_DECISION


def _confirmed_crossings(pairs: pa.Table, matched: np.ndarray, conflicting: np.ndarray) -> int:
    """Of the `conflicting` pairs (matched across a first-name conflict), those that another matched record confirms
    on each side (a record linked to that side, agreeing with it on the first name and conflicting with the other
    side's)."""
    if not conflicting.any():
        return 0
    rows = pairs.filter(pa.array(matched)).select(
        ["unique_id_l", "unique_id_r", *(f"{c}{s}" for s in ("_l", "_r") for c in KEY_COLUMNS)]).to_pylist()
    keys = {r[f"unique_id{s}"]: _key(r, s) for r in rows for s in ("_l", "_r")}
    linked: dict[str, set[str]] = {}
    for r in rows:
        linked.setdefault(r["unique_id_l"], set()).add(r["unique_id_r"])
        linked.setdefault(r["unique_id_r"], set()).add(r["unique_id_l"])

    def confirmed(a: str, b: str) -> bool:
        return any(c != b and not first_names_conflict(keys[a], keys[c]) and first_names_conflict(keys[c], keys[b])
                   for c in linked.get(a, ()))

    crossing = pairs.filter(pa.array(conflicting)).select(["unique_id_l", "unique_id_r"]).to_pylist()
    return sum(confirmed(r["unique_id_l"], r["unique_id_r"]) and confirmed(r["unique_id_r"], r["unique_id_l"])
               for r in crossing)


def _both_present(pairs: pa.Table, kind: str) -> np.ndarray:
    """Pairs whose records both have the conflict's field (the field is named as the kind; none where the pairs do not
    carry it)."""
    if f"{kind}_l" not in pairs.column_names:
        return np.zeros(pairs.num_rows, dtype=bool)
    present = [pc.greater(pc.utf8_length(pairs[f"{kind}{side}"]), 0) for side in ("_l", "_r")]
    return pc.fill_null(pc.and_(*present), False).to_numpy(zero_copy_only=False)


def _conflicting(pairs: pa.Table, kind: str, test: Callable[[PersonKey, PersonKey], bool]) -> np.ndarray:
    """Whether each pair's records conflict on `kind` (`test`). The test (names, nicknames, typos) runs in Python only
    where it can be true, both values present and different: a small share of the scored pairs."""
    found = np.zeros(pairs.num_rows, dtype=bool)
    if f"{kind}_l" not in pairs.column_names:
        return found
    differ = pc.fill_null(pc.not_equal(pairs[f"{kind}_l"], pairs[f"{kind}_r"]), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(_both_present(pairs, kind) & differ)
    if len(rows):
        ids = _own_identifier(kind)
        columns = [f"{c}{s}" for s in ("_l", "_r") for c in (*KEY_COLUMNS, *ids)]
        keys = pairs.take(pa.array(rows)).select(columns).to_pylist()
        found[rows] = [test(_key(row, "_l", ids), _key(row, "_r", ids)) for row in keys]
    return found


def _own_identifier(kind: str) -> tuple[str, ...]:
    """The identifier column a kind's test reads beside the names and birth date (none for KINDS)."""
    return (kind,) if kind.startswith(IDENTIFIER_PREFIX) else ()


def _key(row: dict, side: str = "", identifiers: tuple[str, ...] = ()) -> PersonKey:
    return person_key(row, side, identifiers)


def _anchor_sql(kind: str, columns: set[str]) -> str:
    """Pairs (l, r) agreeing on strong evidence independent of `kind`'s field, and not disagreeing on a mapped
    identifier beyond one typo: a national id differing so is two people. A Spanish or Portuguese son named after
    his father shares name, surname and address with him (a field anchor) but not his DNI; counted as a duplicate
    whose birth date conflicts, he made the birth-date conflict a penalty (`iberia`, bench/iberian_set.py). An
    identifier's own conflict (kind `id_<name>`) is what its anchors measure: its column is neither anchor nor test."""
    group = IDENTIFIER_KIND if kind.startswith(IDENTIFIER_PREFIX) else kind
    identifiers = sorted(c for c in columns if c.startswith(IDENTIFIER_PREFIX) and c != kind)
    personal = [c for c in (*PERSONAL_ANCHORS, *identifiers) if c in columns]
    same_id = "".join(f" AND (l.{c} IS NULL OR r.{c} IS NULL OR levenshtein(l.{c}, r.{c}) <= 1)" for c in identifiers)
    seconds = PERSONAL_SECOND[group]
    second = "".join(f"AND (l.{c} = r.{c} OR l.{c} IS NULL OR r.{c} IS NULL) " for c in seconds)
    parts = [f"SELECT l.unique_id AS a, r.unique_id AS b FROM _rec l JOIN _rec r ON l.{c} = r.{c} "
             f"{second}AND l.unique_id < r.unique_id{same_id}" for c in personal if set(seconds) <= columns]
    fields = FIELD_ANCHORS[group]
    postcode = "AND (l.postcode = r.postcode OR l.postcode IS NULL OR r.postcode IS NULL)" \
        if "postcode" in columns else ""
    parts.append("SELECT l.unique_id, r.unique_id FROM _rec l JOIN _rec r ON "
                 + " AND ".join(f"l.{c} = r.{c}" for c in fields) + f" AND l.unique_id < r.unique_id {postcode}"
                 + same_id)
    return " UNION ".join(parts)


def _confirmed_pairs(usable: list[tuple], conflicting: list[tuple[str, str]], test: Callable) -> int:
    """How many conflicting anchor pairs (a, b) each side confirms: another anchor partner of a agrees with a and
    conflicts with b, and one of b with b against a. Anchors that share surname, birth date and address also pair
    twins (namesakes for birth dates); a duplicate's changed value repeats on a second record only by chance
    (m x (1 - u), the module docstring), so such pairs are two people and left out of m. A lower bound of the
    two-people pairs: a twin with a single record is not confirmed and still counts as a duplicate."""
    if not conflicting:
        return 0
    keys, partners = {}, defaultdict(set)
    for a, b, x, y in usable:
        keys[a], keys[b] = x, y
        partners[a].add(b)
        partners[b].add(a)

    def confirmed(a: str, b: str) -> bool:
        return any(c != b and not test(keys[a], keys[c]) and test(keys[c], keys[b]) for c in partners[a])

    return sum(confirmed(a, b) and confirmed(b, a) for a, b in conflicting)


def _held(key: PersonKey, kind: str) -> str | None:
    return key.identifier(kind) if kind.startswith(IDENTIFIER_PREFIX) else getattr(key, kind)


def _anchor_conflicts(pairs: pa.Table, kind: str, test: Callable,
                      own: tuple[str, ...] = ()) -> tuple[int, list[tuple[str, str]], list[tuple]]:
    """(anchor pairs with `kind`'s field on both sides, those of them that conflict as (a, b), and the usable anchor
    pairs around a conflicting one as (a, b, key a, key b): all `_confirmed_pairs` reads). The conflict test runs in
    Python only where it can be true, on the pairs whose values differ (equal values never conflict): a few % of the
    anchors; the others are counted in Arrow."""
    usable = pairs.filter(pc.and_(_filled(pairs[kind]), _filled(pairs[f"{kind}_r"])))
    differ = pc.not_equal(usable[kind], usable[f"{kind}_r"]).to_numpy(zero_copy_only=False)
    rows = usable.take(pa.array(np.flatnonzero(differ), pa.int64())).to_pylist()
    conflicting = [(r["a"], r["b"]) for r in rows if test(_key(r, "", own), _key(r, "_r", own))]
    ends = pa.array(sorted({i for pair in conflicting for i in pair}), pa.string())
    near = usable.filter(pc.or_(pc.is_in(usable["a"], value_set=ends), pc.is_in(usable["b"], value_set=ends))).to_pylist()
    return usable.num_rows, conflicting, [(r["a"], r["b"], _key(r, "", own), _key(r, "_r", own)) for r in near]


def _differing(pairs: pa.Table, column: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The anchor pairs (a, b) whose `column` values are both present and differ, with those two values."""
    rows = pairs.filter(pc.fill_null(pc.not_equal(pairs[column], pairs[f"{column}_r"]), False))
    return {(a, b): (x, y) for a, b, x, y in zip(*(rows[c].to_pylist() for c in ("a", "b", column, f"{column}_r")),
                                                 strict=True)}


def _filled(values: pa.ChunkedArray) -> pa.Array:
    """Non-empty (neither NULL nor '': what the conflict tests read as a value)."""
    return pc.fill_null(pc.greater(pc.utf8_length(values), 0), False)


def estimate(records: pa.Table, sample: pa.Table) -> ConflictModel:
    """Learn each conflict's m, u and weight from the linkage input and the sample of distinct people. Only the
    records of the pairs drawn reach Python (at most MAX_ANCHOR_PAIRS anchors and RANDOM_PAIRS random pairs)."""
    columns = set(records.column_names)
    identifiers = tuple(sorted(c for c in columns if c.startswith(IDENTIFIER_PREFIX)))
    rng = random.Random(SEED)
    n = sample.num_rows
    drawn = [(rng.choice(range(n)), rng.choice(range(n))) for _ in range(RANDOM_PAIRS)] if n > 1 else []
    rows = sorted({i for pair in drawn for i in pair})
    read = sample.select([*KEY_COLUMNS, *identifiers]).take(pa.array(rows, pa.int64())).to_pylist()
    people = dict(zip(rows, (_key(r, "", identifiers) for r in read), strict=True))
    randoms = [(people[i], people[j]) for i, j in drawn if i != j]
    model = ConflictModel()
    typo_anchors = {}  # name column -> {anchor pair: its two differing values}
    with memory_db() as con:
        con.register("_rec", records)
        for kind, test in {**KINDS, **{c: identifier_conflict(c) for c in identifiers}}.items():
            own = _own_identifier(kind)
            sides = ", ".join(f"{s}.{c} AS {c}{suffix}" for s, suffix in (("l", ""), ("r", "_r"))
                              for c in (*KEY_COLUMNS, *own))
            # A seeded hash order, not DuckDB's reservoir sample: that one varies run to run on several threads.
            pairs = con.sql(f"""WITH p AS (SELECT a, b FROM ({_anchor_sql(kind, columns)})
                    ORDER BY hash(a, b, {SEED}), a, b LIMIT {MAX_ANCHOR_PAIRS})
                SELECT p.a, p.b, {sides} FROM p JOIN _rec l ON l.unique_id = p.a JOIN _rec r ON r.unique_id = p.b
                """).to_arrow_table()
            usable, conflicting, around = _anchor_conflicts(pairs, kind, test, own)
            if kind == name_typos.FIRST:
                typo_anchors[kind] = _differing(pairs, kind)
            if kind in KINDS:
                # Neither kind's anchors require the surname: each may pair a mistyped one (a pair anchored both ways
                # once).
                typo_anchors.setdefault(name_typos.LAST, {}).update(_differing(pairs, name_typos.LAST))
            # Two people (twins, namesakes) each confirmed by a second record are no duplicate's conflict: left out. Not
            # for an identifier: one person's second loyalty card repeats on their records as a twin's name does.
            two_people = 0 if own else _confirmed_pairs(around, conflicting, test)
            anchors, conflicts = usable - two_people, len(conflicting) - two_people
            comparable = [(x, y) for x, y in randoms if _held(x, kind) and _held(y, kind)]
            u = (sum(test(x, y) for x, y in comparable) + 1) / (len(comparable) + 2)
            m = (conflicts + 0.5) / (anchors + 1)  # never exactly 0: a veto is a decision, not a zero
            # A penalty until the scored pairs say otherwise (decide).
            model.weights[kind] = ConflictWeight(kind, anchors, conflicts, round(m, 6), round(u, 6),
                                                 round(math.log2(m / u), 4) if m < u else 0.0, False,
                                                 # reported: how often duplicates may disagree so (95 %)
                                                 m_upper=round(wilson_upper(conflicts, anchors), 6),
                                                 confirmed_anchors=two_people)
    first = model.weights["first_name"]
    m = first.m * (1 - first.u)  # the replacement repeated by chance: see the module docstring
    model.weights[CONFIRMED] = ConflictWeight(CONFIRMED, first.anchor_pairs, first.anchor_conflicts, round(m, 8),
                                              first.u, round(math.log2(m / first.u), 4) if 0 < m < first.u else 0.0,
                                              False, m_upper=round(first.m_upper * (1 - first.u), 8))
    model.typos, model.surname_typos = (name_typos.learn(records, sample, list(typo_anchors[c].values()), c)
                                        for c in name_typos.COLUMNS)
    return model


def apply(predictions: pa.Table, model: ConflictModel, held: dict[str, dict[str, int]] | None = None) -> pa.Table:
    """Add `contrary_evidence` (a veto applies) and `conflict_weight` (bits added); the pair's match weight and
    probability are adjusted by the penalties of the conflicts that are not vetoes, by the bits given back to
    different surnames beside a shared contact point (shared_contact_surnames.py) and, given `held` (each first name's
    and surname's records in the linkage input, name_typos.held), by the split of names one typo apart and by the u of
    each swapped pair's names (name_swaps.py). `kept` says which pairs to store."""
    vetoed = np.zeros(predictions.num_rows, dtype=bool)
    penalty = np.zeros(predictions.num_rows)
    for kind, test in model.tests.items():
        found = _conflicting(predictions, kind, test)
        if kind in model.absolute:
            vetoed |= found
        else:
            penalty[found] += model.weights[kind].applied
    if model.surnames.get("applied"):
        penalty[shared_contact_surnames.corrected(predictions)] += model.surnames["applied"]
    if held is not None:
        for column, learned in model.typos_by_column.items():
            penalty += name_typos.bits(predictions, learned, held[column], column)
        penalty += name_swaps.bits(predictions, model.swaps, held)
    weight = predictions["match_weight"].to_numpy(zero_copy_only=False) + penalty
    prob = 1 / (1 + np.power(2.0, np.minimum(-weight, 1000.0)))
    out = predictions.set_column(predictions.schema.get_field_index("match_weight"), "match_weight",
                                 pa.array(weight, pa.float64()))
    out = out.set_column(out.schema.get_field_index("match_probability"), "match_probability",
                         pa.array(prob, pa.float64()))
    return out.append_column("contrary_evidence", pa.array(vetoed, pa.bool_())).append_column(
        "conflict_weight", pa.array(penalty, pa.float64()))


def kept(pairs: pa.Table) -> pa.Table:
    """The `apply`-ed pairs worth storing: those Splink's score put at or above model.PREDICT_THRESHOLD (as before
    any correction) and those the corrections lift to it (predict scored down to `predict_weight`)."""
    corrected = pc.greater_equal(pairs["match_probability"], PREDICT_THRESHOLD)
    splink = pc.greater_equal(pc.subtract(pairs["match_weight"], pairs["conflict_weight"]),
                              prob_to_match_weight(PREDICT_THRESHOLD))
    mask = pc.fill_null(pc.or_(corrected, splink), False)
    return pairs if pc.all(mask).as_py() else pairs.filter(mask)
