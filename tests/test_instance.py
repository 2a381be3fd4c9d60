"""The instance every entry point shares: its event log keeps each file's engine, and its history stays Dagster's."""

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage

from assets import runner
from assets.event_log import SqliteEventLog
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


def test_an_instance_folder_moved_keeps_its_history_and_writes_where_it_now_is(small_project, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "before"))
    with dg.DagsterInstance.from_config(str(dagster_home())) as instance:
        run_id = runner.run(small_project, instance=instance, layers=("raw",))[-1].run_id

    (tmp_path / "before").rename(tmp_path / "after")  # an operator moves the instance to another disk
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "after"))
    home = dagster_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage._base_dir == str(home / "history" / "runs")
        assert instance.get_records_for_run(run_id).records  # the history moved with the folder
    assert not (tmp_path / "before").exists()  # and nothing is written where it was

    # an operator's own dagster.yaml (our first line deleted) is theirs: never rewritten
    own = (home / "dagster.yaml").read_text(encoding="utf-8").split("\n", 1)[1].replace("default_limit: 1",
                                                                                         "default_limit: 2")
    (home / "dagster.yaml").write_text(own, encoding="utf-8")
    dagster_home()
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == own


def test_a_runs_garbage_collections_leave_out_the_objects_older_than_the_run(small_project):
    """Objects alive when a run starts are frozen while it runs (a full collection walked ~490k of them, ~0.3 CPU s,
    about once a run: assets/runner.py), and given back to the collector when it ends."""
    import gc

    frozen_during: list[int] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            frozen_during.append(gc.get_freeze_count())

    before = gc.get_freeze_count()
    gc.callbacks.append(watch)
    try:
        assert runner.run(small_project, layers=("raw",))[-1].success
    finally:
        gc.callbacks.remove(watch)
    assert max(frozen_during) > before  # collections ran during the run, with the older objects frozen
    assert gc.get_freeze_count() == before  # and they are the collector's again
