"""Daily runs: partitions by drop day, incremental staging, idempotent re-runs, backfills (an incremental day's
linking: test_incremental_golden.py)."""

from __future__ import annotations

import json

import duckdb

from assets import runner
from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from tests.conftest import demo_settings, materialise

NEXT_DAY = "2026-11-24"
MARTS = ("customer_360", "customer_xref", "household", "consent_history", "segment_summary")


def _tables(path, tables, order="1") -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in tables}


def _predictions_meta(result) -> dict:
    return [e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
            if e.asset_key.path == ["identity", "pairwise_predictions"]][0]


def test_rerunning_the_same_day_is_idempotent(demo_copy):
    settings = demo_copy
    before = _tables(settings.published, [f"marts.{t}" for t in MARTS])
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        raw_before = con.execute("SELECT count(*) FROM raw.web_orders").fetchall()
        events_before = con.execute("SELECT count(*) FROM identity.id_events").fetchall()
    result = materialise(settings, days=[DEMO_DAY.isoformat()])  # the same day again, forced
    assert _predictions_meta(result)["linkage_mode"].value == "unchanged"
    after = _tables(settings.published, [f"marts.{t}" for t in MARTS])
    for table in before:
        assert before[table].equals(after[table]), table
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.web_orders").fetchall() == raw_before  # no duplicated rows
        assert con.execute("SELECT count(*) FROM identity.id_events").fetchall() == events_before  # same ids


def test_staging_new_files_only_gives_what_a_full_restage_gives(small_project):
    runner.run(small_project, layers=("raw", "staging"))
    day = small_project.raw_dir / "shop_accounts" / "2026-11-21"
    day.mkdir()
    # A1 again with a new e-mail (a newer version supersedes the staged one), and a new account.
    (day / "accounts.jsonl").write_text(
        json.dumps({"id": "A1", "given": "Élodie", "family": "DURAND", "born": "1985-03-04",
                    "mail": "elodie.new@example.org", "updated": "2026-11-21"}) + "\n"
        + json.dumps({"id": "A9", "given": "Jules", "family": "Verne", "mail": "jules@example.org"}) + "\n",
        encoding="utf-8")
    tables = [f"staging.{t}" for t in ("person_records", "activities", "field_issues", "erasure_requests")]
    runner.run(small_project, layers=("raw", "staging"))
    incremental = _tables(small_project.warehouse, tables)
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        assert con.execute("SELECT email FROM staging.person_records WHERE source_record_id = 'A1'").fetchall() == \
               [("elodie.new@example.org",)]
        quarantined = con.execute("SELECT _file, _line, reason FROM staging.quarantine ORDER BY ALL").fetchall()
    assert ("shop_accounts/2026-11-20/accounts.jsonl", 1,
            "duplicate record id; the version at shop_accounts/2026-11-21/accounts.jsonl:1 was kept") in quarantined
    runner.run(small_project, layers=("raw", "staging"), full_refresh=True)
    full = _tables(small_project.warehouse, tables)
    for table in tables:
        assert incremental[table].equals(full[table]), table
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        assert con.execute("SELECT _file, _line, reason FROM staging.quarantine ORDER BY ALL").fetchall() == quarantined


def test_a_stale_full_export_after_a_delta_does_not_bring_the_old_version_back(small_project):
    # Day two's delta changes A1's e-mail (updated 2026-11-21); day three's full export was taken before it (A1 as
    # on day one, updated 2026-01-02). The last delivered won: the e-mail changed on day two came back as it was.
    def deliver(day: str, mail: str, updated: str) -> None:
        (small_project.raw_dir / "shop_accounts" / day).mkdir()
        (small_project.raw_dir / "shop_accounts" / day / "accounts.jsonl").write_text(json.dumps(
            {"id": "A1", "given": "Élodie", "family": "DURAND", "born": "1985-03-04", "mail": mail,
             "updated": updated}) + "\n", encoding="utf-8")
    runner.run(small_project, layers=("raw", "staging"))
    deliver("2026-11-21", "elodie.new@example.org", "2026-11-21")
    runner.run(small_project, layers=("raw", "staging"))
    deliver("2026-11-22", "Elodie.Durand@Gmail.com", "2026-01-02")
    runner.run(small_project, layers=("raw", "staging"))
    query = ("SELECT email, _file FROM staging.person_records WHERE source_record_id = 'A1'",
             "SELECT _file, reason FROM staging.quarantine WHERE source_record_id = 'A1' ORDER BY ALL")
    kept = "duplicate record id; the version at shop_accounts/2026-11-21/accounts.jsonl:1 was kept"
    for full_refresh in (False, True):  # the incremental day, then a full restage: the same versions
        if full_refresh:
            runner.run(small_project, layers=("raw", "staging"), full_refresh=True)
        with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
            assert con.execute(query[0]).fetchall() == [("elodie.new@example.org",
                                                         "shop_accounts/2026-11-21/accounts.jsonl")]
            assert con.execute(query[1]).fetchall() == [(f"shop_accounts/{d}/accounts.jsonl", kept)
                                                        for d in ("2026-11-20", "2026-11-22")]
    # An update date after its drop day (2062 typed for 2026) is not believed: the next delivery still supersedes it.
    deliver("2026-11-23", "typo@example.org", "2062-11-23")
    deliver("2026-11-24", "elodie.last@example.org", "2026-11-24")
    runner.run(small_project, layers=("raw", "staging"))
    with duckdb.connect(str(small_project.warehouse), read_only=True) as con:
        assert con.execute(query[0]).fetchall() == [("elodie.last@example.org",
                                                     "shop_accounts/2026-11-24/accounts.jsonl")]


def test_a_backfill_reloads_past_days_without_duplicates(tmp_path):
    from assets.definitions import build_definitions

    settings = demo_settings(tmp_path, 200, seed=13)
    # The UI offers the same days: the job and every extract share the daily partitions.
    defs = build_definitions(settings)
    days = defs.resolve_job_def("refresh_all").partitions_def.get_partition_keys()
    assert {DEMO_DAY.isoformat(), NEXT_DAY} <= set(days)
    assert days[0] == DEMO_DAY.isoformat()  # the partitions start at the earliest drop on disk, not years before
    assert defs.resolve_assets_def(["raw", "web_orders"]).partitions_def is not None
    hold_back(settings.raw_dir, 0.1, DEMO_DAY)
    materialise(settings)  # both days are new: day one's extracts run alone, then day two and the rest
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        counts = con.execute("SELECT _drop, count(*) FROM raw.store_receipts GROUP BY ALL ORDER BY ALL").fetchall()
    assert [d for d, _ in counts] == [DEMO_DAY.isoformat(), NEXT_DAY]
    results = runner.run(settings, days=[DEMO_DAY.isoformat(), NEXT_DAY])
    assert [r.dagster_run.tags["dagster/partition"] for r in results] == [DEMO_DAY.isoformat(), NEXT_DAY]
    assert all(r.success for r in results)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT _drop, count(*) FROM raw.store_receipts GROUP BY ALL ORDER BY ALL").fetchall() == counts
