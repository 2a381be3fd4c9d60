"""The one training recipe, written once against Splink's DatabaseAPI: DuckDB (link.py) and Spark
(spark_engine.py) only say how to hold tables; `explain` and the benchmarks read what this trains.

Steps of a full re-link:
1. blocking rules derived from the mapped fields, within a comparison budget (blocking.py);
2. u from random pairs of the sample of distinct people, term frequencies from the same sample (u_sample.py);
3. the prior from several deterministic rules, each tolerant of one error (`prior_rules`);
4. m by EM, one session per training rule with enough pairs; no m below M_FLOOR; the prior the sessions imply
   replaces the rules' (`em_prior`), bounded (`bounded_prior`);
5. the strength of contrary evidence estimated from anchor pairs (conflicts.py);
6. blocking rules kept for the matches the fitted model expects them to add (`keep_productive_rules`);
7. after predict, veto or penalty per conflict, decided from the scored pairs (`settle_conflicts`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from splink import Linker, block_on
from splink.internals.database_api import DatabaseAPI
from splink.internals.exceptions import SplinkException
from splink.internals.parse_sql import get_columns_used_from_sql

from pipeline.identity import blocking, conflicts, model, shared_contact_surnames
from pipeline.identity.features import IDENTIFIER_PREFIX
from pipeline.identity.u_sample import (
    apart_sharing_sql,
    grouped_alone,
    provisional_identities,
    render,
    term_frequencies_sql,
    u_sample_sql,
)
from pipeline.private_text import scrub

# u-probabilities from this many random pairs of distinct people (see u_sample.py), every comparison from all of
# them in one query each (Splink's num_chunks=1, no early stop). Splink's default probes 1 % of the pairs, then ten
# chunks, and stops a comparison once each level has been seen 100 times: one comparison's u then comes from fewer
# pairs than the others' (last_name at 100k), and a small base, where no rare level reaches 100, pays ~11 queries
# per comparison instead of one (each a job on Spark). The sample is bounded, so one query is bounded too.
U_SAMPLE_PAIRS = 5_000_000
TRAINING_SEED = 42
# No level's m-probability falls below this (nor below u for an agreement level): EM can learn m = 0 for
# "different landline" when no duplicate in the data changed landline, which would forbid the link forever.
M_FLOOR = 0.01
# The fields that tell two people apart where a near-unique value (an e-mail, a mobile, an identifier) says they
# are one: a pair sharing the value whose first names and birth dates both differ beyond any lesser level is two
# people (at 20k persons, seed 61: 38 e-mail pairs so, all two people; 3,195 true pairs sharing one, none so).
APART_FIELDS = ("first_name", "birth_date")
# EM sessions on error-tolerant keys (blocking.TOLERANT_KEYS), then model.TRAINING_FIELDS (see training_sessions).
# (A session blocked on a name learns nothing of either name: each name's comparison reads the other, swaps.)
TRAINING_KEYS = ("name prefixes",)
# An EM session needs enough candidate pairs to learn from; smaller ones are skipped (and reported).
MIN_EM_PAIRS = 100
# Samples sized for the model, not the base: an EM session blocked on more pairs than this trains on Splink's
# deterministic (hash-based) sample of about this many of them (m-probabilities of a dozen comparison levels are
# settled long before); the veto-or-penalty decision reads a seeded random sample of the scored pairs when there
# are more (its figure is a ratio of two counts taken on the same pairs). Below these sizes nothing is sampled.
EM_MAX_PAIRS = 2_000_000
DECIDE_MAX_PAIRS = 250_000
# Share of true pairs the deterministic prior rules are taken to reach (each rule tolerates one error). Their real
# recall is a property of the data (on the demo 0.46-0.53: a consent event or a ticket carries no birth date; on
# FEBRL more), so EM's own estimate raises the prior where it is the larger (`em_prior`).
PRIOR_RULES_RECALL = 0.8
# Sanity bounds of the prior, as matching pairs per record: below, the data would hold almost no duplicate
# (the rules found nothing: a collapse, not a finding); above, every record would have many duplicates.
PRIOR_MATCHES_PER_RECORD = (0.01, 5.0)
# A blocking rule is kept for what it reaches: issue 14 asks blocking to reach >= 99 % of the true pairs, so a rule
# expected to add fewer than this share of the matching pairs the prior expects (a tenth of that 1 %) buys almost
# nothing with its comparisons (at 1M demo records three error-tolerant keys cost 12M comparisons, 40 % of predict,
# for a handful of true pairs, while on FEBRL the same keys reach several % of them). Measured per data set, after
# training: the sum of match probabilities of the pairs a rule adds to the rules kept before it.
MIN_RULE_YIELD = 0.001
# That sum is taken on whole blocks (every pair of a block) sampled by a hash of the rule's keys, about this many
# pairs per rule; a rule with fewer pairs is measured on all of them.
YIELD_SAMPLE_PAIRS = 50_000


class Engine(Protocol):
    """Where the recipe's tables live: a fresh Splink backend per linker, Arrow in, SQL materialised."""

    dialect: str

    def api(self) -> DatabaseAPI: ...
    def put(self, table: pa.Table, name: str) -> None: ...
    def materialise(self, sql: str, name: str) -> int: ...


@dataclass
class Trained:
    model: dict                        # the fitted Splink model (settings with m, u, prior)
    conflicts: conflicts.ConflictModel
    plan: blocking.BlockingPlan
    comparisons_by_rule: list[dict]   # set by predict: the candidate pairs per blocking rule
    tf_tables: dict[str, str]
    distinct_people: int = 0
    em_sessions: list[str] = field(default_factory=list)
    prior: dict = field(default_factory=dict)   # estimate, bounds, whether it was clamped
    unique_u: dict = field(default_factory=dict)  # per near-unique field, its u and the counts it is learned from


def open_linker(db: DatabaseAPI, table: str, settings, tf_tables: dict | None = None, validate: bool = True) -> Linker:
    """`validate=False` skips Splink's check of the settings' columns against the table: it only logs warnings
    (which _quiet_splink silences) and re-parses every comparison's SQL (~0.3 CPU s)."""
    linker = Linker(db.register(table), settings, log_level=None, validate_settings=validate)
    for column, tf_table in (tf_tables or {}).items():
        linker.table_management.register_term_frequency_lookup(db.register(tf_table), column)
    return linker


def done_with(linker: Linker) -> None:
    """Drop the tables Splink made for `linker` (blocked pairs, comparison vectors, scored pairs): an engine holding
    its tables in memory keeps them there until dropped, beside the next step's own."""
    linker.table_management.delete_tables_created_by_splink_from_db()


def _pairs_sql(table: str, keys: tuple[str, ...]) -> str:
    present = " AND ".join(f"{key} IS NOT NULL" for key in keys)
    return (f"SELECT coalesce(sum(n * (n - 1) / 2), 0) AS pairs FROM (SELECT count(*) AS n FROM {table} "
            f"WHERE {present} GROUP BY {', '.join(keys)}) g")


def pairs_sharing(engine: Engine, table: str, keys: tuple[str, ...]) -> int:
    """The comparisons of block_on(*keys) on a dedupe of `table` (pairs agreeing on every key, none NULL), from the
    size of each key's group: a GROUP BY, not the join Splink's blocking analysis makes of every pair."""
    return pairs_sharing_each(engine, table, [keys])[0]


def pairs_sharing_each(engine: Engine, table: str, keys_of: list[tuple[str, ...]]) -> list[int]:
    """`pairs_sharing` of several keys in one query (one job on Spark, not one per key)."""
    sql = " UNION ALL ".join(f"SELECT {i} AS k, pairs FROM ({_pairs_sql(table, keys)}) p{i}"
                             for i, keys in enumerate(keys_of))
    frame = engine.api().query_sql(render(sql, engine.dialect), output_type="pandas")
    by_key = dict(zip(frame["k"].astype(int), frame["pairs"].astype(int), strict=True))
    return [by_key[i] for i in range(len(keys_of))]


def whole_names_reached(engine: Engine, table: str = "linkage_input") -> bool:
    """Whether two records' whole names read the same cut at different words (model.WHOLE_NAMES_SQL)."""
    frame = engine.api().query_sql(render(model.WHOLE_NAMES_SQL.format(table=table), engine.dialect),
                                   output_type="pandas")
    return bool(int(frame["n"].iloc[0]))


def identifiers_of(records: pa.Table) -> list[str]:
    return identifiers_of_columns(records.column_names)


def identifiers_of_columns(columns: list[str]) -> list[str]:
    return sorted(c for c in columns if c.startswith(IDENTIFIER_PREFIX))


def identifiers_of_model(model_dict: dict) -> list[str]:
    return [c["output_column_name"] for c in model_dict["comparisons"]
            if c["output_column_name"].startswith(IDENTIFIER_PREFIX)]


def prior_rules(present: set[str]) -> list:
    """Deterministic rules for the prior: personal contacts with the first name, identifiers, and name + birth
    date with one field allowed one error (a data set where every duplicate carries one error still counts)."""
    rules = [block_on(c) for c in sorted(present) if c.startswith(IDENTIFIER_PREFIX)]
    rules += [block_on(c, "first_name") for c in ("email", "mobile") if {c, "first_name"} <= present]
    if {"first_name", "last_name", "birth_date"} <= present:
        rules += [
            "l.last_name = r.last_name AND l.birth_date = r.birth_date AND levenshtein(l.first_name, r.first_name) <= 2",
            "l.first_name = r.first_name AND l.birth_date = r.birth_date AND levenshtein(l.last_name, r.last_name) <= 2",
            "l.first_name = r.first_name AND l.last_name = r.last_name AND levenshtein(l.birth_date, r.birth_date) <= 1",
        ]
    elif {"first_name", "last_name"} <= present:
        rules.append(block_on("first_name", "last_name"))
    return rules


@dataclass
class SessionCount:
    """What one EM session on a field's exact value found: its share of matches among the pairs it blocked (EM's
    estimate, on Splink's sample when the session is sampled) and how many pairs that is (all of them, counted)."""
    field: str
    share_matching: float
    pairs: int


def _comparison(model_dict: dict, column: str) -> dict | None:
    """The comparison of a saved model that outputs `column` (Splink keeps output names unique), None without one."""
    return next((c for c in model_dict["comparisons"] if c["output_column_name"] == column), None)


def exact_level(model_dict: dict, column: str) -> dict | None:
    """`column`'s exact-match level (its first level past the null one), None if that level is not one."""
    comparison = _comparison(model_dict, column)
    levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")] if comparison else []
    return levels[0] if levels and levels[0].get("sql_condition") == f'"{column}_l" = "{column}_r"' else None


def exact_level_m(model_dict: dict, column: str) -> float | None:
    """m of `column`'s exact-match level, None if its first level is not one."""
    level = exact_level(model_dict, column)
    return level.get("m_probability") if level else None


def lowest_level_u(model_dict: dict, column: str) -> float | None:
    """u of `column`'s last level ("All other comparisons"), None without one."""
    comparison = _comparison(model_dict, column)
    return comparison["comparison_levels"][-1].get("u_probability") if comparison else None


def em_prior(sessions: list[SessionCount], model_dict: dict, records: pa.Table) -> float | None:
    """The prior EM's sessions imply, counted. A session blocked on one field's exact value finds share x pairs
    matching pairs; its rule reaches the share m x (pairs both holding the field / all pairs) of every matching
    pair (m: its exact level's, learned by the other sessions). Matching pairs = pooled found / pooled reached
    (the session reaching more of them extrapolates less, and weighs more). None when no session counts.

    Why not only Splink's estimate (`splink_prior`), which reverses each session's odds with its blocking levels'
    Bayes factors and takes the median: measured against the truth
    (expected / true matching pairs; 20k persons seed 61, 100k seed 97): the name-prefix session is reversed with
    the exact names' Bayes factors (Splink maps a prefix rule onto the names' first levels; ~250 x ~2,000 where the
    prefixes' own factor is far smaller): 0.03; the e-mail session's odds at a share near 1 (0.998 learned, 0.990
    true) are five times too high, and its u is the floor of a level the u-sample cannot observe (u_sample.py groups
    records by e-mail): 2.5; the median fell on the birth-date session, whose field matching pairs hold both less
    often than random pairs (0.063 against 0.097: the sources that carry it rarely hold two records of a person):
    0.65. Counted, the same sessions give 0.65 and 1.03-1.04 and, pooled, 0.99 at both sizes (the e-mail reaches
    two thirds of the matching pairs, the birth date 6 %). The prefix session is not counted: no comparison level is
    its rule, so nothing says what share of the matching pairs it reaches."""
    n = records.num_rows
    all_pairs = n * (n - 1) / 2
    found = reached = 0.0
    for session in sessions:
        m = exact_level_m(model_dict, session.field)
        if not m:
            continue
        holding = pc.count(records[session.field]).as_py()
        found += session.share_matching * session.pairs
        reached += m * holding * (holding - 1) / 2 / max(all_pairs, 1)
    if not reached:
        return None
    estimate = found / reached / max(all_pairs, 1)
    return estimate if math.isfinite(estimate) and 0 < estimate < 1 else None


def splink_prior(linker: Linker) -> float | None:
    """Splink's own prior from the EM sessions (each session's odds with its blocking levels' Bayes factors taken out,
    the median over the sessions; set on the linker in place), None when no session trained or it is not a
    probability (a session whose blocked pairs all matched, or none, has an infinite Bayes factor)."""
    if not linker._em_training_sessions:
        return None
    linker._populate_probability_two_random_records_match_from_trained_values()
    estimate = linker._settings_obj._probability_two_random_records_match
    return estimate if math.isfinite(estimate) and 0 < estimate < 1 else None


def bounded_prior(model_dict: dict, n_records: int, estimates: dict | None = None) -> dict:
    """Clamp the prior within PRIOR_MATCHES_PER_RECORD; returns what was estimated (and `estimates`, each source's
    figure) and what was kept."""
    pairs = max(n_records * (n_records - 1) / 2, 1)
    low, high = (min(0.5, per * n_records / pairs) for per in PRIOR_MATCHES_PER_RECORD)
    estimate = model_dict.get("probability_two_random_records_match") or 0.0
    kept = min(max(estimate, low), high)
    model_dict["probability_two_random_records_match"] = kept
    return {"estimate": estimate, **(estimates or {}), "kept": kept, "low": low, "high": high,
            "clamped": kept != estimate, "expected_matching_pairs": round(kept * pairs, 1)}


def unique_value_u(engine: Engine, u_linker: Linker, u_model: dict, identifiers: list[str],
                   left_out: frozenset[str] = frozenset()) -> dict[str, dict]:
    """The u of an exact agreement on each field the u-sample cannot observe (`grouped_alone`: an e-mail, a mobile, an
    identifier), learned from every record of the linkage input so that it scales with the base: the prior falls
    as 1 / N, and a u fixed by the sample's size made a shared mobile weigh the same at every size (at 100k persons
    a shared mobile, e-mail different, no name, scored 0.62: all true pairs).

    Among the records holding the field and every APART_FIELDS, the pairs sharing its value whose APART_FIELDS all
    fall on their comparison's lowest level are two different people; different people fall there with the chance
    `apart` (the product of those levels' u, learned on the u-sample: first names and birth dates of two people are
    taken as independent). So u = pairs so / apart / pairs of those records. None so: one such pair, below one in
    the pairs examined. Assumes people share a value as often whether or not they hold a first name and a birth
    date (20k persons, seed 61, against the truth: e-mail 3.2e-7 learned, 4.3e-7 true; landline, the same estimate
    where the u-sample sees it, 1.2e-4 against 1.3e-4). Fields with fewer than two such records keep the floor
    (`fill_unobserved_u`), and so do the fields `left_out`: the blocking plan's over its budget (a placeholder
    e-mail held by thousands of records), whose pairs this query would join one by one. The comparisons' CASE come
    from `u_linker`, in its engine's dialect. Counts only, no value: the figures go to the training metadata."""
    lowest = [lowest_level_u(u_model, f) for f in APART_FIELDS]
    fields = [f for f in grouped_alone(identifiers) if exact_level(u_model, f) is not None and f not in left_out]
    if not fields or not all(lowest):
        return {}
    comparisons = {c.output_column_name: c for c in u_linker._settings_obj.comparisons}
    apart = {f: (comparisons[f]._case_statement,
                 [name for column in comparisons[f]._input_columns_used_by_case_statement
                  for name in column.l_r_names_as_l_r],
                 comparisons[f]._gamma_column_name) for f in APART_FIELDS}
    frame = engine.api().query_sql(apart_sharing_sql("linkage_input", fields, apart), output_type="pandas")
    share = math.prod(lowest)
    learned = {}
    for k, records, apart_pairs in zip(frame["k"].astype(int), frame["records"].astype(int),
                                       frame["apart"].astype(int), strict=True):
        pairs = records * (records - 1) / 2
        if pairs >= 1:
            learned[fields[k]] = {"records_held": int(records), "pairs_apart": int(apart_pairs),
                                  "apart_share_of_two_people": round(share, 6),
                                  "u": min(1.0, max(apart_pairs, 1) / (share * pairs))}
    return learned


def fill_unobserved_u(model_dict: dict, learned: dict[str, dict] | None = None) -> dict:
    """The exact level of each `learned` field (`unique_value_u`) takes its u. Any other level no two distinct people
    agreed on in the sample has no u; its honest value is below one in the number of pairs sampled."""
    for column, figures in (learned or {}).items():
        exact_level(model_dict, column)["u_probability"] = figures["u"]
    for comparison in model_dict["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("u_probability") is None:
                level["u_probability"] = 1 / U_SAMPLE_PAIRS
    return model_dict


def floor_m(model_dict: dict) -> dict:
    """Apply M_FLOOR to every comparison and renormalise its m-probabilities."""
    for comparison in model_dict["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for i, level in enumerate(levels):
            m, u = level.get("m_probability"), level.get("u_probability")
            if m is None:  # a level EM never saw (an identifier no pair shares with one typo): as likely as u
                level["m_probability"] = m = max(u or M_FLOOR, M_FLOOR)
            if u is None:
                continue
            is_else = i == len(levels) - 1
            level["m_probability"] = max(m, M_FLOOR if is_else else min(u, M_FLOOR))
        total = sum(lv["m_probability"] for lv in levels if lv.get("m_probability") is not None)
        for level in levels:
            if level.get("m_probability") is not None:
                level["m_probability"] /= total
    return model_dict


def keep_default_m(linker: Linker) -> None:
    """A comparison no EM session estimated keeps Splink's default m (its top level 0.95): too few pairs for any
    session (a base of a few dozen records), or names only, whose one session blocks on both names and so
    estimates neither. Left unset, `floor_m` makes each of its m equal to its u, and the field counts for nothing
    (20 FEBRL records, 10 people: recall 0.3 so, plain Splink 0.9; FEBRL1's names only: no pair scored at all).
    An agreement level below the top keeps at least its u: Splink's default there (0.05 shared) would make a
    common partial agreement (the postcode alone of an address) evidence against a match."""
    for comparison in linker._settings_obj.comparisons:
        levels = [level for level in comparison.comparison_levels if not level.is_null_level]
        if all(level._m_probability is None for level in levels):
            for level in levels[:-1]:
                level.m_probability = max(level.default_m_probability, level.u_probability or 0.0)
            levels[-1].m_probability = levels[-1].default_m_probability


def distinct_people(records: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(one record per provisional identity, its first, as Arrow; the groups (unique_id, grp) as Arrow)."""
    groups = provisional_identities(records, identifiers_of(records))  # a shared identifier is one person too
    return records.filter(pc.equal(groups["unique_id"], groups["grp"])), groups


def term_frequency_tables(engine: Engine, records: pa.Table) -> tuple[dict[str, str], int, object]:
    """The u-sample and its term-frequency tables on the engine; (tf tables, people, groups)."""
    sample, groups = distinct_people(records)
    engine.put(groups, "_groups")
    people = engine.materialise(u_sample_sql("linkage_input", "_groups", records.column_names, engine.dialect),
                                "u_sample")
    tf_tables = {}
    for column in model.TF_COLUMNS:
        engine.materialise(term_frequencies_sql(column, "u_sample", engine.dialect), f"tf_{column}")
        tf_tables[column] = f"tf_{column}"
    return tf_tables, people, sample


def training_sessions() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(fields needed, blocking keys) of each EM session. Each learns the m of the fields it does not block on.
    Blocking a session on exact names makes the names' duplicates those whose error is elsewhere: where each
    duplicate carries one error (names + birth date data), EM then learns that duplicates mostly disagree on the
    birth date (m of an exact birth date 0.05, measured). Error-tolerant keys (prefixes, the birth year) keep
    duplicates with an error in the blocked fields too, so the m learned is closer to the data's own."""
    tolerant = {label: (needs, blocking.tolerant_keys(keys)) for label, needs, keys in blocking.TOLERANT_KEYS}
    return [tolerant[label] for label in TRAINING_KEYS] + [(f, f) for f in model.TRAINING_FIELDS]


def trains_term_frequencies(linker: Linker, rule) -> bool:
    """Whether an EM session blocked on `rule` estimates a comparison with term-frequency adjustments. Splink leaves
    out of a session every comparison reading a column the rule reads (EMTrainingSession, the same test here); the
    name comparisons, the only ones with term frequencies, each read both names, so the name-prefix session trains
    neither. Without them every pair of one agreement pattern gets the same match probability in EM's E-step, and
    Splink's `estimate_without_term_frequencies` iterates on each pattern's count instead of on every pair: the same
    sums (up to their order), a few hundred patterns a pass instead of 2M pairs at 1M records."""
    settings = linker._settings_obj
    read = set(get_columns_used_from_sql(rule.get_blocking_rule(settings._sql_dialect_str).blocking_rule_sql,
                                         linker._db_api.sql_dialect.sqlglot_dialect))
    return any(level._has_tf_adjustments for comparison in settings.comparisons
               if not read & {c.input_name for c in comparison._input_columns_used_by_case_statement}
               for level in comparison.comparison_levels)


def train(engine: Engine, records: pa.Table) -> Trained:
    """The full re-link's training, on any engine; `records` is the linkage input."""
    engine.put(records, "linkage_input")
    present = blocking.present_columns(records)
    plan = blocking.plan_blocking(engine.api(), "linkage_input", records)
    tf_tables, people, sample = term_frequency_tables(engine, records)
    settings = model.settings(identifiers_of(records), plan.rules, whole_names=whole_names_reached(engine),
                              further=[f for f, array in model.FURTHER_OF.items() if array in present])
    u_linker = open_linker(engine.api(), "u_sample", settings, tf_tables)
    u_linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=TRAINING_SEED, num_chunks=1,
                                                       min_count_per_level=None)
    u_model = u_linker.misc.save_model_to_json()
    unique_u = unique_value_u(engine, u_linker, u_model, identifiers_of(records),
                              left_out=frozenset(o["field"] for o in plan.over_budget))
    u_model = model.further_contacts_u(fill_unobserved_u(u_model, unique_u))
    surnames = shared_contact_surnames.learn(engine, u_linker, "linkage_input", set(records.column_names),
                                             left_out=frozenset(o["field"] for o in plan.over_budget))
    done_with(u_linker)
    linker = open_linker(engine.api(), "linkage_input", u_model, tf_tables)
    rules = prior_rules(present)
    if rules:
        linker.training.estimate_probability_two_random_records_match(rules, recall=PRIOR_RULES_RECALL)
    from_rules = linker._settings_obj._probability_two_random_records_match if rules else None
    trained, counts = [], []
    for fields, keys in training_sessions():
        if not set(fields) <= present:
            continue
        rule = block_on(*keys)
        pairs = pairs_sharing(engine, "linkage_input", keys)
        if pairs >= MIN_EM_PAIRS:
            label = rule.get_blocking_rule("duckdb").blocking_rule_sql
            bounded = {"max_pairs": EM_MAX_PAIRS} if pairs > EM_MAX_PAIRS else {}
            # Splink's session takes the comparisons its rule reads out of the linker's own settings and puts them
            # back only when it ends: a failed session would leave the model without them (an e-mail-only base lost
            # its e-mail comparison so, and the run failed on the pairs' missing e-mail columns).
            before_session = linker._settings_obj.core_model_settings.copy()
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=not trains_term_frequencies(linker, rule), **bounded)
            # Splink refuses an m of exactly 0 (a level seen among non-matches only), or fails on its infinite
            # weight mid-session: the session is skipped and reported, the others still train.
            except (ValueError, SplinkException) as exc:
                linker._settings_obj.core_model_settings = before_session
                trained.append(f"skipped {label}: {scrub(str(exc))[:80]}")
                continue
            trained.append(label)
            if len(keys) == 1 and fields == keys:  # on one field's exact value: counted for the prior
                share = linker._em_training_sessions[-1].core_model_settings.probability_two_random_records_match
                counts.append(SessionCount(keys[0], share, pairs))
    keep_default_m(linker)
    before = linker._settings_obj._probability_two_random_records_match
    from_splink = splink_prior(linker)
    linker._settings_obj._probability_two_random_records_match = before
    fitted = linker.misc.save_model_to_json()
    done_with(linker)
    from_counts = em_prior(counts, fitted, records)
    # The largest sane estimate is the prior. Splink's is kept beside the counted one: on FEBRL2 its over-estimate links
    # 4 true pairs more than the counted prior, 0.996 of the truth (F1 0.99871 against 0.99767, precision 1.0 both).
    from_em = max((x for x in (from_splink, from_counts) if x is not None), default=None)
    estimates = [x for x in (from_rules, from_em) if x is not None]
    if estimates:
        fitted["probability_two_random_records_match"] = max(estimates)
    prior = bounded_prior(fitted, records.num_rows, {"estimate_from_rules": from_rules, "estimate_from_em": from_em,
                                                     "estimate_from_splink": from_splink,
                                                     "estimate_from_counts": from_counts})
    fitted = floor_m(fitted)
    learned = conflicts.calibrate(conflicts.estimate(records, sample), fitted, surnames)
    result = Trained(model=fitted, conflicts=learned, plan=plan, comparisons_by_rule=[], tf_tables=tf_tables,
                     distinct_people=people, em_sessions=trained, prior=prior, unique_u=unique_u)
    keep_productive_rules(engine, result)
    return result


def _yield_sample_sql(candidate: int, keys: tuple[str, ...], share: float) -> str:
    """The records of rule `candidate`'s blocks sampled by a hash of its keys ([0, 1e6): abs() for engines whose
    hash is signed), each with the rule and an id unique across the rules' samples (a record may be in several).
    A record alone in its block pairs with no one and is left out: most records of a rule on a personal field (the
    e-mail, the postcode and birth year), which the predict would otherwise copy and join for nothing."""
    sampled = f"abs(hash({', '.join(keys)})) % 1000000 < {math.ceil(share * 1_000_000)}"
    present = " AND ".join(f"{key} IS NOT NULL" for key in keys)
    # A window in a subquery, not QUALIFY: rendered for Spark, QUALIFY over `*` is not a query Spark accepts.
    return (f"SELECT * FROM (SELECT {candidate} AS yield_rule, '{candidate}:' || unique_id AS yield_id, *, "
            f"count(*) OVER (PARTITION BY {', '.join(keys)}) AS yield_block_records FROM linkage_input "
            f"WHERE {present} AND {sampled}) s{candidate} WHERE yield_block_records > 1")


def score_yield_samples(engine: Engine, trained: Trained, shares: dict[int, float]):
    """Every candidate rule's sampled blocks scored in ONE predict (one Splink rule per candidate, its pairs within
    its own sample), each pair with the rules of the plan it also satisfies (`in_<rule>`); a pandas frame of
    (yield_rule, match_probability, in_0, in_1, ...)."""
    engine.materialise(render(" UNION ALL ".join(_yield_sample_sql(i, trained.plan.keys[i], share)
                                                 for i, share in shares.items()), engine.dialect), "yield_samples")
    rules = trained.model["blocking_rules_to_generate_predictions"]  # in the engine's dialect
    own = [{**rules[i], "blocking_rule": f"l.yield_rule = r.yield_rule AND l.yield_rule = {i} "
                                         f"AND ({rules[i]['blocking_rule']})"} for i in shares]
    # Only the pairs' ids and probabilities are read (the flags come from the samples): no column kept beside them.
    sample_model = {**trained.model, "unique_id_column_name": "yield_id", "blocking_rules_to_generate_predictions": own,
                    "retain_matching_columns": False, "additional_columns_to_retain": []}
    linker = open_linker(engine.api(), "yield_samples", sample_model, trained.tf_tables)
    scored = linker.inference.predict()
    flags = ", ".join(f"coalesce(({rule['blocking_rule']}), false) AS in_{j}" for j, rule in enumerate(rules))
    frame = engine.api().query_sql(
        f"SELECT l.yield_rule, s.match_probability, {flags} FROM {scored.physical_name} s "
        f"JOIN yield_samples l ON l.yield_id = s.yield_id_l JOIN yield_samples r ON r.yield_id = s.yield_id_r",
        output_type="pandas")
    done_with(linker)
    return frame


def rule_yields(engine: Engine, trained: Trained) -> list[dict]:
    """Each rule with keys, in order: the matches the fitted model expects it to add to the rules kept before it (the
    sum of the match probabilities of its pairs none of those rules blocks) and whether that keeps it (at least
    MIN_RULE_YIELD of the matching pairs the prior expects). Estimated on whole blocks (every pair of a sampled
    block) sampled by a hash of the rule's keys, YIELD_SAMPLE_PAIRS pairs or so per rule. All rules' samples are
    scored at once; which rules were kept before each is then read off the pairs' `in_<rule>` flags. Rules without
    keys (identifiers, the name swap) are always kept: nothing to sample by, and they cost little."""
    plan = trained.plan
    floor = MIN_RULE_YIELD * (trained.prior.get("expected_matching_pairs") or 0)
    candidates = [i for i, keys in enumerate(plan.keys) if keys is not None]
    pairs = dict(zip(candidates, pairs_sharing_each(engine, "linkage_input", [plan.keys[i] for i in candidates]),
                     strict=True))
    shares = {i: min(1.0, YIELD_SAMPLE_PAIRS / max(pairs[i], 1)) for i in candidates}
    scored = score_yield_samples(engine, trained, shares) if candidates else None
    kept, figures = [], []
    for i, keys in enumerate(plan.keys):
        if keys is None:
            kept.append(i)
            continue
        own = scored[scored["yield_rule"] == i]
        marginal = ~own[[f"in_{k}" for k in kept]].any(axis=1)
        matches = round(float(own["match_probability"][marginal].sum()) / shares[i], 1)
        figures.append({"rule": plan.labels[i], "index": i, "comparisons": pairs[i],
                        "sampled_share": round(shares[i], 4), "expected_matches": matches, "floor": round(floor, 1),
                        "kept": matches >= floor and matches > 0})
        if figures[-1]["kept"]:
            kept.append(i)
    return figures


def keep_productive_rules(engine: Engine, trained: Trained) -> None:
    """Leave out the blocking rules `rule_yields` does not keep (in the plan, in the model's prediction rules); the
    figures of those left out go to `plan.dropped`."""
    figures = rule_yields(engine, trained)
    left_out = {f["index"] for f in figures if not f["kept"]}
    trained.plan.dropped += [{k: f[k] for k in ("rule", "comparisons", "sampled_share", "expected_matches", "floor")}
                             for f in figures if not f["kept"]]
    kept = [i for i in range(len(trained.plan.keys)) if i not in left_out]
    rules = trained.model["blocking_rules_to_generate_predictions"]
    trained.model["blocking_rules_to_generate_predictions"] = [rules[i] for i in kept]
    trained.plan.keep(kept)


def numbered(records: pa.Table) -> tuple[pa.Table, pa.Array]:
    """(`records` with `unique_id` replaced by its rank in the ids' byte order, the ids in that order). Predict joins
    every candidate pair to both its records on `unique_id`: on integers that costs less than on strings, and as
    the numbers keep the strings' order each pair keeps its sides (Splink's unique_id_l < unique_id_r)."""
    order = pc.sort_indices(records["unique_id"])
    ranks = np.empty(records.num_rows, dtype=np.int64)
    ranks[order.to_numpy()] = np.arange(records.num_rows, dtype=np.int64)
    column = records.schema.get_field_index("unique_id")
    return records.set_column(column, "unique_id", pa.array(ranks)), records["unique_id"].take(order).combine_chunks()


def with_text_ids(scored: pa.Table, ids: pa.Array) -> pa.Table:
    """Scored pairs of `numbered` records with their own ids back (row order kept)."""
    for side in ("unique_id_l", "unique_id_r"):
        scored = scored.set_column(scored.schema.get_field_index(side), side, ids.take(scored[side]))
    return scored


def predict(engine: Engine, trained: Trained, records: pa.Table):
    """Score the candidate pairs of `records` (the linkage input) with the fitted model; returns (linker, Splink
    predictions frame, ids). The frame's pairs carry the records' numbers (`numbered`): `with_text_ids(table, ids)`
    gives them their ids back. The candidate pairs are blocked once: counted per rule (`trained.comparisons_by_rule`)
    from the table predict then scores."""
    numbered_records, ids = numbered(records)
    engine.put(numbered_records, "predict_input")
    linker = open_linker(engine.api(), "predict_input", trained.model, trained.tf_tables)
    blocked = linker.inference.compute_blocked_pairs_for_predict()  # cached on the linker: predict reuses it
    counts = engine.api().query_sql(f"SELECT match_key, count(*) AS n FROM {blocked.physical_name} GROUP BY match_key",
                                    output_type="pandas")
    by_key = {str(k): int(n) for k, n in zip(counts["match_key"], counts["n"], strict=True)}
    trained.comparisons_by_rule = [{"rule": label, "comparisons": by_key.get(str(i), 0)}
                                   for i, label in enumerate(trained.plan.labels)]
    return linker, linker.inference.predict(threshold_match_weight=conflicts.predict_weight(trained.conflicts)), ids


def settle_conflicts(trained: Trained, scored: pa.Table) -> conflicts.ConflictModel:
    """Decide, from the scored pairs (Arrow, Splink's columns), which conflicts veto (conflicts.decide)."""
    trained.conflicts = conflicts.decide(trained.conflicts, decision_sample(conflicts.scored_by_splink(scored)))
    return trained.conflicts


def decision_sample(scored: pa.Table) -> pa.Table:
    """The scored pairs the veto-or-penalty decision reads: all of them, or a seeded sample of DECIDE_MAX_PAIRS
    taken in the pairs' id order. A parallel predict returns its rows in no fixed order, and the same pairs must
    give the same sample (so the same decision) on every run."""
    if scored.num_rows <= DECIDE_MAX_PAIRS:
        return scored
    order = pc.sort_indices(scored, sort_keys=[("unique_id_l", "ascending"), ("unique_id_r", "ascending")])
    rows = sorted(random.Random(TRAINING_SEED).sample(range(scored.num_rows), DECIDE_MAX_PAIRS))
    return scored.take(order.take(pa.array(rows, pa.int64())))


def health(trained: Trained) -> dict:
    """Is the model sane? The prior was not clamped, and agreeing exactly on a name or a birth date is
    evidence for a match (m > u), every conflict estimated. Counts only, no personal values."""
    wrong_way = []
    sessions = [s for s in trained.em_sessions if not s.startswith("skipped")]
    # Too few pairs for any EM session (a handful of records): m keeps its defaults, nothing to judge.
    for comparison in (trained.model["comparisons"] if sessions else []):
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        first = levels[0] if levels else {}
        if comparison["output_column_name"] in ("first_name", "last_name", "birth_date") and \
                (first.get("m_probability") or 0) <= (first.get("u_probability") or 1):
            wrong_way.append(comparison["output_column_name"])
    weights = {k: (w.weight if math.isfinite(w.weight) else None) for k, w in trained.conflicts.weights.items()}
    return {"prior_clamped": trained.prior.get("clamped", False),
            "prior": trained.prior.get("kept"), "prior_estimate": trained.prior.get("estimate"),
            "prior_from_rules": trained.prior.get("estimate_from_rules"),
            "prior_from_em": trained.prior.get("estimate_from_em"),
            "expected_matching_pairs": trained.prior.get("expected_matching_pairs"),
            "em_sessions_trained": len(sessions), "u_of_unique_values": trained.unique_u,
            "agreement_levels_against_match": wrong_way, "conflict_weights": weights,
            "healthy": not wrong_way}
