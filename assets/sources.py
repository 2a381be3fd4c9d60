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
            new_columns = _new_unmapped_columns(con, source, list(rows.columns))
            if new_columns:  # a schema change in the source system: say so, the pipeline ignores them
                context.log.warning(f"{source.name}: new column(s) {new_columns} are not mapped in the sources "
                                    "file and are ignored (kept in raw only)")
            replace_table(con, f"raw.{source.name}", rows)
            replace_table(con, f"raw.{source.name}__files", files)
            meta = table_metadata(con, f"raw.{source.name}")
        return dg.MaterializeResult(metadata={
            **meta, "files": len(extract.files), "unreadable_rows": int(rows["_error"].notna().sum()),
            "new_unmapped_columns": dg.MetadataValue.json(new_columns),
            "files_not_loaded_whole": sum(f.status != "loaded" for f in extract.files)})

    return extract


def _new_unmapped_columns(con, source: Source, columns: list[str]) -> list[str]:
    """Columns that appeared since the previous run's raw table and that the sources file does not map."""
    previous = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = ?",
        [source.name]).fetchall()}
    if not previous:
        return []
    return [c for c in columns if c not in previous and c not in source.mapped_columns and not c.startswith("_")]


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
