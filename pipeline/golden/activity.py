"""Relationship history per customer across channels: purchases, visits, service contacts, reviews, sessions.

A purchase is a web order (not cancelled) or a store receipt; revenue leaves out cancelled and returned
orders; the channel is the source's (online / offline)."""

from pipeline.currency import PURCHASE, REVENUE, converted_sql
from pipeline.sql import exact_sum

# The rolling windows (days before the reference date) of sessions_90d, revenue_12m, reviews_12m: a customer with
# an activity near their edge changes when the date moves (changes.py).
RECENT_DAYS, YEAR_DAYS = 90, 365
ROLLING_WINDOW_DAYS = (RECENT_DAYS, YEAR_DAYS)


def activity_summary_sql(foreign: bool = False) -> str:
    """One row per customer in_scope (changes.py) with any activity; the parameter `$as_of` (a date) anchors the
    rolling windows, `$currency` is the house currency every revenue is in (currency.py; `foreign`: whether an
    amount needs converting)."""
    return f"""
    WITH a AS (
        SELECT *,
               {PURCHASE} AND coalesce(status, '') <> 'cancelled'                    AS is_purchase,
               {REVENUE}                                                                AS is_revenue,
               occurred_at >= $as_of::DATE - INTERVAL {RECENT_DAYS} DAY                       AS in_90d,
               occurred_at >= $as_of::DATE - INTERVAL {YEAR_DAYS} DAY                      AS in_12m
        -- the customers in_scope only (golden/sessions.py), amounts in the house currency
        FROM ({converted_sql("customer_activities_stitched", foreign)})
    ),
    last_review AS (
        SELECT customer_id, rating AS last_review_rating FROM a WHERE activity_type = 'review'
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at DESC, source_record_id DESC) = 1
    ),
    summary AS (
        SELECT
            customer_id,
            min(occurred_at) FILTER (WHERE is_purchase)                               AS first_purchase_at,
            max(occurred_at) FILTER (WHERE is_purchase)                               AS last_purchase_at,
            count(*) FILTER (WHERE is_purchase AND channel = 'online')                AS orders_online,
            count(*) FILTER (WHERE is_purchase AND channel = 'offline')               AS orders_offline,
            coalesce({exact_sum('amount_converted', "is_revenue AND channel = 'online'")}, 0) AS revenue_online,
            coalesce({exact_sum('amount_converted', "is_revenue AND channel = 'offline'")}, 0) AS revenue_offline,
            coalesce({exact_sum('amount_converted', 'is_revenue AND in_12m')}, 0)             AS revenue_12m,
            count(DISTINCT CAST(occurred_at AS DATE)) FILTER (WHERE activity_type = 'store_purchase') AS store_visits,
            max(occurred_at) FILTER (WHERE activity_type = 'ticket')                  AS last_service_contact_at,
            count(*) FILTER (WHERE activity_type = 'ticket' AND category = 'complaint' AND status = 'open')
                                                                                      AS open_complaints,
            count(*) FILTER (WHERE activity_type = 'session' AND in_90d)              AS sessions_90d,
            count(*) FILTER (WHERE activity_type = 'review' AND in_12m)               AS reviews_12m,
            -- loyalty programme status: cards held, their points balance, the store of the latest card
            count(DISTINCT source_record_id) FILTER (WHERE activity_type = 'loyalty_enrolment') AS loyalty_cards,
            {exact_sum('amount', "activity_type = 'loyalty_enrolment'")}            AS loyalty_points,  -- no money
            -- between cards enrolled at the same instant the greatest store id: the same on every rerun
            arg_max(store_id, (occurred_at, store_id))
                FILTER (WHERE activity_type = 'loyalty_enrolment' AND occurred_at IS NOT NULL)  AS home_store,
            max(occurred_at)                                                          AS last_activity_at
        FROM a
        GROUP BY customer_id
    )
    SELECT summary.*,
           last_review.last_review_rating,
           coalesce(last_review.last_review_rating <= 2, false)                       AS negative_review,
           CASE WHEN orders_online + orders_offline = 0 THEN NULL
                WHEN revenue_online >= revenue_offline THEN 'online' ELSE 'offline' END AS preferred_channel
    FROM summary LEFT JOIN last_review USING (customer_id)
    """
