"""The instance every entry point shares: its event log keeps each file's engine, and its history stays Dagster's."""

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage

from pipeline import runner
from pipeline.event_log import SqliteEventLog
from pipeline.instance import dagster_home


def test_a_run_recorded_with_one_engine_per_event_log_file_reads_back_as_dagsters_own(small_project, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = dagster_home()  # what `customer360 run` and `make dev` create
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, SqliteEventLog)
        assert storage._base_dir == str(home / "history" / "runs")  # where Dagster keeps a SQLite instance's logs
        result = runner.run(small_project, instance=instance, layers=("raw",))[-1]  # the extracts
        assert result.success
        run_id = result.run_id
        # the run's file and the index were each opened through one engine, reused by every later connection
        engines = dict(storage._engines)
        assert run_id in engines and len(engines) >= 2
        with storage.run_connection(run_id) as conn:
            assert conn.engine is engines[run_id]
        events = storage.get_logs_for_run(run_id)
        materialised = {e.dagster_event.asset_key for e in events if e.is_dagster_event
                        and e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION}
        assert materialised and {k.path[0] for k in materialised} == {"raw"}
        assert all(instance.get_latest_materialization_event(k) for k in materialised)

    # Dagster's own storage on the same folder reads the same history: nothing kept in a format of ours
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    assert [e.storage_id for e in plain.get_records_for_run(run_id, limit=10_000).records] == \
        [e.storage_id for e in SqliteEventLog(str(home / "history" / "runs")).get_records_for_run(
            run_id, limit=10_000).records]
    assert all(plain.get_latest_materialization_events(sorted(materialised, key=str)).values())
