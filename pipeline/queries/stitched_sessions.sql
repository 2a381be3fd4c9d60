WITH sessions AS (
    SELECT a.source, a.source_record_id, a.device_id, a.occurred_at, a.person_source, a.person_record_id,
           x.customer_id AS login_customer_id
    FROM stitch_input a  -- the sessions attributed: every one, or whole devices (golden/sessions.py)
    LEFT JOIN marts.customer_xref x ON x.source = a.person_source AND x.source_record_id = a.person_record_id
),
devices AS (     -- who logged in on each device, and when first
    SELECT source, device_id,
           count(DISTINCT login_customer_id) AS customers,
           min(login_customer_id)            AS login_customer_id,
           min(occurred_at)                  AS first_login_at
    FROM sessions
    WHERE login_customer_id IS NOT NULL AND device_id IS NOT NULL
    GROUP BY source, device_id
),
attributed AS (
    SELECT s.*, d.customers AS device_customers, d.login_customer_id AS device_customer_id,
           CASE WHEN s.login_customer_id IS NOT NULL THEN 'logged_in'
                WHEN s.person_record_id IS NOT NULL  THEN 'unattributed_unknown_account'
                WHEN d.customers = 1 AND s.occurred_at < d.first_login_at THEN 'stitched_pre_login'
                WHEN d.customers = 1                 THEN 'stitched_after_login'
                WHEN d.customers >= 2                THEN 'unattributed_shared_device'
                ELSE 'unattributed_unknown_device' END AS attribution
    FROM sessions s
    LEFT JOIN devices d ON d.source = s.source AND d.device_id = s.device_id
)
SELECT source,
       source_record_id,
       device_id,
       occurred_at,
       person_source,
       person_record_id,
       CASE WHEN attribution = 'logged_in' THEN login_customer_id
            WHEN attribution LIKE 'stitched_%' THEN device_customer_id END AS customer_id,
       attribution
FROM attributed  -- unsorted: sorting every session of the base was a third of this query on a daily run
