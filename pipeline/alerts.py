"""Telling the operator that a run failed, however it was started (`customer360 run` from a scheduler, the nightly
schedule, the new-drop sensor, the UI): one line appended to `alerts.log` beside the warehouse (owner-only), and the
same text posted as JSON `{"text": ...}` to `C360_ALERT_WEBHOOK` when set (the body Slack, Microsoft Teams and
Mattermost incoming webhooks read; any HTTP endpoint accepting JSON will do).

The text names the run, its drop day, the steps that failed and their errors as the run's events hold them: step
errors are already scrubbed of the values they quote (assets/errors.py), and a blocking check's description carries
counts and names of sources only. A webhook that cannot be reached costs the run nothing: the failure is said in the
log line and returned, never raised (the run has failed already; an alert must not hide why)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from pipeline.private_files import appending

LOG_NAME = "alerts.log"
TIMEOUT_S = 10
MAX_ERROR_CHARS = 400  # per failed step: enough for a blocking check's sentence, not a stack


def log_path(warehouse: Path) -> Path:
    return warehouse.with_name(LOG_NAME)


def failure_text(run_id: str, job: str, day: str | None, failures: list[tuple[str, str]], outcome: str = "") -> str:
    """The alert of a failed run: `failures` are (step or check, error message) in the order the run met them;
    `outcome` what is known of the published copies."""
    steps = "; ".join(f"{step}: {' '.join(message.split())[:MAX_ERROR_CHARS]}" for step, message in failures)
    return (f"customer360 run {run_id} ({job}{f', drop day {day}' if day else ''}) FAILED"
            f"{f' at {steps}' if steps else ''}. The steps after a failed one did not run{f'; {outcome}' if outcome else ''}.")


def send(text: str, warehouse: Path, webhook: str = "") -> str | None:
    """Append `text` to the alerts log and post it to `webhook` (if any); why the post failed, or None."""
    problem = None
    if webhook:
        request = urllib.request.Request(webhook, data=json.dumps({"text": text}).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except (OSError, ValueError) as error:  # unreachable, refused, an HTTP error status, a malformed URL
            problem = f"the alert webhook did not take it ({type(error).__name__}: {getattr(error, 'reason', '')})"
    at = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    line = f"{at} {text}" + (f" [{problem}]" if problem else "")
    try:
        with appending(log_path(warehouse)) as log:
            log.write(line + "\n")
    except OSError as error:  # the warehouse's folder is gone or not writable: the run's own error says why
        problem = "; ".join(filter(None, [problem, f"{LOG_NAME} not written ({error.strerror})"]))
    return problem
