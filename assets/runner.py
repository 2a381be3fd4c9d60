"""What `customer360 run` does: load the drop days that changed, then refresh everything downstream.

The extract assets are daily-partitioned by drop day. A run compares the drops on disk with what the
warehouse loaded (file names and SHA-256 per day), loads each changed day as one partition run, and
refreshes staging, identity, golden and marts once, in a run tagged with the last day loaded. Days given
explicitly (a backfill) are reloaded even if unchanged. Unchanged input gives the same tables and ids.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from assets.erasure_guard import RESTORED_TAG, check_erasures_kept
from pipeline.config import PROJECT_ROOT, Settings, Source, claim_folder, load_sources
from pipeline.drop_days import drop_day
from pipeline.drops import glob_root, list_files, scan, undated_names
from pipeline.drops import today as _today
from pipeline.extract import read_settings
from pipeline.instance import CODE_LOCATION
from pipeline.private_files import owner_only, restrict
from pipeline.progress import RunProgress
from pipeline.run_lock import exclusive_run
from pipeline.sql import raw_table


@dataclass
class RunPlan:
    days_to_load: list[str]
    final_day: str
    problems: list[str] = field(default_factory=list)  # operator's mistakes (--days outside the partitions)
    refused: list[str] = field(default_factory=list)   # files not read, with why; the rest of the run goes on
    versions: dict[str, str] = field(default_factory=dict)  # day -> digest of its files on disk (names, SHA-256)
    new_files: dict[str, list[str]] = field(default_factory=dict)  # day -> its files new or changed on disk
    gone: list[str] = field(default_factory=list)  # sources whose drop folder is gone, their loaded rows kept
    reread: list[str] = field(default_factory=list)  # sources whose files are read again: the sources file changed
    undated: list[str] = field(default_factory=list)  # sources whose file names spell a day ambiguously: mtime taken
    nothing_loaded: bool = False  # no file was ever loaded (a first run before the first delivery)


def today() -> str:
    return _today()


def files_on_disk(settings: Settings, sources: list[Source]
                  ) -> tuple[set[tuple[str, str, str, str]], list[str], list[str]]:
    """(source, day, file, sha256) of every readable file the sources file reaches, the refused ones, and a line per
    source whose files' names spell a day ambiguously (drops.undated_names)."""
    found, refused, undated = set(), [], []
    for source in sources:
        paths, bad = scan(source, settings.raw_dir)
        refused += [f"{source.name}: {r.file}: {r.reason}" for r in bad]
        undated += filter(None, [undated_names(source, paths, settings.raw_dir)])
        for path in paths:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            found.add((source.name, drop_day(path, settings.raw_dir), str(path.relative_to(settings.raw_dir)), sha))
    return found, refused, undated


def partition_start(settings: Settings, sources: list[Source]) -> str:
    """The first daily partition: C360_FIRST_DAY when set, else the earliest drop day on disk (else today), so the
    UI lists the days that hold data, not years of empty 'missing' partitions."""
    if settings.first_day:
        return settings.first_day
    days = [drop_day(path, settings.raw_dir) for source in sources for path in list_files(source, settings.raw_dir)]
    return min(days, default=today())


def files_loaded(settings: Settings, sources: list[Source]) -> dict[tuple[str, str, str, str], str | None]:
    """(source, day, file, sha256) recorded by the extract assets (duplicates included: they were seen) -> the read
    settings it was read with (`extract.read_settings`; None for a file read whole before they were recorded, ''
    for any other file of that time: read again once)."""
    if not settings.warehouse.exists():
        return {}
    loaded = {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        columns = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'raw'").fetchall()}
        for source in sources:
            files = f"{source.name}__files"
            if (files, "file") not in columns:
                continue
            read_with = "read_with" if (files, "read_with") in columns else "NULL"
            rows = con.execute(f"SELECT drop, file, sha256, CASE WHEN {read_with} IS NOT NULL THEN {read_with} "
                               f"WHEN status = 'loaded' THEN NULL ELSE '' END "
                               f"FROM {raw_table(source.name, files=True)}").fetchall()
            loaded.update({(source.name, d, f, s): used for d, f, s, used in rows})
    return loaded


def plan(settings: Settings, days: list[str] | None = None) -> RunPlan:
    """Which drop days to (re)load: those with a new or changed file, plus `days` when given; which day
    tags the final run. A file loaded before and now gone (archived) changes nothing: its rows stay."""
    sources = load_sources(settings.sources_file)
    on_disk, refused, undated = files_on_disk(settings, sources)
    loaded = files_loaded(settings, sources)
    # A file read with other settings than the sources file's now (a `delimiter` fixed after a refusal) is read again
    reading = {source.name: read_settings(source) for source in sources}
    reread = {f for f in on_disk & loaded.keys() if loaded[f] is not None and loaded[f] != reading[f[0]]}
    fresh = (on_disk - loaded.keys()) | reread
    changed = {day for _, day, _, _ in fresh}
    first, last = partition_start(settings, sources), today()
    early = sorted(d for d in changed if d < first)
    refused += [f"drop day {d} is before the first partition {first}: not read "
                "(set C360_FIRST_DAY to load it)" for d in early]
    problems = [f"drop day {d} is outside the partitions ({first} .. {last}); "
                "set C360_FIRST_DAY or fix --days" for d in days or [] if not first <= d <= last]
    wanted = sorted((changed - set(early)) | set(days or []))
    versions = {day: hashlib.sha256(repr((sorted(f for f in on_disk if f[1] == day), sorted(reading.items())))
                                    .encode()).hexdigest()[:16] for day in wanted}
    new_files = {day: sorted(file for _, d, file, _ in fresh if d == day) for day in wanted}
    notes = [f"{name}: {count} file(s) read before with other settings of the sources file (format, encoding, "
             "delimiter, sheet, mapped columns): read again"
             for name, count in sorted(Counter(name for name, *_ in reread).items())]
    return RunPlan(days_to_load=wanted, final_day=wanted[-1] if wanted else last, problems=problems,
                   refused=refused, versions=versions, new_files=new_files, reread=notes, undated=undated,
                   gone=_folders_gone(settings, sources, loaded), nothing_loaded=not loaded)


def _folders_gone(settings: Settings, sources: list[Source], loaded: dict[tuple[str, str, str, str], str | None]
                  ) -> list[str]:
    """A source that delivered before and whose folder is gone (a mount lost, a folder renamed): nothing of it is read,
    its loaded rows stay (as an archived file's), and no day of it changes, so no extract says anything: the plan
    does, on every run. Files archived out of a folder that is still there are the usual practice: not said."""
    lines = []
    for source in sources:
        root = glob_root(source.files)
        files = sum(1 for name, *_ in loaded if name == source.name)
        if root and files and not (settings.raw_dir / root).is_dir():
            lines.append(f"{source.name}: its drop folder {root}/ is gone: nothing read from it; the rows of the "
                         f"{files} file(s) read from it before stay loaded (`customer360 forget FILE` removes them)")
    return lines


def run_config(full_refresh: bool = False, console_level: str = "WARNING", earlier_day: bool = False) -> dict:
    """The run config of one partition run; `earlier_day`: a day before the last of a run of several, whose extracts
    leave the files no glob reaches to the last day's run to report (once, not once a day)."""
    from assets.golden import CHANGED_CUSTOMERS_OP
    from assets.identity import PREDICTIONS_OP
    from assets.sources import EXTRACTS_OP
    from assets.staging import STAGING_OP

    config: dict = {"loggers": {"console": {"config": {"log_level": console_level}}}}
    ops: dict = {}
    if earlier_day:
        ops[EXTRACTS_OP] = {"config": {"report_unreached": False}}
    if full_refresh:  # restage every source, retrain the linkage model, rebuild every customer, as on a first run
        ops.update({STAGING_OP: {"config": {"full_refresh": True}}, PREDICTIONS_OP: {"config": {"full_relink": True}},
                    CHANGED_CUSTOMERS_OP: {"config": {"full": True}}})
    if ops:
        config["ops"] = ops
    return config


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, run_config: dict, day: str,
             asset_selection: list[dg.AssetKey] | None, progress: RunProgress | None = None,
             tags: dict[str, str] | None = None) -> dg.ExecutionResult:
    """Run `job` in this process for one partition, recorded as a run of the `customer360` code location, so the
    UI lists it on the job page and the Overview timeline with the runs it launched itself (a run made by
    `execute_in_process` carries no code-location origin and shows under Runs only). `progress` sees each event
    as it happens."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import execute_run_iterator
    from dagster._core.execution.job_execution_result import JobExecutionResult
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(
        executable_path=sys.executable, module_name="assets.definitions", working_directory=str(PROJECT_ROOT)),
        location_name=CODE_LOCATION)
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    dagster_run = instance.create_run_for_job(
        job_def=job, run_config=run_config, remote_job_origin=origin,
        asset_selection=frozenset(asset_selection) if asset_selection else None,
        tags={**job.get_tags_for_partition_key(day, selected_asset_keys=asset_selection), **(tags or {})})
    if progress:
        steps = job.get_subset(asset_selection=set(asset_selection)) if asset_selection else job
        progress.start(day, len(steps.graph.node_dict))
    events = []
    try:
        for event in execute_run_iterator(InMemoryJob(job), dagster_run, instance):
            events.append(event)
            if progress:
                progress.event(event)
    finally:
        if progress:
            progress.close()
    return JobExecutionResult(job, contextlib.nullcontext(), events, instance.get_run_by_id(dagster_run.run_id))


def run(settings: Settings, days: list[str] | None = None, full_refresh: bool = False,
        instance: dg.DagsterInstance | None = None, console_level: str = "WARNING",
        layers: tuple[str, ...] | None = None, progress: RunProgress | None = None,
        report: Callable[[str], None] | None = None, restored: bool = False,
        tags: dict[str, str] | None = None) -> list[dg.ExecutionResult]:
    """Load the changed (or given) drop days, then refresh every downstream asset once (or only the
    assets of `layers`, the first part of their keys: raw, staging, identity...). One run at a time per
    warehouse (`WarehouseBusy` otherwise), one warehouse per folder (`FolderTaken`); every file it creates is owner-only but the analysts' copy.
    `report` receives one line per refused file or folder, and per source whose drop folder is gone. A warehouse older
    than its erasures is refused (`ErasuresUndone`) unless `restored` (assets/erasure_guard.py). `tags` are added to
    every run's."""
    with exclusive_run(settings.warehouse), owner_only(), _older_objects_not_rescanned():
        claim_folder(settings.warehouse)  # before anything beside the warehouse is touched (`FolderTaken` otherwise)
        restrict(settings.warehouse, settings.restricted)
        if instance is not None and not restored and settings.warehouse.exists():
            with duckdb.connect(str(settings.warehouse), read_only=True) as con:  # said before any step starts
                check_erasures_kept(con, instance)
        tags = {**(tags or {}), **({RESTORED_TAG: "true"} if restored else {})}
        return _run(settings, days, full_refresh, instance, console_level, layers, progress, report, tags)


@contextlib.contextmanager
def _older_objects_not_rescanned() -> Iterator[None]:
    """Python's cyclic garbage collector left off the objects alive when the run starts, for the run's length.

    Why: the process holds ~490k objects the run does not free (the code of Dagster, Great Expectations, Splink,
    pandas: functions, types, tuples), and each full collection walks all of them: ~0.25-0.3 CPU s (a 100k full run
    triggered four, 1.0 CPU s; a day none or one). Frozen, a full collection walks the run's own objects only
    (bench/HISTORY.md, tenth session). Reference counting still frees everything as before; what the freeze holds back is
    cyclic garbage already there when the run starts, given back to the collector when it ends. A process that froze
    objects itself keeps its own freeze (unfreezing would give back objects it meant to keep)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(settings, days, full_refresh, instance, console_level, layers, progress, report,
         tags) -> list[dg.ExecutionResult]:
    from assets.definitions import build_definitions

    run_plan = plan(settings, days)
    if run_plan.problems:
        raise ValueError("; ".join(run_plan.problems))
    say = report or (lambda _: None)
    for line in run_plan.refused:
        say(f"refused {line}")
    for line in run_plan.gone + run_plan.undated:
        say(f"warning: {line}")
    for line in run_plan.reread:
        say(line)
    defs = build_definitions(settings)
    job = defs.resolve_job_def("refresh_all")
    keys = job.asset_layer.executable_asset_keys
    raw_keys = [key for key in keys if key.path[0] == "raw"]
    final_keys = [key for key in keys if key.path[0] in layers] if layers else None
    # Nothing new on disk: refresh downstream without an empty extract of today; unless nothing was ever loaded: the
    # empty extract makes the raw tables staging reads (a first run before any delivery stopped staging with a catalog
    # error naming no table, and now says that no person record is there to link).
    if not run_plan.days_to_load and not run_plan.nothing_loaded:
        final_keys = [key for key in (final_keys or keys) if key.path[0] != "raw"]
    instance = instance or dg.DagsterInstance.ephemeral()
    results = []
    for day in run_plan.days_to_load[:-1]:  # earlier days: their extracts only
        results.append(_execute(job, instance, run_config(console_level=console_level, earlier_day=True), day, raw_keys,
                                progress, tags))
        if not results[-1].success:
            return results
    results.append(_execute(job, instance, run_config(full_refresh, console_level), run_plan.final_day, final_keys,
                            progress, tags))
    return results
