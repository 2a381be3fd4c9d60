"""First and last name swapped: the chance that two people's records read so, per pair, from the names' frequencies.

The first-name comparison's level "First and last name swapped" (model.SWAP_LABEL: one record reads (a, b), the other
(b, a)) gets one m and one u. Its m is stable (~0.024 at 20k persons, seeds 251 / 257 / 281: a staff member swaps
the fields of one record in ~1 %), but its u, Splink's count among the u-sample's random pairs, is a handful of pairs:
2.3e-7 to 1.5e-6 across seeds, 14 to 16.7 bits. One u learned for the whole data set is wrong too (swap20, reverted):
q squared (the chance one person's first name is another's surname, both ways) lifted the demo, but linked two
people of one common full name and one postcode on FEBRL4 once one of them was typed swapped. A swap of 'john smith'
is far likelier between two people than a swap of two rare names: like an exact name, it needs its u per pair.

Per pair, under the independence Splink's term frequencies assume: with F and L the frequencies of first names and
surnames, x = F(a) L(b) is the chance that a person is named as the first record reads, y = F(b) L(a) as the second
reads; s is the chance a record is typed swapped. A record reads (a, b) with the chance r(a, b) = (1 - s) x + s y.
- two people: r(a, b) r(b, a);
- one person: s (1 - s) (x + y) (named (a, b), one of the two records typed swapped, or named (b, a));
- s from the level's m against the exact names' (`learn`);
so the pair's u is 2 r(a, b) r(b, a) / (x + y), and the pair gets log2(u_level / u_pair) bits (`bits`, conflicts.apply's
place, full and incremental alike). For a swap of a name whose reversal nobody bears (y ~ 0) the swap weighs
log2(1 / x): the full name's own evidence, as an exact full name does, common names less, rare names more. The
frequencies are the records' of the linkage input (`name_typos.held`, the base the pairs were scored in).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.identity.model import SWAP_LABEL

FIRST, LAST = "first_name", "last_name"


def _levels(fitted: dict, column: str) -> list[dict]:
    comparison = next((c for c in fitted["comparisons"] if c["output_column_name"] == column), None)
    return [lv for lv in (comparison or {}).get("comparison_levels", []) if not lv.get("is_null_level")]


def learn(fitted: dict) -> dict:
    """The swap level's comparison vector value (gamma), m and u in the fitted model, and the swap rate s: {} without
    the level (or an m or u to read). One person's two records are on the swap level when one is typed swapped and
    neither name mistyped, m = 2 s (1 - s) c, and on both names' exact levels when neither is, m_first m_last =
    (1 - s)^2 c (c: no name mistyped, the names' errors independent as Splink's model takes them): s = k / (2 + k),
    k = m / (m_first m_last). Read from m alone (c = 1), s was half FEBRL4's (0.023 against 0.045: its duplicates
    mistype a name in ~30 %), and a swap of a common full name weighed more than that full name typed alike."""
    levels = _levels(fitted, FIRST)
    found = [i for i, lv in enumerate(levels) if lv.get("label_for_charts") == SWAP_LABEL]
    exact = [(_levels(fitted, c) or [{}])[0].get("m_probability") for c in (FIRST, LAST)]
    if not found or not all(exact):
        return {}
    level = levels[found[0]]
    m, u = level.get("m_probability"), level.get("u_probability")
    if not m or not u:
        return {}
    k = m / (exact[0] * exact[1])
    return {"gamma": len(levels) - 1 - found[0], "m": m, "u": u, "swap_rate": k / (2 + k)}


def bits(pairs: pa.Table, learned: dict, held: dict[str, dict[str, int]]) -> np.ndarray:
    """Each scored pair's bits (0 off the swap level); `held`: each first name's and surname's records in the linkage
    input (name_typos.held)."""
    out = np.zeros(pairs.num_rows)
    gamma = f"gamma_{FIRST}"
    if not learned or gamma not in pairs.column_names:
        return out
    rows = np.flatnonzero(pc.fill_null(pc.equal(pairs[gamma], learned["gamma"]), False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return out
    firsts, lasts = held[FIRST], held[LAST]
    n_first, n_last = max(sum(firsts.values()), 1), max(sum(lasts.values()), 1)
    names = pairs.take(pa.array(rows)).select([f"{FIRST}_l", f"{LAST}_l"]).to_pylist()
    # A value the records hold once at least (each side of the pair holds it): never a zero frequency.
    x = np.array([max(firsts.get(r[f"{FIRST}_l"], 0), 1) * max(lasts.get(r[f"{LAST}_l"], 0), 1) for r in names])
    y = np.array([max(firsts.get(r[f"{LAST}_l"], 0), 1) * max(lasts.get(r[f"{FIRST}_l"], 0), 1) for r in names])
    x, y = x / (n_first * n_last), y / (n_first * n_last)
    s = learned["swap_rate"]
    u_pair = 2 * ((1 - s) * x + s * y) * ((1 - s) * y + s * x) / (x + y)
    out[rows] = np.log2(learned["u"] / u_pair)
    return out
