"""Operations: the refresh_all job, the daily schedule and the new-drop sensor (the copies: assets/publication.py)."""

from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from assets.runner import plan
from pipeline.config import Settings
from pipeline.drops import listed

PARIS = ZoneInfo("Europe/Paris")
SHOWN_FILES = 10  # file names a tick's log line lists per drop day; the rest are counted


def build(settings: Settings, partitions: dg.PartitionsDefinition) -> tuple[dg.JobDefinition, list]:
    job = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(), partitions_def=partitions,
                              description="One drop day's extracts, then every downstream asset and check.")
    cron = settings.refresh_cron

    def changed_days(context, before: str | None = None) -> list[dg.RunRequest] | str:
        """A run request for each drop day whose files on disk differ from those loaded (what `customer360 run` would
        load; `before`: days before it only), or why there is none. The run key carries the day's file digest, so a
        pending request is not repeated and a re-delivered day is requested again."""
        try:
            run_plan = plan(settings)
        except duckdb.Error:  # a run holds the warehouse (one writer): look again at the next tick
            return "the warehouse is being written by a run"
        for problem in run_plan.problems + run_plan.gone + run_plan.undated:  # folder and file names, days only
            context.log.warning(problem)
        for line in run_plan.reread:
            context.log.info(line)
        days = [d for d in run_plan.days_to_load if not any(d in p for p in run_plan.problems)
                and (before is None or d < before)]
        for day in days:  # which files made the request: paths only, as the extracts step names them
            files = run_plan.new_files[day]
            context.log.info(f"drop day {day}: {len(files)} new or changed file(s) ({listed(files, SHOWN_FILES)}): "
                             "run requested")
        return [dg.RunRequest(run_key=f"{day}@{run_plan.versions[day]}", partition_key=day) for day in days] \
            or "no new or changed drop"

    @dg.schedule(job=job, cron_schedule=cron, execution_timezone="Europe/Paris",
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Cron '{cron}' (Paris time, C360_REFRESH_CRON): load that day's drops and refresh "
                             "everything; first, any earlier day whose files changed since they were loaded.")
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(PARIS).date().isoformat()
        # A file that landed in an earlier day's folder after that day's run (a late export) was loaded by no
        # scheduled run, the sensor being off by default: its day is requested again first.
        earlier = changed_days(context, before=day)
        return [*([] if isinstance(earlier, str) else earlier), dg.RunRequest(run_key=day, partition_key=day)]

    @dg.sensor(job=job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run for each drop day whose files on disk differ from those loaded.")
    def new_source_drop(context: dg.SensorEvaluationContext):
        # What changed is what `customer360 run` would load: files on disk against raw.<source>__files. No cursor
        # to grow, and days already loaded are not replayed.
        requests = changed_days(context)
        return dg.SkipReason(requests) if isinstance(requests, str) else requests

    return job, [daily_refresh, new_source_drop]
