"""Customer service's timeline: every interaction of a published customer, across channels, newest first when read.

One row per order, till receipt, store visit, ticket (closed complaints included), review, session (logged in or
stitched) and consent event, with its channel (online/offline), source record, amount (and a purchase's currency)
and status. It holds the
same activities golden.customer_activity counts, so the timeline and the counts on the 360 record agree. Restricted
copy only: a timeline is a behavioural profile of a named person."""

from pipeline.currency import PURCHASE
from pipeline.golden.sessions import CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL

CUSTOMER_TIMELINE_VIEWS = (CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL,)

# The published customers in scope taken first (a few thousand ids on a day), then the activities matched against
# them: filtering the activities on both relations one after the other cost ~0.1 CPU s more at 1M.
# A purchase's amount is in `currency`, as delivered (golden/currency.py; `$currency`: the house currency, for one
# that wrote none); a loyalty card's amount is its points balance, no money.
CUSTOMER_TIMELINE_SQL = f"""
SELECT customer_id, occurred_at, activity_type, channel, source, source_record_id, amount,
       CASE WHEN amount IS NOT NULL AND {PURCHASE} THEN coalesce(currency, $currency) END AS currency, quantity,
       status, category, rating, store_id, closed_at, consent_channel, consent_action
FROM customer_activities_stitched
WHERE customer_id IN (SELECT customer_id FROM marts.customer_360 WHERE in_scope(customer_id))
ORDER BY customer_id, occurred_at, source, source_record_id
"""
