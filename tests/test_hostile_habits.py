"""Hostile deliveries of the tenth session, through real runs of the raw and staging layers: a JSON contact list
holding two e-mails, a file delivered twice, a record refused for an oversized field, and export habits of
spreadsheets and reporting tools (each written by hand, as a user's system would)."""

from __future__ import annotations

import json

import duckdb

from assets import runner
from assets.sources import FILES_LOADED
from tests.conftest import checks
from tests.hostile import CRM_HEADER, balanced, crm_rows, day, first_delivery, project, write

STAGING = {"layers": ("raw", "staging")}


def _run(settings, **options):
    results = runner.run(settings, console_level="CRITICAL", **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results


def test_every_email_of_a_contact_list_is_read_or_said(tmp_path, cli_env):
    # A shop's contacts array with two e-mails: the second was dropped without a word. The first is staged, the
    # second is a field issue of that record (with its value), never a key the export "renamed".
    settings = project(tmp_path)
    settings.sources_file.write_text("""
sources:
  - name: app
    channel: online
    format: jsonl
    files: app/**/*.jsonl
    trust_rank: 1
    record_id: id
    person:
      first_name: name.first
      last_name: name.last
      email: contacts[kind=email].value
      phone: contacts[kind=phone].value
""", encoding="utf-8")
    lines = [{"id": "A1", "name": {"first": "Ayşe", "last": "Kaya"},
              "contacts": [{"kind": "email", "value": "ayse@example.com"}, {"kind": "phone", "value": "0612345601"},
                           {"kind": "EMAIL", "value": "ayse.kaya@work.example"},
                           {"kind": "email", "value": "AYSE@example.com"}]},  # the first again: nothing lost
             {"id": "A2", "name": {"first": "Omar", "last": "Said"},
              "contacts": [{"kind": "email", "value": "omar@example.com"}]}]
    write(settings.raw_dir, "app", day(-1), "users.jsonl",
          "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode())
    results = _run(settings, **STAGING)
    assert checks(results[-1], by_asset=True)[(("raw", "app"), FILES_LOADED)].passed  # no key said renamed
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT source_record_id, email, phone FROM staging.person_records ORDER BY 1").fetchall() \
            == [("A1", "ayse@example.com", "+33612345601"), ("A2", "omar@example.com", None)]
        assert con.execute("SELECT source_record_id, field, raw_value, reason FROM staging.field_issues").fetchall() \
            == [("A1", "email", '["ayse.kaya@work.example"]',
                 "contacts[kind=email] holds 2 elements: the first one's email is staged, not these "
                 "(a record holds one email)")]


def test_a_file_delivered_again_is_said_by_the_run_that_received_it_only(tmp_path, cli_env):
    settings = project(tmp_path)
    export = (CRM_HEADER + "\n" + "\n".join(crm_rows(6)) + "\n").encode("latin-1")
    write(settings.raw_dir, "crm", day(-3), "export.csv", export)
    write(settings.raw_dir, "crm", day(-2), "export_copy.csv", export)
    results = _run(settings, layers=("raw",))
    said = [checks(r, by_asset=True)[(("raw", "crm"), FILES_LOADED)] for r in results]
    assert [c.passed for c in said] == [True, False] and said[1].metadata["duplicate_files"].value == 1
    # The next day's run: nothing duplicated in it, nothing to say (it warned on every later run).
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\n" + crm_rows(8)[7] + "\n").encode("latin-1"))
    (later,) = _run(settings, layers=("raw",))
    check = checks(later, by_asset=True)[(("raw", "crm"), FILES_LOADED)]
    assert check.passed and check.metadata["duplicate_files"].value == 0


def test_a_record_refused_for_an_oversized_field_keeps_its_id(tmp_path, cli_env):
    first_delivery(tmp_path)  # C51 holds a 200,000-character e-mail
    settings = project(tmp_path)
    big = "y" * 200_000
    write(settings.raw_dir, "shop", day(-2), "big.jsonl", json.dumps(
        {"id": "S77", "given": "Big", "family": "Value", "mail": big + "@example.fr", "updated": day(-30)}).encode())
    _run(settings, **STAGING)
    balanced(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("SELECT source, source_record_id, reason FROM staging.quarantine "
                           "WHERE reason LIKE '%characters%' ORDER BY 1").fetchall()
        assert rows == [("crm", "C51", "a field of 200011 characters (limit 131072)"),
                        ("shop", "S77", "a value over 131072 characters")]
        assert not con.execute("SELECT count(*) FROM staging.person_records WHERE source_record_id IN ('C51', 'S77')"
                               ).fetchone()[0]
