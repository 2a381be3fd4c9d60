"""A failed run's alert (pipeline/alerts.py) from its events: sent by `customer360 run` for its own runs, and by the
`alert_on_failure` sensor for every other run the daemon sees fail (the schedule's, the new-drop sensor's, the UI's)."""

from __future__ import annotations

import dagster as dg

from pipeline import alerts
from pipeline.config import Settings

CLI_TAG = "customer360/cli"  # a run `customer360 run` started: it says its own failure (the sensor would repeat it)
PARTITION_TAG = "dagster/partition"


def run_failures(events: list[dg.DagsterEvent]) -> list[tuple[str, str]]:
    """(failed step or blocking check, its message): step errors as the event log holds them (scrubbed of values,
    assets/errors.py), a check's description (counts and source names)."""
    failures = []
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.asset_check_evaluation_data
            if not data.passed and data.blocking:
                failures.append((f"check {data.asset_key.to_user_string()} {data.check_name}", data.description or ""))
        elif event.is_step_failure:
            error = event.step_failure_data.error
            failures.append((event.step_key, error.message if error else ""))
    return failures


def alert(settings: Settings, run: dg.DagsterRun, events: list[dg.DagsterEvent], outcome: str = "") -> str | None:
    """Append the run's alert to alerts.log and post it to the webhook; why the post failed, or None."""
    text = alerts.failure_text(run.run_id, run.job_name, run.tags.get(PARTITION_TAG), run_failures(events), outcome)
    return alerts.send(text, settings.warehouse, settings.alert_webhook)


def build_sensor(settings: Settings, job: dg.JobDefinition) -> dg.SensorDefinition:
    # Looked at every 10 s (Dagster's default 30): an alert is worth its seconds, and each look reads new events only.
    @dg.run_failure_sensor(name="alert_on_failure", monitored_jobs=[job], default_status=dg.DefaultSensorStatus.RUNNING,
                           minimum_interval_seconds=10,
                           description="Says each failed run in alerts.log beside the warehouse, and to "
                                       "C360_ALERT_WEBHOOK when set (the command line's runs say their own).")
    def alert_on_failure(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        if run.tags.get(CLI_TAG):
            return
        kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
        events = [r.dagster_event for r in context.instance.all_logs(run.run_id, of_type=kinds) if r.dagster_event]
        if problem := alert(settings, run, events):
            context.log.warning(problem)

    return alert_on_failure
