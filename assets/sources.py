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


def extract_spec(source: Source) -> dg.AssetSpec:
    return dg.AssetSpec(
        raw_key(source), group_name=GROUP, kinds={"duckdb", source.format},
        description=f"{source.description or source.name}: every line of `{source.files}` as read "
                    f"({source.channel}, {source.format}), with file, line, drop day and read error.",
        tags={"channel": source.channel})


# Every source's extract in one step (assets/steps.py says why): the selected sources, one after the other, each
# its own asset, partitioned by drop day.
def build_extracts(sources: list[Source], partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=[extract_spec(s) for s in sources], partitions_def=partitions, can_subset=True,
                    pool=WAREHOUSE_POOL, name=GROUP)
    def extracts(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings):
        """The selected sources' files of the drop day, each replacing that day's rows of raw.<source>."""
        for source in sources:
            if raw_key(source) in context.selected_asset_keys:
                yield load_day(source, context, duckdb, settings)

    return extracts


def load_day(source: Source, context: dg.AssetExecutionContext, duckdb: DuckDBResource,
             settings: RunSettings) -> dg.MaterializeResult:
    """One source's files of the run's drop day into raw.<source> (that day's rows replaced)."""
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
    return dg.MaterializeResult(asset_key=raw_key(source), metadata={
        **meta, "dagster/row_count": len(rows), "table_rows": meta["dagster/row_count"],  # this partition's rows
        "drop_day": day, "rows_this_day": len(rows), "files": len(extract.files),
        "unreadable_rows": int(rows["_error"].notna().sum()),
        "new_unmapped_columns": dg.MetadataValue.json(showable(new_columns)),
        "files_archived_rows_kept": len(archived),
        "records_repaired": sum(f.repaired for f in extract.files),
        "files_not_loaded_whole": sum(f.status != "loaded" for f in extract.files)})


# The three checks of every source in one step: 27 steps of a few milliseconds of SQL each cost more in Dagster's
# bookkeeping than in the checks (bench/step_profile.py). Each check keeps its key, severity and description.
FILE_CHECKS = {
    NO_DUPLICATE_FILES: "No file delivered twice (a duplicate is skipped; this says so).",
    # A refused file stops this source's drop, not the run: its rows are quarantined with the reason, the source's
    # earlier drops and every other source are published, and this check fails loudly (ERROR).
    COLUMNS_AS_MAPPED: "Every file has a trustworthy header carrying the mapped columns (else it is refused: no "
                       "header, a column twice, a mapped column missing).",
    HAS_ROWS: "The source has delivered rows (an empty source is reported, not fatal).",
}


def file_checks(con, source: Source) -> dict[str, dg.AssetCheckResult]:
    """The file checks of one source's raw table, by check name."""
    key = raw_key(source)

    def files_with_status(prefix: str) -> list[tuple[str, str]]:
        """(file, status) of this source's files whose load status starts with `prefix`."""
        return con.execute(f"SELECT file, status FROM {raw_table(source.name, files=True)} WHERE starts_with(status, ?)",
                           [prefix]).fetchall()

    duplicates, refused = files_with_status("duplicate of"), files_with_status("refused")
    rows = scalar(con, f"SELECT count(*) FROM {raw_table(source.name)}")
    return {
        NO_DUPLICATE_FILES: dg.AssetCheckResult(
            asset_key=key, check_name=NO_DUPLICATE_FILES,
            passed=not duplicates, severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(f"{f}: {status}" for f, status in duplicates) or "every file read once",
            metadata={"duplicate_files": len(duplicates)}),
        COLUMNS_AS_MAPPED: dg.AssetCheckResult(
            asset_key=key, check_name=COLUMNS_AS_MAPPED,
            passed=not refused, severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"{f}: {status}" for f, status in refused) or "every file has the mapped columns",
            metadata={"files_refused": len(refused)}),
        # An erasure source with no pending request is normal.
        HAS_ROWS: dg.AssetCheckResult(
            asset_key=key, check_name=HAS_ROWS,
            passed=rows > 0 or source.is_erasure, severity=dg.AssetCheckSeverity.WARN,
            description=None if rows else "no rows delivered yet", metadata={"raw_rows": rows}),
    }


def build_file_checks(sources: list[Source]) -> dg.AssetChecksDefinition:
    by_key = {raw_key(s): s for s in sources}

    @dg.multi_asset_check(specs=[dg.AssetCheckSpec(name, asset=key, description=description, blocking=False)
                                 for key in by_key for name, description in FILE_CHECKS.items()],
                          can_subset=True, name="raw_file_checks")
    def raw_file_checks(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource):
        """The file checks of the sources whose extracts this run selected."""
        selected = context.selected_asset_check_keys
        with duckdb.get_connection() as con:
            for key, source in by_key.items():
                wanted = [c.name for c in selected if c.asset_key == key]
                if wanted:
                    results = file_checks(con, source)
                    yield from (results[name] for name in wanted)

    return raw_file_checks


def build(sources: list[Source], partitions: dg.PartitionsDefinition) -> list:
    return [build_extracts(sources, partitions), build_file_checks(sources)]
