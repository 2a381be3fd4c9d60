"""Sources layer: one extract asset per source of the sources file, each filling raw.<source>.

The extracts are daily-partitioned by drop day (`<source>/<YYYY-MM-DD>/...`): a run loads one day's
files and replaces that day's rows only, so re-running a day is idempotent and a backfill reloads past days."""


from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.keys import raw_key
from assets.metadata import table_metadata
from assets.resources import WAREHOUSE_POOL, RunSettings
from pipeline.config import Source
from pipeline.delivery_history import history
from pipeline.drops import unreached
from pipeline.extract import LOADED_BUT, TRAILER_FLAW, read_source, showable, shown
from pipeline.sql import raw_table, scalar
from pipeline.warehouse import replace_rows, table_exists

GROUP = "sources"
EXTRACTS_OP = GROUP  # the op reading every source's files (its run config: ExtractsConfig)
RAW_TYPES = {"_line": "BIGINT", "_loaded_at": "TIMESTAMP"}
FILE_TYPES = {"rows": "BIGINT", "unreadable": "BIGINT", "records": "BIGINT", "repaired": "BIGINT"}
FILE_COLUMNS = ["file", "sha256", "drop", "rows", "unreadable", "records", "repaired", "status", "read_with"]
FILES_LOADED = "files_loaded"
FILES_LOADED_DESCRIPTION = ("Every file read once (a duplicate is skipped: WARN), with a trustworthy header carrying the "
                            "mapped columns (else it is refused: ERROR; a JSON-lines file whose lines hold none of a "
                            "mapped key: WARN), and the source has delivered rows (WARN).")


def drop_partitions(first_day: str) -> dg.DailyPartitionsDefinition:
    """One partition per drop day; today's partition exists (end_offset=1) so a drop is loaded the day it lands."""
    return dg.DailyPartitionsDefinition(start_date=first_day, timezone="Europe/Paris", end_offset=1)


def extract_spec(source: Source) -> dg.AssetSpec:
    return dg.AssetSpec(
        raw_key(source), group_name=GROUP, kinds={"duckdb", source.format},
        description=f"{source.description or source.name}: every line of `{source.files}` as read "
                    f"({source.channel}, {source.format}), with file, line, drop day and read error.",
        tags={"channel": source.channel})


class ExtractsConfig(dg.Config):
    """`report_unreached` says which files no glob reaches; `customer360 run` turns it off in the runs of the earlier
    days it loads, so a run of several days says it once (in its last day's run), not once a day."""

    report_unreached: bool = True


# Every source's extract in one step (assets/steps.py says why): the selected sources, one after the other, each
# its own asset, partitioned by drop day, with its file check evaluated in the same step, right after the load.
def build_extracts(sources: list[Source], partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=[extract_spec(s) for s in sources], check_specs=[file_check_spec(s) for s in sources],
                    partitions_def=partitions, can_subset=True, pool=WAREHOUSE_POOL, name=EXTRACTS_OP)
    @values_left_out
    def extracts(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings,
                 config: ExtractsConfig):
        """The selected sources' files of the drop day, each replacing that day's rows of raw.<source>."""
        # A file no glob reaches is never read: said in every run, however launched (paths only, as for refused files).
        for line in unreached(sources, settings.raw_dir) if config.report_unreached else []:
            context.log.warning(line)
        for source in sources:
            key = raw_key(source)
            checked = dg.AssetCheckKey(key, FILES_LOADED) in context.selected_asset_check_keys
            if key in context.selected_asset_keys:
                yield load_day(source, context, duckdb, settings, checked)
            elif checked:  # the check alone, as an operator may run it from the asset's page
                with duckdb.get_connection() as con:
                    yield files_loaded(con, source, day=context.partition_key if context.has_partition_key else None)

    return extracts


def load_day(source: Source, context: dg.AssetExecutionContext, duckdb: DuckDBResource,
             settings: RunSettings, checked: bool = True) -> dg.MaterializeResult:
    """One source's files of the run's drop day into raw.<source> (that day's rows replaced), with its file check
    when `checked`."""
    day = context.partition_key
    table, files_table = f"raw.{source.name}", f"raw.{source.name}__files"  # for the helpers, which quote
    with duckdb.get_connection() as con:
        # The file ledger (a row a file) read once: the loaded files' hashes and this day's files
        ledger = con.execute(f"SELECT sha256, file, status, drop FROM {raw_table(source.name, files=True)}"
                             ).fetchall() if table_exists(con, files_table) else []
        earlier = history(con, source, day)  # its trailer and numbered parts, read against
    elsewhere = {sha: file for sha, file, status, _ in ledger if (status or "").startswith("loaded")}
    before = [file for _, file, _, drop in ledger if drop == day]
    extract = read_source(source, settings.raw_dir, day, elsewhere, earlier)
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
        check_results = [files_loaded(con, source, meta["dagster/row_count"], day)] if checked else []
    return dg.MaterializeResult(asset_key=raw_key(source), check_results=check_results, metadata={
        **meta, "dagster/row_count": len(rows), "table_rows": meta["dagster/row_count"],  # this partition's rows
        "drop_day": day, "rows_this_day": len(rows), "files": len(extract.files),
        "unreadable_rows": int(rows["_error"].notna().sum()),
        "new_unmapped_columns": dg.MetadataValue.json(showable(new_columns)),
        "files_archived_rows_kept": len(archived),
        "records_repaired": sum(f.repaired for f in extract.files),
        "files_not_loaded_whole": sum(f.status != "loaded" for f in extract.files),
        "export_parts_missing": dg.MetadataValue.json(extract.parts_missing)})


def file_check_spec(source: Source) -> dg.AssetCheckSpec:
    """One check per source: its three findings (refused, duplicate, no rows) are one evaluation, each in its metadata
    and the description. Three checks a source were 27 evaluations a run, each three Dagster events (planned, output,
    evaluation), for ~1 ms of SQL each (bench/step_profile.py)."""
    return dg.AssetCheckSpec(FILES_LOADED, asset=raw_key(source), blocking=False, description=FILES_LOADED_DESCRIPTION)


def files_loaded(con, source: Source, rows: int | None = None, day: str | None = None) -> dg.AssetCheckResult:
    """The file check of one source's raw table (`rows`: its row count when the caller has just counted it). A refused
    file stops this source's drop, not the run: its rows are quarantined with the reason, the source's earlier drops
    and every other source are published, and the check fails with ERROR. A duplicate (skipped) file or a source that
    never delivered anything fails it with WARN. A duplicate is said by the run of its drop `day` only (every day's
    when None): skipped, it needs nothing more, and read from the whole ledger it warned on every later run; so is a
    file whose trailer is not its records."""
    # The ledger's (file, status) rows read once, split by status here (a row a file)
    ledger = con.execute(f"SELECT file, status, drop FROM {raw_table(source.name, files=True)} "
                         f"WHERE status IS NOT NULL").fetchall()

    def files_with_status(prefix: str) -> list[tuple[str, str]]:
        """(file, status) of this source's files whose load status starts with `prefix`."""
        return [(file, status) for file, status, _ in ledger if status.startswith(prefix)]

    duplicates, refused = files_with_status("duplicate of"), files_with_status("refused")
    # read whole, a mapped key in none of its lines (a JSON-lines rename), or its trailer not its records
    flawed = files_with_status(LOADED_BUT)
    if day is not None:
        drops = {file: drop for file, _, drop in ledger}
        duplicates = [(file, status) for file, status in duplicates if drops[file] == day]
        # A trailer's flaw is the day's: a count first seen (the source's habit once its next trailers count so), a
        # file cut short (delivered again, its day is read again); read from the whole ledger it failed every run.
        flawed = [(file, status) for file, status in flawed
                  if drops[file] == day or not status.startswith(LOADED_BUT + TRAILER_FLAW)]
    if rows is None:
        rows = scalar(con, f"SELECT count(*) FROM {raw_table(source.name)}")
    empty = rows == 0 and not source.is_erasure  # an erasure source with no pending request is normal
    findings = [f"{f}: {status}" for f, status in refused + flawed + duplicates] + (
        ["no rows delivered yet"] if empty else [])
    return dg.AssetCheckResult(
        asset_key=raw_key(source), check_name=FILES_LOADED, passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR if refused else dg.AssetCheckSeverity.WARN,
        description="; ".join(findings) or "every file read once, with the mapped columns",
        metadata={"files_refused": len(refused), "files_without_mapped_keys": len(flawed),
                  "duplicate_files": len(duplicates), "raw_rows": rows})


def build(sources: list[Source], partitions: dg.PartitionsDefinition) -> list:
    return [build_extracts(sources, partitions)]
