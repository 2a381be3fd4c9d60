"""marts.customer_360: one row per published customer, the golden record and what marketing acts on."""

from pipeline.config import SEEDS_DIR
from pipeline.marts.segmentation import segmentation_sql

CHANNELS = ("email", "sms", "phone", "post")
_REGIONS = str(SEEDS_DIR / "regions.csv").replace("'", "''")


def customer_360_sql(as_of: str) -> str:
    consent = ",\n".join(
        f"max(state) FILTER (WHERE channel = '{c}') AS consent_{c}" for c in CHANNELS)
    return f"""
    WITH consent AS (SELECT customer_id, {consent} FROM golden.consent_state GROUP BY customer_id),
    segments AS ({segmentation_sql(as_of)}),
    regions AS (SELECT * FROM read_csv('{_REGIONS}', header = true, all_varchar = true))
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
        coalesce(consent.consent_email, 'unknown')                       AS consent_email,
        coalesce(consent.consent_sms, 'unknown')                         AS consent_sms,
        coalesce(consent.consent_phone, 'unknown')                       AS consent_phone,
        coalesce(consent.consent_post, 'unknown')                        AS consent_post,
        -- contactable = a valid contact point AND a current opt-in for that channel
        p.email IS NOT NULL AND coalesce(consent.consent_email = 'opt_in', false)         AS contactable_email,
        p.mobile IS NOT NULL AND coalesce(consent.consent_sms = 'opt_in', false)          AS contactable_sms,
        coalesce(p.mobile, p.landline) IS NOT NULL AND coalesce(consent.consent_phone = 'opt_in', false) AS contactable_phone,
        p.street IS NOT NULL AND p.postcode IS NOT NULL AND coalesce(consent.consent_post = 'opt_in', false) AS contactable_post,
        regions.region,
        a.* EXCLUDE (customer_id),
        s.* EXCLUDE (customer_id, rfm_segment, loyalty_tier),
        coalesce(s.rfm_segment, 'prospect')                              AS rfm_segment,
        coalesce(s.loyalty_tier, 'standard')                             AS loyalty_tier
    FROM golden.customer_profile p
    LEFT JOIN golden.households h USING (customer_id)
    LEFT JOIN golden.customer_activity a USING (customer_id)
    LEFT JOIN segments s USING (customer_id)
    LEFT JOIN consent USING (customer_id)
    LEFT JOIN regions ON regions.postcode_prefix = substr(p.postcode, 1, 2)
    WHERE p.customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)
    ORDER BY p.customer_id
    """


CONSENT_HISTORY_SQL = """
SELECT * FROM golden.consent_events
WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)
ORDER BY customer_id, channel, occurred_at, source_record_id
"""

HOUSEHOLD_SQL = """
SELECT household_id,
       count(*)                                   AS members,
       list(customer_id ORDER BY customer_id)     AS member_ids,
       any_value(postcode)                        AS postcode,
       any_value(city)                            AS city,
       any_value(region)                          AS region,
       sum(coalesce(monetary, 0))                 AS household_revenue,
       sum(coalesce(revenue_12m, 0))              AS household_revenue_12m,
       arg_max(loyalty_tier, coalesce(revenue_12m, 0)) AS best_member_tier
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
