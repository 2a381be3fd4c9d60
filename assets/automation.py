"""Operations: the published analyst copy, the daily schedule and the new-drop sensor."""

import json
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.publish import publish_marts
from pipeline.resources import WAREHOUSE_POOL, PipelineSettings

PUBLISHED = dg.AssetKey(["published", "marts"])
MARTS = [dg.AssetKey(["marts", t]) for t in ("customer_xref", "customer_360", "consent_history", "household",
                                                "segment_summary", "data_quality")]


@dg.asset(key=PUBLISHED, deps=MARTS, group_name="marts", kinds={"duckdb"}, pool=WAREHOUSE_POOL)
def published_marts(duckdb: DuckDBResource, settings: PipelineSettings) -> dg.MaterializeResult:
    """The marts copied to the analysts' read-only file (published.duckdb), swapped in atomically."""
    target = settings.published_path
    with duckdb.get_connection() as con:
        counts = publish_marts(con, target)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          **{f"rows_{t}": n for t, n in counts.items()}})


def build(settings_raw_dir: Path) -> tuple[dg.JobDefinition, list]:
    job = dg.define_asset_job("refresh_all", selection=dg.AssetSelection.all(),
                              description="Every asset and check, as `customer360 run` does.")
    daily = dg.ScheduleDefinition(name="daily_refresh", job=job, cron_schedule="0 2 * * *",
                                  execution_timezone="Europe/Paris", default_status=dg.DefaultScheduleStatus.RUNNING)

    @dg.sensor(job=job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Starts a run when a new drop folder <source>/<YYYY-MM-DD> appears under the raw directory.")
    def new_source_drop(context: dg.SensorEvaluationContext):
        drops = sorted(str(p.relative_to(settings_raw_dir)) for p in settings_raw_dir.glob("*/*") if p.is_dir())
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        new = [d for d in drops if d not in seen]
        if not new:
            return dg.SkipReason("no new drop")
        context.update_cursor(json.dumps(drops))
        return dg.RunRequest(run_key="|".join(new), tags={"drops": ",".join(new)[:200]})

    return job, [daily, new_source_drop]
