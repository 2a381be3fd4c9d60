"""marts.customer_360: one row per published customer, the golden record and what marketing acts on."""

from pipeline.config import SEEDS_DIR
from pipeline.marts.segmentation import segmentation_sql
from pipeline.sql import literal

_REGIONS = literal(SEEDS_DIR / "regions.csv")


def customer_360_sql(repermission_days: int = 1095) -> str:
    """Consent and contactability per channel are those of the surviving contact point (e-mail, mobile,
    mobile or else landline for calls): a point is contactable only through its own opt-in. Post consent has
    no point and stays per customer."""
    return f"""
    WITH points AS (SELECT * FROM golden.contact_points),
    post AS (
        SELECT customer_id, state AS consent_post,
               state = 'opt_in' AND greatest(c.state_since, a.last_activity_at)
                   < $as_of::DATE - INTERVAL {int(repermission_days)} DAY AS needs_repermission_post
        FROM golden.consent_state c LEFT JOIN golden.customer_activity a USING (customer_id)
        WHERE channel = 'post'
    ),
    segments AS ({segmentation_sql()}),
    regions AS (SELECT * FROM read_csv({_REGIONS}, header = true, all_varchar = true))
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
        -- contactable = the surviving point is valid AND that very point has a current opt-in
        coalesce(e.valid AND e.consent_email = 'opt_in', false)          AS contactable_email,
        coalesce(m.valid AND m.consent_sms = 'opt_in', false)            AS contactable_sms,
        coalesce(t.valid AND t.consent_phone = 'opt_in', false)          AS contactable_phone,
        p.street IS NOT NULL AND p.postcode IS NOT NULL AND coalesce(post.consent_post = 'opt_in', false) AS contactable_post,
        coalesce(e.consent_email = 'opt_in' AND e.needs_repermission, false) AS needs_repermission_email,
        coalesce(m.consent_sms = 'opt_in' AND m.needs_repermission, false)   AS needs_repermission_sms,
        coalesce(t.consent_phone = 'opt_in' AND t.needs_repermission, false) AS needs_repermission_phone,
        coalesce(post.needs_repermission_post, false)                    AS needs_repermission_post,
        regions.region,
        a.* EXCLUDE (customer_id),
        s.* EXCLUDE (customer_id, rfm_segment, loyalty_tier),
        coalesce(s.rfm_segment, 'prospect')                              AS rfm_segment,
        coalesce(s.loyalty_tier, 'none')                                 AS loyalty_tier
    FROM golden.customer_profile p
    LEFT JOIN golden.households h USING (customer_id)
    LEFT JOIN golden.customer_activity a USING (customer_id)
    LEFT JOIN segments s USING (customer_id)
    LEFT JOIN points e ON e.customer_id = p.customer_id AND e.kind = 'email' AND list_contains(e.variants, p.email)
    LEFT JOIN points m ON m.customer_id = p.customer_id AND m.kind = 'phone' AND m.contact_point_key = p.mobile
    LEFT JOIN points t ON t.customer_id = p.customer_id AND t.kind = 'phone'
                      AND t.contact_point_key = coalesce(p.mobile, p.landline)
    LEFT JOIN post USING (customer_id)
    -- départements and regions exist for French postcodes only (an Australian 2000 is not the Aisne)
    LEFT JOIN regions ON coalesce(p.country, 'FR') = 'FR' AND regions.postcode_prefix = substr(p.postcode, 1, 2)
    WHERE p.customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)
    ORDER BY p.customer_id
    """


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

# Every member-picking aggregate names its member (the first customer_id, the best spender then the first
# customer_id): marts.customer_360 is merged customer by customer, so its rows are in no particular order.
HOUSEHOLD_SQL = """
SELECT household_id,
       count(*)                                   AS members,
       list(customer_id ORDER BY customer_id)     AS member_ids,
       arg_min(postcode, customer_id)             AS postcode,
       arg_min(country, customer_id)              AS country,  -- the analysts' copy derives départements for FR only
       arg_min(city, customer_id)                 AS city,
       arg_min(region, customer_id)               AS region,
       sum(coalesce(monetary, 0))                 AS household_revenue,
       sum(coalesce(revenue_12m, 0))              AS household_revenue_12m,
       arg_min(loyalty_tier, (-coalesce(revenue_12m, 0), customer_id)) AS best_member_tier
FROM marts.customer_360
GROUP BY household_id
ORDER BY household_id
"""

SEGMENT_SUMMARY_SQL = """
SELECT rfm_segment, loyalty_tier, coalesce(region, 'unknown') AS region,
       coalesce(preferred_channel, 'none')        AS channel,
       count(*)                                   AS customers,
       sum(coalesce(monetary, 0))                 AS revenue,
       sum(coalesce(monetary, 0)) / nullif(sum(coalesce(frequency, 0)), 0) AS average_basket,
       avg(contactable_email::INT)                AS share_contactable_email,
       avg(contactable_sms::INT)                  AS share_contactable_sms,
       avg(contactable_phone::INT)                AS share_contactable_phone,
       avg(contactable_post::INT)                 AS share_contactable_post
FROM marts.customer_360
GROUP BY ALL
ORDER BY ALL
"""
