"""Names one typo apart: a mistyped name or two names? Split by how many records hold the rarer one, learned.

The first-name and the surname comparisons' one-typo levels (model._one_edit) give every pair on them one weight,
learned by EM. Each holds two kinds of pairs: a duplicate whose name was mistyped once, where one side is a value
almost no other record holds ('julue' / 'julie', 'duponr' / 'dupont'), and two different common names one letter
apart ('louis' / 'louise', 'martin' / 'martins'), mostly two people (of one household, for first names). At 20k
persons (seed 167, `main` 52cf55e) the first-name pairs on the level whose rarer name at most 16 records hold were
0.998 true, those above 0.32-0.44, and both scored 0.97 / 0.79-0.89; at 100k (seed 173) the pairs sharing a first
name and a surname one typo apart, nothing else, whose rarer surname one record holds were 0.94 true, those above 8
records 0.02, all scored 0.6.

The split, learned per name column on each full re-link (`learn`), refines the level's weight by the likelihood ratio
of the class:
- a pair's class is "rare" when the rarer of its two names is held by at most `t` records of the linkage input;
- P(class | same person, one typo apart), from anchor pairs (conflicts.py: pairs sharing an e-mail or a mobile with
  the birth date or first name not differing, or two fields beside the name) whose names are one typo apart;
- P(class | two people, one typo apart), from the sample of distinct people (u_sample.py): every pair of its names
  one typo apart, weighed by how many people hold each (the random pairs they make), counted exactly;
- `t` is the power of two that separates the two distributions best (information value), so the data say where a
  name stops looking like a typo: it grows with the base, as a name's count does;
- a pair on the level gets log2(P(class | same) / P(class | two people)) bits (`apply`, conflicts.apply's place, full
  and incremental alike), Laplace-smoothed; the two classes average to the level's own weight.
Counts and the threshold only, no name, reach the artefacts and the metadata.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import DamerauLevenshtein

from pipeline.identity.model import ONE_EDIT_LABEL
from pipeline.warehouse import registered

FIRST, LAST = "first_name", "last_name"
COLUMNS = (FIRST, LAST)


def counts(names: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    """How many records hold each name (NULL left out)."""
    grouped = pa.table({"name": names}).group_by("name").aggregate([("name", "count")])
    return {k: n for k, n in zip(grouped["name"].to_pylist(), grouped["name_count"].to_pylist(), strict=True) if k}


def held(con: duckdb.DuckDBPyConnection, table: str = "identity.linkage_input") -> dict[str, dict[str, int]]:
    """How many records of `table` hold each first name and each surname (by column): what `bits` reads, on the base
    the pairs were scored in."""
    return {c: dict(con.execute(f"SELECT {c}, count(*) FROM {table} WHERE {c} <> '' GROUP BY {c}").fetchall())
            for c in COLUMNS}


def held_of(con: duckdb.DuckDBPyConnection, column: str, names: set[str | None],
            table: str = "identity.linkage_input") -> dict[str, int]:
    """`held`'s counts for `names` only (of `column`): clustering asks of the few names its contested records hold."""
    with registered(con, _names=pa.table({"name": pa.array(sorted(n for n in names if n), pa.string())})):
        return dict(con.execute(f"SELECT {column}, count(*) FROM {table} WHERE {column} IN (SELECT name FROM _names) "
                                f"GROUP BY {column}").fetchall())


def one_typo(a: str, b: str) -> bool:
    return a != b and abs(len(a) - len(b)) <= 1 and DamerauLevenshtein.distance(a, b) <= 1


def mistyping(learned: dict, held: dict[str, int]) -> Callable[[str, str], bool] | None:
    """`(name, of)` -> whether `name` reads as a mistyping of `of` by the learned split: one typo apart, in the rare
    class (held by at most `t` records) and held by fewer records than `of`. None when nothing was learned."""
    if not learned:
        return None
    t = learned["rarer_held_by_at_most"]

    def mistyped(name: str, of: str) -> bool:
        n = held.get(name, 0)
        return n <= t and n < held.get(of, 0) and one_typo(name, of)

    return mistyped


def _typo_pairs(names: list[str]) -> list[tuple[str, str]]:
    """Every pair of distinct names one typo apart, found through the names with one letter deleted (two names one
    substitution, insertion, deletion or adjacent swap apart share one), not by comparing every name to every name."""
    by_deletion = defaultdict(set)
    for name in names:
        for i in range(len(name) + 1):
            by_deletion[name[:i] + name[i + 1:]].add(name)
    found = set()
    for group in by_deletion.values():
        ordered = sorted(group)
        found.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:] if one_typo(a, b))
    return sorted(found)


def learn(records: pa.Table, sample: pa.Table, anchors: list[tuple[str, str]], column: str) -> dict:
    """`column`'s threshold and each class's bits; {} where anchors or random pairs one typo apart are missing.
    `anchors`: the two names of the anchor pairs whose `column` values differ (conflicts.estimate's)."""
    holders = counts(records[column])  # what `held` reads on a scoring day
    people = counts(sample[column])
    same = [min(holders.get(a, 0), holders.get(b, 0)) for a, b in anchors if a and b and one_typo(a, b)]
    apart = [(min(holders.get(a, 0), holders.get(b, 0)), people[a] * people[b])
             for a, b in _typo_pairs(sorted(people))]
    if not same or not apart:
        return {}
    same_n, apart_n = np.array(same), np.array([n for n, _ in apart])
    apart_w = np.array([float(w) for _, w in apart])
    best = None
    for t in (2 ** k for k in range(int(math.log2(max(holders.values()))) + 1)):
        p_same = (int((same_n <= t).sum()) + 1) / (len(same) + 2)
        p_apart = (float(apart_w[apart_n <= t].sum()) + 1) / (float(apart_w.sum()) + 2)
        value = (p_same - p_apart) * math.log(p_same / p_apart) \
            + (p_apart - p_same) * math.log((1 - p_same) / (1 - p_apart))
        if best is None or value > best[0]:
            best = (value, t, p_same, p_apart)
    _, t, p_same, p_apart = best
    return {"rarer_held_by_at_most": t, "anchor_pairs": len(same), "anchor_pairs_rare": int((same_n <= t).sum()),
            "random_pairs": round(float(apart_w.sum())), "random_pairs_rare": round(float(apart_w[apart_n <= t].sum())),
            "bits_rare": round(math.log2(p_same / p_apart), 4),
            "bits_common": round(math.log2((1 - p_same) / (1 - p_apart)), 4)}


def level_of(fitted: dict, column: str) -> int | None:
    """The comparison vector value (gamma) of `column`'s one-typo level in the fitted model, None without it."""
    comparison = next((c for c in fitted["comparisons"] if c["output_column_name"] == column), None)
    levels = [lv for lv in (comparison or {}).get("comparison_levels", []) if not lv.get("is_null_level")]
    found = [i for i, lv in enumerate(levels) if lv.get("label_for_charts") == ONE_EDIT_LABEL.format(column=column)]
    return len(levels) - 1 - found[0] if found else None


def bits(pairs: pa.Table, learned: dict, held: dict[str, int], column: str) -> np.ndarray:
    """Each scored pair's bits (0 off `column`'s one-typo level); `held`: each `column` value's records in the linkage
    input."""
    out = np.zeros(pairs.num_rows)
    gamma = f"gamma_{column}"
    if not learned or learned.get("gamma") is None or gamma not in pairs.column_names:
        return out
    on_level = pc.fill_null(pc.equal(pairs[gamma], learned["gamma"]), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(on_level)
    if len(rows):
        names = pairs.take(pa.array(rows)).select([f"{column}_l", f"{column}_r"]).to_pylist()
        rare = np.array([min(held.get(r[f"{column}_l"], 0), held.get(r[f"{column}_r"], 0))
                         <= learned["rarer_held_by_at_most"] for r in names])
        out[rows] = np.where(rare, learned["bits_rare"], learned["bits_common"])
    return out
