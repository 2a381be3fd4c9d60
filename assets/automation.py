"""Operations: the published analyst copy, the restricted copy, the daily schedule and the new-drop sensor."""

from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipeline.publish import (PSEUDONYM_FUNCTION, RESTRICTED_ONLY, analyst_select, pseudonym_key, publish_marts,
                              register_pseudonym, sources_keyed_by_identifier)
from pipeline.config import Settings
from pipeline.private_files import restrict
from pipeline.resources import WAREHOUSE_POOL, RunSettings
from pipeline.runner import plan

PARIS = ZoneInfo("Europe/Paris")
PUBLISHED = dg.AssetKey(["published", "marts"])
RESTRICTED = dg.AssetKey(["restricted", "marts"])
MARTS = [dg.AssetKey(["marts", t]) for t in ("customer_xref", "customer_360", "consent_history", "household",
                                                "segment_summary", "data_quality", "customer_history", "customer_timeline",
                                                "segment_history")]


@dg.asset(key=PUBLISHED, deps=MARTS, group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def published_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    settings: RunSettings) -> dg.MaterializeResult:
    """The marts for analysts (published.duckdb), names and contacts left out or pseudonymised, swapped in atomically."""
    target = settings.published
    with duckdb.get_connection() as con:
        if settings.analyst_identifiers:  # allowed by C360_ANALYST_IDENTIFIERS: the marts as they are
            counts = publish_marts(con, target, escape=True)
        else:
            register_pseudonym(con, pseudonym_key(settings.pseudonym_key_file, settings.pseudonym_secret))
            try:
                counts = publish_marts(con, target, select=analyst_select(sources_keyed_by_identifier(settings.sources())),
                                       skip=RESTRICTED_ONLY, escape=True, params={"as_of": settings.reference_date})
            finally:
                con.remove_function(PSEUDONYM_FUNCTION)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          "direct_identifiers": settings.analyst_identifiers,
                                          **_holds(context),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


@dg.asset(key=RESTRICTED, deps=MARTS, group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def restricted_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                     settings: RunSettings) -> dg.MaterializeResult:
    """The marts with the full golden record for customer service (restricted.duckdb), swapped in atomically."""
    target = settings.restricted
    with duckdb.get_connection() as con:
        counts = publish_marts(con, target)
    restrict(target)  # every name, e-mail, phone, address: owner-only, also when the run comes from the UI
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)), **_holds(context),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


def _holds(context: dg.AssetExecutionContext) -> dict:
    """Which drop day the copy holds (the run's partition), and from which run: after a blocked run, the operator
    reads here what analysts and customer service still see."""
    return {"drop_day": context.run.tags.get("dagster/partition", ""), "published_by_run": context.run.run_id}


def build(settings: Settings, partitions: dg.PartitionsDefinition) -> tuple[dg.JobDefinition, list]:
    job = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(), partitions_def=partitions,
                              description="One drop day's extracts, then every downstream asset and check.")
    cron = settings.refresh_cron

    @dg.schedule(job=job, cron_schedule=cron, execution_timezone="Europe/Paris",
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"Cron '{cron}' (Paris time, C360_REFRESH_CRON): load that day's drops and refresh "
                             "everything.")
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(PARIS).date().isoformat()
        return dg.RunRequest(run_key=day, partition_key=day)

    @dg.sensor(job=job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run for each drop day whose files on disk differ from those loaded.")
    def new_source_drop(context: dg.SensorEvaluationContext):
        # What changed is what `customer360 run` would load: files on disk against raw.<source>__files. No cursor
        # to grow, and days already loaded are not replayed. The run key carries the day's file digest, so a
        # pending request is not repeated and a re-delivered day is requested again.
        try:
            run_plan = plan(settings)
        except duckdb.Error:  # a run holds the warehouse (one writer): look again at the next tick
            return dg.SkipReason("the warehouse is being written by a run")
        for problem in run_plan.problems:  # folder names and days only
            context.log.warning(problem)
        days = [d for d in run_plan.days_to_load if not any(d in p for p in run_plan.problems)]
        if not days:
            return dg.SkipReason("no new or changed drop")
        return [dg.RunRequest(run_key=f"{day}@{run_plan.versions[day]}", partition_key=day) for day in days]

    return job, [daily_refresh, new_source_drop]
