"""Which customers a run changed: the one owner of the set the golden tables and the per-customer marts recompute.

A daily run brings a few new records and activities; the golden record of every other customer stays what it
was. Each customer's inputs are fingerprinted (a hash of every staged person record of theirs, every activity
counted for them, sessions as attributed, whether they hold an erased identifier): a customer is changed when
the fingerprint differs from the one the golden and marts tables were last brought up to date with, when they
appeared or their id was retired, when the reference date moved across one of their dated values (a rolling
window, retention, re-permission), or when a steward override names them (overrides are re-applied each run so
their status and effect are recorded as a full run records them).

The same SQL builds a table in full and for the changed customers: its queries filter on the macro
`in_scope(customer_id)`, true for everyone in a full build, `customer_id IN golden.changed_customers`
otherwise; the rows of those customers are then deleted and inserted in one transaction (merge_customers).

Full mode (every customer in the set) on a first run, on `full` (`--full-refresh`), and when the code or the
settings that shape golden and marts rows changed (`code_version`). The fingerprints are committed by
`commit_fingerprints` once every consumer has merged (at the end of the run, in the purge): a run that stops
half-way leaves them, and its set is carried into the next run's.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.config import SEEDS_DIR
from pipeline.golden import purge
from pipeline.golden.privacy import ERASED_CUSTOMERS_SQL
from pipeline.golden.sessions import CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL
from pipeline.identity import placeholders
from pipeline.sql import literal, named, quote, scalar
from pipeline.warehouse import table_exists, transaction

CHANGED = purge.CHANGED
FINGERPRINTS = "golden.customer_fingerprints"  # committed: what the golden and marts tables hold
PENDING = "golden.customer_fingerprints_next"  # this run's, committed at its end
# (previous, current): a new id each commit, so a published copy can say which committed marts it holds and a
# run's changed customers be merged into a copy of the marts they lead from (pipeline/publish.py).
GENERATION = "golden.marts_generation"
_PACKAGE = Path(__file__).resolve().parents[1]
# What shapes a golden or per-customer marts row besides its inputs: a change of any of these rebuilds in full.
_SHAPING = [*sorted((_PACKAGE / "golden").glob("*.py")), *sorted((_PACKAGE / "marts").glob("*.py")),
            *sorted((_PACKAGE / "queries").glob("*.sql")), SEEDS_DIR / "survivorship.yaml",
            SEEDS_DIR / "loyalty_tiers.csv", SEEDS_DIR / "regions.csv"]


def code_version(*settings: object) -> str:
    """Hash of the golden and marts code, their seeds and the given settings (retention, re-permission days)."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in _SHAPING:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def scope(con: duckdb.DuckDBPyConnection, full: bool, among: str | None = None) -> None:
    """Define `in_scope(customer_id)` on this connection: everyone, or the run's changed customers; with `among` (a
    relation of customer_id), only those of them it holds."""
    body = "true" if full else f"c IN (SELECT customer_id FROM {CHANGED})"
    if among:
        body += f" AND c IN (SELECT customer_id FROM {among})"
    con.execute(f"CREATE OR REPLACE TEMP MACRO in_scope(c) AS {body}")


def is_full(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this run rebuilds every customer (also when no set was computed: a layer run alone, a test)."""
    if not table_exists(con, CHANGED):
        return True
    return bool(scalar(con, f"SELECT bool_or(why = 'full') FROM {CHANGED}"))


def merge_customers(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, *views: str,
                    adjust: Callable[[duckdb.DuckDBPyConnection, str], object] | None = None,
                    as_purged: bool = False, spared: str | None = None, **params):
    """Bring `table` (keyed by customer_id) up to date from `select_sql` (its `$name` parameters bound from
    `params`), which filters on in_scope(): rebuilt whole in a full run (or when missing), else the changed
    customers' rows deleted and recomputed, in one transaction (readers see the table before or after, never
    half-merged). `views` are created first; `adjust(con, table)` edits the new rows before they are merged
    (stewards' overrides) and its result is returned. `as_purged`: the excluded customers' rows are built as the
    purge leaves them, but those of `spared` (purge.as_purged)."""
    full = is_full(con) or not table_exists(con, table)
    scope(con, full)
    for view in views:
        con.execute(view)
    if as_purged:
        select_sql = purge.as_purged(con, select_sql, named(select_sql, **params), spared)
    schema, name = table.split(".")
    target = f"{schema}.{quote(name)}"
    rows = target if full else "_merged_rows"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    with transaction(con):
        kind = "TABLE" if full else "TEMP TABLE"
        con.execute(f"CREATE OR REPLACE {kind} {rows} AS {select_sql}", named(select_sql, **params))
        adjusted = adjust(con, rows) if adjust else None
        if not full:
            _add_new_columns(con, target, rows)
            con.execute(f"DELETE FROM {target} WHERE customer_id IN (SELECT customer_id FROM {CHANGED})")
            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {rows}")
            con.execute(f"DROP TABLE {rows}")
    return adjusted


def _add_new_columns(con: duckdb.DuckDBPyConnection, target: str, rows: str) -> None:
    """Give `target` the columns `rows` hold and it lacks (a column a later version added: the state, in the
    seventeenth session), empty for the customers this run does not recompute."""
    held = {d[0].lower() for d in con.execute(f"SELECT * FROM {target} LIMIT 0").description}
    for name, kind in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {rows})").fetchall():
        if name.lower() not in held:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {kind}")


# One fingerprint per customer in_scope over everything the golden tables read of them. The person records are
# hashed whole as staged; activities as golden.customer_activity counts them (with stitched sessions). Reads the
# view customer_activities_stitched and the table scoped_xref it creates (golden/sessions.py).
FINGERPRINTS_SQL = f"""
WITH parts AS (
    SELECT x.customer_id, hash(p) AS h
    FROM scoped_xref x JOIN staging.person_records p USING (source, source_record_id)
    UNION ALL  -- their further e-mails and phones (a mapping that gains more_contacts restages no person record)
    SELECT x.customer_id, hash(c) FROM scoped_xref x JOIN staging.person_contacts c USING (source, source_record_id)
    UNION ALL
    SELECT customer_id, hash(a) FROM customer_activities_stitched a
    UNION ALL
    SELECT customer_id, hash('erased') FROM ({ERASED_CUSTOMERS_SQL})
)
SELECT customer_id, sum(h::HUGEINT) AS fingerprint FROM parts GROUP BY customer_id
"""

# Customers holding a dated value the move of the reference date from $before to $as_of carried across the edge
# of a window of `days` (rolling windows, retention, re-permission). Only asked when the date moved. One BETWEEN of
# constant bounds per window, so DuckDB filters each dated column as it scans it and joins the few rows left to their
# customer (a cross join with the windows joined every activity and record first: 0.6 against 0.15 CPU s at 1M).
def _dated_sql(windows: tuple[int, ...]) -> str:
    edges = "\n   OR ".join(f"t BETWEEN least($before::DATE, $as_of::DATE) - INTERVAL {int(days)} DAY "
                           f"AND greatest($before::DATE, $as_of::DATE) - INTERVAL {int(days)} DAY"
                           for days in sorted(set(windows)))
    return f"""
WITH dated AS (
    SELECT customer_id, occurred_at AS t FROM customer_activities_stitched
    UNION ALL
    SELECT x.customer_id, p.record_updated_at FROM marts.customer_xref x JOIN staging.person_records p USING (source, source_record_id)
    UNION ALL
    SELECT x.customer_id, p.record_delivered_at FROM marts.customer_xref x JOIN staging.person_records p USING (source, source_record_id)
)
SELECT DISTINCT customer_id FROM dated
WHERE {edges}
"""


@dataclass(frozen=True)
class ChangedCustomers:
    mode: str       # full | incremental
    reason: str
    counts: dict    # customers per reason


def changed_customers(con: duckdb.DuckDBPyConnection, as_of: str, version: str, windows: tuple[int, ...],
                      full: bool = False) -> ChangedCustomers:
    """Build golden.changed_customers (customer_id, why) and this run's fingerprints (committed at the end of
    the run)."""
    scope(con, full=True)
    con.execute(CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fingerprints AS {FINGERPRINTS_SQL}")
    previous = table_exists(con, FINGERPRINTS) and scalar(con, f"SELECT any_value(as_of::VARCHAR || '|' || version) FROM {FINGERPRINTS}")
    reason = ("full refresh" if full else "no earlier golden tables" if not previous
              else "golden or marts code or settings changed" if previous.split("|")[1] != version else "")
    unfinished = not reason and table_exists(con, PENDING) and table_exists(con, CHANGED)
    with transaction(con):
        if reason:
            known = f"UNION SELECT customer_id FROM {FINGERPRINTS}" if previous else ""
            con.execute(f"""CREATE OR REPLACE TABLE {CHANGED} AS
                SELECT DISTINCT customer_id, 'full' AS why FROM (SELECT customer_id FROM _fingerprints {known})""")
        else:
            before = previous.split("|")[0]
            dated = (f"UNION ALL SELECT customer_id, 'date' FROM ({_dated_sql(windows)})" if before != str(as_of)
                     else "")
            carried = f"UNION ALL SELECT customer_id, 'unfinished run' FROM {CHANGED}" if unfinished else ""
            # only on a run that listed a value (rare): its holders are looked up in the whole base
            moved = (f"""UNION ALL SELECT DISTINCT x.customer_id, 'placeholder' FROM marts.customer_xref x
                         SEMI JOIN ({placeholders.moved_holders_sql(table_exists(con, 'staging.person_contacts'))}) h
                         USING (source, source_record_id)"""
                     if table_exists(con, placeholders.MOVES) and scalar(con, f"SELECT count(*) FROM {placeholders.MOVES}")
                     else "")
            con.execute(f"""CREATE OR REPLACE TEMP TABLE _changed AS
                SELECT coalesce(n.customer_id, o.customer_id) AS customer_id,
                       CASE WHEN o.customer_id IS NULL THEN 'new' WHEN n.customer_id IS NULL THEN 'gone'
                            ELSE 'inputs' END AS why
                FROM _fingerprints n FULL JOIN {FINGERPRINTS} o USING (customer_id)
                WHERE n.fingerprint IS DISTINCT FROM o.fingerprint
                {dated}
                UNION ALL SELECT DISTINCT customer_id, 'override' FROM identity.steward_decisions
                    WHERE decision = 'override' AND customer_id IS NOT NULL
                {carried}
                {moved}""", named(dated, before=before, as_of=as_of))
            con.execute(f"""CREATE OR REPLACE TABLE {CHANGED} AS
                SELECT customer_id, min(why) AS why FROM _changed GROUP BY customer_id""")
        con.execute(f"""CREATE OR REPLACE TABLE {PENDING} AS
            SELECT customer_id, fingerprint, $as_of::DATE AS as_of, $version AS version FROM _fingerprints""",
                    {"as_of": as_of, "version": version})
    counts = dict(con.execute(f"SELECT why, count(*) FROM {CHANGED} GROUP BY 1 ORDER BY 1").fetchall())
    return ChangedCustomers("full" if reason else "incremental", reason or "changed customers only", counts)


def commit_fingerprints(con: duckdb.DuckDBPyConnection) -> bool:
    """Every consumer merged this run's changed customers: its fingerprints become the basis of the next run's set
    (inside the caller's transaction). The changed customers the purge has just emptied are fingerprinted again,
    as purged, or the next run would take the purge for a change and rebuild them. False when there was nothing to
    commit."""
    if not table_exists(con, PENDING):
        return False
    scope(con, full=False, among="golden.excluded_customers")  # fingerprinted: the changed customers purged
    con.execute(CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL)
    con.execute(f"""UPDATE {PENDING} p SET fingerprint = f.fingerprint FROM ({FINGERPRINTS_SQL}) f
        WHERE f.customer_id = p.customer_id""")  # f holds the scope's customers only: the changed ones purged
    con.execute(f"DROP TABLE IF EXISTS {FINGERPRINTS}")  # renamed, not copied: a copy rewrote every customer's row
    con.execute(f"ALTER TABLE {PENDING} RENAME TO {FINGERPRINTS.split('.')[1]}")
    current = scalar(con, f"SELECT current FROM {GENERATION}") if table_exists(con, GENERATION) else None
    con.execute(f"CREATE OR REPLACE TABLE {GENERATION} AS SELECT ?::VARCHAR AS previous, ?::VARCHAR AS current",
                [current, uuid.uuid4().hex])
    return True


def merge_basis(con: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None]:
    """(previous, current): the committed marts are generation `current` (None: not committed, a run is under way)
    and golden.changed_customers is what changed since the committed marts `previous` (None: not known, or a full
    run)."""
    if not table_exists(con, GENERATION) or table_exists(con, PENDING):
        return None, None
    previous, current = con.execute(f"SELECT previous, current FROM {GENERATION}").fetchone()
    return (None if is_full(con) else previous), current


# (table_name, customer_id, base): the customers whose row of a mart computed over the whole base changed since the
# committed generation `base` (marts.customer_360: its RFM scores rank every purchaser, so a customer's row can change
# without their inputs changing). A copy of generation `base` merges these customers' rows alone (pipeline/publish.py).
CHANGED_ROWS = "golden.changed_rows"


def same_columns(con: duckdb.DuckDBPyConnection, table: str, other: str) -> bool:
    """Whether two relations (tables or queries in parentheses) have the same column names and types, in order."""
    columns = "SELECT column_name, column_type FROM (DESCRIBE {})"
    return con.execute(columns.format(table)).fetchall() == con.execute(columns.format(other)).fetchall()


def committed_as_of(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The reference date `table` (a merged mart, schema marts) was last brought up to date as of, when it is as the
    last committed run left it; None when that is not known (no commit yet, or a later run merged rows into it
    without committing)."""
    if not (table_exists(con, table) and table_exists(con, FINGERPRINTS) and table_exists(con, GENERATION)):
        return None
    base = scalar(con, f"SELECT current FROM {GENERATION}")
    if table_exists(con, CHANGED_ROWS) and scalar(
            con, f"SELECT count(*) FROM {CHANGED_ROWS} WHERE table_name = ? AND base = ?", [table.split(".")[1], base]):
        return None
    return scalar(con, f"SELECT any_value(as_of)::VARCHAR FROM {FINGERPRINTS}")


def replace_changed_rows(con: duckdb.DuckDBPyConnection, table: str, candidate: str,
                         among: str | None = None, also: Sequence[str] = ()) -> int | None:
    """Bring `table` (rows keyed by customer_id) to `candidate` (a table of the same query, computed for every
    customer, or with `among`, a relation of customer_id, for those customers alone: every other customer's rows
    stay), in one transaction: only the customers whose rows differ (or who appeared or left) have their rows
    deleted and inserted, and are recorded in CHANGED_ROWS as changed since the committed generation. Rows recorded
    against an older generation are dropped first (its run committed and its copies were written); those of a run
    that stopped before committing stay, so the next copy merges them too. Written whole when the table is missing
    or its columns differ (every customer then recorded, returns None; never with `among`); else returns the
    customers merged. `also`: statements run in the same transaction (a view over the table)."""
    schema, name = table.split(".")
    base = scalar(con, f"SELECT current FROM {GENERATION}") if table_exists(con, GENERATION) else None
    exists = table_exists(con, table)
    whole = not exists or not same_columns(con, table, candidate)
    if whole and among:
        raise ValueError(f"{table}: a candidate of some customers cannot replace a table missing or of other columns")
    if whole:  # every customer of the candidate, and of the table it replaces
        differing = f"SELECT customer_id FROM {candidate}" + (f" UNION SELECT customer_id FROM {table}" if exists else "")
    else:  # each customer's rows hashed as the fingerprints are (a row held twice counts twice): ~15x cheaper
        # than EXCEPT ALL, ~3x cheaper than writing the table whole
        rows = "SELECT customer_id, sum(hash(r)::HUGEINT) AS h FROM {} r {} GROUP BY customer_id"
        compared = f"WHERE customer_id IN (SELECT customer_id FROM {among})" if among else ""
        differing = f"""SELECT customer_id FROM ({rows.format(candidate, "")}) n
                        FULL JOIN ({rows.format(table, compared)}) o
                        USING (customer_id) WHERE n.h IS DISTINCT FROM o.h"""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {CHANGED_ROWS.split('.')[0]}")
    with transaction(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {CHANGED_ROWS} (table_name VARCHAR, customer_id VARCHAR, base VARCHAR)")
        con.execute(f"DELETE FROM {CHANGED_ROWS} WHERE table_name = ? AND base IS DISTINCT FROM ?", [name, base])
        con.execute(f"CREATE OR REPLACE TEMP TABLE _differing AS SELECT DISTINCT customer_id FROM ({differing})")
        if whole:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {candidate}")
        else:
            con.execute(f"DELETE FROM {table} WHERE customer_id IN (SELECT customer_id FROM _differing)")
            con.execute(f"INSERT INTO {table} SELECT * FROM {candidate} WHERE customer_id IN "
                        "(SELECT customer_id FROM _differing)")
        con.execute(f"INSERT INTO {CHANGED_ROWS} SELECT ?, customer_id, ? FROM _differing", [name, base])
        for statement in also:
            con.execute(statement)
        merged = scalar(con, "SELECT count(*) FROM _differing")
        con.execute("DROP TABLE _differing")
    return None if whole else merged


def changed_rows(table: str, base: str) -> str:
    """The customers of `table` (its name in schema marts) whose rows changed since generation `base`, as a relation
    of customer_id (for MergeBasis.own_changes)."""
    return (f"(SELECT DISTINCT customer_id FROM {CHANGED_ROWS} WHERE table_name = {literal(table)} "
            f"AND base = {literal(base)})")
