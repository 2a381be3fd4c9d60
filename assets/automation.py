"""Operations: the refresh_all job, the daily schedule, the new-drop sensor and the failed runs' alerts
(assets/alerting.py; the copies: assets/publication.py)."""

from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from assets import alerting
from assets.runner import plan
from pipeline.config import Settings
from pipeline.drops import listed

PARIS = ZoneInfo("Europe/Paris")
SHOWN_FILES = 10  # file names a tick's log line lists per drop day; the rest are counted
PARTITION_TAG = "dagster/partition"
# A run that will still load its day's files on disk: not yet at its extracts, or in them.
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]
DONE = [dg.DagsterRunStatus.SUCCESS]
WRITING = "the warehouse is being written by a run"


def build(settings: Settings, partitions: dg.PartitionsDefinition) -> tuple[dg.JobDefinition, list]:
    job = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(), partitions_def=partitions,
                              description="One drop day's extracts, then every downstream asset and check.")
    cron = settings.refresh_cron

    def runs_of(context, statuses: list[dg.DagsterRunStatus], day: str | None = None) -> list[dg.DagsterRun]:
        """The job's runs in `statuses` (of partition `day` if given); none when the context has no instance (a test's
        context built without one: the daemon always gives one)."""
        try:
            instance = context.instance
        except dg.DagsterInvariantViolationError:
            return []
        tags = {PARTITION_TAG: day} if day else None
        return list(instance.get_runs(filters=dg.RunsFilter(job_name=job.name, statuses=statuses, tags=tags)))

    def changed_days(context, until: str | None = None) -> list[dg.RunRequest] | str:
        """A run request for each drop day whose files on disk differ from those loaded (what `customer360 run` would
        load; `until`: that day and those before only), or why they cannot be known (WRITING). The run key carries the
        day's file digest, so a pending request is not repeated and a re-delivered day is requested again. A day that a run
        queued or under way will load (the sensor's, the schedule's, the UI's) is not requested again: run keys are
        the schedule's or the sensor's own, so both requested one changed day, and the pool ran the day twice, the
        second loading again what the first had (a whole run's CPU, and two runs of one day in the UI)."""
        try:
            run_plan = plan(settings)
        except duckdb.Error:  # a run holds the warehouse (one writer): look again at the next tick
            return WRITING
        for problem in run_plan.problems + run_plan.gone + run_plan.undated:  # folder and file names, days only
            context.log.warning(problem)
        for line in run_plan.reread:
            context.log.info(line)
        days = [d for d in run_plan.days_to_load if not any(d in p for p in run_plan.problems)
                and (until is None or d <= until)]
        busy = {run.tags.get(PARTITION_TAG) for run in runs_of(context, IN_FLIGHT)}
        for day in days:  # which files made the request: paths only, as the extracts step names them
            files = run_plan.new_files[day]
            said = "a run of the day is queued or under way: not requested again" if day in busy else "run requested"
            context.log.info(f"drop day {day}: {len(files)} new or changed file(s) ({listed(files, SHOWN_FILES)}): "
                             + said)
        return [dg.RunRequest(run_key=f"{day}@{run_plan.versions[day]}", partition_key=day)
                for day in days if day not in busy]

    @dg.schedule(job=job, cron_schedule=cron, execution_timezone="Europe/Paris",
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Cron '{cron}' (Paris time, C360_REFRESH_CRON): load that day's drops and refresh "
                             "everything; first, any earlier day whose files changed since they were loaded.")
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(PARIS).date().isoformat()
        # A file that landed in an earlier day's folder after that day's run (a late export) was loaded by no
        # scheduled run, the sensor being off by default: its day is requested again first.
        changed = changed_days(context, until=day)
        requests = [] if isinstance(changed, str) else changed
        earlier = [r for r in requests if r.partition_key != day]
        # The day's refresh (one a day: its run key is the day), unless a run of the day is queued or under way, or one
        # refreshed everything for the day and its files have not changed since (the sensor's, as they landed): either
        # would load the same files again.
        if len(earlier) == len(requests):
            if runs_of(context, IN_FLIGHT, day):
                return earlier or dg.SkipReason(f"a run of {day} is queued or under way")
            if changed != WRITING and any(run.asset_selection is None for run in runs_of(context, DONE, day)):
                return earlier or dg.SkipReason(f"{day} refreshed by an earlier run, its files unchanged since")
        return [*earlier, dg.RunRequest(run_key=day, partition_key=day)]

    @dg.sensor(job=job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run for each drop day whose files on disk differ from those loaded.")
    def new_source_drop(context: dg.SensorEvaluationContext):
        # What changed is what `customer360 run` would load: files on disk against raw.<source>__files. No cursor
        # to grow, and days already loaded are not replayed.
        requests = changed_days(context)
        if isinstance(requests, str):
            return dg.SkipReason(requests)
        return requests or dg.SkipReason("no new or changed drop (or its day's run is queued or under way)")

    return job, [daily_refresh, new_source_drop, alerting.build_sensor(settings, job)]
