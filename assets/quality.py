"""Quality layer: Great Expectations suites as blocking checks on the tables they guard, and the scorecard."""

from dataclasses import replace
from datetime import date

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.keys import ACTIVITIES, CLUSTERS, CUSTOMER_XREF, DATA_QUALITY, PERSON_RECORDS, PREDICTIONS
from assets.metadata import check_result, table_metadata
from assets.resources import WAREHOUSE_POOL, GreatExpectations, RunSettings
from assets.staging import RECONCILES, RECONCILES_DESCRIPTION, raw_rows_reconcile
from assets.steps import CheckStep
from pipeline.config import Source
from pipeline.identity.xref import PAIR_ENDS_SQL
from pipeline.quality import suites
from pipeline.quality.scorecard import source_quality_sql
from pipeline.sql import quote, scalar
from pipeline.warehouse import append_run, table_exists

GROUP = "quality"
STAGING_VALID = "staging_persons_valid"
SOURCES_HEALTHY = "sources_healthy"
CONSENT_VALID = "consent_values_allowed"
CLUSTERS_VALID = "identity_clusters_valid"
STAGING_CHECKS_OP = "staging_checks"  # the step of the four checks on what staging wrote


def build(sources: list[Source]) -> list:
    # The checks on what staging wrote run in one step (assets/steps.py): the reconciliation first.
    checks = CheckStep(STAGING_CHECKS_OP)
    checks.check(PERSON_RECORDS, RECONCILES, RECONCILES_DESCRIPTION)(raw_rows_reconcile)

    # Incremental: the rows of files not validated yet (all rows on a first run or a full refresh), with each
    # key's count over the whole table. The check only reads: the asset validated_files marks the files once
    # the blocking checks on person records passed, so rows of a failed run are validated again next time.
    @checks.check(PERSON_RECORDS, STAGING_VALID,
                  "Great Expectations on newly staged person records: columns, unique keys, e-mail "
                  "syntax, E.164 phones, postcodes, birth dates.")
    def staging_persons_valid(duckdb: DuckDBResource, great_expectations: GreatExpectations) -> dg.AssetCheckResult:
        expectations = suites.staging_persons(date.today())
        with duckdb.get_connection() as con:
            # Only the columns the suite reads (a million rows of all 40 columns cost GX and pandas most of the
            # check); one the table lacks is left out, so its ColumnToExist expectation still fails in GX.
            present = {r[0].lower() for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'staging' "
                "AND table_name = 'person_records'").fetchall()}
            read = [c for c in suites.columns_read(expectations) if c.lower() in present]
            # A column only checked for presence goes as NULLs: GX and pandas copy every column of the frame for
            # each expectation, and its values are read by none.
            valued = suites.values_read(expectations)
            # Each checked key counted over the whole table, reading only the rows that share a checked key (a
            # window over every staged row cost the day a pass over the whole base). NULL keys count together.
            frame = con.execute(f"""
                WITH checked AS (SELECT p.* FROM staging.person_records p
                                 JOIN staging.staged_files f ON f.source = p.source AND f.file = p._file
                                 WHERE NOT f.validated),
                keys AS (SELECT DISTINCT source, source_record_id FROM checked),
                counts AS (SELECT p.source, p.source_record_id, count(*) AS key_count
                           FROM staging.person_records p SEMI JOIN keys k
                           ON p.source IS NOT DISTINCT FROM k.source
                           AND p.source_record_id IS NOT DISTINCT FROM k.source_record_id
                           GROUP BY ALL)
                SELECT {", ".join(f"k.{quote(c)}" if c in valued else f"NULL AS {quote(c)}" for c in read)}, n.key_count,
                       year(k.birth_date)::DOUBLE AS birth_year,  -- GX compares numbers across NaN, not dates
                       CASE WHEN k.email_valid THEN k.email END AS valid_email,
                       CASE WHEN k.country = 'FR' THEN k.postcode END AS fr_postcode
                FROM checked k JOIN counts n ON n.source IS NOT DISTINCT FROM k.source
                AND n.source_record_id IS NOT DISTINCT FROM k.source_record_id""").df()
            total = scalar(con, "SELECT count(*) FROM staging.person_records")
        result = great_expectations.runner().run("staging_persons", frame, expectations)
        return check_result(result, rows_in_table=total)

    # No additional deps: the staging op writes activities and quarantine together with person records.
    @checks.check(PERSON_RECORDS, SOURCES_HEALTHY,
                  "Every source delivered rows, mostly valid contact data, and little quarantine.")
    def sources_healthy(duckdb: DuckDBResource, great_expectations: GreatExpectations,
                        settings: RunSettings) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            frame = con.execute(source_quality_sql(sources, with_customers=False), {"as_of": settings.reference_date}).df()
        result = great_expectations.runner().run("source_health", frame, suites.source_health())
        bad = _failing_sources(frame)
        return check_result(result, prefix=f"sources refused: {bad}. " if bad else "",
                            failing_sources=dg.MetadataValue.json(bad))

    @checks.check(ACTIVITIES, CONSENT_VALID, "Consent events carry an allowed action and channel, and a date.")
    def consent_values_allowed(duckdb: DuckDBResource, great_expectations: GreatExpectations) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            frame = con.execute("SELECT consent_action, consent_channel, occurred_at FROM staging.activities "
                                "WHERE activity_type = 'consent'").df()
        return check_result(great_expectations.runner().run("consent_events", frame, suites.consent_events()))

    @dg.multi_asset_check(specs=checks.specs(), can_subset=True, name=checks.name)
    @values_left_out
    def staging_checks(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                       great_expectations: GreatExpectations, settings: RunSettings):
        """The blocking checks on the staged tables, before anything reads them."""
        yield from checks.evaluate(context, duckdb=duckdb, great_expectations=great_expectations, settings=settings,
                                   sources=sources)

    @dg.asset(key=DATA_QUALITY, group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              deps=[PERSON_RECORDS, ACTIVITIES, CUSTOMER_XREF])
    @values_left_out
    def data_quality(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                     settings: RunSettings) -> dg.MaterializeResult:
        """Per source and run: completeness, validity, records per customer, freshness, quarantine rate."""
        with duckdb.get_connection() as con:
            frame = con.execute(source_quality_sql(sources), {"as_of": settings.reference_date}).df()
            frame.insert(0, "run_id", context.run_id)
            frame.insert(1, "measured_at", pd.Timestamp.now(tz="UTC").tz_localize(None))
            # A scorecard kept from an older version lacks the newer figures (superseded_rows...): append_run adds them.
            append_run(con, "marts.data_quality", frame, context.run_id)
            return dg.MaterializeResult(metadata={
                **table_metadata(con, "marts.data_quality"), "sources": len(frame),
                "worst_quarantine_share": float(frame["quarantine_share"].max() or 0)})

    return [staging_checks, data_quality]


# The asset staging/validated_files, built in the identity input's step (assets/identity.py): downstream of person
# records, so it runs only when their blocking checks (staging_checks) passed.
def validated_files(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Staged files whose person records passed the blocking checks (staging.staged_files.validated):
    the next run's staging_persons_valid reads only the rows of newer files."""
    with duckdb.get_connection() as con:
        marked = scalar(con, "SELECT count(*) FROM staging.staged_files WHERE NOT validated")
        con.execute("UPDATE staging.staged_files SET validated = true WHERE NOT validated")
        files = scalar(con, "SELECT count(*) FROM staging.staged_files")
    return dg.MaterializeResult(metadata={"files_marked_validated": marked, "staged_files": files})


# Evaluated in the clusters step, right after the clusters are written (assets/identity.py): a step of its own cost
# Dagster's bookkeeping and bought nothing, since the check reads only what that step wrote.
CLUSTERS_VALID_SPEC = dg.AssetCheckSpec(
    CLUSTERS_VALID, asset=CLUSTERS, blocking=True, additional_deps=[PERSON_RECORDS, PREDICTIONS],
    description="Every staged record in one cluster, probabilities in [0, 1], no mega-cluster, a healthy model "
                "(agreement counts for a match).")


def identity_clusters_valid(con: duckdb.DuckDBPyConnection, written: str, great_expectations: GreatExpectations,
                            settings: RunSettings) -> dg.AssetCheckResult:
    """Great Expectations on the rows the clusters step wrote (`written`, a relation of identity.clusters' columns),
    the whole table's invariants counted in SQL. A day rewrites a few thousand of a million rows: framing and
    validating every row cost ~2 CPU s at 1M. The invariants stay whole-table: the check runs after the clusters are
    committed, so rows a failed run left would otherwise go unchecked the next day."""
    largest = settings.linkage.max_cluster_size  # the value clustering enforced (one linkage policy)
    staged, rows, ids, unclustered, biggest = con.execute("""
        SELECT (SELECT count(*) FROM staging.person_records), count(*), count(DISTINCT unique_id),
               count(*) FILTER (WHERE cluster_key IS NULL), coalesce(max(cluster_size), 0)
        FROM identity.clusters""").fetchone()
    # The model's health, not a fixed singleton share (a legitimate extract may hold few duplicates): agreeing on a
    # name or a birth date must count for a match (identity.model_health, recipe.health). None: not measured.
    healthy = scalar(con, "SELECT bool_and(healthy) FROM identity.model_health") \
        if table_exists(con, "identity.model_health") else None
    broken = [what for what, bad in (
        (f"{rows} clustered records for {staged} staged", rows != staged),
        (f"{rows - ids} repeated record ids", rows != ids),
        (f"{unclustered} records without a cluster", unclustered > 0),
        (f"a cluster of {biggest} records, at most {largest} allowed", biggest > largest),
        ("an unhealthy model (agreement does not count for a match)", healthy is False)) if bad]
    frame = con.execute(f"""
        WITH best AS (SELECT unique_id, max(match_probability) AS match_probability
                      FROM ({PAIR_ENDS_SQL}) SEMI JOIN {written} USING (unique_id) GROUP BY unique_id)
        SELECT w.cluster_key, w.cluster_size, best.match_probability
        FROM {written} w LEFT JOIN best USING (unique_id)""").df()
    result = great_expectations.runner().run("identity_clusters", frame, suites.identity_clusters(largest))
    return check_result(replace(result, success=result.success and not broken),
                        prefix="".join(f"whole table: {b}. " for b in broken), max_cluster_size=largest,
                        rows_in_table=rows, staged_records=staged, largest_cluster=biggest)


def _failing_sources(frame: pd.DataFrame) -> list[str]:
    """Source names (never values) breaking a source-health rule, with the rule."""
    low, high = suites.MIN_VALID_SHARE, suites.MAX_QUARANTINE_SHARE
    rules = [("email_valid_share", lambda v: v < low, "valid e-mails", f"at least {low:.0%}"),
             ("phone_valid_share", lambda v: v < low, "valid phones", f"at least {low:.0%}"),
             ("postcode_valid_share", lambda v: v < low, "valid postcodes", f"at least {low:.0%}"),
             ("consent_read_share", lambda v: v < low, "consent cells read", f"at least {low:.0%}"),
             ("quarantine_share", lambda v: v > high, "rows quarantined", f"at most {high:.0%}")]
    out = []
    for row in frame.itertuples():
        for column, broken, what, limit in rules:
            value = getattr(row, column)
            if value is not None and not pd.isna(value) and broken(value):
                out.append(f"{row.source}: {value:.1%} {what}, {limit} expected")
    return out
