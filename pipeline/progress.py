"""What `customer360 run` shows while it works: each step as it starts and ends, with its time and rows, and an
overall bar; or nothing (`--quiet`); or one JSON object per line (`--json`) for a scheduler's log.

It reads the events of the run as they happen (step started, step ended, assets materialised): step names, times
and row counts only, never a value from the data."""

from __future__ import annotations

import json
import sys
import time
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ROW_COUNT = "dagster/row_count"


class RunProgress(Protocol):
    def start(self, day: str, steps: int) -> None: ...
    def event(self, event) -> None: ...
    def close(self) -> None: ...


class _Steps:
    """Follows one run's steps from its events: when each started, how many rows it wrote."""

    def __init__(self) -> None:
        self.started_at: dict[str, float] = {}
        self.rows: dict[str, int] = {}
        self.run_started = time.perf_counter()

    def follow(self, event) -> tuple[str, str, float, int] | None:
        """(kind, step, seconds, rows) when a step starts or ends, else None."""
        kind, step = event.event_type_value, event.step_key
        if kind == "STEP_START":
            self.started_at[step] = time.perf_counter()
            return "start", step, 0.0, 0
        if kind == "ASSET_MATERIALIZATION":
            rows = event.event_specific_data.materialization.metadata.get(ROW_COUNT)
            if rows is not None:
                self.rows[step] = self.rows.get(step, 0) + int(getattr(rows, "value", rows))
        if kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            seconds = time.perf_counter() - self.started_at.get(step, time.perf_counter())
            status = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}[kind]
            return status, step, seconds, self.rows.get(step, 0)
        return None


class ConsoleProgress:
    """Human-readable, on stderr: a line per step ended, a live bar when stderr is a terminal."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.bar: Progress | None = None
        self.task = None
        self.steps = _Steps()

    def start(self, day: str, steps: int) -> None:
        self.close()
        self.steps = _Steps()
        self.console.print(f"drop day {day}: {steps} steps")
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(day, total=steps)

    def event(self, event) -> None:
        seen = self.steps.follow(event)
        if seen is None:
            return
        status, step, seconds, rows = seen
        if status == "start":
            if self.bar is not None:
                self.bar.update(self.task, description=step)
            return
        elapsed = time.perf_counter() - self.steps.run_started
        rows_text = f"{rows:>12,} rows" if rows else " " * 17
        self.console.print(f"  {status:<7} {step:<44} {seconds:>7.1f} s {rows_text}   [{elapsed:>6.1f} s]")
        if self.bar is not None:
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class JsonProgress:
    """One JSON object per line on stdout: run_start, step_start, step_end."""

    def __init__(self) -> None:
        self.steps = _Steps()

    def start(self, day: str, steps: int) -> None:
        self.steps = _Steps()
        print(json.dumps({"event": "run_start", "drop_day": day, "steps": steps}), flush=True)

    def event(self, event) -> None:
        seen = self.steps.follow(event)
        if seen is None:
            return
        status, step, seconds, rows = seen
        record = {"event": "step_start", "step": step} if status == "start" else {
            "event": "step_end", "step": step, "status": status.lower(), "seconds": round(seconds, 3), "rows": rows,
            "elapsed": round(time.perf_counter() - self.steps.run_started, 3)}
        print(json.dumps(record), file=sys.stdout, flush=True)

    def close(self) -> None:
        pass
