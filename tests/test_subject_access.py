"""The data-protection officer answers a subject access request with `customer360 lookup QUERY --export FILE`: every
piece held on the person, from the restricted copy and the warehouse, in one owner-only JSON file."""

from __future__ import annotations

import json

import duckdb

from assets.cli import main


def _export(demo, capsys, query: str, out, *more: str) -> tuple[int, str]:
    code = main(["lookup", query, "--restricted", str(demo.settings.restricted), "--export", str(out), *more])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_export_holds_every_piece_of_the_person_and_prints_none(demo_run, tmp_path, capsys):
    with duckdb.connect(str(demo_run.settings.restricted), read_only=True) as con:
        # a customer of several records, with consent events and activities
        customer_id, email = con.execute("""SELECT c.customer_id, c.email FROM marts.customer_360 c
            JOIN marts.customer_xref x USING (customer_id) WHERE c.email IS NOT NULL
              AND c.customer_id IN (SELECT customer_id FROM marts.consent_history)
            GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
        expected = {table: con.execute(f"SELECT count(*) FROM marts.{table} WHERE customer_id = ?",
                                       [customer_id]).fetchone()[0]
                    for table in ("customer_xref", "consent_history", "customer_timeline", "contact_points",
                                  "customer_history")}
        shared = con.execute("""SELECT contact_point, list(DISTINCT customer_id ORDER BY customer_id)
            FROM marts.contact_points WHERE kind = 'email' GROUP BY 1 HAVING count(DISTINCT customer_id) > 1
            ORDER BY 1 LIMIT 1""").fetchone()
    # An e-mail two customers held (a household's): one file would give the requester another person's data.
    code, printed = _export(demo_run, capsys, shared[0], tmp_path / "shared.json")
    assert code == 2 and f"{len(shared[1])} customers hold" in printed and not (tmp_path / "shared.json").exists()
    assert shared[0] not in printed and all(c in printed for c in shared[1])
    out = tmp_path / "sar" / "request.json"
    code, printed = _export(demo_run, capsys, customer_id.lower(), out)  # the id, as read out on the phone
    assert code == 0, printed
    assert email not in printed.lower() and f"customer {customer_id} exported to {out}" in printed
    assert out.stat().st_mode & 0o777 == 0o600
    (held,) = json.loads(out.read_text(encoding="utf-8"))["customers"]
    assert held["customer_id"] == customer_id and held["customer"][0]["email"] == email
    assert len(held["source_records"]) == expected["customer_xref"] > 1
    assert len(held["consent_history"]) == expected["consent_history"] > 0
    assert len(held["timeline"]) == expected["customer_timeline"]  # the whole timeline, not the card's latest 50
    assert len(held["contact_points"]) == expected["contact_points"] and len(held["history"]) == expected["customer_history"]
    # from the warehouse: each record as delivered beside its normalised values
    staged = {(r["source"], r["source_record_id"]) for r in held["staged_records"]}
    assert staged == {(r["source"], r["source_record_id"]) for r in held["source_records"]}
    assert any(r["email_raw"] for r in held["staged_records"])
    assert {"field_issues", "further_contacts", "quarantined_rows"} <= set(held)

    # Without the warehouse (another run holds it, or the officer wants the published record alone)
    code, printed = _export(demo_run, capsys, customer_id, tmp_path / "restricted_only.json", "--warehouse", "")
    (alone,) = json.loads((tmp_path / "restricted_only.json").read_text(encoding="utf-8"))["customers"]
    assert code == 0 and "staged_records" not in alone and alone["consent_history"] == held["consent_history"]


def test_no_export_is_written_for_someone_the_copies_do_not_hold(demo_run, tmp_path, capsys):
    code, printed = _export(demo_run, capsys, "nobody.here@example.org", tmp_path / "none.json")
    assert code == 1 and "no customer found" in printed and not (tmp_path / "none.json").exists()
