"""Dagster resources: the DuckDB warehouse, the run settings and Great Expectations, all from one `Settings`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.config import Settings

# Every asset that writes the warehouse runs in this pool: DuckDB allows one writer per file.
WAREHOUSE_POOL = "duckdb_warehouse"

# The `settings` resource is the Settings object itself (one owner of every knob, validated when it is built):
# an asset declares `settings: RunSettings` and reads settings.linkage, settings.reference_date...
RunSettings = dg.ResourceParam[Settings]


def build_resources(settings: Settings) -> dict:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "duckdb": DuckDBResource(database=str(settings.warehouse)),
        "settings": settings,
        "great_expectations": GreatExpectations(project_dir=str(settings.quality_dir)),
    }


class GreatExpectations(dg.ConfigurableResource):
    """A Great Expectations file context in `project_dir`: suites run as code, Data Docs rebuilt there."""

    project_dir: str

    def runner(self):
        from pipeline.quality.gx_runner import GXRunner

        return GXRunner(Path(self.project_dir))
