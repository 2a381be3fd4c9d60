"""A till's placeholder e-mail and phone (typed for every customer who gives none) through real runs: held by more
records than one customer may hold, they are no one's (pipeline/identity/placeholders.py). They made their holders
one person, taught the model that a shared e-mail means little, and were published as customers' e-mails."""

from __future__ import annotations

import json

import duckdb

from tests.conftest import checks
from tests.hostile import FIRST, LAST, SOURCES_YAML, balanced, day, project, write
from tests.test_hostile_runs import _run

PLACEHOLDER_EMAIL, PLACEHOLDER_PHONE = "pasdemail@enseigne.fr", "06 00 00 00 00"


def _card(i: int, email: str, phone: str) -> str:
    # 18 x 18 names, each pair once: 40 different people
    return f"T{i:02d};{FIRST[i % 18]};{LAST[(i * 5 + i // 18) % 18]};{email};{phone};750{i % 20 + 1:02d}"


def _cards(ids: range, phone_placeholder: range) -> bytes:
    rows = [_card(i, PLACEHOLDER_EMAIL if i % 10 else f"client{i}@example.fr",
                  PLACEHOLDER_PHONE if i in phone_placeholder else f"06 98 76 54 {i:02d}") for i in ids]
    return ("\n".join(["id;prenom;nom;email;tel;cp", *rows]) + "\n").encode("latin-1")


def test_a_placeholder_e_mail_or_phone_makes_no_one_the_same_person_and_is_no_ones_contact(tmp_path, cli_env):
    settings = project(tmp_path)
    settings.sources_file.write_text(SOURCES_YAML.format(shop="shop"), encoding="utf-8")
    raw = settings.raw_dir
    # Day -1: 30 cards, 27 under the placeholder e-mail (over the 25 records one customer may hold); the placeholder
    # phone on 20 of them (under it: read as a household's, for now). Three card holders also have a web account
    # under their real e-mail and name.
    write(raw, "crm", day(-1), "cartes.csv", _cards(range(30), range(10, 30)))
    accounts = [{"id": f"W{i}", "given": FIRST[i % 18], "family": LAST[(i * 5 + i // 18) % 18],
                 "mail": f"client{i}@example.fr", "updated": "2026-11-01"} for i in (0, 10, 20)]
    write(raw, "shop", day(-1), "accounts.jsonl", "".join(json.dumps(a) + "\n" for a in accounts).encode())
    _run(settings)
    # Day 0: ten more cards, the placeholder phone on all of them: 30 records, now over the bound too.
    write(raw, "crm", day(0), "cartes.csv", _cards(range(30, 40), range(30, 40)))
    results = _run(settings)
    assert all(c.passed for r in results for c in checks(r).values())
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        # Every card is its own customer; each web account joined its holder's card (the real e-mail).
        assert con.execute("""SELECT count(*) FROM marts.customer_xref WHERE source = 'crm'
                              GROUP BY customer_id HAVING count(*) > 1""").fetchall() == []
        assert con.execute("SELECT count(*) FROM marts.customer_360").fetchone() == (40,)
        assert con.execute("""SELECT count(DISTINCT customer_id) FROM marts.customer_xref
                              WHERE source_record_id IN ('T00', 'W0', 'T10', 'W10', 'T20', 'W20')""").fetchone() == (3,)
        # Never a customer's e-mail or mobile, never contactable; the staged records keep them as delivered.
        assert con.execute("SELECT count(*) FROM marts.customer_360 WHERE email = ? OR mobile = '+33600000000'",
                           [PLACEHOLDER_EMAIL]).fetchone() == (0,)
        assert con.execute("""SELECT DISTINCT kind, valid FROM golden.contact_points
                              WHERE contact_point_key IN (?, '+33600000000') ORDER BY 1""",
                           [PLACEHOLDER_EMAIL]).fetchall() == [("email", False), ("phone", False)]
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE email_key = ?",
                           [PLACEHOLDER_EMAIL]).fetchone() == (36,)
        assert con.execute("SELECT count(*) FROM identity.linkage_input WHERE email = ? OR mobile = '+33600000000'",
                           [PLACEHOLDER_EMAIL]).fetchone() == (0,)
        assert con.execute("SELECT kind, records FROM identity.placeholder_contacts ORDER BY 1").fetchall() == [
            ("email", 27), ("phone", 30)]
    # The step's metadata counts them, without a value.
    meta = next(e.materialization.metadata for r in results for e in r.all_events if e.is_step_materialization
                and e.asset_key.path[-1] == "linkage_input")
    assert meta["placeholder_values"].value == 2 and meta["placeholder_values_moved"].value == 1
