"""Where linkage recall is lost, stage by stage, on a built warehouse with a truth file.

    python bench/identity_diagnosis.py --warehouse W.duckdb --truth truth.csv [--artefacts DIR]

Each stage's figure is the pairwise recall its *transitive closure* allows (clusters are what counts, and a
person's records can be joined through a third record even when two of them share nothing):
1. any shared value: true pairs agreeing exactly on at least one compared field; then the same without the
   pairs that share a first name and nothing else (a first name alone is no evidence of a person: this is the
   recall no linker can pass without guessing);
2. blocking: true pairs the run's blocking rules propose (the saved model's rules);
3. scored >= threshold: true candidate pairs the model scores at or above the clustering threshold;
4. after the veto: the same, without the pairs contrary evidence vetoes;
5. clusters: the run's clusters (what identity.linkage_quality reports).
Then the vetoed pairs, the record pairs whose only evidence is the full name (`full_name_only`: the data's
namesake rate, the part of the loss that grows with the base), and what reading a surname from another word of the
mailbox would add to blocking (`mailbox_surname`: the largest never-compared share an e-mail still explains).
Counts only: no personal value is printed.

`--classes`: instead, the true pairs lost between two clusters of one person, per pair of clusters, in one class by
the best pair of records across them: (d) a pair >= threshold not vetoed (clustering refused it or an exclusive
alternative outweighed it), (c) vetoed, (b) scored 0.5-threshold, (b2) proposed by the blocking rules but scored
below 0.5 (not kept), (a) never compared; each with the fields the two clusters share exactly on any pair of their
records (the evidence the linker had); each row also per 1,000 true pairs, to compare sizes of one generator.

`--never-compared`: class (a) alone, by the fields both clusters hold and the nearest agreement beyond exact (a typo,
the first name's initial, an e-mail's mailbox name holding the other side's surname): what a new blocking key could
still reach, and whether the pair would carry evidence once compared.

`--after-comparison`: the true pairs lost although compared (classes b2, b, c, d), in three tables: (1) per comparison
level, the true record pairs across two clusters of one person scored below the threshold (not vetoed) against all
true pairs compared, with the level's learned bits log2(m / u) (which level drags them down), and their gamma
patterns with the false pairs split and scored low on the same pattern (what accepting a pattern would cost); (2) per comparison, the
learned m of each level beside the truth's (the share of all true record pairs holding the field on both sides at
that level among the pairs compared, beside the learned u; then over every true pair, compared or not, how often a
contact field differs between one person's records holding it); (3) per clustering refusal rule, the
pairs of final clusters an edge >= threshold (not vetoed) joins, by the first rule that refuses their merge replayed
on the final clusters (outweighed_by_rivals' table, the size guard, a veto between members, `apart`,
UnsharedContacts), with the true and false record pairs across them: each rule's precision on what it refused.

Records a purge emptied after linking (erasure, retention) are left out of every stage, and they are not a random
share: a person split over two clusters leaves a fragment that looks inactive, so retention purges split
persons' records more often than others. Diagnose a warehouse built with C360_RETENTION_DAYS large enough that
nothing expires (the row "purged records left out" says how many were left out) to see the whole loss.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import household_diagnosis
from pipeline.identity.clustering import connected_components
from pipeline.sql import literal, scalar

COMPARED = ("first_name", "last_name", "birth_date", "email", "mobile", "landline", "street", "postcode")


def _components(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return connected_components(sorted({u for pair in pairs for u in pair}), pairs)


def closure_recall(con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> tuple[int, float]:
    """(direct true pairs, pairwise recall of the transitive closure of those true pairs)."""
    comp = _components(pairs)
    frame = pd.DataFrame({"unique_id": list(comp), "comp": list(comp.values())})
    con.register("_c_in", frame)
    con.execute("CREATE OR REPLACE TEMP TABLE _c AS SELECT * FROM _c_in")
    con.unregister("_c_in")
    reached, total = con.execute("""
        SELECT (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (
                    SELECT count(*) n FROM _t t LEFT JOIN _c c USING (unique_id)
                    GROUP BY t.person_id, coalesce(c.comp, t.unique_id))),
               (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) n FROM _t GROUP BY person_id))""").fetchall()[0]
    return len(pairs), round(float(reached) / float(total), 4)


def diagnose(warehouse: Path, truth: Path, artefacts: Path, threshold: float = 0.8) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    columns = {r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()}
    compared = [c for c in columns if c in COMPARED or c.startswith("id_")]
    # Records a purge emptied after linking (erasure, retention) carry no value any more: left out of every stage.
    con.execute(f"""CREATE TEMP TABLE _t AS SELECT source || ':' || source_record_id AS unique_id, person_id
        FROM read_csv({literal(truth)}, all_varchar = true)
        WHERE source || ':' || source_record_id IN (SELECT unique_id FROM identity.linkage_input
                                                    WHERE coalesce({', '.join(compared)}) IS NOT NULL)""")
    con.execute("""CREATE TEMP TABLE _tp AS SELECT a.unique_id AS a, b.unique_id AS b
        FROM _t a JOIN _t b ON a.person_id = b.person_id AND a.unique_id < b.unique_id""")
    total = scalar(con, "SELECT count(*) FROM _tp")
    join = "FROM _tp p JOIN identity.linkage_input l ON l.unique_id = p.a JOIN identity.linkage_input r ON r.unique_id = p.b"
    shared = con.execute(f"SELECT p.a, p.b {join} WHERE "
                         + " OR ".join(f"l.{c} = r.{c}" for c in compared)).fetchall()
    beyond_first_name = con.execute(f"SELECT p.a, p.b {join} WHERE "
                                    + " OR ".join(f"l.{c} = r.{c}" for c in compared if c != "first_name")).fetchall()
    rules = [r["blocking_rule"] for r in
             json.loads((artefacts / "splink_model.json").read_text())["blocking_rules_to_generate_predictions"]]
    blocked = con.execute(f"SELECT p.a, p.b {join} WHERE " + " OR ".join(f"({r})" for r in rules)).fetchall()
    tp_pred = """FROM identity.pairwise_predictions x JOIN _tp p
        ON p.a = least(x.unique_id_l, x.unique_id_r) AND p.b = greatest(x.unique_id_l, x.unique_id_r)"""
    scored = con.execute(f"SELECT p.a, p.b {tp_pred} WHERE x.match_probability >= ?", [threshold]).fetchall()
    kept = con.execute(f"SELECT p.a, p.b {tp_pred} WHERE x.match_probability >= ? AND NOT x.contrary_evidence",
                       [threshold]).fetchall()
    vetoed = scalar(con, f"SELECT count(*) {tp_pred} WHERE x.contrary_evidence")
    false_vetoed = scalar(con, "SELECT count(*) FROM identity.pairwise_predictions WHERE contrary_evidence") - vetoed
    final = con.execute("""SELECT a.unique_id, b.unique_id FROM identity.clusters a JOIN identity.clusters b
        ON a.cluster_key = b.cluster_key AND a.unique_id < b.unique_id""").fetchall()
    rows = [{"stage": "true pairs", "direct": total, "closure_recall": 1.0}]
    for stage, pairs in (("any shared value", shared), ("a shared value beyond a first name", beyond_first_name),
                         ("blocking rules", blocked),
                         (f"scored >= {threshold}", scored), ("after the veto", kept)):
        direct, reach = closure_recall(con, pairs)
        rows.append({"stage": stage, "direct": direct, "direct_share": round(direct / total, 4),
                     "closure_recall": reach})
    tp_final = [(a, b) for a, b in final]
    _, reach = closure_recall(con, tp_final)
    rows.append({"stage": "clusters (recall)", "closure_recall": reach})
    rows.append({"stage": "vetoed pairs", "true": vetoed, "not true": false_vetoed})
    rows.append(full_name_only(con, compared, total))
    rows.append(mailbox_surname(con, blocked, total))
    purged = scalar(con, "SELECT count(*) FROM identity.purged_records") \
        if scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'identity' "
                       "AND table_name = 'purged_records'") else 0
    rows.append({"stage": "purged records left out", "records": purged})
    con.close()
    return rows


def full_name_only(con: duckdb.DuckDBPyConnection, compared: list[str], total: int) -> dict:
    """Record pairs agreeing exactly on first name and surname with no other compared field held by both: the
    evidence is the full name alone, and how often that is one person is the data's namesake rate, which falls
    as the base grows (the same generator at 20k and 100k persons, seed 257: 0.953 and 0.798 true; false pairs
    per 1,000 true pairs 4.0 and 19.8). A model whose prior falls as 1 / N scores them lower at 100k, rightly."""
    if not {"first_name", "last_name"} <= set(compared):
        return {"stage": "full name and nothing else comparable", "pairs": 0}
    others = " AND ".join(f"NOT (l.{c} IS NOT NULL AND r.{c} IS NOT NULL)"
                          for c in compared if c not in ("first_name", "last_name"))
    pairs, true = con.execute(f"""
        SELECT count(*), coalesce(sum((a.person_id = b.person_id)::INT), 0)
        FROM identity.linkage_input l JOIN identity.linkage_input r
          ON l.first_name = r.first_name AND l.last_name = r.last_name AND l.unique_id < r.unique_id
        JOIN _t a ON a.unique_id = l.unique_id JOIN _t b ON b.unique_id = r.unique_id
        WHERE {others or 'true'}""").fetchall()[0]
    return {"stage": "full name and nothing else comparable", "pairs": pairs, "true": true,
            "true_share": round(true / pairs, 4) if pairs else None,
            "false_per_1000_true_pairs": round(1000 * (pairs - true) / max(total, 1), 1)}


def mailbox_surname(con: duckdb.DuckDBPyConnection, blocked: list[tuple[str, str]], total: int) -> dict:
    """A record holding a first name and no surname whose two-word mailbox has a word the data hold as a surname more
    often than as a first name, not explained by its first name (`features.MAILBOX_NAMES_SQL` reads a surname only when
    the first name, or its initial, is the other word: 'dupont.famille@', or 'jean.dupont@' on Marie's record, read
    nothing): the pairs with a record of the same first name and that surname. What blocking would reach with such a
    reading (closure), and how many such pairs are one person (a household's surname on a member's record: the name
    is the household's, the person is not always the one the other record names; seed 257 at 20k, 0.93 true overall,
    0.78 among the pairs split across clusters today)."""
    if not {"first_name_canonical", "last_name", "email"} <= {r[0] for r in con.execute(
            "DESCRIBE identity.linkage_input").fetchall()}:
        return {"stage": "a surname read from any mailbox word", "pairs": 0}
    pairs = con.execute("""
        WITH counts AS (SELECT v, sum(f)::BIGINT AS f, sum(l)::BIGINT AS l FROM (
                            SELECT first_name AS v, 1 AS f, 0 AS l FROM identity.linkage_input WHERE first_name IS NOT NULL
                            UNION ALL
                            SELECT last_name, 0, 1 FROM identity.linkage_input WHERE last_name IS NOT NULL) GROUP BY v),
             boxes AS (SELECT unique_id, first_name, first_name_canonical,
                              regexp_extract_all(split_part(email, '@', 1), '[a-z]+') AS words
                       FROM identity.linkage_input
                       WHERE last_name IS NULL AND first_name IS NOT NULL AND email IS NOT NULL),
             reads AS (SELECT b.unique_id, b.first_name_canonical, w.word AS surname
                       FROM (SELECT *, unnest(words) AS word FROM boxes WHERE len(words) = 2
                             AND NOT list_contains(words, first_name) AND NOT list_contains(words, left(first_name, 1))) w
                       JOIN boxes b USING (unique_id) JOIN counts c ON c.v = w.word
                       WHERE c.l > c.f AND length(w.word) >= 3)
        SELECT least(r.unique_id, o.unique_id), greatest(r.unique_id, o.unique_id)
        FROM reads r JOIN identity.linkage_input o
          ON o.first_name_canonical = r.first_name_canonical AND o.last_name = r.surname""").fetchall()
    con.register("_mb_in", pd.DataFrame(pairs, columns=["a", "b"]))
    true = scalar(con, "SELECT count(*) FROM _mb_in m JOIN _tp p USING (a, b)")
    con.unregister("_mb_in")
    _, reach = closure_recall(con, blocked + pairs)
    return {"stage": "blocking + a surname read from any mailbox word", "pairs": len(pairs), "true": true,
            "true_share": round(true / len(pairs), 4) if pairs else None, "closure_recall": reach,
            "true_per_1000_true_pairs": round(1000 * true / max(total, 1), 2)}


def _fragments(warehouse: Path, truth: Path, artefacts: Path) -> tuple[duckdb.DuckDBPyConnection, list[str], list[str]]:
    """The warehouse (read-only) with temp table _rp (each record's cluster and true person), the saved model's
    blocking rules and the compared fields the linkage input holds."""
    con = duckdb.connect(str(warehouse), read_only=True)
    rules = [r["blocking_rule"] for r in
             json.loads((artefacts / "splink_model.json").read_text())["blocking_rules_to_generate_predictions"]]
    fields = [c for c in COMPARED if c in {r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()}]
    con.execute(f"""CREATE TEMP TABLE _rp AS SELECT c.unique_id, c.cluster_key, t.person_id FROM identity.clusters c
        JOIN (SELECT source || ':' || source_record_id AS unique_id, person_id
              FROM read_csv({literal(truth)}, all_varchar = true)) t USING (unique_id)""")
    return con, rules, fields


def lost_by_class(warehouse: Path, truth: Path, artefacts: Path, threshold: float = 0.8) -> list[dict]:
    """Lost true pairs by class and by the fields shared exactly (see the module docstring)."""
    con, rules, fields = _fragments(warehouse, truth, artefacts)
    shared = ", ".join(f"bool_or(l.{f} = r.{f}) AS {f}" for f in fields)
    rows = con.execute(f"""
        WITH frag AS (SELECT person_id, cluster_key, count(*) AS n FROM _rp GROUP BY ALL),
        lost AS (SELECT a.person_id, a.cluster_key AS k1, b.cluster_key AS k2, a.n * b.n AS pairs
                 FROM frag a JOIN frag b ON a.person_id = b.person_id AND a.cluster_key < b.cluster_key),
        across AS (SELECT l.person_id, l.k1, l.k2, least(x.unique_id, y.unique_id) AS a,
                          greatest(x.unique_id, y.unique_id) AS b
                   FROM lost l JOIN _rp x ON x.person_id = l.person_id AND x.cluster_key = l.k1
                   JOIN _rp y ON y.person_id = l.person_id AND y.cluster_key = l.k2),
        judged AS (SELECT c.person_id, c.k1, c.k2, {shared},
                          bool_or(p.match_probability >= $t AND NOT p.contrary_evidence) AS kept,
                          bool_or(p.match_probability >= $t AND p.contrary_evidence) AS vetoed,
                          bool_or(p.match_probability IS NOT NULL AND NOT p.contrary_evidence) AS scored,
                          bool_or({' OR '.join(f'({r})' for r in rules)}) AS blocked
                   FROM across c JOIN identity.linkage_input l ON l.unique_id = c.a
                   JOIN identity.linkage_input r ON r.unique_id = c.b
                   LEFT JOIN identity.pairwise_predictions p ON p.unique_id_l = c.a AND p.unique_id_r = c.b
                   GROUP BY ALL)
        SELECT CASE WHEN kept THEN 'd refused by clustering or outweighed' WHEN vetoed THEN 'c vetoed'
                    WHEN scored THEN 'b scored 0.5-threshold' WHEN blocked THEN 'b2 blocked, scored < 0.5'
                    ELSE 'a never compared' END AS class,
               concat_ws('+', {', '.join(f"CASE WHEN {f} THEN '{f}' END" for f in fields)}) AS shared,
               sum(pairs)::BIGINT AS pairs
        FROM lost JOIN judged USING (person_id, k1, k2) GROUP BY ALL ORDER BY class, pairs DESC""",
                       {"t": threshold}).fetchall()
    total = scalar(con, "SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM _rp GROUP BY person_id)")
    con.close()
    # per 1,000 true pairs: the same class compared across sizes of one generator (where scale costs recall)
    return [{"class": c, "shared": s or "nothing", "pairs": n, "per_1000_true_pairs": round(1000 * n / max(total, 1), 2)}
            for c, s, n in rows]


def never_compared(warehouse: Path, truth: Path, artefacts: Path) -> list[dict]:
    """The pairs of one person's clusters no blocking rule compared (class a of `--classes`), by the fields both
    fragments hold and by the nearest agreement any pair of their records shows beyond exact (what a new blocking
    key could reach, and whether the pair would then carry evidence to score): a typo (Jaro-Winkler >= 0.88), the
    first name's initial, an e-mail's mailbox name holding the other side's surname. Per 1,000 true pairs."""
    con, rules, fields = _fragments(warehouse, truth, artefacts)
    held = ", ".join(f"bool_or(l.{f} IS NOT NULL AND r.{f} IS NOT NULL) AS {f}" for f in fields)
    near = {"exact": " OR ".join(f"l.{f} = r.{f}" for f in fields),
            "typo": " OR ".join(f"(l.{f} <> r.{f} AND jaro_winkler_similarity(l.{f}, r.{f}) >= 0.88)" for f in fields),
            "initial": "substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)",
            "mailbox holds surname": "strpos(split_part(l.email, '@', 1), r.last_name) > 0 "
                                     "OR strpos(split_part(r.email, '@', 1), l.last_name) > 0"}
    near = {k: v for k, v in near.items() if all(f"l.{f}" not in v or f in fields for f in COMPARED)}  # mapped only
    agree = ", ".join(f"CASE WHEN \"{k}\" THEN '{k}' END" for k in near)
    rows = con.execute(f"""
        WITH frag AS (SELECT person_id, cluster_key, count(*) AS n FROM _rp GROUP BY ALL),
        lost AS (SELECT a.person_id, a.cluster_key AS k1, b.cluster_key AS k2, a.n * b.n AS pairs
                 FROM frag a JOIN frag b ON a.person_id = b.person_id AND a.cluster_key < b.cluster_key),
        judged AS (SELECT s.person_id, s.k1, s.k2, any_value(s.pairs) AS pairs, {held},
                          {', '.join(f'coalesce(bool_or({v}), false) AS "{k}"' for k, v in near.items())},
                          coalesce(bool_or({' OR '.join(f'({r})' for r in rules)}), false) AS blocked
                   FROM lost s JOIN _rp x ON x.person_id = s.person_id AND x.cluster_key = s.k1
                   JOIN _rp y ON y.person_id = s.person_id AND y.cluster_key = s.k2
                   JOIN identity.linkage_input l ON l.unique_id = least(x.unique_id, y.unique_id)
                   JOIN identity.linkage_input r ON r.unique_id = greatest(x.unique_id, y.unique_id)
                   GROUP BY ALL)
        SELECT concat_ws('+', {', '.join(f"CASE WHEN {f} THEN '{f}' END" for f in fields)}) AS both_hold,
               concat_ws('+', {agree}) AS agree,
               sum(pairs)::BIGINT AS pairs
        FROM judged WHERE NOT blocked GROUP BY ALL ORDER BY pairs DESC""").fetchall()
    total = scalar(con, "SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM _rp GROUP BY person_id)")
    con.close()
    return [{"both_hold": h or "nothing", "agree": a or "nothing", "pairs": n,
             "per_1000_true_pairs": round(1000 * n / max(total, 1), 2)} for h, a, n in rows]


def _levels(model: dict) -> dict[str, list[tuple[int, str, float, float]]]:
    """comparison -> [(gamma, label, m, u)] of its non-null levels (Splink numbers the first level highest)."""
    out = {}
    for c in model["comparisons"]:
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
        out[c["output_column_name"]] = [(len(levels) - 1 - i, lv.get("label_for_charts", ""),
                                         lv.get("m_probability") or 0.0, lv.get("u_probability") or 0.0)
                                        for i, lv in enumerate(levels)]
    return out


def _bits(m: float, u: float) -> float | None:
    return round(math.log2(m / u), 2) if m > 0 and u > 0 else None


def after_comparison(warehouse: Path, truth: Path, artefacts: Path, threshold: float = 0.8) -> list[dict]:
    """The loss after comparison: levels of the true pairs scored below the threshold, learned m against the truth's,
    clustering refusals by rule with their true and false pairs (see the module docstring)."""
    con, _, _ = _fragments(warehouse, truth, artefacts)
    levels = _levels(json.loads((artefacts / "splink_model.json").read_text()))
    present = {r[0] for r in con.execute("DESCRIBE identity.pairwise_predictions").fetchall()}
    levels = {c: lv for c, lv in levels.items() if f"gamma_{c}" in present}
    total = scalar(con, "SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM _rp GROUP BY person_id)")
    per_k = 1000 / max(total, 1)
    con.execute("""CREATE TEMP TABLE _tpp AS SELECT p.*, x.cluster_key <> y.cluster_key AS split
        FROM identity.pairwise_predictions p JOIN _rp x ON x.unique_id = p.unique_id_l
        JOIN _rp y ON y.unique_id = p.unique_id_r WHERE x.person_id = y.person_id""")
    rows: list[dict] = []
    low = "split AND match_probability < $t AND NOT contrary_evidence"
    lost, compared = con.execute(f"SELECT count(*) FILTER (WHERE {low}), count(*) FROM _tpp", {"t": threshold}).fetchone()
    rows.append({"table": "true pairs scored < threshold, split", "pairs": lost, "per_1000_true_pairs":
                 round(lost * per_k, 2), "of_true_pairs_compared": compared})
    for c, lv in levels.items():
        counts = {(g, b): n for g, b, n in con.execute(
            f"SELECT gamma_{c}, {low}, count(*) FROM _tpp GROUP BY ALL", {"t": threshold}).fetchall()}
        for g, label, m, u in [(-1, "null", 1.0, 1.0), *lv]:
            n_low, n_all = counts.get((g, True), 0), counts.get((g, True), 0) + counts.get((g, False), 0)
            if n_low:
                rows.append({"table": "level of the lost low pairs", "comparison": c, "level": label,
                             "bits": _bits(m, u), "lost_low": n_low, "lost_share": round(n_low / max(lost, 1), 3),
                             "true_compared": n_all, "lost_rate": round(n_low / n_all, 4)})
    # the same patterns among every pair split across clusters and scored low: what accepting a pattern would cost
    patterns = ", ".join(f"p.gamma_{c}" for c in levels)
    for *gammas, n, false, w in con.execute(f"""SELECT {patterns}, count(*) FILTER (WHERE x.person_id = y.person_id),
                   count(*) FILTER (WHERE x.person_id <> y.person_id), round(avg(p.match_weight), 2)
            FROM identity.pairwise_predictions p JOIN _rp x ON x.unique_id = p.unique_id_l
            JOIN _rp y ON y.unique_id = p.unique_id_r
            WHERE x.cluster_key <> y.cluster_key AND p.match_probability < $t AND NOT p.contrary_evidence
            GROUP BY ALL ORDER BY 1 + count(*) FILTER (WHERE x.person_id = y.person_id) DESC LIMIT 12""",
                                         {"t": threshold}).fetchall():
        rows.append({"table": "pattern of the lost low pairs", **dict(zip(levels, gammas, strict=True)),
                     "true": n, "false": false, "true_per_1000_true_pairs": round(n * per_k, 2),
                     "false_per_1000_true_pairs": round(false * per_k, 2), "mean_weight": w})
    # (2) learned m against the truth's: every true record pair holding the field on both sides, by level
    for c, lv in levels.items():
        true_n = dict(con.execute(f"SELECT gamma_{c}, count(*) FROM _tpp WHERE gamma_{c} >= 0 GROUP BY 1").fetchall())
        t_sum = sum(true_n.values()) or 1
        for g, label, m, u in lv:
            tm = true_n.get(g, 0) / t_sum
            rows.append({"table": "learned m against the truth (compared pairs)", "comparison": c, "level": label,
                         "m_learned": round(m, 5), "m_true": round(tm, 5), "u_learned": u,
                         "bits_learned": _bits(m, u), "bits_true_m": _bits(tm, u)})
    for f in ("email", "mobile", "landline"):  # over all true pairs, compared or not: several contacts per person
        if f not in {r[0] for r in con.execute("DESCRIBE identity.linkage_input").fetchall()}:
            continue
        both, differ = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE l.{f} <> r.{f})
            FROM _rp x JOIN _rp y ON x.person_id = y.person_id AND x.unique_id < y.unique_id
            JOIN identity.linkage_input l ON l.unique_id = x.unique_id JOIN identity.linkage_input r ON r.unique_id = y.unique_id
            WHERE l.{f} IS NOT NULL AND r.{f} IS NOT NULL""").fetchone()
        rows.append({"table": "contact differs between one person's records (all true pairs)", "field": f,
                     "both_hold": both, "differ": differ, "m_else_true": round(differ / max(both, 1), 5)})
    rows += refusals(con, artefacts, threshold, per_k)
    con.close()
    return rows


def refusals(con: duckdb.DuckDBPyConnection, artefacts: Path, threshold: float, per_k: float) -> list[dict]:
    """Pairs of final clusters an edge >= threshold (not vetoed) joins, by the first rule refusing their merge on the
    final clusters (in clustering's order), with the true and false record pairs across them."""
    from pipeline.config import LinkagePolicy
    from pipeline.identity.clustering import UnsharedContacts
    from pipeline.identity.conflicts import ConflictModel
    from pipeline.identity.resolve import person_keys
    learned = ConflictModel.load(artefacts / "conflict_weights.json")
    members: dict[str, list[str]] = defaultdict(list)
    for uid, key in con.execute("SELECT unique_id, cluster_key FROM identity.clusters").fetchall():
        members[key].append(uid)
    edges = con.execute("""SELECT c1.cluster_key, c2.cluster_key, p.unique_id_l, p.unique_id_r, p.match_weight,
            o.unique_id_l IS NOT NULL FROM identity.pairwise_predictions p
        JOIN identity.clusters c1 ON c1.unique_id = p.unique_id_l JOIN identity.clusters c2 ON c2.unique_id = p.unique_id_r
        LEFT JOIN identity.outweighed_pairs o USING (unique_id_l, unique_id_r)
        WHERE p.match_probability >= ? AND NOT p.contrary_evidence AND c1.cluster_key <> c2.cluster_key""",
                        [threshold]).fetchall()
    joined: dict[tuple[str, str], list] = defaultdict(list)
    for k1, k2, left, right, w, out in edges:
        joined[(min(k1, k2), max(k1, k2))].append((w, left, right, out))
    ids = {u for k in {k for pair in joined for k in pair} for u in members[k]}
    keys = person_keys(con, ids)
    fields = sorted(f for f, b in (learned.unshared or {}).items() if b < 0)
    values = {}
    if fields:
        for uid, *vals in con.execute(f"SELECT unique_id, {', '.join(fields)} FROM identity.linkage_input").fetchall():
            if uid in ids:
                values[uid] = tuple(vals)
    unshared = UnsharedContacts(values, tuple(learned.unshared[f] for f in fields), threshold) if fields else None
    person = dict(con.execute("SELECT unique_id, person_id FROM _rp").fetchall())
    max_size = LinkagePolicy().max_cluster_size  # the default policy (the demo's)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (k1, k2), es in joined.items():
        ma, mb = members[k1], members[k2]
        w, left, right, _ = max(es)
        if all(out for *_, out in es):
            rule = "outweighed_by_rivals (every edge across)"
        elif len(ma) + len(mb) > max_size:
            rule = "size guard"
        elif any(learned.vetoes(keys[x], keys[y]) for x in ma for y in mb):
            rule = "veto between members"
        elif learned.cluster_veto is not None and learned.cluster_veto([keys[x] for x in ma], [keys[y] for y in mb]):
            rule = "apart (confirmed conflict)"
        elif unshared is not None and unshared.refuses(w, left, right, ma, mb):
            rule = "UnsharedContacts.refuses"
        else:
            rule = "none on the final clusters (order, household attachment, kept component)"
        true = sum(person.get(x) is not None and person.get(x) == person.get(y) for x in ma for y in mb)
        t = tally[rule]
        t[0] += 1
        t[1] += true
        t[2] += len(ma) * len(mb) - true
    return [{"table": "clustering refusals replayed on the final clusters", "rule": r, "cluster_pairs": n,
             "true_pairs_refused": t, "false_pairs_refused": f, "true_per_1000_true_pairs": round(t * per_k, 2),
             "precision_of_refusal": round(f / max(t + f, 1), 4)} for r, (n, t, f) in sorted(tally.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--artefacts", help="folder of splink_model.json (default: beside the warehouse)")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--households", action="store_true",
                        help="instead: the pairs lost by class, and how many households decide (household_diagnosis.py)")
    parser.add_argument("--classes", action="store_true",
                        help="instead: the pairs lost by class (never compared, scored below, vetoed, clustering) and "
                             "the fields they share")
    parser.add_argument("--never-compared", action="store_true",
                        help="instead: the pairs no blocking rule compared, by the fields both sides hold and agreement")
    parser.add_argument("--after-comparison", action="store_true",
                        help="instead: the true pairs lost although compared: levels of those scored low, learned m "
                             "against the truth's, clustering refusals by rule with their precision")
    args = parser.parse_args(argv)
    warehouse = Path(args.warehouse)
    artefacts = Path(args.artefacts) if args.artefacts else warehouse.parent / "artefacts"
    if args.households:
        rows = household_diagnosis.diagnose(warehouse, Path(args.truth))
    elif args.after_comparison:
        rows = after_comparison(warehouse, Path(args.truth), artefacts, args.threshold)
    elif args.never_compared:
        rows = never_compared(warehouse, Path(args.truth), artefacts)
    elif args.classes:
        rows = lost_by_class(warehouse, Path(args.truth), artefacts, args.threshold)
    else:
        rows = diagnose(warehouse, Path(args.truth), artefacts, args.threshold)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
