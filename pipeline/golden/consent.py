"""Consent: every opt-in / opt-out event kept as proof, and the current state per customer and channel.

The latest event wins whichever source it came from; on the same timestamp an opt-out wins."""

CONSENT_EVENTS_SQL = """
SELECT customer_id, consent_channel AS channel, consent_action AS action, occurred_at,
       source, source_record_id, collection_point
FROM customer_activities
WHERE activity_type = 'consent'
"""

CONSENT_STATE_SQL = """
SELECT customer_id, channel, action AS state, occurred_at AS state_since, source AS state_source
FROM golden.consent_events
QUALIFY row_number() OVER (PARTITION BY customer_id, channel
                           ORDER BY occurred_at DESC NULLS LAST, (action = 'opt_out') DESC, source_record_id) = 1
"""
