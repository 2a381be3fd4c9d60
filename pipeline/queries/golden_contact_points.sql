-- the records read once: the view golden_candidates joins every staged record to its customer each time it is read
WITH records AS MATERIALIZED (SELECT * FROM golden_candidates),
used AS (
    SELECT customer_id, 'email' AS kind, coalesce(email_key, email) AS contact_point_key, email AS value,
           email_valid AS valid, NULL AS phone_kind, source,
           coalesce(record_updated_at, record_delivered_at) AS record_updated_at
    FROM records WHERE email IS NOT NULL
    UNION ALL
    SELECT customer_id, 'phone' AS kind, phone AS contact_point_key, phone AS value, phone_valid AS valid, phone_kind,
           source, coalesce(record_updated_at, record_delivered_at) AS record_updated_at
    FROM records WHERE phone IS NOT NULL
    UNION ALL
    -- a record's further e-mails and phones (staging.person_contacts), keyed as its own; one many people hold is
    -- no one's (identity.placeholder_contacts, as golden_candidates reads the own ones)
    SELECT r.customer_id, c.kind, coalesce(c.contact_key, c.value) AS contact_point_key, c.value,
           c.valid AND NOT coalesce((c.kind, c.contact_key) IN (
               SELECT (kind, contact_key) FROM identity.placeholder_contacts), FALSE) AS valid,
           c.phone_kind,
           r.source, coalesce(r.record_updated_at, r.record_delivered_at) AS record_updated_at
    FROM staging.person_contacts c JOIN records r USING (source, source_record_id) WHERE c.value IS NOT NULL
),
points AS (
    SELECT customer_id, kind, contact_point_key,
           -- the latest spelling; between spellings seen at the same instant the greatest, so a rerun picks the same
           arg_max(value, (record_updated_at, value)) FILTER (WHERE record_updated_at IS NOT NULL) AS contact_point,
           list(DISTINCT value ORDER BY value)            AS variants,
           bool_or(valid)                                 AS valid,
           any_value(phone_kind)                          AS phone_kind,
           min(record_updated_at)                         AS first_seen_at,
           max(record_updated_at)                         AS last_seen_at,
           list(DISTINCT source ORDER BY source)          AS sources,
           count(*)                                       AS records
    FROM used GROUP BY ALL
),
-- e-mails a live record of the customer says bounced (staging.email_bounced_at: a mailing tool's `cleaned`), whatever
-- opt-in the point has: undeliverable until no record says so any more (staging.BOUNCED). A record of another customer
-- holding the mailbox is suppressed by the audience's suppression list, which lists the point's hash.
bounced AS (
    SELECT customer_id, email_key AS contact_point_key, max(email_bounced_at) AS undeliverable_since
    FROM records WHERE email_bounced_at IS NOT NULL AND email_key IS NOT NULL
    GROUP BY ALL
),
consent AS (
    SELECT customer_id, contact_point_key,
           max(state) FILTER (WHERE channel = 'email')         AS consent_email,
           max(state_since) FILTER (WHERE channel = 'email')   AS consent_email_since,
           max(state) FILTER (WHERE channel = 'sms')           AS consent_sms,
           max(state_since) FILTER (WHERE channel = 'sms')     AS consent_sms_since,
           max(state) FILTER (WHERE channel = 'phone')         AS consent_phone,
           max(state_since) FILTER (WHERE channel = 'phone')   AS consent_phone_since,
           bool_or(needs_repermission)                         AS needs_repermission
    FROM golden.point_consent_state
    WHERE in_scope(customer_id)
    GROUP BY ALL
)
SELECT p.*,
       CASE WHEN kind = 'email' THEN coalesce(c.consent_email, 'unknown') END AS consent_email,
       c.consent_email_since,
       CASE WHEN kind = 'phone' THEN coalesce(c.consent_sms, 'unknown') END   AS consent_sms,
       c.consent_sms_since,
       CASE WHEN kind = 'phone' THEN coalesce(c.consent_phone, 'unknown') END AS consent_phone,
       c.consent_phone_since,
       coalesce(c.needs_repermission, FALSE)                                   AS needs_repermission,
       b.undeliverable_since
FROM points p
LEFT JOIN consent c USING (customer_id, contact_point_key)
LEFT JOIN bounced b ON p.kind = 'email' AND b.customer_id = p.customer_id AND b.contact_point_key = p.contact_point_key
ORDER BY customer_id, kind, contact_point_key
