"""What `customer360 run` does: load the drop days that changed, then refresh everything downstream.

The extract assets are daily-partitioned by drop day. A run compares the drops on disk with what the
warehouse loaded (file names and SHA-256 per day), loads each changed day as one partition run, and
refreshes staging, identity, golden and marts once, in a run tagged with the last day loaded. Days given
explicitly (a backfill) are reloaded even if unchanged. Unchanged input gives the same tables and ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from pipeline.config import Settings, Source, drop_day, load_sources
from pipeline.drops import scan
from pipeline.drops import today as _today
from pipeline.private_files import GROUP_MODE, SHARED_MODE, owner_only, restrict, share
from pipeline.run_lock import exclusive_run


@dataclass
class RunPlan:
    days_to_load: list[str]
    final_day: str
    problems: list[str] = field(default_factory=list)  # operator's mistakes (--days outside the partitions)
    refused: list[str] = field(default_factory=list)   # files not read, with why; the rest of the run goes on


def today() -> str:
    return _today()


def files_on_disk(settings: Settings, sources: list[Source]) -> tuple[set[tuple[str, str, str, str]], list[str]]:
    """(source, day, file, sha256) of every readable file the sources file reaches, and the refused ones."""
    found, refused = set(), []
    for source in sources:
        paths, bad = scan(source, settings.raw_dir)
        refused += [f"{source.name}: {r.file}: {r.reason}" for r in bad]
        for path in paths:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            found.add((source.name, drop_day(path, settings.raw_dir), str(path.relative_to(settings.raw_dir)), sha))
    return found, refused


def files_loaded(settings: Settings, sources: list[Source]) -> set[tuple[str, str, str, str]]:
    """(source, day, file, sha256) recorded by the extract assets (duplicates included: they were seen)."""
    if not settings.warehouse.exists():
        return set()
    loaded = set()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
        for source in sources:
            if f"{source.name}__files" in tables:
                rows = con.execute(f'SELECT drop, file, sha256 FROM raw."{source.name}__files"').fetchall()
                loaded.update((source.name, d, f, s) for d, f, s in rows)
    return loaded


def plan(settings: Settings, days: list[str] | None = None) -> RunPlan:
    """Which drop days to (re)load: those with a new or changed file, plus `days` when given; which day
    tags the final run. A file loaded before and now gone (archived) changes nothing: its rows stay."""
    sources = load_sources(settings.sources_file)
    on_disk, refused = files_on_disk(settings, sources)
    changed = {day for _, day, _, _ in on_disk - files_loaded(settings, sources)}
    last = today()
    early = sorted(d for d in changed if d < settings.first_day)
    refused += [f"drop day {d} is before the first partition {settings.first_day}: not read "
                "(set C360_FIRST_DAY to load it)" for d in early]
    problems = [f"drop day {d} is outside the partitions ({settings.first_day} .. {last}); "
                "set C360_FIRST_DAY or fix --days" for d in days or [] if not settings.first_day <= d <= last]
    wanted = sorted((changed - set(early)) | set(days or []))
    return RunPlan(days_to_load=wanted, final_day=wanted[-1] if wanted else last, problems=problems, refused=refused)


def run_config(full_refresh: bool = False, console_level: str = "WARNING") -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": console_level}}}}
    if full_refresh:  # restage every source and retrain the linkage model, as on a first run
        config["ops"] = {"staging": {"config": {"full_refresh": True}},
                         "identity__pairwise_predictions": {"config": {"full_relink": True}}}
    return config


def run(settings: Settings, days: list[str] | None = None, full_refresh: bool = False,
        instance: dg.DagsterInstance | None = None, console_level: str = "WARNING",
        layers: tuple[str, ...] | None = None,
        report: Callable[[str], None] | None = None) -> list[dg.ExecuteInProcessResult]:
    """Load the changed (or given) drop days, then refresh every downstream asset once (or only the
    assets of `layers`, the first part of their keys: raw, staging, identity...). One run at a time per
    warehouse (`WarehouseBusy` otherwise); every file it creates is owner-only but the analysts' copy.
    `report` receives one line per refused file or folder."""
    with exclusive_run(settings.warehouse), owner_only():
        restrict(settings.warehouse, settings.restricted)
        try:
            return _run(settings, days, full_refresh, instance, console_level, layers, report)
        finally:
            share(settings.published, GROUP_MODE if settings.analyst_identifiers else SHARED_MODE)


def _run(settings, days, full_refresh, instance, console_level, layers, report) -> list[dg.ExecuteInProcessResult]:
    from pipeline.definitions import build_definitions

    run_plan = plan(settings, days)
    if run_plan.problems:
        raise ValueError("; ".join(run_plan.problems))
    for line in run_plan.refused:
        (report or (lambda _: None))(f"refused {line}")
    defs = build_definitions(settings)
    job = defs.resolve_job_def("refresh_all")
    keys = job.asset_layer.executable_asset_keys
    raw_keys = [key for key in keys if key.path[0] == "raw"]
    final_keys = [key for key in keys if key.path[0] in layers] if layers else None
    instance = instance or dg.DagsterInstance.ephemeral()
    results = []
    for day in run_plan.days_to_load[:-1]:  # earlier days: their extracts only
        results.append(job.execute_in_process(
            run_config=run_config(console_level=console_level), instance=instance, partition_key=day,
            asset_selection=raw_keys, raise_on_error=False))
        if not results[-1].success:
            return results
    results.append(job.execute_in_process(
        run_config=run_config(full_refresh, console_level), instance=instance, partition_key=run_plan.final_day,
        asset_selection=final_keys, raise_on_error=False))
    return results
