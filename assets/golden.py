"""Golden layer: one best view per customer (survivorship, activity, sessions, consent, household) and who is excluded."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.erasure_guard import erasure_watermark
from assets.errors import values_left_out
from assets.keys import (
    ACTIVITIES,
    ACTIVITY,
    CHANGED_CUSTOMERS,
    CLUSTERS,
    CONSENT_EVENTS,
    CONSENT_STATE,
    CUSTOMER_XREF,
    DECISION_LOG,
    ERASURE_REGISTRY,
    ERASURE_REQUESTS,
    EXCLUDED,
    GOLDEN_CONTACT_POINTS,
    HOUSEHOLDS,
    PERSON_RECORDS,
    POINT_CONSENT_STATE,
    PROFILE,
    SHARED_DEVICES,
    STEWARD_DECISIONS,
    STITCHED_SESSIONS,
)
from assets.metadata import build_customer_rows, build_table, table_metadata
from assets.resources import WAREHOUSE_POOL, RunSettings
from assets.steps import Step
from pipeline.currency import foreign_amounts, rates_version
from pipeline.drops import listed
from pipeline.golden import changes
from pipeline.golden.activity import ROLLING_WINDOW_DAYS, activity_summary_sql
from pipeline.golden.candidates import CUSTOMER_ACTIVITIES_SQL, GOLDEN_CANDIDATES_SQL
from pipeline.golden.consent import CONSENT_EVENTS_SQL, CONSENT_STATE_SQL, point_consent_state_sql
from pipeline.golden.contact_points import CONTACT_POINTS_SQL
from pipeline.golden.currency import EMPTY_UNCONVERTED_SQL, UNCONVERTED, unconverted_sql, write_rates
from pipeline.golden.households import build_households
from pipeline.golden.overrides import OVERRIDDEN_CUSTOMERS_SQL, apply_overrides
from pipeline.golden.privacy import (
    AMBIGUOUS_REQUESTS_SQL,
    CREATE_MATCHES_SQL,
    CREATE_REGISTRY_SQL,
    ERASURE_MATCHES,
    RECORD_MATCHES_SQL,
    REGISTER_ERASURES_SQL,
    UNMATCHED_REQUESTS_SQL,
    excluded_customers_sql,
    unusable_requests_sql,
)
from pipeline.golden.sessions import (
    CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL,
    SHARED_DEVICES_SQL,
    STITCHED,
    build_stitched_sessions,
)
from pipeline.golden.survivorship import golden_attributes_sql, load_rules
from pipeline.identity.decisions import log_decisions
from pipeline.sql import scalar
from pipeline.warehouse import table_exists, transaction

GROUP = "golden"
# The golden tables are rebuilt together, in one step (assets/steps.py): its op takes the run config (ChangeConfig).
GOLDEN_STEP = Step("golden")
CHANGED_CUSTOMERS_OP = GOLDEN_STEP.name  # the op whose run config (ChangeConfig) decides full or incremental


@GOLDEN_STEP.asset(ERASURE_REGISTRY, deps=[ERASURE_REQUESTS], group_name=GROUP)
def erasure_registry(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Hashes of every e-mail and phone ever asked to be forgotten; append-only, so nobody is resurrected."""
    with duckdb.get_connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS identity")
        con.execute(CREATE_REGISTRY_SQL)
        con.execute(REGISTER_ERASURES_SQL, [context.run_id])
        return dg.MaterializeResult(metadata={**table_metadata(con, "identity.erasure_registry"),
                                              **erasure_watermark(con)})


class ChangeConfig(dg.Config):
    """`full` recomputes every customer's golden and marts rows (`--full-refresh`); otherwise only those of the
    customers this run changed (pipeline/golden/changes.py)."""

    full: bool = False


@GOLDEN_STEP.asset(STITCHED_SESSIONS, deps=[ACTIVITIES, CUSTOMER_XREF], group_name=GROUP)
def stitched_sessions(duckdb: DuckDBResource, config: ChangeConfig) -> dg.MaterializeResult:
    """Each web/app session with its customer: logged in, stitched through its device, or unattributed (and why)."""
    with duckdb.get_connection() as con:
        attributed = build_stitched_sessions(con, full=config.full)
        counts = dict(con.execute("SELECT attribution, count(*) FROM golden.stitched_sessions GROUP BY 1").fetchall())
        metadata = table_metadata(con, STITCHED)
    return dg.MaterializeResult(metadata={**metadata, "written": "whole" if attributed is None else "merged",
                                          "sessions_attributed": attributed or 0,
                                          **{f"sessions_{a}": n for a, n in sorted(counts.items())}})


@GOLDEN_STEP.asset(SHARED_DEVICES, deps=[STITCHED_SESSIONS], group_name=GROUP)
def shared_devices(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Devices logged in by two or more customers, whose anonymous sessions are left unattributed (counts only)."""
    return build_table(duckdb, "golden.shared_devices", SHARED_DEVICES_SQL)


@GOLDEN_STEP.asset(CHANGED_CUSTOMERS, deps=[PERSON_RECORDS, ACTIVITIES, CUSTOMER_XREF, STITCHED_SESSIONS, ERASURE_REGISTRY,
                                     STEWARD_DECISIONS], group_name=GROUP)
def changed_customers(duckdb: DuckDBResource, settings: RunSettings, config: ChangeConfig) -> dg.MaterializeResult:
    """The customers whose golden and marts rows this run recomputes: new or changed records, activities, sessions
    or erasure, retired ids, dated values the reference date moved across, stewards' overrides (everyone on a full
    run)."""
    windows = (*ROLLING_WINDOW_DAYS, settings.retention_days, settings.repermission_days)
    with duckdb.get_connection() as con:
        # other rates or house currency: every customer's totals are recomputed
        version = changes.code_version(*windows, rates_version(settings.rates_file, settings.currency))
        found = changes.changed_customers(con, settings.reference_date, version, windows, full=config.full)
        return dg.MaterializeResult(metadata={**table_metadata(con, changes.CHANGED), "mode": found.mode,
                                              "reason": found.reason,
                                              **{f"customers_{why}": n for why, n in found.counts.items()}})


# Decided before the golden rows are built (from the activities, not golden.customer_activity): an excluded
# customer's rows are built as the purge leaves them (purge.as_purged), and the purge finds nothing to rewrite.
@GOLDEN_STEP.asset(EXCLUDED, deps=[ERASURE_REGISTRY, PERSON_RECORDS, ACTIVITIES, CUSTOMER_XREF, STITCHED_SESSIONS,
                                   CHANGED_CUSTOMERS], group_name=GROUP)
def excluded_customers(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                       settings: RunSettings) -> dg.MaterializeResult:
    """Customers kept out of every published mart: erased on request, or inactive past the retention period."""
    with duckdb.get_connection() as con:
        ambiguous = changes.merge_customers(
            con, "golden.excluded_customers", excluded_customers_sql(settings.retention_days),
            CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL, as_of=settings.reference_date,
            adjust=lambda c, _rows: _record_matches(c, context.run_id))
        counts = dict(con.execute("SELECT reason, count(*) FROM golden.excluded_customers GROUP BY 1").fetchall())
        unusable = [r[0] for r in con.execute(unusable_requests_sql(con, settings.sources())).fetchall()]
        unmatched = scalar(con, UNMATCHED_REQUESTS_SQL) if table_exists(con, ERASURE_MATCHES) else 0
        metadata = table_metadata(con, "golden.excluded_customers")
    if ambiguous:  # request ids only: never the e-mail or phone
        context.log.warning(f"{len(ambiguous)} erasure request(s) name an e-mail or phone that several customers hold "
                            f"(a household's landline): none of them erased by it; add the requester's own e-mail "
                            f"or phone to the request: {listed(ambiguous, 10)}")
    if unusable:  # request ids only, as above
        context.log.warning(f"{len(unusable)} erasure request(s) hold neither a valid e-mail nor a valid phone: no one "
                            f"erased by them (see staging.field_issues); correct and deliver them again: "
                            f"{listed(unusable, 10)}")
    return dg.MaterializeResult(metadata={**metadata, "erased": counts.get("erased", 0),
                                          "retention": counts.get("retention", 0),
                                          "erasure_requests_ambiguous": len(ambiguous),
                                          "erasure_requests_unusable": len(unusable),
                                          "erasure_requests_unmatched": unmatched,
                                          "retention_days": settings.retention_days})


def _record_matches(con, run_id: str) -> list[str]:
    """Record which customer each request erases (privacy.RECORD_MATCHES_SQL), before the purge scrubs what matched;
    the ids of the requests several customers match (erasing none of them)."""
    con.execute(CREATE_MATCHES_SQL)
    con.execute(RECORD_MATCHES_SQL, {"run_id": run_id})
    return [r[0] for r in con.execute(AMBIGUOUS_REQUESTS_SQL).fetchall()]


@GOLDEN_STEP.asset(PROFILE, deps=[PERSON_RECORDS, CUSTOMER_XREF, STEWARD_DECISIONS, CHANGED_CUSTOMERS, EXCLUDED],
                    group_name=GROUP)
def customer_profile(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Each customer's surviving name, birth date, e-mail, phones and address, each with source, record and
    date; stewards' overrides win."""
    with duckdb.get_connection() as con:  # survivorship, then overrides, published together
        overrides = changes.merge_customers(con, "golden.customer_profile", golden_attributes_sql(load_rules()),
                                            GOLDEN_CANDIDATES_SQL, adjust=apply_overrides, as_purged=True,
                                            spared=OVERRIDDEN_CUSTOMERS_SQL)
        return dg.MaterializeResult(metadata={**table_metadata(con, "golden.customer_profile"),
                                              "overrides_applied": overrides["applied"],
                                              "overrides_not_applied": overrides["not_applied"]})


@GOLDEN_STEP.asset(ACTIVITY, deps=[ACTIVITIES, CUSTOMER_XREF, STITCHED_SESSIONS, CHANGED_CUSTOMERS, EXCLUDED],
                    group_name=GROUP)
def customer_activity(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                      settings: RunSettings) -> dg.MaterializeResult:
    """Purchases online and offline, revenue (in the house currency), store visits, service contacts, complaints,
    reviews, stitched sessions; the amounts no rate converts, with why, in golden.unconverted_amounts."""
    with duckdb.get_connection() as con:
        rates = write_rates(con, settings.rates_file, settings.currency)
        foreign = foreign_amounts(con, settings.currency)
    result = build_customer_rows(duckdb, "golden.customer_activity", activity_summary_sql(foreign),
                                 CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL, as_purged=True,
                                 as_of=settings.reference_date, currency=settings.currency)
    with duckdb.get_connection() as con:
        if foreign:
            changes.merge_customers(con, UNCONVERTED, unconverted_sql(foreign),
                                    CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL, currency=settings.currency)
        else:  # every amount in the house currency: none to list (no scan of every activity for it)
            con.execute(EMPTY_UNCONVERTED_SQL)
        left_out = con.execute(f"SELECT currency, source, count(*) FROM {UNCONVERTED} GROUP BY ALL ORDER BY ALL"
                               ).fetchall()
    if left_out:  # currency codes, source names and counts: no personal value
        context.log.warning(
            f"{sum(n for *_, n in left_out)} revenue amount(s) in a currency with no rate into {settings.currency} "
            f"left out of every total: {listed([f'{n} in {c} ({s})' for c, s, n in left_out], 10)}; add their rates "
            f"to {settings.rates_file.name} (golden.unconverted_amounts says which and why)")
    return dg.MaterializeResult(metadata={**result.metadata, "currency": settings.currency, "exchange_rates": rates,
                                          "amounts_unconverted": sum(n for *_, n in left_out)})


@GOLDEN_STEP.asset(CONSENT_EVENTS, deps=[ACTIVITIES, CUSTOMER_XREF, CHANGED_CUSTOMERS], group_name=GROUP)
def consent_events(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every opt-in and opt-out with channel, source, time and collection point (the GDPR proof)."""
    return build_customer_rows(duckdb, "golden.consent_events", CONSENT_EVENTS_SQL, CUSTOMER_ACTIVITIES_SQL)


@GOLDEN_STEP.asset(CONSENT_STATE, deps=[CONSENT_EVENTS, EXCLUDED], group_name=GROUP)
def consent_state(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Current consent per customer and channel: the latest event wins, an opt-out on a tie."""
    return build_customer_rows(duckdb, "golden.consent_state", CONSENT_STATE_SQL, as_purged=True)


@GOLDEN_STEP.asset(POINT_CONSENT_STATE, deps=[CONSENT_EVENTS, ACTIVITY], group_name=GROUP)
def point_consent_state(duckdb: DuckDBResource, settings: RunSettings) -> dg.MaterializeResult:
    """Current consent per contact point and channel, with its proof and whether it needs re-permission."""
    result = build_customer_rows(duckdb, "golden.point_consent_state",
                         point_consent_state_sql(settings.repermission_days), as_of=settings.reference_date)
    with duckdb.get_connection() as con:
        stale = scalar(con, "SELECT count(*) FROM golden.point_consent_state WHERE needs_repermission")
    return dg.MaterializeResult(metadata={**result.metadata, "opt_ins_needing_repermission": stale,
                                          "repermission_days": settings.repermission_days})


@GOLDEN_STEP.asset(GOLDEN_CONTACT_POINTS, deps=[PERSON_RECORDS, CUSTOMER_XREF, POINT_CONSENT_STATE, EXCLUDED],
                    group_name=GROUP)
def contact_points(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Every e-mail and phone each customer used: validity, first/last seen, sources, consent per channel."""
    return build_customer_rows(duckdb, "golden.contact_points", CONTACT_POINTS_SQL, GOLDEN_CANDIDATES_SQL,
                               as_purged=True)


# Excluded customers are left out: an erased or expired person neither joins nor names anyone's household
# (and the purge that empties their profile then changes no household id).
@GOLDEN_STEP.asset(HOUSEHOLDS, deps=[PROFILE, EXCLUDED], group_name=GROUP)
def customer_households(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Each customer's household: same address and surname, or a shared landline or e-mail."""
    with duckdb.get_connection() as con:
        build_households(con)
        return dg.MaterializeResult(metadata=table_metadata(con, "golden.households"))


# Logged once the overrides were applied (customer_profile): the outcome of each decision is what this run did.
@GOLDEN_STEP.asset(DECISION_LOG, deps=[STEWARD_DECISIONS, CLUSTERS, PROFILE], group_name="identity")
def decision_log(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Append-only log of steward decisions: added, changed, removed, and each run's outcome and effect
    (after the link decisions and the overrides were applied); identity.decision_audit sums it up."""
    with duckdb.get_connection() as con:
        with transaction(con):
            counts = log_decisions(con, context.run_id)
        return dg.MaterializeResult(metadata={**table_metadata(con, "identity.decision_log"), **counts})


@dg.multi_asset(specs=GOLDEN_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=GOLDEN_STEP.name)
@values_left_out
def golden(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings, config: ChangeConfig):
    """The golden tables of the run's changed customers (all of them on a full run), who is excluded, and the
    stewards' decision log."""
    yield from GOLDEN_STEP.materialize(context, duckdb=duckdb, settings=settings, config=config)
