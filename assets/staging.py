"""Staging layer: all sources normalised into one canonical shape, plus what could not be staged."""


from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.keys import ACTIVITIES, ERASURE_REQUESTS, FIELD_ISSUES, PERSON_RECORDS, QUARANTINE, raw_key
from assets.metadata import table_metadata
from assets.resources import WAREHOUSE_POOL, RunSettings
from pipeline.config import Source
from pipeline.sql import literal, literals, raw_table
from pipeline.staging import SUPERSEDED_REASON
from pipeline.staging_changes import stage_changes

GROUP = "staging"
RECONCILES = "raw_rows_reconcile"
STAGING_OP = "staging"  # the op writing every staging table (its run config: StagingConfig)

_TABLES = {
    PERSON_RECORDS: "One normalised person record per source record (display, match and raw forms side by side).",
    ACTIVITIES: "Orders, store purchases, sessions, tickets, reviews and consent events in one shape.",
    FIELD_ISSUES: "Values left empty in staging (bad phone, impossible date...) with the raw value and why.",
    QUARANTINE: "Raw rows that could not be staged at all, with source, file, line and reason.",
    ERASURE_REQUESTS: "Erasure requests (sources with purpose: erasure): the identifiers of people to forget.",
}


class StagingConfig(dg.Config):
    """`full_refresh` restages every source from all its raw rows (after a change to normalisation code)."""

    full_refresh: bool = False


def build(sources: list[Source]) -> list:
    @dg.multi_asset(
        specs=[dg.AssetSpec(key, description=desc, group_name=GROUP, kinds={"duckdb"},
                            deps=[raw_key(s) for s in sources]) for key, desc in _TABLES.items()],
        pool=WAREHOUSE_POOL, name=STAGING_OP,
    )
    @values_left_out
    def staging(context: dg.AssetExecutionContext, duckdb: DuckDBResource, config: StagingConfig,
                settings: RunSettings):
        """Stage the raw files not staged yet (all of them on a full refresh)."""
        with duckdb.get_connection() as con:
            changes = stage_changes(con, sources, date.today(), config.full_refresh, settings.max_shrink)
            summary = {c.source: f"{c.mode}: {c.files} files, {c.rows} rows, {c.superseded} superseded"
                       + (f", {c.retired} retired (absent from its newest full export)" if c.retired else "")
                       + (f"; {c.doubted}" if c.doubted else "")
                       for c in changes}
            for c in (c for c in changes if c.doubted):  # counts and days only
                context.log.warning(f"{c.source}: {c.doubted}")
            for c in (c for c in changes if c.same_drop):  # counts and the mapped column's name only
                context.log.warning(
                    f"{c.source}: {c.same_drop} record(s) superseded by a record of the same id in another file of the "
                    f"same drop day (quarantined, reason {SUPERSEDED_REASON!r}); if each file numbers its own records, "
                    "map a record_id that is unique across the source's files")
            for key in _TABLES:
                table = ".".join(key.path)
                yield dg.MaterializeResult(asset_key=key, metadata={
                    **table_metadata(con, table), "changes_by_source": dg.MetadataValue.json(summary)})

    return [staging]


# On person_records, which identity (hence the marts and the published copies) depends on: a blocking check on
# quarantine protected nothing, as no asset depends on quarantine. The staging op writes all tables at once, so no
# additional deps are needed. It runs in the staging checks' step (assets/quality.py).
RECONCILES_DESCRIPTION = "Per source and per file: the file's own record count = raw rows = staged rows + quarantined rows."


def raw_rows_reconcile(duckdb: DuckDBResource, sources: list[Source]) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        rows = con.execute(reconciliation_sql(sources)).fetchall()
    off = [(src, file) for src, file, records, raw_n, st, q in rows if not records == raw_n == st + q]
    totals: dict[str, list[int]] = {}
    for src, _, records, raw_n, st, q in rows:
        totals.setdefault(src, [0, 0, 0, 0])
        totals[src] = [a + b for a, b in zip(totals[src], (records, raw_n, st, q), strict=False)]
    return dg.AssetCheckResult(
        passed=not off,
        metadata={name: f"records {r} = raw {raw_n} = staged {st} + quarantined {q}"
                  for name, (r, raw_n, st, q) in totals.items()},
        description=None if not off else f"unbalanced files (source, file): {off[:20]}")


# Distinct (source, file, line) staged in persons, activities or erasure requests (a line can be in several), counted
# per block of 4,096 lines of a file as the bits set in a bitmap of the block: a DISTINCT (or UNION) over every staged
# line built a hash table of a million rows at 1M (0.25-0.34 CPU s, 0.04 this way), and a block's bitmap is 512 bytes
# whatever the file's size. A NULL line is a block of its own with no bit set: it counts once, as in a UNION.
STAGED_LINES_SQL = """
    SELECT source, _file AS file, coalesce(bit_count(bitstring_agg(_line & 4095, 0, 4095)), 1) AS lines
    FROM (SELECT source, _file, _line FROM staging.person_records
          UNION ALL SELECT source, _file, _line FROM staging.activities
          UNION ALL SELECT source, _file, _line FROM staging.erasure_requests)
    GROUP BY source, _file, _line >> 12"""


def reconciliation_sql(sources: list[Source]) -> str:
    """source, file, the file's own record count, raw rows, staged rows (distinct file/line in persons,
    activities or erasure requests), quarantined rows: one row per file of each source."""
    raw = " UNION ALL ".join(f"SELECT {literal(s.name)} AS source, _file AS file, count(*) AS n FROM {raw_table(s.name)} GROUP BY _file"
                             for s in sources)
    own = " UNION ALL ".join(f"SELECT {literal(s.name)} AS source, file, records FROM {raw_table(s.name, files=True)} "
                             "WHERE NOT starts_with(status, 'duplicate of')" for s in sources)
    return f"""
        WITH raw AS ({raw}),
        own AS ({own}),
        staged AS (
            SELECT source, file, sum(lines) AS n FROM ({STAGED_LINES_SQL}) GROUP BY ALL),
        quarantined AS (SELECT source, _file AS file, count(*) AS n FROM staging.quarantine GROUP BY ALL),
        files AS (SELECT source, file FROM raw UNION SELECT source, file FROM own
                  UNION SELECT source, file FROM staged UNION SELECT source, file FROM quarantined)
        SELECT f.source, f.file, coalesce(own.records, raw.n, 0), coalesce(raw.n, 0), coalesce(staged.n, 0),
               coalesce(quarantined.n, 0)
        FROM files f LEFT JOIN own USING (source, file) LEFT JOIN raw USING (source, file)
        LEFT JOIN staged USING (source, file) LEFT JOIN quarantined USING (source, file)
        WHERE list_contains([{literals(s.name for s in sources)}], f.source)
        ORDER BY f.source, f.file"""
