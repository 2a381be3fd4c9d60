"""Operations: the published analyst copy, the restricted copy, the daily schedule and the new-drop sensor."""

import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.publish import (PSEUDONYM_FUNCTION, RESTRICTED_ONLY, analyst_select, pseudonym_key, publish_marts,
                              register_pseudonym, sources_keyed_by_identifier)
from pipeline.drops import is_readable_day
from pipeline.private_files import restrict
from pipeline.resources import WAREHOUSE_POOL, PipelineSettings

PARIS = ZoneInfo("Europe/Paris")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PUBLISHED = dg.AssetKey(["published", "marts"])
RESTRICTED = dg.AssetKey(["restricted", "marts"])
MARTS = [dg.AssetKey(["marts", t]) for t in ("customer_xref", "customer_360", "consent_history", "household",
                                                "segment_summary", "data_quality", "customer_history")]


@dg.asset(key=PUBLISHED, deps=MARTS, group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def published_marts(duckdb: DuckDBResource, settings: PipelineSettings) -> dg.MaterializeResult:
    """The marts for analysts (published.duckdb), names and contacts left out or pseudonymised, swapped in atomically."""
    target = settings.published_path
    with duckdb.get_connection() as con:
        if settings.analyst_identifiers:  # allowed by C360_ANALYST_IDENTIFIERS: the marts as they are
            counts = publish_marts(con, target, escape=True)
        else:
            register_pseudonym(con, pseudonym_key(Path(settings.pseudonym_key_file)))
            try:
                counts = publish_marts(con, target, select=analyst_select(
                    settings.reference_date, sources_keyed_by_identifier(settings.sources())), skip=RESTRICTED_ONLY,
                    escape=True)
            finally:
                con.remove_function(PSEUDONYM_FUNCTION)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          "direct_identifiers": settings.analyst_identifiers,
                                          **{f"rows_{t}": n for t, n in counts.items()}})


@dg.asset(key=RESTRICTED, deps=MARTS, group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def restricted_marts(duckdb: DuckDBResource, settings: PipelineSettings) -> dg.MaterializeResult:
    """The marts with the full golden record for customer service (restricted.duckdb), swapped in atomically."""
    target = settings.restricted_path
    with duckdb.get_connection() as con:
        counts = publish_marts(con, target)
    restrict(target)  # every name, e-mail, phone, address: owner-only, also when the run comes from the UI
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


def build(settings_raw_dir: Path, partitions: dg.PartitionsDefinition) -> tuple[dg.JobDefinition, list]:
    job = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(), partitions_def=partitions,
                              description="One drop day's extracts, then every downstream asset and check.")

    @dg.schedule(job=job, cron_schedule="0 2 * * *", execution_timezone="Europe/Paris",
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Every day at 02:00 (Paris): load that day's drops and refresh everything.")
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(PARIS).date().isoformat()
        return dg.RunRequest(run_key=day, partition_key=day)

    @dg.sensor(job=job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run for a drop day when a new folder <source>/<YYYY-MM-DD> appears.")
    def new_source_drop(context: dg.SensorEvaluationContext):
        # Only real days up to today: an impossible day has no partition, and a future one is requested
        # when it comes (pipeline/drops.py refuses both when reading).
        drops = sorted(str(p.relative_to(settings_raw_dir)) for p in settings_raw_dir.glob("*/*")
                       if p.is_dir() and _DAY.match(p.name) and is_readable_day(p.name))
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        new = [d for d in drops if d not in seen]
        if not new:
            return dg.SkipReason("no new drop")
        context.update_cursor(json.dumps(drops))
        days = sorted({Path(d).name for d in new})
        return [dg.RunRequest(run_key="|".join(d for d in new if Path(d).name == day), partition_key=day,
                              tags={"drops": ",".join(d for d in new if Path(d).name == day)[:200]}) for day in days]

    return job, [daily_refresh, new_source_drop]
