"""Sources layer: one extract asset per source of the sources file, each filling raw.<source>."""


from datetime import datetime, timezone

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.metadata import table_metadata
from pipeline.config import Source
from pipeline.extract import read_source
from pipeline.resources import WAREHOUSE_POOL, PipelineSettings
from pipeline.warehouse import replace_table

GROUP = "sources"


def raw_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.name])


def build_extract_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(source), group_name=GROUP, kinds={"duckdb", source.format}, pool=WAREHOUSE_POOL,
        description=f"{source.description or source.name}: every line of `{source.files}` as read "
                    f"({source.channel}, {source.format}), with file, line and read error.",
        tags={"channel": source.channel},
    )
    def extract(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                settings: PipelineSettings) -> dg.MaterializeResult:
        extract = read_source(source, settings.raw_path)
        for warning in extract.warnings:  # file names and column names only: no personal data
            context.log.warning(f"{source.name}: {warning}")
        rows = extract.rows
        rows["_loaded_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        files = pd.DataFrame([vars(f) for f in extract.files],
                             columns=["file", "sha256", "rows", "unreadable", "status"])
        with duckdb.get_connection() as con:
            replace_table(con, f"raw.{source.name}", rows)
            replace_table(con, f"raw.{source.name}__files", files)
            meta = table_metadata(con, f"raw.{source.name}")
        return dg.MaterializeResult(metadata={
            **meta, "files": len(extract.files), "unreadable_rows": int(rows["_error"].notna().sum()),
            "files_not_loaded_whole": sum(f.status != "loaded" for f in extract.files)})

    return extract


def build_file_check(source: Source) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=raw_key(source), name="no_duplicate_files", blocking=False,
                    description="No file delivered twice (a duplicate is skipped; this says so).")
    def no_duplicate_files(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            rows = con.execute(f"SELECT file, status FROM raw.{source.name}__files WHERE status <> 'loaded'").fetchall()
        duplicates = [f"{f}: {status}" for f, status in rows if status.startswith("duplicate of")]
        other = [f"{f}: {status}" for f, status in rows if not status.startswith("duplicate of")]
        return dg.AssetCheckResult(
            passed=not duplicates and not other, severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(duplicates + other) or "every file read once",
            metadata={"duplicate_files": len(duplicates), "files_with_missing_columns": len(other)})

    return no_duplicate_files


def build(sources: list[Source]) -> list:
    return [*(build_extract_asset(s) for s in sources), *(build_file_check(s) for s in sources)]
