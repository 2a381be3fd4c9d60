"""The Dagster instance that every entry point shares: `customer360 run`, `make dev` (webserver and daemon).

One instance means one run history: the runs a data engineer starts from the command line, the ones an operator
launches from the UI, and the schedule's and sensor's runs all show in the UI with their materialisations and
check results. It lives in `DAGSTER_HOME` when that is set, else in `data/dagster_home/` beside the warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.config import PROJECT_ROOT

DEFAULT_HOME = PROJECT_ROOT / "data" / "dagster_home"
CODE_LOCATION = "customer360"  # as named in workspace.yaml: the UI files runs under this location

# Every asset that writes the warehouse runs in one pool, and DuckDB allows one writer per file: one run holding
# that pool at a time (granularity `run`), whoever started it (UI, backfill, schedule, sensor). The daemon looks at
# the queue every second (Dagster's default: 5): a queued run, such as the next one waiting for the pool, starts
# within a second of it freeing; each look is one query on the run history. No telemetry and no first-visit dialog.
# The event log is Dagster's SQLite one, in its usual folder, with each file's engine kept for the process
# (assets/event_log.py). Its folder must be written out, so the file is ours: rewritten whenever it differs (the
# instance folder moved, or a newer customer360 changed a setting) until the operator deletes its first line.
WRITTEN_BY_US = "# Written by customer360 (pipeline/instance.py), rewritten on every run: delete this line to keep edits.\n"
INSTANCE_YAML = WRITTEN_BY_US + """\
concurrency:
  pools:
    granularity: run
    default_limit: 1
run_queue:
  dequeue_interval_seconds: 1
telemetry:
  enabled: false
nux:
  enabled: false
event_log_storage:
  module: assets.event_log
  class: SqliteEventLog
  config:
    base_dir: {runs}
"""


def dagster_home() -> Path:
    """The instance folder, created owner-only, with its dagster.yaml written when it has none or has ours for
    another folder or version (an operator's own file, without our first line, is left as it is)."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = home / "dagster.yaml"
    wanted = INSTANCE_YAML.format(runs=json.dumps(str(home / "history" / "runs")))
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or (current.startswith(WRITTEN_BY_US) and current != wanted):
        staged = config.with_name(config.name + ".tmp")
        staged.write_text(wanted, encoding="utf-8")
        os.replace(staged, config)  # a process loading the instance at that moment reads one whole file
    return home
