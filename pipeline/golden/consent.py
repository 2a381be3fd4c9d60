"""Consent: every opt-in / opt-out event kept as proof, tied to the contact point it was given for.

An event's contact point is the e-mail (e-mail channel) or phone (sms and phone channels) of the record that
carries it, keyed like `golden.contact_points` (e-mail match key, E.164 phone); post consent has no point
and stays per customer. The latest event wins whichever source it came from; on the same timestamp an
opt-out wins. `golden.consent_state` is the customer-level state (any point), `golden.point_consent_state`
the state of each point and channel, which is what makes a point contactable. Each is built for the customers
in_scope (changes.py)."""

CONSENT_EVENTS_SQL = """
SELECT a.customer_id, a.consent_channel AS channel, a.consent_action AS action, a.occurred_at,
       a.source, a.source_record_id, a.collection_point,
       CASE WHEN a.consent_channel = 'email' AND r.email_key IS NOT NULL THEN 'email'
            WHEN a.consent_channel IN ('sms', 'phone') AND r.phone IS NOT NULL THEN 'phone' END AS contact_point_kind,
       CASE WHEN a.consent_channel = 'email' THEN r.email_key
            WHEN a.consent_channel IN ('sms', 'phone') THEN r.phone END          AS contact_point_key,
       CASE WHEN a.consent_channel = 'email' AND r.email_key IS NOT NULL THEN r.email
            WHEN a.consent_channel IN ('sms', 'phone') THEN r.phone END          AS contact_point
FROM customer_activities a
LEFT JOIN staging.person_records r ON r.source = a.person_source AND r.source_record_id = a.person_record_id
WHERE a.activity_type = 'consent'
"""

_LATEST = "ORDER BY occurred_at DESC NULLS LAST, (action = 'opt_out') DESC, source_record_id"

CONSENT_STATE_SQL = f"""
SELECT customer_id, channel, action AS state, occurred_at AS state_since, source AS state_source
FROM golden.consent_events
WHERE in_scope(customer_id)
QUALIFY row_number() OVER (PARTITION BY customer_id, channel {_LATEST}) = 1
"""


def point_consent_state_sql(repermission_days: int) -> str:
    """customer_id, contact_point_key, channel, state, its proof, and `needs_repermission`: a current opt-in
    older than `repermission_days` with no interaction of the customer since (CNIL: 3 years for prospects)."""
    return f"""
    WITH latest AS (
        SELECT * FROM golden.consent_events WHERE contact_point_key IS NOT NULL AND in_scope(customer_id)
        QUALIFY row_number() OVER (PARTITION BY customer_id, contact_point_key, channel {_LATEST}) = 1
    )
    SELECT l.customer_id, l.contact_point_kind, l.contact_point_key, l.channel, l.action AS state,
           l.occurred_at AS state_since, l.source AS state_source, l.source_record_id AS state_source_record_id,
           l.collection_point,
           l.action = 'opt_in' AND greatest(l.occurred_at, a.last_activity_at)
               < $as_of::DATE - INTERVAL {int(repermission_days)} DAY AS needs_repermission
    FROM latest l
    LEFT JOIN golden.customer_activity a USING (customer_id)
    """
