"""The published copies: the analysts' marts (published.duckdb) and customer service's (restricted.duckdb)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.errors import values_left_out
from assets.keys import (
    CONSENT_HISTORY,
    CUSTOMER_HISTORY,
    CUSTOMER_TIMELINE,
    CUSTOMER_XREF,
    HOUSEHOLD,
    MARTS,
    MARTS_CONTACT_POINTS,
    PUBLISHED,
    PURGE_LOG,
    RESTRICTED,
)
from assets.resources import WAREHOUSE_POOL, RunSettings
from assets.steps import Step
from pipeline.compaction import copies_whole
from pipeline.golden.changes import CHANGED, changed_rows, merge_basis
from pipeline.marts.customer_360 import ROWS, VIEW, view_select
from pipeline.marts.household import households_of
from pipeline.private_files import GROUP_MODE, SHARED_MODE, restrict, share
from pipeline.publish import (
    PSEUDONYM_FUNCTION,
    RESTRICTED_ONLY,
    Copied,
    MergeBasis,
    age_bands_moved,
    analyst_select,
    pseudonym_fingerprint,
    pseudonym_key,
    publish_marts,
    register_pseudonym,
    sources_keyed_by_identifier,
)

# Both copies are written in one step (assets/steps.py), once the marts are built and the run's erased and expired
# customers purged from them: the purge was only ordered before the copies by the names of their steps (Dagster runs
# ready steps in name order), and the step `copies` came before `golden__purge_log`, publishing values the run
# purged (tests/test_incremental_golden.py).
COPIES_STEP = Step("copies")
COPIED = [*MARTS, PURGE_LOG]
# The marts whose rows of a customer only that customer's inputs shape, merged customer by customer in the warehouse
# (pipeline/golden/changes.py, marts/history.py): a copy takes the run's changed customers' rows of them alone.
# customer_360's rows are not one (its RFM scores rank every customer), nor the cross-reference (built before the changed
# customers are known): their steps record whose rows changed (changes.replace_changed_rows), and a copy merges
# those; and the households that hold or held one of customer_360's (pipeline/marts/household.py). Segments and
# counts are written whole.
PER_CUSTOMER = frozenset(key.path[-1] for key in (CONSENT_HISTORY, MARTS_CONTACT_POINTS, CUSTOMER_TIMELINE,
                                                CUSTOMER_HISTORY))
OWN_CHANGES = (ROWS.split(".")[1], CUSTOMER_XREF.path[-1])  # customer_360's rows: the view derives the rest


def _merge(con, settings: RunSettings) -> MergeBasis:
    """What a copy may take over from the previous one: nothing on a run that compacts the warehouse after purging
    customers the copies held (pipeline/compaction.py), the copy then written whole into a fresh file."""
    previous, current = merge_basis(con)
    if copies_whole(con, settings.compaction_days):
        previous = None
    if not previous:
        return MergeBasis(previous, current, changed=CHANGED, per_customer=PER_CUSTOMER)
    own = {t: changed_rows(t, previous) for t in OWN_CHANGES}
    households = households_of(own[ROWS.split(".")[1]], f"published.marts.{HOUSEHOLD.path[-1]}")  # as copied
    return MergeBasis(previous, current, changed=CHANGED, per_customer=PER_CUSTOMER,
                      own_changes={**own, HOUSEHOLD.path[-1]: f"({households})"},
                      keys={HOUSEHOLD.path[-1]: "household_id"})


def _views(settings: RunSettings) -> dict[str, str]:
    """The copies' views: marts.customer_360, its day counts as of the run's reference date (as the warehouse's)."""
    return {VIEW.split(".")[1]: view_select(settings.reference_date)}


@COPIES_STEP.asset(PUBLISHED, deps=COPIED, group_name="marts")
def published_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    settings: RunSettings) -> dg.MaterializeResult:
    """The marts for analysts (published.duckdb), names and contacts left out or pseudonymised, swapped in atomically."""
    target = settings.published
    with duckdb.get_connection() as con:
        if settings.analyst_identifiers:  # allowed by C360_ANALYST_IDENTIFIERS: the marts as they are
            copied = publish_marts(con, target, escape=True, merge=_merge(con, settings), views=_views(settings))
        else:
            key = pseudonym_key(settings.pseudonym_key_file, settings.pseudonym_secret)
            register_pseudonym(con, key)
            try:
                copied = publish_marts(con, target, select=analyst_select(sources_keyed_by_identifier(settings.sources())),
                                       skip=RESTRICTED_ONLY, escape=True, params={"as_of": settings.reference_date},
                                       merge=_merge(con, settings), fingerprint=pseudonym_fingerprint(key),
                                       views=_views(settings), moved=age_bands_moved)
            finally:
                con.remove_function(PSEUDONYM_FUNCTION)
    # Readable by the analysts (the run's own files are owner-only), whoever launched the run: a run of the UI, the
    # schedule or the sensor left it as its umask made it until 2026-11-29.
    share(target, GROUP_MODE if settings.analyst_identifiers else SHARED_MODE)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)),
                                          "direct_identifiers": settings.analyst_identifiers,
                                          "currency": settings.currency,  # of every amount and total it holds
                                          **_holds(context), **_written(copied)})


@COPIES_STEP.asset(RESTRICTED, deps=COPIED, group_name="marts")
def restricted_marts(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                     settings: RunSettings) -> dg.MaterializeResult:
    """The marts with the full golden record for customer service (restricted.duckdb), swapped in atomically."""
    target = settings.restricted
    with duckdb.get_connection() as con:
        copied = publish_marts(con, target, merge=_merge(con, settings), views=_views(settings))
    restrict(target)  # every name, e-mail, phone, address: owner-only, also when the run comes from the UI
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(target)), **_holds(context),
                                          **_written(copied)})


@dg.multi_asset(specs=COPIES_STEP.specs(), can_subset=True, pool=WAREHOUSE_POOL, name=COPIES_STEP.name)
@values_left_out
def copies(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: RunSettings):
    """The analysts' and customer service's copies of the marts, each swapped in atomically."""
    yield from COPIES_STEP.materialize(context, duckdb=duckdb, settings=settings)


def _written(copied: Copied) -> dict:
    """Rows per table, and which tables took only the changed customers' rows (names and counts only)."""
    return {**{f"rows_{t}": n for t, n in copied.rows.items()}, "tables_merged": dg.MetadataValue.json(copied.merged)}


def _holds(context: dg.AssetExecutionContext) -> dict:
    """Which drop day the copy holds (the run's partition), and from which run: after a blocked run, the operator
    reads here what analysts and customer service still see."""
    return {"drop_day": context.run.tags.get("dagster/partition", ""), "published_by_run": context.run.run_id}
