"""Run an expectation suite on a pandas frame with Great Expectations 1.x and summarise it without values.

A file context under the quality folder keeps the results, so Data Docs (static HTML) are rebuilt on each
run (once, for all its checks). Results use BASIC format with no unexpected values listed: counts and percentages only, never the
personal values that failed."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

try:
    import great_expectations as gx
except SystemExit as exc:  # pyspark's doctest guard, reached through GX's optional Spark support
    raise ImportError(
        "Great Expectations could not be imported: pyspark is installed without its connect dependencies, and "
        "pyspark exits the process when imported from a spawned run worker. Install the [spark] extra "
        "(pip install 'customer360[spark]', which pulls pyspark[connect]) or uninstall pyspark.") from exc

from great_expectations.execution_engine import pandas_execution_engine  # after the guard above

from pipeline.private_files import owner_only

# GX fingerprints every frame it validates below this many bytes (pointers for text: every frame here) by hashing
# each value of each column, and keeps the hash as a batch marker that nothing here reads: at 1M staged persons
# that hash cost more than the suite's eight expectations. No frame is fingerprinted.
pandas_execution_engine.HASH_THRESHOLD = 0

# BASIC: each expectation's counts and percentages, what a check reports. SUMMARY gives the same figures with no value
# listed but first works out the unexpected rows' index list and a pandas query for them, dropped unread: ~30 % of a
# suite's CPU (3 expectations on 10k rows 0.031 -> 0.022 s). A checkpoint stored with another format is registered again.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
SOURCE = "frames"  # the pandas data source every suite's frame is validated as


def _signature(configurations) -> str:
    """Expectations compared as configured: a stored one carries the id GX gave it, the code's none."""
    return json.dumps([{k: v for k, v in c.to_json_dict().items() if k != "id"} for c in configurations],
                      sort_keys=True, default=str)


@dataclass
class SuiteResult:
    suite: str
    success: bool
    rows: int
    expectations: list[dict] = field(default_factory=list)
    docs: str = ""

    @property
    def failures(self) -> list[dict]:
        return [e for e in self.expectations if not e["success"]]

    def describe(self) -> str:
        if self.success:
            return f"{self.suite}: all {len(self.expectations)} expectations met on {self.rows} rows"
        parts = [f"{e['expectation']}({e['target']}) unexpected {e['unexpected_percent']}%" for e in self.failures]
        return f"{self.suite}: {len(self.failures)} failed - " + "; ".join(parts)


class _Project:
    """One GX file context per project folder for the life of the process, with each suite's checkpoint kept
    while its expectations stay the same: building a context and re-registering suite, validation and checkpoint
    cost 0.2-0.5 s per check, paid for nothing. A new process (every `customer360 run`, every daemon-launched run)
    reuses the data source and the checkpoints an earlier one stored when their expectations are the code's.
    Data Docs are rebuilt once for all the checks of a process (at its exit) rather than once per check: each
    build renders the site's templates afresh (~2 s)."""

    def __init__(self, project_dir: Path):
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        project_dir.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="file", project_root_dir=str(project_dir))
        if _configure(self.context.variables):  # saved: the context reads its configuration once, when made
            self.context = gx.get_context(mode="file", project_root_dir=str(project_dir))
        with contextlib.suppress(Exception):  # progress bars would flood the run log; cosmetic only
            self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        # Re-created (add_or_update) it would lose its assets and so every stored checkpoint's data.
        try:
            self.source = self.context.data_sources.get(SOURCE)
        except KeyError:
            self.source = self.context.data_sources.add_pandas(SOURCE)
        self.checkpoints: dict[str, tuple[str, gx.Checkpoint]] = {}
        self.pending_docs: list = []
        self.index = Path(self.context.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"
        self._docs_url: str | None = None

    def checkpoint(self, name: str, expectations: list) -> gx.Checkpoint:
        signature = _signature(e.configuration for e in expectations)
        known = self.checkpoints.get(name) or self._stored(name)
        if known and known[0] == signature:
            self.checkpoints[name] = known
            return known[1]
        asset = next((a for a in self.source.assets if a.name == name), None) or \
            self.source.add_dataframe_asset(name=name)
        batch = asset.batch_definitions[0] if asset.batch_definitions else \
            asset.add_batch_definition_whole_dataframe("whole")
        suite = gx.ExpectationSuite(name=name)
        for expectation in expectations:
            suite.add_expectation(expectation)
        suite = self.context.suites.add_or_update(suite)
        validation = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite))
        checkpoint = self.context.checkpoints.add_or_update(gx.Checkpoint(
            name=name, validation_definitions=[validation], result_format=RESULT_FORMAT, actions=[]))
        self.checkpoints[name] = (signature, checkpoint)
        return checkpoint

    def _stored(self, name: str) -> tuple[str, gx.Checkpoint] | None:
        """The checkpoint `name` as a process stored it, with its suite's signature, when it has the shape
        `checkpoint` registers (its result format, no action, one validation of the frame asset `name`)."""
        try:
            checkpoint = self.context.checkpoints.get(name)
        except (gx.exceptions.DataContextError, ValueError):  # none, or its asset gone: registered again
            return None
        validations = checkpoint.validation_definitions
        if checkpoint.result_format != RESULT_FORMAT or checkpoint.actions or len(validations) != 1 or \
                validations[0].data.data_asset.name != name or validations[0].data.data_asset.datasource.name != SOURCE:
            return None
        return _signature(e.configuration for e in validations[0].suite.expectations), checkpoint

    @property
    def docs_url(self) -> str:
        """The Data Docs site's address, once it exists (~40 ms to work out each time)."""
        if self._docs_url is None:
            self._docs_url = self.context.get_docs_sites_urls()[0]["site_url"]
        return self._docs_url

    def docs_for(self, identifiers: list) -> None:
        """Data Docs for these results: now when the site does not exist yet, else once at the process's exit."""
        self.pending_docs += identifiers
        if not self.index.is_file():
            self.build_docs()
        elif len(self.pending_docs) == len(identifiers):  # the first pending results since the last build
            atexit.register(self.build_docs)

    def build_docs(self) -> None:
        pending, self.pending_docs = self.pending_docs, []
        if pending:
            atexit.unregister(self.build_docs)
            # owner-only as the run's other files: at the process's exit the run has given the process its umask back,
            # and the pages and their folders were made 0644/0755 (pipeline/private_files.py)
            with owner_only():
                self.context.build_data_docs(resource_identifiers=pending)


# The Data Docs index lists the latest results only (ten runs of five suites): to draw it GX reads every result kept,
# a cost that grew with each run (0.4 CPU s a run with 20 results, 0.8 with 175). Older pages stay on disk.
DOCS_INDEX_RESULTS = 50


def _configure(variables) -> bool:
    """Bring the project's configuration to what this module needs; True when it changed (and was saved)."""
    changed = False
    if variables.config_variables_file_path:
        # The suites are code and substitute no config variable, but a project that names a config variables file
        # has GX read and parse it (YAML) ~20 times a checkpoint run, a quarter of a small suite's cost.
        variables.config_variables_file_path = None
        changed = True
    sites = variables.data_docs_sites or {}
    for site in sites.values():
        index = site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
        if index.get("validation_results_limit") != DOCS_INDEX_RESULTS:
            index["validation_results_limit"] = DOCS_INDEX_RESULTS
            changed = True
    if changed:
        variables.data_docs_sites = sites
        variables.save()
    return changed


_PROJECTS: dict[Path, _Project] = {}


def _project(project_dir: Path) -> _Project:
    key = project_dir.resolve()
    project = _PROJECTS.get(key)
    if project is None or not (key / "gx").is_dir():  # first use, or the folder was removed since
        project = _PROJECTS[key] = _Project(key)
    return project


class GXRunner:
    def __init__(self, project_dir: Path):
        self.project = _project(project_dir)
        self.context = self.project.context

    def run(self, name: str, frame: pd.DataFrame, expectations: list, parameters: dict | None = None) -> SuiteResult:
        """Validate `frame` against the suite `name`; `parameters` gives the values of its suites.parameter()s."""
        outcome = self.project.checkpoint(name, expectations).run(batch_parameters={"dataframe": frame},
                                                                  expectation_parameters=parameters)
        rows = []
        for run in outcome.run_results.values():
            for r in run.results:
                cfg = r.expectation_config
                kwargs = cfg.kwargs
                missing = ((r.result.get("details") or {}).get("mismatched") or {}).get("missing")  # column names
                rows.append({
                    "expectation": cfg.type,
                    "target": kwargs.get("column") or ",".join(kwargs.get("column_list") or missing or []) or "table",
                    "success": bool(r.success),
                    "unexpected_count": int(r.result.get("unexpected_count") or 0),
                    "unexpected_percent": round(float(r.result.get("unexpected_percent") or 0.0), 3),
                })
        self.project.docs_for(list(outcome.run_results))
        return SuiteResult(name, bool(outcome.success), len(frame), rows, self.project.docs_url)

    def build_docs(self) -> None:
        """Rebuild Data Docs for the results not rendered yet (done at the process's exit otherwise)."""
        self.project.build_docs()
