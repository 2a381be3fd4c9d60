"""Data shapes a user may bring that the demo and FEBRL never have, through real Splink (`link.train_and_predict`):
a base of a few dozen records, names only, e-mails only. Each must train a model in which the fields it holds count
as evidence, and link the records that agree on them."""

from __future__ import annotations

import json
import random

import pyarrow as pa

from pipeline.identity import link

COLUMNS = ("first_name", "first_name_canonical", "last_name", "birth_date", "email", "mobile", "landline", "street",
           "postcode", "city")
FIRSTS = ["anne", "paul", "marc", "lea", "hugo", "emma", "louis", "chloe", "jules", "ines", "noah", "zoe", "oscar",
          "alice", "victor", "rose", "arthur", "jade", "gabriel", "lina"]


def _table(rows: list[dict]) -> pa.Table:
    full = [{"unique_id": f"s:{r['id']}", "source": "s", "source_record_id": r["id"], "record_hash": r["id"],
             **{c: r.get(c) for c in COLUMNS}} for r in rows]
    for r in full:
        r["first_name_canonical"] = r["first_name"]
    return pa.Table.from_pylist(full, schema=pa.schema([(c, pa.string()) for c in full[0]]))  # as staged: text


def _surname(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghklmnprstv") + rng.choice("aeiou") for _ in range(3))


def _linked_pairs(result: link.LinkResult, threshold: float = 0.8) -> set[tuple[str, str]]:
    return {tuple(sorted((r["unique_id_l"], r["unique_id_r"]))) for r in result.predictions.to_pylist()
            if r["match_probability"] >= threshold}


def _exact_level(model_path, column: str) -> dict:
    comparison = next(c for c in json.loads(model_path.read_text())["comparisons"] if c["output_column_name"] == column)
    return next(level for level in comparison["comparison_levels"] if not level.get("is_null_level"))


def test_a_base_too_small_for_any_em_session_still_links_records_that_agree(tmp_path):
    """20 records, 10 people, each held twice with the same names, birth date and postcode; people share first names,
    surnames, birth dates and postcodes (never two people all four), so each field's u is observed. No training key reaches
    recipe.MIN_EM_PAIRS pairs, so no EM session trains: the comparisons keep Splink's default m (agreement counts)
    instead of an m equal to u, which made every field worth nothing and left the pairs unlinked."""
    rows = []
    for p in range(10):
        person = {"first_name": FIRSTS[p % 5], "last_name": ["martin", "bernard", "petit", "durand", "leroy", "roux",
                                                               "morel"][p % 7],
                  "birth_date": f"198{p % 6}-05-17", "postcode": f"{2000 + p % 3}"}
        rows += [{"id": f"{p}-{copy}", **person} for copy in range(2)]
    result = link.train_and_predict(_table(rows), tmp_path)
    assert result.health["em_sessions_trained"] == 0
    assert _linked_pairs(result) == {(f"s:{p}-0", f"s:{p}-1") for p in range(10)}


def test_names_only_link_though_no_em_session_can_estimate_the_names(tmp_path):
    """A source of first and last names only: the one EM session blocks on both names' prefixes, and each name
    comparison reads both names, so the session estimates neither. They keep Splink's default m: a pair agreeing on
    both names links (before: m = u, no pair scored at all); a shared first name with another surname does not."""
    rng = random.Random(5)
    rows, people = [], 200
    for p in range(people):
        first, last = FIRSTS[p % len(FIRSTS)], _surname(rng)
        rows += [{"id": f"{p}-{copy}", "first_name": first, "last_name": last} for copy in range(2)]
    result = link.train_and_predict(_table(rows), tmp_path)
    first = _exact_level(result.model_path, "first_name")
    assert first["m_probability"] > 10 * first["u_probability"]
    names = {f"s:{r['id']}": (r["first_name"], r["last_name"]) for r in rows}
    linked = _linked_pairs(result)
    own = {(f"s:{p}-0", f"s:{p}-1") for p in range(people)}
    assert len(own & linked) >= 0.95 * people
    assert all(names[a] == names[b] for a, b in linked)


def test_an_e_mail_only_source_trains_and_keeps_its_e_mail_comparison(tmp_path):
    """A newsletter export of e-mails only, 150 people of 300 records, half of them held twice. No prior rule may read
    a first name the data lack (one did, found no match, and EM's session on the e-mail failed on a prior of 0), and
    a session that fails must not take its comparison out of the model: the e-mail comparison was lost so, its
    columns missing from the scored pairs (the review queue then failed on `email_l`)."""
    rows = []
    for p in range(150):
        rows += [{"id": f"{p}-{copy}", "email": f"reader{p}@news.example"} for copy in range(1 + p % 2)]
    rows += [{"id": f"x{p}", "email": f"other{p}@news.example"} for p in range(75)]
    result = link.train_and_predict(_table(rows), tmp_path)
    assert not [s for s in result.em_sessions if s.startswith("skipped")]
    assert "email_l" in result.predictions.column_names
    assert _exact_level(result.model_path, "email")["m_probability"] is not None
    assert _linked_pairs(result) == {(f"s:{p}-0", f"s:{p}-1") for p in range(1, 150, 2)}
