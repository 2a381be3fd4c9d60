"""Operations: the analysts' published copy, the daily schedule, the new-drop sensor."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from assets import runner
from assets.definitions import build_definitions
from tests.conftest import demo_settings, materialise

ANALYST = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("SELECT count(*) FROM marts.customer_360").fetchall()[0][0], flush=True)
sys.stdin.readline()  # the run happens meanwhile
print(con.execute("SELECT count(*) FROM marts.customer_360").fetchall()[0][0], flush=True)
"""


def _ids(settings) -> tuple[dict, int]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return (dict(con.execute("SELECT source || ':' || source_record_id, customer_id FROM marts.customer_xref")
                     .fetchall()),
                con.execute("SELECT count(*) FROM identity.id_events").fetchone()[0])


def test_an_analyst_session_on_the_published_copy_neither_blocks_a_run_nor_sees_it_half_built(demo_copy):
    settings = demo_copy
    with duckdb.connect(str(settings.warehouse), read_only=True) as wh, \
            duckdb.connect(str(settings.published), read_only=True) as pub:
        for table in ("customer_360", "household", "segment_summary", "consent_history", "customer_xref"):
            published = "" if table in ("segment_summary", "household") else \
                " WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)"  # as the copies
            assert wh.execute(f"SELECT count(*) FROM marts.{table}{published}").fetchall() == \
                   pub.execute(f"SELECT count(*) FROM marts.{table}").fetchall()
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(settings.published)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = analyst.stdout.readline().strip()
    customers, id_events = _ids(settings)
    materialise(settings)  # the same input again; the run publishes while the analyst's session is open
    assert _ids(settings) == (customers, id_events), "an unchanged re-run must keep every id and log no id event"
    analyst.stdin.write("go\n")
    analyst.stdin.flush()
    second = analyst.stdout.readline().strip()
    assert analyst.wait(timeout=60) == 0 and first == second  # a consistent view all along
    assert (settings.published.parent / "published.duckdb.tmp").exists() is False


def test_daily_schedule_and_new_drop_sensor(tmp_path, demo_copy):
    settings = demo_settings(tmp_path / "new", 60, seed=2)  # delivered, not loaded yet
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "Europe/Paris"
    tick = schedule(dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 24, 1, 0, tzinfo=UTC)))
    # 02:00 in Paris: that day's drops, after the demo's earlier drop day, delivered and never loaded
    assert [r.partition_key for r in tick] == ["2026-11-23", "2026-11-24"]
    sensor = defs.resolve_sensor_def("new_source_drop")
    first = sensor(dg.build_sensor_context())
    assert [r.partition_key for r in first] == ["2026-11-23"]  # one run for the demo's drop day, not yet loaded
    assert [r.run_key for r in sensor(dg.build_sensor_context())] == [first[0].run_key]  # the same request again
    settings = demo_copy  # a demo whose drops are all loaded
    sensor = build_definitions(settings).resolve_sensor_def("new_source_drop")
    assert isinstance(sensor(dg.build_sensor_context()), dg.SkipReason)  # loaded days are not replayed
    (settings.raw_dir / "web_orders" / "2026-11-24").mkdir()
    assert isinstance(sensor(dg.build_sensor_context()), dg.SkipReason)  # an empty folder is no drop
    (settings.raw_dir / "web_orders" / "2026-11-24" / "orders.csv").write_text("order_id\n")
    again = sensor(dg.build_sensor_context())
    assert [r.partition_key for r in again] == ["2026-11-24"]
    with duckdb.connect(str(settings.published), read_only=True):  # an analyst on the copy does not stop it
        assert [r.run_key for r in sensor(dg.build_sensor_context())] == [again[0].run_key]


def test_the_schedule_loads_a_file_that_landed_in_an_earlier_days_folder_after_its_run(demo_copy):
    # The sensor is off by default: a late export dropped into a day the schedule had already run was loaded by no
    # scheduled run (each loads its own day), silently, until 2026-11-29.
    settings = demo_copy
    late = settings.raw_dir / "cs_tickets" / "2026-11-23" / "late.jsonl"
    late.write_text('{"ticket_id": "TK-LATE", "opened_at": "2026-11-23T18:00:00", "status": "open", "category": '
                    '"question", "customer": {"first_name": "Anne", "last_name": "Late", "email": "anne.late@example.org"}}\n')
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("daily_refresh")
    at = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    tick = schedule(dg.build_schedule_context(scheduled_execution_time=at))
    assert [r.partition_key for r in tick] == ["2026-11-23", "2026-11-25"]
    job = defs.resolve_job_def("refresh_all")
    with dg.instance_for_test() as instance:
        for request in tick:  # as the daemon launches them, one after the other (one writer)
            result = job.execute_in_process(partition_key=request.partition_key, instance=instance,
                                            run_config=runner.run_config(console_level="CRITICAL"))
            assert result.success
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.activities WHERE source_record_id = 'TK-LATE'").fetchone() == (1,)
    assert [r.partition_key for r in schedule(dg.build_schedule_context(scheduled_execution_time=at))] == [
        "2026-11-25"]  # loaded: not requested again


def test_a_run_killed_midway_leaves_the_published_marts_and_the_next_run_completes(demo_copy):
    settings = demo_copy
    with duckdb.connect(str(settings.published), read_only=True) as pub:
        before = pub.execute("SELECT * FROM marts.customer_360 ORDER BY customer_id").df()
    (settings.raw_dir / "cs_tickets" / "2026-11-24").mkdir()  # a new day's drop that the killed run never publishes
    (settings.raw_dir / "cs_tickets" / "2026-11-24" / "t.jsonl").write_text(
        '{"ticket_id": "TK1", "opened_at": "2026-11-24T08:00:00", "status": "open", "category": "question", '
        '"customer": {"first_name": "Anne", "last_name": "Kill", "email": "anne.kill@example.org"}}\n')
    cli = str(Path(sys.executable).parent / "customer360")
    run = subprocess.Popen([cli, "run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                            "--truth", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spill = settings.artefacts_dir / "splink_scratch.spill"  # Splink's scratch folder (its database may be in memory)
    for _ in range(600):  # kill -9 while Splink is training, mid-run
        if spill.exists() or run.poll() is not None:
            break
        time.sleep(0.1)
    run.kill()
    run.wait()
    with duckdb.connect(str(settings.published), read_only=True) as pub:
        after = pub.execute("SELECT * FROM marts.customer_360 ORDER BY customer_id").df()
    assert before.equals(after)
    materialise(settings)  # the next run recovers the warehouse and completes
    with duckdb.connect(str(settings.published), read_only=True) as pub:
        assert pub.execute("SELECT count(*) FROM marts.customer_xref WHERE source_record_id = 'TK1'").fetchall() == [(1,)]


BRIEF_READER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(3)  # what the sensor's look at the loaded files is, slowed down
print("releasing", time.monotonic(), flush=True)  # the system-wide clock the test reads too
con.close()
"""


def test_a_run_waits_for_another_process_brief_hold_on_the_warehouse(tmp_path):
    # A run holds the warehouse for its whole length (assets/resources.py Warehouse); when it starts while the
    # sensor is reading which files were loaded, it must wait for the read, not fail (the UI run test saw it fail).
    from assets.resources import Warehouse

    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS x").close()
    reader = subprocess.Popen([sys.executable, "-c", BRIEF_READER, str(path)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "holding"
    warehouse = Warehouse(database=str(path))
    warehouse.setup_for_execution(dg.build_init_resource_context())
    opened_at = time.monotonic()
    try:
        # The reader says when it let go (not whether its interpreter has exited yet: under load it may not have).
        said, released_at = reader.stdout.readline().split()
        assert said == "releasing" and float(released_at) < opened_at, \
            "the run opened the file while another process held it"
        with warehouse.get_connection() as con:
            con.execute("INSERT INTO t VALUES (2)")
            assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    finally:
        warehouse.teardown_after_execution(dg.build_init_resource_context())
    reader.wait(timeout=10)


def test_the_run_s_warehouse_connection_is_memory_bounded(tmp_path):
    # Held for the whole run, an unbounded connection kept every page every step read in DuckDB's cache (80 % of
    # RAM by default): the 1M person-only peak was 4.12 GB of the 4 GiB budget (pipeline/warehouse.py).
    from assets.resources import build_resources
    from pipeline.config import BUNDLED_SOURCES, Settings

    settings = Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "w.duckdb", sources_file=BUNDLED_SOURCES,
                        truth_file=None)
    warehouse = build_resources(settings)["duckdb"]
    warehouse.setup_for_execution(dg.build_init_resource_context())
    try:
        with warehouse.get_connection() as con:
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        warehouse.teardown_after_execution(dg.build_init_resource_context())
    assert limit.endswith("GiB") and float(limit.split()[0]) <= 2.0, limit


def test_the_shared_instance_holds_one_writer_at_a_time_and_starts_a_queued_run_within_a_second(tmp_path, monkeypatch):
    # The instance every entry point shares, as the daemon of `customer360 dev` reads it: the next run waiting for
    # the warehouse's pool starts within a second of the pool freeing, not up to five (Dagster's default).
    from pipeline.instance import dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with dg.DagsterInstance.from_config(str(dagster_home())) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert (pools.pool_granularity.value, pools.default_pool_limit) == ("run", 1)
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_a_second_warehouse_in_the_same_folder_is_refused_before_it_overwrites_the_first_s_copies(tmp_path):
    # The copies, the model and the quality files sit beside the warehouse under fixed names: a second warehouse in
    # the folder overwrote the first's published copy (analysts read the other data) and reused its model.
    import hashlib

    settings = demo_settings(tmp_path, 30, seed=1)
    materialise(settings)
    published = hashlib.sha256(settings.published.read_bytes()).hexdigest()
    other = tmp_path / "other.duckdb"
    cli = str(Path(sys.executable).parent / "customer360")
    second = subprocess.run([cli, "run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(other),
                             "--truth", "", "--quiet"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")})
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"holds the published copies, model and quality files of the warehouse '{settings.warehouse.name}'" \
        in second.stdout + second.stderr, second.stdout[-2000:] + second.stderr[-2000:]
    assert hashlib.sha256(settings.published.read_bytes()).hexdigest() == published
    assert not other.exists()
    materialise(settings)  # the folder's own warehouse still runs


def test_the_schedule_and_the_sensor_launch_one_run_of_a_changed_day_not_two(tmp_path):
    # Run keys are the schedule's or the sensor's own: with the sensor on, both requested a changed day, the pool ran
    # them one after the other, and the second loaded the day again (a whole run's CPU; two runs of a day in the UI).
    from tests.hostile import CRM_HEADER, crm_rows, day, project, write

    settings = project(tmp_path)
    write(settings.raw_dir, "crm", day(-1), "export.csv", (CRM_HEADER + "\n" + "\n".join(crm_rows(3)) + "\n").encode())
    defs = build_definitions(settings)
    job, sensor = defs.resolve_job_def("refresh_all"), defs.resolve_sensor_def("new_source_drop")
    schedule = defs.resolve_schedule_def("daily_refresh")
    at = {offset: datetime.fromisoformat(f"{day(offset)}T01:00:00+00:00") for offset in (-1, 0)}  # 02:00 in Paris
    with dg.instance_for_test() as instance:
        def tick(offset: int) -> list[str]:
            result = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=at[offset]))
            return [r.partition_key for r in result] if isinstance(result, list) else []

        assert [r.partition_key for r in sensor(dg.build_sensor_context(instance=instance))] == [day(-1)]
        queued = instance.create_run_for_job(job, status=dg.DagsterRunStatus.NOT_STARTED,  # waiting for the pool
                                             tags=job.get_tags_for_partition_key(day(-1), selected_asset_keys=None))
        assert tick(-1) == [] and tick(0) == [day(0)]  # the queued run loads day -1: not requested again
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)  # nor by the sensor
        instance.report_run_canceled(queued)
        assert tick(0) == [day(-1), day(0)]  # cancelled: the day is requested again
        assert all(r.success for r in runner.run(settings, instance=instance, console_level="CRITICAL"))
        assert tick(-1) == []  # the day was refreshed whole by a run and its files are unchanged: not loaded again
        assert tick(0) == [day(0)] and isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
