"""Steward decisions from a decisions file: applied on every run, winning over the model, audited."""

from __future__ import annotations

import duckdb

from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from tests.conftest import demo_settings, materialise, park_day

HEADER = "decision_id,decision,record_1,record_2,customer_id,attribute,value,reason,decided_by,decided_at\n"


def _one(settings, sql: str, params=None):
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _customer(settings, uid: str) -> str:
    return _one(settings, "SELECT customer_id FROM identity.record_customer WHERE unique_id = ?", [uid])[0][0]


def test_decisions_win_over_the_model_survive_reruns_and_are_audited(tmp_path):
    settings = demo_settings(tmp_path, 300, seed=31)
    hold_back(settings.raw_dir, 0.05, DEMO_DAY)
    deliver = park_day(settings, "2026-11-24")
    materialise(settings)
    deliver()  # day two brings new customers, younger than day one's
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
        + "D4,must_link,ecommerce_accounts:GONE,loyalty_cards:GONE2,,,,old decision,paul.steward,2025-01-01\n"
        + f"D5,override,,,{override_id},email,NOT AN EMAIL,typo,paul.steward,2026-11-24T11:00:00\n"
        + f"D6,override,,,{override_id},mobile,06 12 34 56 78,confirmed by phone,paul.steward,2026-11-24\n",
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
        assert audit["D5"][0] is False and audit["D5"][1].startswith("refused: not a valid e-mail address")
        assert _one(settings, "SELECT mobile, mobile_source FROM marts.customer_360 WHERE customer_id = ?",
                    [_customer(settings, a)]) == [("+33612345678", "steward")]  # normalised like a source value
    log = _one(settings, "SELECT event, count(*) FROM identity.decision_log GROUP BY 1 ORDER BY 1")
    assert log == [("added", 6), ("applied", 8), ("not_applied", 4)]  # seen once; an outcome per decision and run
    effects = dict(_one(settings, "SELECT decision_id, effects FROM identity.decision_audit WHERE runs_applied = 2"))
    assert set(effects["D1"]) == {"split a customer", "kept apart"}  # split on the first run, then kept apart
    assert "merged customers" in effects["D2"] and effects["D6"] == ["value changed"]
    assert _one(settings, "SELECT count(*) FROM identity.id_events WHERE event = 'merge' AND new_id = ?", [old_id])
    # The history links the version the merge created to that identity event.
    events = _one(settings, "SELECT identity_events FROM marts.customer_history WHERE customer_id = ? "
                            "AND identity_events IS NOT NULL ORDER BY version DESC LIMIT 1", [old_id])
    assert events and any(e["event"] == "merge" and new_id in e["old_ids"] for e in events[0][0])


def test_a_move_is_one_new_version_with_its_source_and_a_rerun_adds_none(demo_copy):
    import json

    settings = demo_copy
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
    together = _one(settings, """SELECT q.same_customer, l.customer_id = r.customer_id FROM identity.review_queue q
        JOIN identity.record_customer l ON l.unique_id = q.unique_id_l
        JOIN identity.record_customer r ON r.unique_id = q.unique_id_r""")
    assert together and all(shown == actual for shown, actual in together)
    queue = _one(settings, "SELECT item, command, left_facts FROM identity.review_queue WHERE unique_id_l IS NOT NULL")
    assert queue and all(cmd.startswith("customer360 explain --pair ") for _, cmd, _ in queue)
    assert not any("@" in (facts or "").split("*@")[0] for _, _, facts in queue)  # e-mails masked to their domain


def _decisions_table(con, rows):
    import pandas as pd

    from assets.identity import DECISION_TYPES
    from pipeline.warehouse import replace_table

    frame = pd.DataFrame(rows, columns=["decision_id", "decision", "record_1", "record_2", "customer_id", "attribute",
                                        "value", "decided_at"])
    for column in DECISION_TYPES:
        if column not in frame:
            frame[column] = None
    replace_table(con, "identity.steward_decisions", frame[list(DECISION_TYPES)], DECISION_TYPES)


def test_revoking_a_cannot_link_rejoins_the_pair_on_the_next_run():

    from pipeline.identity.resolve import cluster
    from pipeline.warehouse import replace_table

    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity")
    con.execute("""CREATE TABLE identity.linkage_input AS SELECT * FROM (VALUES
        ('s:1', 'marie', 'marie', 'durand', '1980-01-01', 'h1'), ('s:2', 'marie', 'marie', 'durand', '1980-01-01', 'h2'))
        t(unique_id, first_name, first_name_canonical, last_name, birth_date, record_hash)""")
    con.execute("""CREATE TABLE identity.pairwise_predictions AS SELECT 's:1' AS unique_id_l, 's:2' AS unique_id_r,
                   9.7 AS match_weight, 0.9988 AS match_probability, false AS contrary_evidence""")
    together = []
    for decisions in ([("D1", "cannot_link", "s:1", "s:2", None, None, None, "2026-11-24")], [], []):
        _decisions_table(con, decisions)
        frame = cluster(con, 0.8, 25).frame.to_pandas()
        replace_table(con, "identity.clusters", frame)
        keys = dict(zip(frame["unique_id"], frame["cluster_key"], strict=True))
        together.append(keys["s:1"] == keys["s:2"])
    assert together == [False, True, True]  # split while decided; joined the run after the decision went


def test_overrides_are_normalised_validated_and_every_decision_is_logged():
    from pipeline.golden.overrides import apply_overrides
    from pipeline.identity.decisions import log_decisions

    con = duckdb.connect()
    con.execute("CREATE SCHEMA identity; CREATE SCHEMA golden")
    con.execute("""CREATE TABLE golden.customer_profile AS SELECT 'C1' AS customer_id, 'a@b.fr' AS email,
        NULL::VARCHAR AS email_source, NULL::VARCHAR AS email_source_record_id, NULL::TIMESTAMP AS email_updated_at,
        '+33611111111' AS mobile, NULL::VARCHAR AS mobile_source, NULL::VARCHAR AS mobile_source_record_id,
        NULL::TIMESTAMP AS mobile_updated_at, 'Durand' AS last_name, 'durand' AS last_name_norm,
        NULL::VARCHAR AS last_name_source, NULL::VARCHAR AS last_name_source_record_id,
        NULL::TIMESTAMP AS last_name_updated_at, 'FR' AS country""")
    run1 = [("O1", "override", None, None, "C1", "email", "NOT AN EMAIL", "2026-11-24"),
            ("O2", "override", None, None, "C1", "mobile", "06 12 34 56 78", "2026-11-24"),
            ("O3", "override", None, None, "C1", "mobile", "01 42 68 53 00", "2026-11-24"),
            ("O4", "override", None, None, "C1", "last_name", "  lefèvre-DUPONT ", "2026-11-24"),
            ("L1", "cannot_link", "s:1", "s:2", None, None, None, "2026-11-24")]
    _decisions_table(con, run1)
    assert apply_overrides(con) == {"applied": 2, "not_applied": 2}
    outcome = {r[0]: r[1:] for r in con.execute("SELECT decision_id, applied, status, effect "
                                                 "FROM identity.steward_decisions").fetchall()}
    assert outcome["O1"][0] is False and outcome["O1"][1].startswith("refused: not a valid e-mail address")
    assert outcome["O2"] == (True, "applied", "value changed")
    assert outcome["O3"][:2] == (False, "refused: a landline number, not a mobile")
    assert con.execute("SELECT email, mobile, mobile_source, last_name_norm FROM golden.customer_profile").fetchall() \
        == [("a@b.fr", "+33612345678", "steward", "lefevre dupont")]
    log_decisions(con, "run1")
    # Run 2: O1 corrected, L1 deleted from the files. Run 3: nothing changes.
    _decisions_table(con, [("O1", "override", None, None, "C1", "email", "Jeanne@Example.org", "2026-11-25")] + run1[1:4])
    apply_overrides(con)
    log_decisions(con, "run2")
    _decisions_table(con, [("O1", "override", None, None, "C1", "email", "Jeanne@Example.org", "2026-11-25")] + run1[1:4])
    apply_overrides(con)
    log_decisions(con, "run3")
    events = con.execute("SELECT run_id, decision_id, event FROM identity.decision_log WHERE event IN "
                         "('added', 'changed', 'removed') ORDER BY run_id, decision_id").fetchall()
    assert events == [("run1", d, "added") for d in ("L1", "O1", "O2", "O3", "O4")] + \
        [("run2", "L1", "removed"), ("run2", "O1", "changed")]
    audit = {r[0]: r[1:] for r in con.execute("SELECT decision_id, active, runs_applied, last_status, effects, "
                                              "first_applied_at IS NOT NULL FROM identity.decision_audit").fetchall()}
    assert audit["L1"][0] is False and audit["O1"][:3] == (True, 2, "applied") and audit["O1"][4]
    assert audit["O2"][1:3] == (3, "applied") and "value changed" in audit["O2"][3] and audit["O2"][4]
    assert con.execute("SELECT email FROM golden.customer_profile").fetchall() == [("jeanne@example.org",)]
