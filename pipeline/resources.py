"""Dagster resources: the DuckDB warehouse and the run settings (paths), both from Settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.config import Settings, load_sources

# Every asset that writes the warehouse runs in this pool: DuckDB allows one writer per file.
WAREHOUSE_POOL = "duckdb_warehouse"


class PipelineSettings(dg.ConfigurableResource):
    """Where the raw drops, the sources file and the ground truth live."""

    raw_dir: str
    sources_file: str
    truth_file: str = ""
    artefacts_dir: str
    as_of: str = ""
    retention_days: int = 1095
    repermission_days: int = 1095
    published: str = ""
    decisions_dir: str = ""
    restricted: str = ""
    pseudonym_key_file: str = ""
    analyst_identifiers: bool = False
    engine: str = "duckdb"  # where Splink's training and prediction run: "duckdb" or "spark"
    max_shrink: float = 0.2  # see Settings.max_shrink

    @property
    def published_path(self) -> Path:
        return Path(self.published)

    @property
    def restricted_path(self) -> Path:
        return Path(self.restricted)

    @property
    def reference_date(self) -> str:
        """YYYY-MM-DD anchoring rolling windows and retention: `as_of`, or today."""
        return self.as_of or date.today().isoformat()

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def artefacts_path(self) -> Path:
        return Path(self.artefacts_dir)

    def sources(self):
        return load_sources(self.sources_file)


def build_resources(settings: Settings) -> dict:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "duckdb": DuckDBResource(database=str(settings.warehouse)),
        "settings": PipelineSettings(
            raw_dir=str(settings.raw_dir), sources_file=str(settings.sources_file),
            truth_file=str(settings.truth_file or ""), artefacts_dir=str(settings.artefacts_dir),
            as_of=settings.as_of, retention_days=settings.retention_days,
            repermission_days=settings.repermission_days, published=str(settings.published),
            decisions_dir=str(settings.decisions_dir),
            restricted=str(settings.restricted), pseudonym_key_file=str(settings.pseudonym_key_file),
            analyst_identifiers=settings.analyst_identifiers, engine=settings.engine,
            max_shrink=settings.max_shrink),
        "great_expectations": GreatExpectations(project_dir=str(settings.quality_dir)),
    }


class GreatExpectations(dg.ConfigurableResource):
    """A Great Expectations file context in `project_dir`: suites run as code, Data Docs rebuilt there."""

    project_dir: str

    def runner(self):
        from pipeline.quality.gx_runner import GXRunner

        return GXRunner(Path(self.project_dir))
