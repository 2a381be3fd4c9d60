"""Dagster resources: the DuckDB warehouse, the run settings and Great Expectations, all from one `Settings`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from assets.erasure_guard import RESTORED_TAG, check_erasures_kept
from pipeline.config import Settings, claim_folder
from pipeline.private_files import OWNER_ONLY_UMASK, restrict
from pipeline.warehouse import RUN_MEMORY_LIMIT

# Every asset that writes the warehouse runs in this pool: DuckDB allows one writer per file.
WAREHOUSE_POOL = "duckdb_warehouse"

# The `settings` resource is the Settings object itself (one owner of every knob, validated when it is built):
# an asset declares `settings: RunSettings` and reads settings.linkage, settings.reference_date...
RunSettings = dg.ResourceParam[Settings]


def build_resources(settings: Settings) -> dict:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "duckdb": Warehouse(database=str(settings.warehouse), connection_config={"memory_limit": RUN_MEMORY_LIMIT}),
        "settings": settings,
        "great_expectations": GreatExpectations(project_dir=str(settings.quality_dir)),
    }


# How long a run waits for another process's brief hold on the warehouse file before failing.
LOCK_WAIT_SECONDS = 120


class Warehouse(DuckDBResource):
    """The warehouse file held open for a whole run: each `get_connection()` is a connection of its own (a cursor:
    its own transactions, temporary tables and registered frames) to the database the run opened once.

    Why: DuckDBResource opens the file for every `get_connection()` (reading the catalog) and checkpoints it on
    close, ~20 ms each, and a run asked for a connection ~180 times (bench/step_profile.py). One run holds the
    file anyway (the in-process executor, one run at a time: pipeline/run_lock.py), so nothing else could have
    written between two steps. Used outside a run (an asset called directly, as tests do), it opens and closes
    the file each time as DuckDBResource does."""

    _held: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _umask: int | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every run (command line, UI, schedule, sensor) opens the warehouse here, so here every file a run creates
        # becomes owner-only (pipeline/private_files.py): a run the UI, the schedule or the sensor launched made the
        # warehouse, its model and quality folders readable by everyone (0644) until 2026-11-29, the command line's
        # umask (assets/runner.py) reaching only its own runs. The run's process is the run's alone.
        self._umask = os.umask(OWNER_ONLY_UMASK)
        try:
            self._open()
            # Nothing is written before the warehouse is known not to be an older copy than its erasures
            # (assets/erasure_guard.py): every entry point passes here.
            if self._held is not None and (context.dagster_run is None or
                                           context.dagster_run.tags.get(RESTORED_TAG) != "true"):
                check_erasures_kept(self._held, context.instance)
        except BaseException:  # no teardown follows a failed setup: close the file and give the umask back here
            if self._held is not None:
                self._held.close()
                self._held = None
            os.umask(self._umask)
            self._umask = None
            raise

    def _open(self) -> None:
        if self.database != ":memory:":
            claim_folder(Path(self.database))
            restrict(Path(self.database))  # one a launched run created before this rule
        # DuckDBResource's own configuration (its user agent first), so a direct connection matches it
        config = {"custom_user_agent": "dagster", **self.connection_config}
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self._held = duckdb.connect(self.database, config=config)
                return
            except duckdb.IOException as error:
                # Another process has the file open for a moment (the sensor reads which files were loaded, an
                # analyst's read-only look): wait for it rather than fail the run. A run never waits on another
                # run: the pool lets one run at a time start.
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._held is not None:
            self._held.close()  # the last connection: DuckDB checkpoints the file and releases it
            self._held = None
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    @contextmanager
    def released(self) -> Iterator[None]:
        """The file closed by this run inside the block (DuckDB checkpoints it), opened again after it: the compacted
        copy is swapped in there (pipeline/compaction.py). Outside a run nothing holds it between connections."""
        if self._held is None:
            yield
            return
        self._held.close()
        self._held = None
        try:
            yield
        finally:
            self._open()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._held is None:
            with super().get_connection() as con:
                yield con
            return
        con = self._held.cursor()
        try:
            yield con
        finally:
            con.close()


class GreatExpectations(dg.ConfigurableResource):
    """A Great Expectations file context in `project_dir`: suites run as code, Data Docs rebuilt there."""

    project_dir: str

    def runner(self):
        from pipeline.quality.gx_runner import GXRunner

        return GXRunner(Path(self.project_dir))
