"""Web and app sessions joined to customers: by login, or stitched through a device that logged in.

A session with an account id belongs to that account's customer (`logged_in`). A session without one is
stitched to a customer only when every logged-in session of the same device (cookie, per source) belongs to
that one customer: `stitched_pre_login` when it started before the device's first login, `stitched_after_login`
when later (the visitor logged out). Never across customers: a device logged in by two or more customers (a
household tablet) is shared, and its anonymous sessions stay unattributed (`unattributed_shared_device`), as do
those of a device that never logged in (`unattributed_unknown_device`) and a session whose account id matches
no staged account (`unattributed_unknown_account`). Deterministic: the same staged sessions and customer ids
give the same attribution."""

from pipeline.golden.candidates import SCOPED_XREF_SQL
from pipeline.sql import query

STITCHED_SESSIONS_SQL = query("stitched_sessions")  # pipeline/queries/stitched_sessions.sql

SHARED_DEVICES_SQL = """
SELECT source,
       device_id,
       count(DISTINCT customer_id) FILTER (WHERE attribution = 'logged_in')  AS customers,
       count(*) FILTER (WHERE attribution = 'logged_in')                    AS logged_in_sessions,
       count(*) FILTER (WHERE attribution = 'unattributed_shared_device')   AS unattributed_sessions,
       min(occurred_at)                                                     AS first_seen_at,
       max(occurred_at)                                                     AS last_seen_at
FROM golden.stitched_sessions
WHERE device_id IS NOT NULL
GROUP BY source, device_id
HAVING count(DISTINCT customer_id) FILTER (WHERE attribution = 'logged_in') >= 2
ORDER BY source, device_id
"""

# The activities of each customer in_scope (golden/changes.py, defined first) as golden.customer_activity counts
# them: every non-session activity through its person record (as candidates.CUSTOMER_ACTIVITIES_SQL), and sessions
# as attributed above. A view of its own name: `customer_activities` (candidates.py) has no stitched sessions.
CUSTOMER_ACTIVITIES_WITH_STITCHED_SESSIONS_SQL = SCOPED_XREF_SQL + """;
CREATE OR REPLACE TEMP VIEW customer_activities_stitched AS
SELECT x.customer_id, a.*
FROM staging.activities a
JOIN scoped_xref x ON x.source = a.person_source AND x.source_record_id = a.person_record_id
WHERE a.activity_type IS DISTINCT FROM 'session'
UNION ALL BY NAME
SELECT s.customer_id, a.*
FROM staging.activities a
JOIN golden.stitched_sessions s USING (source, source_record_id)
WHERE s.customer_id IS NOT NULL AND in_scope(s.customer_id)
"""
