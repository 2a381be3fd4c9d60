"""Steward decisions from a decisions file: applied on every run, winning over the model, audited."""

from __future__ import annotations

import shutil

import duckdb

from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from tests.conftest import demo_settings, materialise

HEADER = "decision_id,decision,record_1,record_2,customer_id,attribute,value,reason,decided_by,decided_at\n"


def _one(settings, sql: str, params=None):
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _customer(settings, uid: str) -> str:
    return _one(settings, "SELECT customer_id FROM identity.record_customer WHERE unique_id = ?", [uid])[0][0]


def test_decisions_win_over_the_model_survive_reruns_and_are_audited(tmp_path):
    settings = demo_settings(tmp_path, 300, seed=31)
    hold_back(settings.raw_dir, 0.05, DEMO_DAY)
    parked = [(d, tmp_path / "parked" / d.parent.name) for d in settings.raw_dir.glob("*/2026-11-24")]
    for src, dst in parked:
        shutil.move(src, dst)
    materialise(settings)
    for src, dst in parked:  # day two brings new customers, younger than day one's
        shutil.move(dst, src)
    materialise(settings)
    # A customer the model built from two or more records, and two singletons of different days.
    a, b = _one(settings, """SELECT min(unique_id), max(unique_id) FROM identity.record_customer
                             GROUP BY customer_id HAVING count(*) >= 2 ORDER BY 1 LIMIT 1""")[0]
    old_single, new_single = _one(settings, """
        WITH sizes AS (SELECT customer_id, count(*) n, min(unique_id) uid FROM identity.record_customer GROUP BY 1)
        SELECT (SELECT min(s.uid) FROM sizes s JOIN identity.id_registry r USING (customer_id)
                WHERE n = 1 AND r.created_at = (SELECT min(created_at) FROM identity.id_registry)),
               (SELECT max(s.uid) FROM sizes s JOIN identity.id_registry r USING (customer_id)
                WHERE n = 1 AND r.created_at = (SELECT max(created_at) FROM identity.id_registry))""")[0]
    old_id, new_id = _customer(settings, old_single), _customer(settings, new_single)
    assert _one(settings, "SELECT created_at FROM identity.id_registry WHERE customer_id = ?", [old_id]) < \
           _one(settings, "SELECT created_at FROM identity.id_registry WHERE customer_id = ?", [new_id])
    override_id = _customer(settings, a)
    folder = settings.decisions_dir
    folder.mkdir(parents=True)
    (folder / "decisions.csv").write_text(
        HEADER
        + f"D1,cannot_link,{a},{b},,,,two people per the store manager,marie.steward,2026-11-24T10:00:00\n"
        + f"D2,must_link,{new_single},{old_single},,,,same person (call on 24/11),marie.steward,2026-11-24T10:05:00\n"
        + f"D3,override,,,{override_id},email,verified@example.org,confirmed by phone,paul.steward,2026-11-24\n"
        + "D4,must_link,ecommerce_accounts:GONE,loyalty_cards:GONE2,,,,old decision,paul.steward,2025-01-01\n",
        encoding="utf-8")
    for _ in range(2):  # applied, then still applied on the next run (never undone by a re-link)
        materialise(settings)
        assert _customer(settings, a) != _customer(settings, b)  # the cannot-link split the model's cluster
        assert _customer(settings, new_single) == _customer(settings, old_single) == old_id  # the older id kept
        profile = _one(settings, "SELECT email, email_source, email_source_record_id FROM golden.customer_profile "
                                 "WHERE customer_id = ?", [_customer(settings, a)])
        assert profile == [("verified@example.org", "steward", "D3")]
        assert _one(settings, "SELECT email FROM marts.customer_360 WHERE customer_id = ?",
                    [_customer(settings, a)]) == [("verified@example.org",)]
        audit = {r[0]: r[1:] for r in _one(settings, "SELECT decision_id, applied, status, decided_by, reason "
                                                     "FROM identity.steward_decisions")}
        assert audit["D1"][:2] == (True, "applied") and audit["D2"][:2] == (True, "applied")
        assert audit["D3"] == (True, "applied", "paul.steward", "confirmed by phone")
        assert audit["D4"][0] is False and "no longer exist" in audit["D4"][1]  # stale: reported, not dropped
    assert _one(settings, "SELECT count(*) FROM identity.id_events WHERE event = 'merge' AND new_id = ?", [old_id])
    # The history links the version the merge created to that identity event.
    events = _one(settings, "SELECT identity_events FROM marts.customer_history WHERE customer_id = ? "
                            "AND identity_events IS NOT NULL ORDER BY version DESC LIMIT 1", [old_id])
    assert events and any(e["event"] == "merge" and new_id in e["old_ids"] for e in events[0][0])


def test_a_move_is_one_new_version_with_its_source_and_a_rerun_adds_none(tmp_path):
    import json

    settings = demo_settings(tmp_path, 200, seed=32)
    materialise(settings)
    lines = (settings.raw_dir / "ecommerce_accounts" / "2026-11-23" / "ecommerce_accounts.jsonl").read_text().splitlines()
    rows = {json.loads(line)["account_id"]: json.loads(line) for line in lines if line.endswith("}")}
    known = dict(_one(settings, """SELECT x.source_record_id, x.customer_id FROM marts.customer_xref x
        JOIN marts.customer_360 c USING (customer_id) WHERE x.source = 'ecommerce_accounts' AND c.street IS NOT NULL"""))
    account = sorted(set(rows) & set(known))[0]
    moved = {**rows[account], "updated_at": "2026-11-24T09:00:00",
             "address": {"street": "8 rue des Lilas", "zip": "69003", "city": "Lyon", "country": "FR"}}
    day = settings.raw_dir / "ecommerce_accounts" / "2026-11-24"
    day.mkdir()
    (day / "moves.jsonl").write_text(json.dumps(moved) + "\n", encoding="utf-8")
    materialise(settings)
    customer = known[account]
    versions = _one(settings, "SELECT version, change, is_current, street, city, changes FROM marts.customer_history "
                              "WHERE customer_id = ? ORDER BY version", [customer])
    assert [(v, c, cur) for v, c, cur, *_ in versions] == [(1, "new", False), (2, "update", True)]
    changes = {c["attribute"]: c for c in versions[1][5]}
    # The move (and whatever else this newest record now wins by survivorship), all caused by that record.
    assert {"street", "postcode", "city"} <= set(changes)
    assert {(c["source"], c["source_record_id"]) for c in changes.values()} == {("ecommerce_accounts", account)}
    assert changes["city"]["new_value"] == "Lyon" and changes["city"]["old_value"] == versions[0][4]
    assert changes["street"]["source"] == "ecommerce_accounts" and changes["street"]["source_record_id"] == account
    before = _one(settings, "SELECT count(*) FROM marts.customer_history")
    materialise(settings, days=["2026-11-24"])  # the same input again
    assert _one(settings, "SELECT count(*) FROM marts.customer_history") == before
    queue = _one(settings, "SELECT item, command, left_facts FROM identity.review_queue WHERE unique_id_l IS NOT NULL")
    assert queue and all(cmd.startswith("customer360 explain --pair ") for _, cmd, _ in queue)
    assert not any("@" in (facts or "").split("*@")[0] for _, _, facts in queue)  # e-mails masked to their domain
