"""marts.customer_360: one row per published customer, the golden record and what marketing acts on.

A customer's row reads their own golden rows, with three exceptions: the household id (households are connected
components of the whole base), the R, F and M scores (percent ranks among every purchaser) and the reference date
(recency, windows). On an incremental day only the changed customers and those whose household id, segment columns
or post re-permission moved are computed (customer_360_scope).

marts.customer_360 is a view: the rows are stored in marts.customer_360_rows without the columns that move with the
reference date for nearly every customer every day (DERIVED: recency, days since the last purchase, of every
purchaser), and the view derives those from the stored dates and the run's reference date. A night whose date moved
then rewrites only the customers whose stored columns moved (a window's edge crossed, a segment changed) instead of
three purchasers in four; analysts query the same columns under the same names, in the warehouse and both copies
(pipeline/publish.py)."""

from __future__ import annotations

import duckdb

from pipeline.config import SEEDS_DIR
from pipeline.golden.changes import CHANGED, CHANGED_ROWS, committed_as_of, is_full
from pipeline.marts.segmentation import NO_TIER, segmentation_sql
from pipeline.sql import exact_sum, literal, named, quote
from pipeline.warehouse import table_exists, transaction

_REGIONS = literal(SEEDS_DIR / "regions.csv")
# What marts.customer_360 shows for a customer without activity (no segments row).
SEGMENT_DEFAULTS = {"rfm_segment": "'prospect'", "loyalty_tier": f"'{NO_TIER}'"}
# The view analysts query and the table holding its rows.
VIEW, ROWS = "marts.customer_360", "marts.customer_360_rows"
# The view's columns derived when read, from a stored column and the reference date ({as_of}), each as
# segmentation_sql computes it, and its type: ROWS keeps the column, NULL, so that the view (and a copy's: its
# SELECT lists, pipeline/publish.py) shows it in its place.
DERIVED = {"recency_days": ("date_diff('day', last_purchase_at, {as_of})", "BIGINT")}


def stored_sql(relation: str) -> str:
    """The rows of `relation` (customer_360_sql's columns) as ROWS stores them: the DERIVED columns NULL."""
    return f"SELECT * REPLACE ({', '.join(f'NULL::{kind} AS {quote(c)}' for c, (_, kind) in DERIVED.items())}) FROM {relation}"


def view_select(as_of: object) -> str:
    """The view's query over ROWS as of the date `as_of` (a literal: a view takes no parameter). Unqualified by
    database: the view of a copy reads the copy's rows."""
    day = f"{literal(str(as_of))}::DATE"
    derived = ", ".join(f"{sql.format(as_of=day)} AS {quote(c)}" for c, (sql, _) in DERIVED.items())
    return f"SELECT * REPLACE ({derived}) FROM {ROWS}"


def show_customer_360(as_of: object) -> str:
    """The statement that (re)creates VIEW as of `as_of` (run in the transaction that merges ROWS: the rows and the
    date they are shown as of change together)."""
    return f"CREATE OR REPLACE VIEW {VIEW} AS {view_select(as_of)}"


def keep_older_rows(con: duckdb.DuckDBPyConnection) -> None:
    """An earlier version kept marts.customer_360 as a table: it becomes ROWS, its DERIVED columns emptied, so that the
    run merges into it as into its own rows (the customers who left it are found and recorded for the copies); the
    rows it recorded as changed under its old name go (no copy merges that table again)."""
    if table_exists(con, VIEW, views=False) and not table_exists(con, ROWS):
        with transaction(con):
            con.execute(f"ALTER TABLE {VIEW} RENAME TO {quote(ROWS.split('.')[1])}")
            con.execute(f"UPDATE {ROWS} SET {', '.join(f'{quote(c)} = NULL' for c in DERIVED)}")
            if table_exists(con, CHANGED_ROWS):
                con.execute(f"DELETE FROM {CHANGED_ROWS} WHERE table_name = ?", [VIEW.split(".")[1]])


def customer_360_sql(repermission_days: int = 1095, segments: str | None = None) -> str:
    """The rows of the customers in_scope (golden/changes.py; every input filtered on it before the joins).
    Consent and contactability per channel are those of the surviving contact point (e-mail, mobile,
    mobile or else landline for calls): a point is contactable only through its own opt-in. Post consent has
    no point and stays per customer. `segments`: a table of every customer's segmentation_sql() already built."""
    return f"""
    WITH points AS (SELECT * FROM golden.contact_points WHERE in_scope(customer_id)),
    activity AS (SELECT * FROM golden.customer_activity WHERE in_scope(customer_id)),
    post AS (
        SELECT customer_id, state AS consent_post,
               state = 'opt_in' AND greatest(c.state_since, a.last_activity_at)
                   < $as_of::DATE - INTERVAL {int(repermission_days)} DAY AS needs_repermission_post
        FROM golden.consent_state c LEFT JOIN activity a USING (customer_id)
        WHERE channel = 'post' AND in_scope(customer_id)
    ),
    segments AS (SELECT * FROM {segments or f"({segmentation_sql()})"} WHERE in_scope(customer_id)),
    regions AS (SELECT * FROM read_csv({_REGIONS}, header = true, all_varchar = true)),
    -- each customer's region: that of the longest prefix of its postcode the seed lists for its country (départements
    -- for France; an operator adds rows for other countries). Equi-joined on each prefix length the seed holds.
    region_of AS (
        SELECT p.customer_id, arg_max(r.region, length(r.postcode_prefix)) AS region
        FROM golden.customer_profile p
        CROSS JOIN (SELECT DISTINCT length(postcode_prefix) AS n FROM regions) lengths
        JOIN regions r ON r.country = p.country AND r.postcode_prefix = substr(p.postcode, 1, lengths.n)
        WHERE in_scope(p.customer_id)
        GROUP BY p.customer_id
    )
    SELECT
        p.customer_id,
        h.household_id,
        p.* EXCLUDE (customer_id, last_name_norm, street_norm),
        coalesce(p.mobile, p.landline)                                   AS phone,
        -- validity: survivorship only keeps values that passed validation (see staging.field_issues)
        p.email IS NOT NULL                                              AS email_valid,
        p.mobile IS NOT NULL                                             AS mobile_valid,
        coalesce(p.mobile, p.landline) IS NOT NULL                       AS phone_valid,
        p.street IS NOT NULL AND p.postcode IS NOT NULL                  AS address_valid,
        coalesce(e.consent_email, 'unknown')                             AS consent_email,
        coalesce(m.consent_sms, 'unknown')                               AS consent_sms,
        coalesce(t.consent_phone, 'unknown')                             AS consent_phone,
        coalesce(post.consent_post, 'unknown')                           AS consent_post,
        -- contactable = the surviving point is valid AND that very point has a current opt-in (and, an e-mail, no
        -- live record says it bounced)
        coalesce(e.valid AND e.consent_email = 'opt_in' AND e.undeliverable_since IS NULL, false) AS contactable_email,
        coalesce(m.valid AND m.consent_sms = 'opt_in', false)            AS contactable_sms,
        coalesce(t.valid AND t.consent_phone = 'opt_in', false)          AS contactable_phone,
        p.street IS NOT NULL AND p.postcode IS NOT NULL AND coalesce(post.consent_post = 'opt_in', false) AS contactable_post,
        coalesce(e.consent_email = 'opt_in' AND e.needs_repermission, false) AS needs_repermission_email,
        coalesce(m.consent_sms = 'opt_in' AND m.needs_repermission, false)   AS needs_repermission_sms,
        coalesce(t.consent_phone = 'opt_in' AND t.needs_repermission, false) AS needs_repermission_phone,
        coalesce(post.needs_repermission_post, false)                    AS needs_repermission_post,
        region_of.region,
        a.* EXCLUDE (customer_id),
        s.* EXCLUDE (customer_id, {", ".join(SEGMENT_DEFAULTS)}),
        {", ".join(f"coalesce(s.{c}, {d}) AS {c}" for c, d in SEGMENT_DEFAULTS.items())}
    FROM (SELECT * FROM golden.customer_profile WHERE in_scope(customer_id)) p
    LEFT JOIN (SELECT * FROM golden.households WHERE in_scope(customer_id)) h USING (customer_id)
    LEFT JOIN activity a USING (customer_id)
    LEFT JOIN segments s USING (customer_id)
    LEFT JOIN points e ON e.customer_id = p.customer_id AND e.kind = 'email' AND list_contains(e.variants, p.email)
    LEFT JOIN points m ON m.customer_id = p.customer_id AND m.kind = 'phone' AND m.contact_point_key = p.mobile
    LEFT JOIN points t ON t.customer_id = p.customer_id AND t.kind = 'phone'
                      AND t.contact_point_key = coalesce(p.mobile, p.landline)
    LEFT JOIN post USING (customer_id)
    LEFT JOIN region_of USING (customer_id)
    WHERE p.customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)
    ORDER BY p.customer_id
    """


# Built by customer_360_scope: the customers to compute, and every customer's segments (read by customer_360_sql).
SCOPE, SEGMENTS = "_customer_360_scope", "_customer_360_segments"


def customer_360_scope(con: duckdb.DuckDBPyConnection, as_of: str, repermission_days: int = 1095) -> str | None:
    """The table (SCOPE) of the customers whose stored row (ROWS) can differ from the table's: the run's changed
    customers (golden/changes.py: with those holding a dated value the move of the reference date carried across a
    window's edge), those whose household id changed, those whose segment columns changed (a new purchaser moves
    every purchaser's percent rank, a date can cross a churn threshold) and, when the date moved, those whose post
    re-permission date it crossed; with SEGMENTS. None when every customer must be computed (a full run, or a table
    not as the last committed run left it)."""
    table = ROWS
    before = None if is_full(con) else committed_as_of(con, table)
    if before is None:
        return None
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SEGMENTS} AS {segmentation_sql()}", {"as_of": as_of})
    shown = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    moved = " OR ".join(f"{_shown(c)} IS DISTINCT FROM c.{quote(c)}"
                        for c, *_ in con.execute(f"DESCRIBE {SEGMENTS}").fetchall()
                        if c != "customer_id" and c in shown and c not in DERIVED)  # one the table lacks: other
    # columns, rebuilt whole; a DERIVED one: the view's
    # a re-permission date the move of the reference date crossed (golden's windows know the date, not greatest())
    post = "" if before == str(as_of) else f"""
        UNION
        SELECT customer_id FROM golden.consent_state c LEFT JOIN golden.customer_activity a USING (customer_id)
        WHERE channel = 'post' AND greatest(c.state_since, a.last_activity_at)
            BETWEEN least($before::DATE, $as_of::DATE) - INTERVAL {int(repermission_days)} DAY
                AND greatest($before::DATE, $as_of::DATE) - INTERVAL {int(repermission_days)} DAY"""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {SCOPE} AS
        SELECT customer_id FROM {CHANGED}
        UNION
        SELECT c.customer_id FROM {table} c LEFT JOIN golden.households h USING (customer_id)
        WHERE c.household_id IS DISTINCT FROM h.household_id
        UNION
        SELECT customer_id FROM {SEGMENTS} s JOIN {table} c USING (customer_id) WHERE {moved}{post}""",
                named(post, before=before, as_of=str(as_of)))
    return SCOPE


def _shown(column: str) -> str:
    """A segments column as marts.customer_360 shows it."""
    return f"coalesce(s.{column}, {SEGMENT_DEFAULTS[column]})" if column in SEGMENT_DEFAULTS else f"s.{quote(column)}"


# The proof of each event: the point it was given for, the source record, its time and collection point.
CONSENT_HISTORY_SQL = """
SELECT customer_id, channel, action, occurred_at, contact_point_kind, contact_point,
       source, source_record_id, collection_point
FROM golden.consent_events
WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers) AND in_scope(customer_id)
ORDER BY customer_id, channel, occurred_at, source_record_id
"""

# Restricted copy only (customer service): every e-mail and phone of each published customer, with whether
# it is the surviving one.
CONTACT_POINTS_SQL = """
SELECT cp.*,
       coalesce(CASE WHEN cp.kind = 'email' THEN list_contains(cp.variants, c.email)
                     ELSE cp.contact_point_key IN (c.mobile, c.landline) END, false) AS is_surviving
FROM golden.contact_points cp
JOIN marts.customer_360 c USING (customer_id)
WHERE in_scope(cp.customer_id)
ORDER BY customer_id, kind, contact_point_key
"""

SEGMENT_SUMMARY_SQL = f"""
SELECT rfm_segment, loyalty_tier, coalesce(country, 'unknown') AS country, coalesce(region, 'unknown') AS region,
       coalesce(preferred_channel, 'none')        AS channel,
       count(*)                                   AS customers,
       {exact_sum('coalesce(monetary, 0)')} AS revenue,
       {exact_sum('coalesce(monetary, 0)')} / nullif(sum(coalesce(frequency, 0)), 0) AS average_basket,
       avg(contactable_email::INT)                AS share_contactable_email,
       avg(contactable_sms::INT)                  AS share_contactable_sms,
       avg(contactable_phone::INT)                AS share_contactable_phone,
       avg(contactable_post::INT)                 AS share_contactable_post
FROM marts.customer_360
GROUP BY ALL
ORDER BY ALL
"""
