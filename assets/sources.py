"""Sources layer: one extract asset per source of the sources file, each filling raw.<source>.

The extracts are daily-partitioned by drop day (`<source>/<YYYY-MM-DD>/...`): a run loads one day's
files and replaces that day's rows only, so re-running a day is idempotent and a backfill reloads past days."""


from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.keys import raw_key
from assets.metadata import table_metadata
from pipeline.config import Source
from pipeline.extract import read_source, showable, shown
from pipeline.resources import WAREHOUSE_POOL, RunSettings
from pipeline.sql import raw_table, scalar
from pipeline.warehouse import replace_rows, table_exists

GROUP = "sources"
RAW_TYPES = {"_line": "BIGINT", "_loaded_at": "TIMESTAMP"}
FILE_TYPES = {"rows": "BIGINT", "unreadable": "BIGINT", "records": "BIGINT", "repaired": "BIGINT"}
FILE_COLUMNS = ["file", "sha256", "drop", "rows", "unreadable", "records", "repaired", "status"]
NO_DUPLICATE_FILES = "no_duplicate_files"
COLUMNS_AS_MAPPED = "columns_as_mapped"
HAS_ROWS = "has_rows"


def drop_partitions(first_day: str) -> dg.DailyPartitionsDefinition:
    """One partition per drop day; today's partition exists (end_offset=1) so a drop is loaded the day it lands."""
    return dg.DailyPartitionsDefinition(start_date=first_day, timezone="Europe/Paris", end_offset=1)


def build_extract_asset(source: Source, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(source), group_name=GROUP, kinds={"duckdb", source.format}, pool=WAREHOUSE_POOL,
        partitions_def=partitions,
        description=f"{source.description or source.name}: every line of `{source.files}` as read "
                    f"({source.channel}, {source.format}), with file, line, drop day and read error.",
        tags={"channel": source.channel},
    )
    def extract(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                settings: RunSettings) -> dg.MaterializeResult:
        day = context.partition_key
        table, files_table = f"raw.{source.name}", f"raw.{source.name}__files"  # for the helpers, which quote
        with duckdb.get_connection() as con:
            known = table_exists(con, files_table)
            elsewhere = dict(con.execute(
                f"SELECT sha256, file FROM {raw_table(source.name, files=True)} WHERE drop <> ? AND status = 'loaded'",
                [day]).fetchall()
            ) if known else {}
            before = [r[0] for r in con.execute(f"SELECT file FROM {raw_table(source.name, files=True)} "
                                                "WHERE drop = ?", [day]).fetchall()] if known else []
        extract = read_source(source, settings.raw_dir, day, elsewhere)
        for warning in extract.warnings:  # file and column names only (data-like names are never shown)
            context.log.warning(f"{source.name}: {warning}")
        # A file archived (deleted) from the drop folder keeps its loaded rows: forgetting them is an
        # operator's explicit act (`customer360 forget`), never a side effect of tidying a folder.
        archived = sorted(set(before) - {f.file for f in extract.files})
        if archived:
            context.log.warning(f"{source.name}: {len(archived)} file(s) of {day} are no longer on disk; their "
                                "rows stay loaded (`customer360 forget FILE` removes them)")
        rows = extract.rows
        rows["_loaded_at"] = datetime.now(UTC).replace(tzinfo=None)
        files = pd.DataFrame([vars(f) for f in extract.files], columns=FILE_COLUMNS)
        with duckdb.get_connection() as con:
            added = replace_rows(con, table, rows, "_drop", day, RAW_TYPES, keep=("_file", archived))
            replace_rows(con, files_table, files, "drop", day, FILE_TYPES, keep=("file", archived))
            new_columns = [c for c in added if c not in source.mapped_columns and not c.startswith("_")]
            if new_columns:  # a schema change in the source system: say so, the pipeline ignores them
                context.log.warning(f"{source.name}: new column(s) {shown(new_columns)} are not mapped in the "
                                    "sources file and are ignored (kept in raw only)")
            meta = table_metadata(con, table)
        return dg.MaterializeResult(metadata={
            **meta, "dagster/row_count": len(rows), "table_rows": meta["dagster/row_count"],  # this partition's rows
            "drop_day": day, "rows_this_day": len(rows), "files": len(extract.files),
            "unreadable_rows": int(rows["_error"].notna().sum()),
            "new_unmapped_columns": dg.MetadataValue.json(showable(new_columns)),
            "files_archived_rows_kept": len(archived),
            "records_repaired": sum(f.repaired for f in extract.files),
            "files_not_loaded_whole": sum(f.status != "loaded" for f in extract.files)})

    return extract


def build_file_checks(source: Source) -> list[dg.AssetChecksDefinition]:
    def files_with_status(duckdb: DuckDBResource, prefix: str) -> list[tuple[str, str]]:
        """(file, status) of this source's files whose load status starts with `prefix`."""
        with duckdb.get_connection() as con:
            return con.execute(f"SELECT file, status FROM {raw_table(source.name, files=True)} WHERE starts_with(status, ?)",
                               [prefix]).fetchall()

    @dg.asset_check(asset=raw_key(source), name=NO_DUPLICATE_FILES, blocking=False,
                    description="No file delivered twice (a duplicate is skipped; this says so).")
    def no_duplicate_files(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        rows = files_with_status(duckdb, "duplicate of")
        return dg.AssetCheckResult(passed=not rows, severity=dg.AssetCheckSeverity.WARN,
                                   description="; ".join(f"{f}: {status}" for f, status in rows) or "every file read once",
                                   metadata={"duplicate_files": len(rows)})

    # A refused file stops this source's drop, not the run: its rows are quarantined with the reason, the
    # source's earlier drops and every other source are published, and this check fails loudly (ERROR).
    @dg.asset_check(asset=raw_key(source), name=COLUMNS_AS_MAPPED, blocking=False,
                    description="Every file has a trustworthy header carrying the mapped columns (else it is "
                                "refused: no header, a column twice, a mapped column missing).")
    def columns_as_mapped(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        rows = files_with_status(duckdb, "refused")
        return dg.AssetCheckResult(passed=not rows, severity=dg.AssetCheckSeverity.ERROR,
                                   description="; ".join(f"{f}: {status}" for f, status in rows)
                                   or "every file has the mapped columns",
                                   metadata={"files_refused": len(rows)})

    @dg.asset_check(asset=raw_key(source), name=HAS_ROWS, blocking=False,
                    description="The source has delivered rows (an empty source is reported, not fatal).")
    def has_rows(duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            rows = scalar(con, f"SELECT count(*) FROM {raw_table(source.name)}")
        # An erasure source with no pending request is normal.
        return dg.AssetCheckResult(passed=rows > 0 or source.is_erasure, severity=dg.AssetCheckSeverity.WARN,
                                   description=None if rows else "no rows delivered yet", metadata={"raw_rows": rows})

    return [no_duplicate_files, columns_as_mapped, has_rows]


def build(sources: list[Source], partitions: dg.PartitionsDefinition) -> list:
    return [*(build_extract_asset(s, partitions) for s in sources), *(c for s in sources for c in build_file_checks(s))]
