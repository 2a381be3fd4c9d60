"""Marts layer: the published tables analysts and other tools read."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.erasure_guard import erasure_watermark
from assets.errors import values_left_out
from assets.keys import (
    ACTIVITY,
    CONSENT_EVENTS,
    CONSENT_HISTORY,
    CONSENT_STATE,
    CUSTOMER_360,
    CUSTOMER_HISTORY,
    CUSTOMER_TIMELINE,
    CUSTOMER_XREF,
    DATA_QUALITY,
    EXCLUDED,
    GOLDEN_CONTACT_POINTS,
    HOUSEHOLD,
    HOUSEHOLDS,
    ID_EVENTS,
    MARTS_CONTACT_POINTS,
    PREDICTIONS,
    PROFILE,
    PURGE_LOG,
    RECORD_CUSTOMER,
    REVIEW_QUEUE,
    SEGMENT_HISTORY,
    SEGMENT_SUMMARY,
    STITCHED_SESSIONS,
)
from assets.metadata import (
    build_customer_rows,
    build_table,
    check_result,
    column_lineage,
    merged_metadata,
    table_metadata,
)
from assets.publication_guard import NOT_SHRUNK_SPEC, customer_360_not_shrunk
from assets.resources import WAREHOUSE_POOL, GreatExpectations, RunSettings
from assets.steps import Step
from pipeline.compaction import held_by_copy, request
from pipeline.config import CONSENT_CHANNELS
from pipeline.golden.changes import commit_fingerprints, replace_changed_rows, same_columns, scope
from pipeline.golden.privacy import ERASURE_MATCHES
from pipeline.golden.purge import HISTORY_SCRUBBED, IDENTIFIER_COUNTS, purge_excluded
from pipeline.identity.xref import CUSTOMER_XREF_SQL
from pipeline.marts.customer_360 import (
    CONSENT_HISTORY_SQL,
    CONTACT_POINTS_SQL,
    ROWS,
    SEGMENT_SUMMARY_SQL,
    SEGMENTS,
    customer_360_scope,
    customer_360_sql,
    keep_older_rows,
    show_customer_360,
    stored_sql,
)
from pipeline.marts.history import record_history
from pipeline.marts.household import build_household
from pipeline.marts.segment_history import record_segment_figures
from pipeline.marts.timeline import CUSTOMER_TIMELINE_SQL, CUSTOMER_TIMELINE_VIEWS
from pipeline.quality import suites
from pipeline.sql import named, scalar
from pipeline.warehouse import table_exists, transaction

GROUP = "marts"
# The marts built from marts.customer_360 and the golden tables, once its blocking checks passed, in one step
# (assets/steps.py), in this order: the history after the contact points it could purge from, the purge last.
MARTS_STEP = Step("marts")
XREF_COVERS_STAGING = "every_person_record_once"


# Its blocking check is evaluated in the same step, once the table is written: a step of its own cost Dagster's
# bookkeeping and bought nothing (the check reads only what this step wrote).
@dg.asset(key=CUSTOMER_XREF, deps=[RECORD_CUSTOMER, PREDICTIONS], group_name=GROUP, kinds={"duckdb"},
          pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec(XREF_COVERS_STAGING, asset=CUSTOMER_XREF, blocking=True,
                                         description="Every staged person record appears exactly once in the "
                                                     "cross-reference.")])
@values_left_out
def customer_xref(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Source record -> customer_id, with the probability of its strongest link inside the customer."""
    with duckdb.get_connection() as con:  # the customers whose records or links changed (the copies merge them)
        con.execute(f"CREATE OR REPLACE TEMP TABLE customer_xref_candidate AS {CUSTOMER_XREF_SQL}")
        merged = replace_changed_rows(con, "marts.customer_xref", "customer_xref_candidate")
        meta = {**table_metadata(con, "marts.customer_xref"), **merged_metadata(merged)}
    return dg.MaterializeResult(metadata=meta, check_results=[every_person_record_once(duckdb)])


def every_person_record_once(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        staged, xref, distinct = con.execute("""
            SELECT (SELECT count(*) FROM staging.person_records),
                   (SELECT count(*) FROM marts.customer_xref),
                   (SELECT count(DISTINCT (source, source_record_id)) FROM marts.customer_xref)""").fetchall()[0]
    return dg.AssetCheckResult(check_name=XREF_COVERS_STAGING, passed=staged == xref == distinct,
                               metadata={"staged_person_records": staged, "xref_rows": xref,
                                         "distinct_xref_records": distinct})


NO_CONSENT = " OR ".join(f"(contactable_{c} AND consent_{c} <> 'opt_in')" for c in CONSENT_CHANNELS)
# The golden tables marts.customer_360 is built from (its columns' lineage: all but the exclusions).
LINEAGE_360 = (PROFILE, ACTIVITY, CONSENT_STATE, GOLDEN_CONTACT_POINTS, HOUSEHOLDS)
# Where marts.customer_360's columns come from (dagster/column_lineage): a column of the same name in a golden table,
# and for the computed ones, their inputs. Segments are computed from the activity columns.
SOURCES_360 = {f"golden.{k.path[1]}": k for k in LINEAGE_360}
DERIVED_360 = {
    **{f"consent_{c}": [("golden.contact_points", f"consent_{c}")] for c in ("email", "sms", "phone")},
    **{f"contactable_{c}": [("golden.contact_points", "valid"), ("golden.contact_points", f"consent_{c}")]
       + ([("golden.contact_points", "undeliverable_since")] if c == "email" else [])
       for c in ("email", "sms", "phone")},
    "consent_post": [("golden.consent_state", "state")],
    "contactable_post": [("golden.customer_profile", "street"), ("golden.customer_profile", "postcode"),
                         ("golden.consent_state", "state")],
    "email_valid": [("golden.customer_profile", "email")], "mobile_valid": [("golden.customer_profile", "mobile")],
    "address_valid": [("golden.customer_profile", "street"), ("golden.customer_profile", "postcode")],
    "region": [("golden.customer_profile", "postcode"), ("golden.customer_profile", "country")],
}


CUSTOMER_360_VALID = "customer_360_valid"


@dg.asset(key=CUSTOMER_360, deps=[*LINEAGE_360, EXCLUDED], group_name=GROUP, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec(CUSTOMER_360_VALID, asset=CUSTOMER_360, blocking=True,
                                         description="Great Expectations on the candidate before it replaces the "
                                                     "published table: unique ids, counts reconcile, RFM 1-5, "
                                                     "no contactability without consent."),
                       NOT_SHRUNK_SPEC])
@values_left_out
def customer_360(duckdb: DuckDBResource, settings: RunSettings, great_expectations: GreatExpectations):
    """One row per customer: best values with lineage, contactability, consent, history, household, segments."""
    with duckdb.get_connection() as con:
        keep_older_rows(con)
        among = customer_360_scope(con, settings.reference_date, settings.repermission_days)  # None: every customer
        _customer_360_candidate(con, settings, among)
        if among and not same_columns(con, ROWS, CANDIDATE_ROWS):  # other columns
            among = None
            _customer_360_candidate(con, settings, among)
        expected = scalar(con, """SELECT (SELECT count(DISTINCT customer_id) FROM marts.customer_xref)
                                        - (SELECT count(*) FROM golden.excluded_customers)""")
        # validated as it will be published: the rows computed and, with `among`, the ids of the table's other
        # customers, whose rows stay as validated when written (the row count and unique ids stay whole-table; the
        # value rules read the computed rows: GX's cost at 1M is per row, ~0.43 CPU s for 75k full rows, 0.30 so)
        kept = (f"UNION ALL BY NAME SELECT customer_id FROM {ROWS} "
                f"WHERE customer_id NOT IN (SELECT customer_id FROM {among})" if among else "")
        frame = con.execute(f"""SELECT customer_id, r_score, f_score, m_score, {NO_CONSENT} AS contactable_without_consent
                                FROM customer_360_candidate {kept}""").df()
        result = great_expectations.runner().run("customer_360", frame, suites.customer_360(),
                                                  {"expected_customers": expected})
        check = check_result(result, check_name=CUSTOMER_360_VALID)
        if not result.success:  # the last good marts.customer_360 stays published
            yield check
            raise dg.Failure(description=f"marts.customer_360 not replaced: {result.describe()}")
        merged = replace_changed_rows(con, ROWS, CANDIDATE_ROWS, among,  # the stored rows that differ, and the view
                                      also=[show_customer_360(settings.reference_date)])
        computed = scalar(con, "SELECT count(*) FROM customer_360_candidate")
        yield dg.MaterializeResult(metadata={**table_metadata(con, "marts.customer_360"),
                                             **merged_metadata(merged), "customers_computed": computed,
                                             **column_lineage(con, "marts.customer_360", SOURCES_360, DERIVED_360)},
                                   check_results=[check, customer_360_not_shrunk(duckdb, settings)])


# The candidate as ROWS stores it (pipeline/marts/customer_360.py: without the columns the view derives).
CANDIDATE_ROWS = "customer_360_candidate_rows"


def _customer_360_candidate(con, settings: RunSettings, among: str | None) -> None:
    """The candidate rows of marts.customer_360: of the customers in `among` (a relation of customer_id), or all."""
    scope(con, full=True, among=among)
    query = customer_360_sql(settings.repermission_days, SEGMENTS if among else None)
    con.execute(f"CREATE OR REPLACE TEMP TABLE customer_360_candidate AS {query}", named(query, as_of=settings.reference_date))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {CANDIDATE_ROWS} AS {stored_sql('customer_360_candidate')}")


@MARTS_STEP.asset(CONSENT_HISTORY, deps=[CONSENT_EVENTS, EXCLUDED], group_name=GROUP)
def consent_history(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every opt-in and opt-out of published customers, with channel, source, time and collection point."""
    return build_customer_rows(duckdb, "marts.consent_history", CONSENT_HISTORY_SQL)


@MARTS_STEP.asset(MARTS_CONTACT_POINTS, deps=[CUSTOMER_360], group_name=GROUP)
def contact_points(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every e-mail and phone of each published customer, with consent per channel (restricted copy only)."""
    return build_customer_rows(duckdb, "marts.contact_points", CONTACT_POINTS_SQL)


@MARTS_STEP.asset(HOUSEHOLD, deps=[CUSTOMER_360], group_name=GROUP)
def household(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per household: members, town, value."""
    with duckdb.get_connection() as con:
        merged = build_household(con)
        return dg.MaterializeResult(metadata={**table_metadata(con, "marts.household"),
                                              "written": "whole" if merged is None else "merged",
                                              "households_merged": merged or 0})


@MARTS_STEP.asset(SEGMENT_SUMMARY, deps=[CUSTOMER_360], group_name=GROUP)
def segment_summary(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Customers, revenue, average basket and share contactable per channel, by segment x tier x region x channel."""
    return build_table(duckdb, "marts.segment_summary", SEGMENT_SUMMARY_SQL)


@MARTS_STEP.asset(SEGMENT_HISTORY, deps=[CUSTOMER_360], group_name=GROUP)
def segment_history(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    settings: RunSettings) -> dg.MaterializeResult:
    """Per run, RFM segment and loyalty tier: customers, opt-out share, contactable share per channel (to chart)."""
    with duckdb.get_connection() as con:
        rows = record_segment_figures(con, context.run_id, settings.reference_date)
        return dg.MaterializeResult(metadata={**table_metadata(con, "marts.segment_history"), "rows_this_run": rows})


@MARTS_STEP.asset(CUSTOMER_TIMELINE, deps=[CUSTOMER_360, STITCHED_SESSIONS], group_name=GROUP)
def customer_timeline(duckdb: DuckDBResource, settings: RunSettings) -> dg.MaterializeResult:
    """Every order, receipt, visit, ticket, review, session and consent event of each published customer, with
    channel, source and amount in its currency (restricted copy only)."""
    return build_customer_rows(duckdb, "marts.customer_timeline", CUSTOMER_TIMELINE_SQL, *CUSTOMER_TIMELINE_VIEWS,
                               currency=settings.currency)


# MARTS_CONTACT_POINTS: listed so that the history is taken after every mart it could purge from.
@MARTS_STEP.asset(CUSTOMER_HISTORY, deps=[CUSTOMER_360, MARTS_CONTACT_POINTS, ID_EVENTS, EXCLUDED], group_name=GROUP)
def customer_history(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every version of each customer's golden attributes (SCD2): what changed, when, from which source record."""
    with duckdb.get_connection() as con:
        counts = record_history(con, context.run_id)
        return dg.MaterializeResult(metadata={**table_metadata(con, "marts.customer_history"), **counts})


# Last: after everything that reads staging and identity in this run (the marts, the scorecard, the review queue).
@MARTS_STEP.asset(PURGE_LOG, deps=[CUSTOMER_360, CONSENT_HISTORY, HOUSEHOLD, SEGMENT_SUMMARY, CUSTOMER_HISTORY,
                                   MARTS_CONTACT_POINTS, CUSTOMER_TIMELINE, SEGMENT_HISTORY, DATA_QUALITY, REVIEW_QUEUE],
                  group_name="privacy")
def erasure_purge(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                  settings: RunSettings) -> dg.MaterializeResult:
    """Erased and expired customers' values removed from every layer (raw to marts), record keys and dates kept
    as proof; every identifier of an erased customer registered so they are never resurrected."""
    with duckdb.get_connection() as con:
        counts = purge_excluded(con, settings.sources(), context.run_id)
        scrubbed = sum(n for t, n in counts.items() if t not in IDENTIFIER_COUNTS)
        with transaction(con):  # every table built from the changed customers is up to date: the next run starts here
            commit_fingerprints(con)
            # Whether an erasure request took effect on this run (recorded with the request; every purge's freed
            # bytes leave the file within C360_COMPACTION_DAYS, pipeline/compaction.py).
            erased = table_exists(con, ERASURE_MATCHES) and scalar(
                con, f"SELECT count(*) FROM {ERASURE_MATCHES} WHERE matched_run = ?", [context.run_id])
            # the freed blocks still hold what was scrubbed: privacy/warehouse_compaction rewrites the file
            asked = request(con, context.run_id, scrubbed, erasure=bool(erased),
                            customers=held_by_copy(con, settings.restricted, context.run_id)
                            + counts.get(HISTORY_SCRUBBED, 0))
        return dg.MaterializeResult(metadata={**table_metadata(con, "golden.purge_log"), **erasure_watermark(con),
                                              **{f"purged {t}": n for t, n in counts.items()},
                                              "compaction_requested": asked})


@dg.multi_asset(specs=MARTS_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=MARTS_STEP.name)
@values_left_out
def marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings):
    """The marts read beside marts.customer_360: consent history, contact points, households, segments, timeline,
    history; then the purge of erased and expired customers, which commits the run's changed customers."""
    yield from MARTS_STEP.materialize(context, duckdb=duckdb, settings=settings)
