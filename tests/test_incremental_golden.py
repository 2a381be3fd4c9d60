"""Incremental days: a daily run links the day's records to the existing customers, recomputes the golden record and
marts of only the customers it changed, and publishes what recomputing every customer from the same identity result
publishes (issue 18).

The tests start from one demo delivered over three days, its first day materialised once for the module (`day_one`),
and its second day on the same reference date once more (`day_two`): each test copies the state it starts from."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets import runner
from assets.golden import CHANGED_CUSTOMERS_OP
from assets.keys import DATA_QUALITY, STEWARD_DECISIONS
from bench.compare_published import compare
from pipeline.config import Settings
from pipeline.demo import DEMO_DAY
from pipeline.demo.next_day import hold_back
from pipeline.marts.segmentation import segmentation_sql
from tests.conftest import copy_project, deliver_day, demo_settings, materialise, park_day

DAY_2, DAY_3 = DEMO_DAY + timedelta(days=1), DEMO_DAY + timedelta(days=2)
# A table a run appends its own figures to: each copy is compared on the rows of its last run.
PER_RUN = ("segment_history",)


def _meta(result, path: list[str]) -> dict:
    return {k: v.value for e in result.get_asset_materialization_events() if e.asset_key.path == path
            for k, v in e.event_specific_data.materialization.metadata.items()}


def _predictions_meta(result) -> dict:
    return _meta(result, ["identity", "pairwise_predictions"])


def _copies(settings, dest):
    """The two published files as they are now, with the per-run tables cut to their last run's rows."""
    dest.mkdir()
    for path in (settings.published, settings.restricted):
        shutil.copy(path, dest / path.name)
        with duckdb.connect(str(dest / path.name)) as con:
            for table in PER_RUN:
                if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' "
                               "AND table_name = ?", [table]).fetchall()[0][0]:
                    con.execute(f"DELETE FROM marts.{table} WHERE measured_at < (SELECT max(measured_at) "
                                f"FROM marts.{table})")
    return dest


def _deliver_day_three(settings):
    """Day three's drops, plus an erasure request for a published customer and a steward's override for another."""
    deliver_day(settings, DAY_3.isoformat())
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        (erased_email,), (overridden,) = con.execute(
            "(SELECT email FROM marts.customer_360 WHERE email IS NOT NULL ORDER BY customer_id LIMIT 1) UNION ALL "
            "(SELECT customer_id FROM marts.customer_360 ORDER BY customer_id DESC LIMIT 1)").fetchall()
    requests = settings.raw_dir / "erasure_requests" / DAY_3.isoformat()
    requests.mkdir(parents=True, exist_ok=True)
    (requests / "late_request.csv").write_text(
        f"request_id,email,phone,requested_at\nR-LATE-1,{erased_email},,{DAY_3} 09:00:00\n", encoding="utf-8")
    settings.decisions_dir.mkdir(parents=True, exist_ok=True)
    (settings.decisions_dir / "decisions.csv").write_text(
        "decision_id,decision,record_1,record_2,customer_id,attribute,value,reason,decided_by,decided_at\n"
        f"D1,override,,,{overridden},city,Lyon,moved (phone call),steward,{DAY_3}T10:00:00\n", encoding="utf-8")
    return erased_email, overridden


def _recency_as_of_the_run(settings, copies):
    """Recency, derived when read (marts.customer_360 is a view), is the segmentation's as of the run's reference date,
    in the warehouse and in both copies (in the folder `copies`)."""
    recency = "SELECT customer_id, recency_days FROM {} WHERE recency_days IS NOT NULL ORDER BY ALL"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        expected = con.execute(recency.format(f"({segmentation_sql()})"), {"as_of": settings.reference_date}).fetchall()
        assert expected and con.execute(recency.format("marts.customer_360")).fetchall() == expected
    for name in (settings.published.name, settings.restricted.name):
        with duckdb.connect(str(copies / name), read_only=True) as con:
            assert con.execute(recency.format("marts.customer_360")).fetchall() == expected, name


def _recompute_in_full(settings):
    """Every golden, marts and copy asset (and the stewards' decisions, read again from their files) materialised
    with `full` (ChangeConfig); identity's clusters and ids, and the data-quality scorecard, stay as they are."""
    from assets.definitions import build_definitions

    defs = build_definitions(settings)
    selection = (dg.AssetSelection.key_prefixes("golden", "marts", "published", "restricted")
                 - dg.AssetSelection.assets(DATA_QUALITY)) | dg.AssetSelection.assets(STEWARD_DECISIONS)
    return dg.materialize([*defs.assets, *(defs.asset_checks or [])], selection=selection, resources=defs.resources,
                          run_config={"ops": {CHANGED_CUSTOMERS_OP: {"config": {"full": True}}}}, raise_on_error=False)


@dataclasses.dataclass(frozen=True)
class Day:
    root: Path          # the project as the day's run left it (raw/, parked/, warehouse, copies); copy it to write
    settings: Settings
    result: dg.ExecuteInProcessResult  # the day's last run


@pytest.fixture(scope="module")
def day_one(tmp_path_factory) -> Day:
    """400 persons; 6 % of the demo day's lines arrive on day two, half of those on day three (both parked): day one
    materialised on the demo day's reference date, with the truth so that linkage quality is measured."""
    root = tmp_path_factory.mktemp("day_one")
    settings = demo_settings(root, 400, seed=31, as_of=DEMO_DAY.isoformat(), truth_file=root / "truth.csv")
    hold_back(settings.raw_dir, 0.06, DEMO_DAY)
    hold_back(settings.raw_dir, 0.5, DAY_2)
    park_day(settings, DAY_3.isoformat())
    park_day(settings, DAY_2.isoformat())
    return Day(root, settings, materialise(settings))


@pytest.fixture(scope="module")
def day_two(day_one, tmp_path_factory) -> Day:
    """Day one's project with day two's drops delivered and materialised on the same reference date."""
    root = tmp_path_factory.mktemp("day_two")
    settings = copy_project(day_one.root, day_one.settings, root)
    deliver_day(settings, DAY_2.isoformat())
    assert runner.plan(settings).days_to_load == [DAY_2.isoformat()]  # only the new day is loaded
    return Day(root, settings, materialise(settings))


def _copy(day: Day, dest: Path) -> Settings:
    return copy_project(day.root, day.settings, dest)


def test_an_incremental_day_links_new_records_to_existing_customers(day_one, day_two, tmp_path):
    meta = _predictions_meta(day_two.result)
    assert meta["linkage_mode"] == "incremental" and meta["records_changed"] > 0
    with duckdb.connect(str(day_one.settings.warehouse), read_only=True) as con:
        day_one_ids = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall())
    with duckdb.connect(str(day_two.settings.warehouse), read_only=True) as con:
        day_two_ids = dict(con.execute("SELECT unique_id, customer_id FROM identity.record_customer").fetchall())
        staged = con.execute("SELECT count(*) FROM staging.person_records").fetchall()[0][0]
        f1_incremental = con.execute("SELECT pairwise_f1 FROM identity.linkage_quality "
                                     "ORDER BY measured_at DESC LIMIT 1").fetchall()[0][0]
    # New records joined existing customers (not only new ones), and yesterday's ids stayed.
    new = {uid: cid for uid, cid in day_two_ids.items() if uid not in day_one_ids}
    assert len(day_two_ids) == staged and new
    assert any(cid in set(day_one_ids.values()) for cid in new.values())
    kept = sum(day_two_ids[uid] == cid for uid, cid in day_one_ids.items())
    assert kept / len(day_one_ids) > 0.99
    settings = _copy(day_two, tmp_path / "demo")
    result = materialise(settings, full_refresh=True)  # the full re-link, on demand
    assert _predictions_meta(result)["linkage_mode"] == "full"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        f1_full = con.execute("SELECT pairwise_f1 FROM identity.linkage_quality "
                              "ORDER BY measured_at DESC LIMIT 1").fetchall()[0][0]
    assert abs(f1_full - f1_incremental) < 0.02


def test_incremental_days_publish_what_a_full_recompute_publishes(day_one, tmp_path):
    first = day_one.result
    assert _meta(first, ["golden", "changed_customers"])["mode"] == "full"

    settings = dataclasses.replace(_copy(day_one, tmp_path / "demo"), as_of=DAY_2)
    deliver_day(settings, DAY_2.isoformat())
    second_run = materialise(settings)
    second = _meta(second_run, ["golden", "changed_customers"])
    assert second["mode"] == "incremental"
    # the copies took the changed customers' rows of the per-customer marts, not every row (checked equal below),
    # and the stored rows of customer_360 and the cross-reference that differ (ranks move for customers whose inputs
    # did not change; recency is the view's), and the households holding their customers; the analysts' copy merges
    # customer_360's rows too, with those whose age band the moved reference date crossed
    assert _meta(second_run, ["restricted", "marts"])["tables_merged"] == [
        "consent_history", "contact_points", "customer_360_rows", "customer_history", "customer_timeline",
        "customer_xref", "household"]
    assert _meta(second_run, ["published", "marts"])["tables_merged"] == [
        "consent_history", "customer_360_rows", "customer_xref", "household"]
    for mart in ("customer_360", "customer_xref"):
        written = _meta(second_run, ["marts", mart])
        assert written["written"] == "merged" and 0 < written["customers_merged"] < written["dagster/row_count"], mart
    assert 0 < second["dagster/row_count"] < _meta(first, ["golden", "changed_customers"])["dagster/row_count"] / 2

    erased_email, overridden = _deliver_day_three(settings)
    settings = dataclasses.replace(settings, as_of=DAY_3 + timedelta(days=75))  # across rolling windows, retention
    third = _meta(materialise(settings), ["golden", "changed_customers"])
    assert third["mode"] == "incremental" and third["customers_date"] > 0
    # the override puts its customer in the set (counted under the first reason it has: 'date' or 'inputs' also may)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM golden.changed_customers WHERE customer_id = ?",
                           [overridden]).fetchone()[0] == 1
    incremental = _copies(settings, tmp_path / "incremental")

    # The same identity result, every customer's golden and marts rows recomputed, the copies built again.
    rebuilt = _recompute_in_full(settings)
    assert rebuilt.success and _meta(rebuilt, ["golden", "changed_customers"])["mode"] == "full"
    full = _copies(settings, tmp_path / "full")

    for name in (settings.published.name, settings.restricted.name):
        assert compare(incremental / name, full / name) == [], name
    _recency_as_of_the_run(settings, incremental)
    with duckdb.connect(str(full / settings.restricted.name), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.customer_360 WHERE email = ?", [erased_email]).fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM marts.customer_360 WHERE city = 'Lyon' AND address_source = 'steward'"
                           ).fetchall() == [(1,)]


def test_a_day_at_the_same_reference_date_computes_few_customers_and_publishes_what_a_full_recompute_publishes(
        day_one, day_two, tmp_path):
    """A second delivery on the reference date the marts were committed with: customer_360 computes the changed
    customers and those whose household or ranks moved, not every customer, and the copies equal a full recompute's."""
    first, second_run = day_one.result, day_two.result
    assert _meta(first, ["marts", "customer_360"])["customers_computed"] == _meta(
        first, ["marts", "customer_360"])["dagster/row_count"]
    settings = _copy(day_two, tmp_path / "demo")
    second = _meta(second_run, ["marts", "customer_360"])
    assert 0 < second["customers_computed"] < second["dagster/row_count"]
    households = _meta(second_run, ["marts", "household"])
    assert households["written"] == "merged" and 0 < households["households_merged"] < households["dagster/row_count"]
    assert "household" in _meta(second_run, ["published", "marts"])["tables_merged"]
    incremental = _copies(settings, tmp_path / "incremental")

    rebuilt = _recompute_in_full(settings)
    assert rebuilt.success and _meta(rebuilt, ["marts", "customer_360"])["customers_computed"] == second[
        "dagster/row_count"]
    full = _copies(settings, tmp_path / "full")
    for name in (settings.published.name, settings.restricted.name):
        assert compare(incremental / name, full / name) == [], name
    _recency_as_of_the_run(settings, incremental)
