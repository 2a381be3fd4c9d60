"""Run an expectation suite on a pandas frame with Great Expectations 1.x and summarise it without values.

A file context under the quality folder keeps the results, so Data Docs (static HTML) are rebuilt on each
run. Results use SUMMARY format with no unexpected values listed: counts and percentages only, never the
personal values that failed."""

from __future__ import annotations

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

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}


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


class GXRunner:
    def __init__(self, project_dir: Path):
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        project_dir.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="file", project_root_dir=str(project_dir))
        try:  # progress bars would flood the run log
            self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        self.source = self.context.data_sources.add_or_update_pandas("frames")

    def run(self, name: str, frame: pd.DataFrame, expectations: list) -> SuiteResult:
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
            name=name, validation_definitions=[validation], result_format=RESULT_FORMAT,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")]))
        outcome = checkpoint.run(batch_parameters={"dataframe": frame})
        rows = []
        for run in outcome.run_results.values():
            for r in run.results:
                cfg = r.expectation_config
                kwargs = cfg.kwargs
                rows.append({
                    "expectation": cfg.type,
                    "target": kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or "table",
                    "success": bool(r.success),
                    "unexpected_count": int(r.result.get("unexpected_count") or 0),
                    "unexpected_percent": round(float(r.result.get("unexpected_percent") or 0.0), 3),
                })
        docs = self.context.get_docs_sites_urls()[0]["site_url"]
        return SuiteResult(name, bool(outcome.success), len(frame), rows, docs)
