"""Sources -> raw -> staging through real Dagster materialisation into a real DuckDB file."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from assets import runner
from assets.quality import SOURCES_HEALTHY, STAGING_CHECKS_OP
from pipeline.config import SourcesFileError, load_sources
from pipeline.identity.features import LINKAGE_INPUT_SQL
from tests.conftest import checks


def _materialise(settings):
    """Sources and staging layers only, with their checks. The fixture is deliberately dirty, so the
    blocking source-health check may fail; nothing else may."""
    result = runner.run(settings, layers=("raw", "staging"))[-1]
    failed = [(e.step_key, e.step_failure_data.error.cls_name) for e in result.all_events if e.is_step_failure]
    assert set(failed) <= {(STAGING_CHECKS_OP, "DagsterAssetCheckFailedError")}, failed  # a check failed, none crashed
    assert {name for name, found in checks(result).items() if found.blocking and not found.passed} <= {SOURCES_HEALTHY}
    return result


def test_sources_declared_in_yaml_alone_are_extracted_and_staged(small_project):
    _materialise(small_project)
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        raw = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchall()[0][0]
               for t in ("shop_accounts", "store_cards", "newsletter")}
        assert raw == {"shop_accounts": 3, "store_cards": 4, "newsletter": 3}
        persons = con.execute("SELECT source, count(*) FROM staging.person_records GROUP BY 1").fetchall()
        # the newsletter's person whose consent action is unreadable is staged (a field issue, no event)
        assert dict(persons) == {"shop_accounts": 2, "store_cards": 2, "newsletter": 3}
        elodie = con.execute("""SELECT first_name, first_name_norm, last_name, email, email_key, phone,
                                       street_norm, postcode, birth_date::VARCHAR
                                FROM staging.person_records WHERE source_record_id = 'A1'""").fetchall()[0]
        assert elodie == ("Élodie", "elodie", "Durand", "elodie.durand@gmail.com", "elodiedurand@gmail.com",
                          "+33612345678", "12 boulevard haussmann", "75009", "1985-03-04")
        points = con.execute("SELECT amount FROM staging.activities WHERE source_record_id = 'C1'").fetchall()[0][0]
        assert points == pytest.approx(125.5)


def test_bad_rows_are_quarantined_with_reason_and_counts_reconcile(small_project):
    result = _materialise(small_project)
    found = checks(result)
    assert found["raw_rows_reconcile"].passed and found["staging_persons_valid"].passed
    # A third of the cards' rows are unusable: the source is refused, by name, with the rule. The newsletter's person
    # whose consent action is unreadable is staged with a field issue (it was quarantined, and the source refused).
    assert not found["sources_healthy"].passed
    assert "rows quarantined, at most 20% expected" in found["sources_healthy"].description
    assert "store_cards: 50.0% rows quarantined" in found["sources_healthy"].description
    assert "newsletter" not in found["sources_healthy"].description
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        reasons = dict(con.execute("SELECT _file || ':' || _line, reason FROM staging.quarantine").fetchall())
        assert "not valid JSON" in reasons["shop_accounts/2026-11-20/accounts.jsonl:3"]
        assert "4 fields where the header has 7" in reasons["store_cards/2026-11-20/cards.csv:4"]
        assert "missing record id" in reasons["store_cards/2026-11-20/cards.csv:5"]
        assert "newsletter/2026-11-20/events.csv:4" not in reasons
        issues = {(r, f) for r, f in con.execute("SELECT source_record_id, field FROM staging.field_issues").fetchall()}
        assert {("A2", "birth_date"), ("A2", "email"), ("A2", "phone"), ("C2", "birth_date"),
                ("N3", "consent_action")} <= issues
        # The record with an impossible birth date is still staged, the date left empty, the raw value kept.
        assert con.execute("SELECT birth_date, birth_date_raw, postcode FROM staging.person_records "
                           "WHERE source_record_id = 'A2'").fetchall()[0] == (None, "1979-02-31", "01000")


def test_same_file_delivered_twice_adds_no_rows(small_project):
    day = small_project.raw_dir / "store_cards" / "2026-11-21"
    day.mkdir()
    shutil.copy(small_project.raw_dir / "store_cards" / "2026-11-20" / "cards.csv", day / "cards.csv")
    _materialise(small_project)
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.store_cards").fetchall()[0][0] == 4
        status = con.execute("SELECT status FROM raw.store_cards__files ORDER BY file").fetchall()
        assert status[1][0].startswith("duplicate of")


def test_missing_mapped_column_quarantines_that_file_only(small_project):
    bad = small_project.raw_dir / "newsletter" / "2026-11-21"
    bad.mkdir()
    (bad / "events.csv").write_text("event_id,mail,channel,action,at\nN9,a@b.fr,email,opt_in,2025-01-01 10:00:00\n")
    _materialise(small_project)
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        reason = con.execute("SELECT reason FROM staging.quarantine WHERE _file LIKE 'newsletter/2026-11-21%'").fetchall()[0]
        assert "lacks mapped column(s) ['email']" in reason[0]
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'shop_accounts'").fetchall()[0][0] == 2


def test_sources_file_errors_name_the_source(tmp_path):
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - name: crm\n    channel: online\n    format: ods\n    files: x\n    record_id: id\n"
                   "    person: {first_name: fn}\n")
    with pytest.raises(SourcesFileError, match="source 'crm'.*format must be one of"):
        load_sources(bad)


def test_a_new_column_in_a_source_is_ignored_with_a_warning(small_project):
    """The extract asset logs the warning and records the new columns in its metadata; the rows still load."""
    _materialise(small_project)
    day = small_project.raw_dir / "newsletter" / "2026-11-22"
    day.mkdir()
    (day / "events.csv").write_text("event_id,email,channel,action,at,loyalty_level\n"
                                    "N7,z@y.fr,email,opt_in,2025-01-01 10:00:00,gold\n")
    result = _materialise(small_project)
    meta = [e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key.path == ["raw", "newsletter"]][0]
    assert meta["new_unmapped_columns"].value == ["loyalty_level"]
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE source_record_id = 'N7'").fetchall() == [(1,)]


def test_a_name_in_cyrillic_is_displayed_as_written_and_linked_by_its_transliteration(small_project):
    day = small_project.raw_dir / "shop_accounts" / "2026-11-21"
    day.mkdir()
    account = {"id": "A9", "given": "Иван", "family": "ИВАНОВ", "born": "1983-05-17", "mail": "ivan@example.ru",
               "address": {"street": "ул. Тверская, 7", "zip": "75011", "city": "Москва"}}
    (day / "accounts.jsonl").write_text(json.dumps(account, ensure_ascii=False) + "\n", encoding="utf-8")
    _materialise(small_project)
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        ivan = con.execute("""SELECT first_name, first_name_norm, first_name_canonical, last_name, last_name_norm,
                                     street_norm, city, city_norm
                              FROM staging.person_records WHERE source_record_id = 'A9'""").fetchall()
        linked = con.execute(f"""SELECT first_name, last_name, city FROM ({LINKAGE_INPUT_SQL})
                                 WHERE unique_id = 'shop_accounts:A9'""").fetchall()
    assert ivan == [("Иван", "ivan", "ivan", "Иванов", "ivanov", "ul tverskaya 7", "Москва", "moskva")]
    assert linked == [("ivan", "ivanov", "moskva")]  # a name for linkage, not a missing one
