"""Erasure and retention: who must not appear in any published table.

Erasure identifiers are kept only as SHA-256 hashes in an append-only registry, so a person stays erased
after the request file is gone and even if a later source drop still holds them (never resurrected).
A customer is erased when any of its records carries an erased e-mail or phone (its own, or a further one:
staging.person_contacts), or held a requested one in an earlier version (staging.former_identifiers), or is an erased
record
(purge.py registers every e-mail, phone and record key of an erased customer that no other customer holds):
the whole customer goes, not just the matching record."""

from __future__ import annotations

import duckdb

from pipeline.config import Source
from pipeline.sql import literal, quote, raw_table
from pipeline.staging import PURGED_TOKEN, purged_columns
from pipeline.staging_changes import FORMER_IDENTIFIERS
from pipeline.staging_read import raw_columns
from pipeline.warehouse import table_exists

# `shared`: an e-mail or phone an erased customer held that another customer holds too (a household's landline), set
# by the purge (purge.py): it erases no one since (the erased person's records still match by their record keys).
CREATE_REGISTRY_SQL = """
CREATE TABLE IF NOT EXISTS identity.erasure_registry (
    identifier_hash VARCHAR PRIMARY KEY, kind VARCHAR, request_source VARCHAR, request_id VARCHAR,
    requested_at TIMESTAMP, registered_run VARCHAR);
ALTER TABLE identity.erasure_registry ADD COLUMN IF NOT EXISTS shared BOOLEAN DEFAULT false
"""
REGISTRY_COLUMNS = "identifier_hash, kind, request_source, request_id, requested_at, registered_run"

REGISTER_ERASURES_SQL = f"""
INSERT INTO identity.erasure_registry ({REGISTRY_COLUMNS})
SELECT DISTINCT ON (identifier_hash) identifier_hash, kind, source, source_record_id, requested_at, ?
FROM (
    SELECT sha256('email:' || email_key) AS identifier_hash, 'email' AS kind, * FROM staging.erasure_requests
    WHERE email_key IS NOT NULL
    UNION ALL
    SELECT sha256('phone:' || phone), 'phone', * FROM staging.erasure_requests WHERE phone IS NOT NULL
)
WHERE identifier_hash NOT IN (SELECT identifier_hash FROM identity.erasure_registry)
"""


# A landline is a household's (purge.py registers none), so an erased person re-delivered later under a new record id
# with only the family landline came back. What is theirs alone is the landline with their name: a record's landline
# (own or further), canonical first name and surname, and birth date, hashed together. A household member holding the
# landline differs by first name (or, a namesake parent, by birth date) and is never erased by it. Each record with a
# landline and both names gives a key with its own birth date ('' when none, `dated` false) and, when dated, one
# without (`dated`): the erased record's undated key is registered as LANDLINE_UNDATED, which an undated record
# matches (the erased person without their birth date) but a dated one does not (a namesake born another day); the
# erased record's own key (LANDLINE_NAME) is matched by any record with the same values, so an erased person whose
# birth date was unknown is matched whatever the new record says of it. `{records}`: the records' (source,
# source_record_id) to key.
LANDLINE_NAME, LANDLINE_UNDATED = "landline_name", "landline_name_undated"
LANDLINE_NAME_KEYS_SQL = """
    SELECT source, source_record_id, d.dated, d.exact,
           sha256('landline_name:' || landline || ':' || first_name_canonical || ':' || last_name_norm || ':'
                  || d.day) AS identifier_hash
    FROM (SELECT p.source, p.source_record_id, p.first_name_canonical, p.last_name_norm,
                 p.birth_date IS NOT NULL AS dated, coalesce(CAST(p.birth_date AS VARCHAR), '') AS born,
                 unnest(list_distinct(list_filter([CASE WHEN p.phone_kind = 'landline' THEN p.phone END]
                                                  || coalesce(c.landlines, []), lambda x: x IS NOT NULL))) AS landline
          FROM staging.person_records p JOIN ({records}) r USING (source, source_record_id)
          LEFT JOIN (SELECT source, source_record_id, list(contact_key) AS landlines FROM staging.person_contacts
                     WHERE kind = 'phone' AND phone_kind = 'landline' AND contact_key IS NOT NULL GROUP BY ALL) c
          USING (source, source_record_id)
          WHERE p.first_name_canonical IS NOT NULL AND p.last_name_norm IS NOT NULL
            AND (p.phone_kind = 'landline' OR c.landlines IS NOT NULL)) k,
         LATERAL (SELECT k.dated, true AS exact, k.born AS day
                  UNION ALL SELECT true, false, '' WHERE k.dated) d"""
# A record's key matches a registered one unless the registered key is an erased person's undated one and the record
# has a birth date: `r` the registry row, `k` the record's key.
LANDLINE_MATCH = f"NOT (r.kind = '{LANDLINE_UNDATED}' AND k.dated)"


# Customers in_scope holding an erased e-mail, phone or record (the registry holds their hashes), from the temp table
# scoped_xref (golden/candidates.py): only their records are hashed. Each record's three hashes are unnested and
# equi-joined: a join ON hash IN (a, b, c) is a nested loop over every record x every registered hash (~4 CPU s at
# 86k records and a few hundred hashes, run three times a day).
# An e-mail or phone a request names that records of several customers hold (a household's landline) cannot say
# which of them asked: it erases none of them (a request that also names the requester's own e-mail erases them by
# it), and golden/excluded_customers counts such requests. Who else holds it is looked up by value, for the few
# matched values only (the registry keeps no value).
def _former_holders(xref: str) -> str:
    """customer_id, kind, identifier_hash of the records (of `xref`) whose earlier version held an e-mail or phone
    they no longer hold (staging.former_identifiers) and that still carry that version's names: the same person's
    record, not an account handed over to someone else."""
    return f"""SELECT x.customer_id, f.kind, f.identifier_hash
    FROM {FORMER_IDENTIFIERS} f JOIN {xref} x USING (source, source_record_id)
    JOIN staging.person_records p USING (source, source_record_id)
    WHERE f.name_hash = sha256(p.first_name_canonical || ':' || p.last_name_norm)"""


MATCHED_ERASURES_SQL = """
    SELECT p.customer_id, p.point.value, p.point.kind, identifier_hash, r.request_source, r.request_id
    FROM (SELECT x.customer_id,
                 unnest([{hash: sha256('email:' || email_key), kind: 'email', value: email_key},
                         {hash: sha256('phone:' || phone), kind: 'phone', value: phone},
                         {hash: sha256('record:' || source || ':' || source_record_id), kind: 'record',
                          value: NULL}]) AS point
          FROM staging.person_records JOIN scoped_xref x USING (source, source_record_id)
          UNION ALL  -- a record's further e-mails and phones (more_contacts)
          SELECT x.customer_id, {hash: sha256(c.kind || ':' || c.contact_key), kind: c.kind, value: c.contact_key}
          FROM staging.person_contacts c JOIN scoped_xref x USING (source, source_record_id)
          WHERE c.contact_key IS NOT NULL) p
    JOIN identity.erasure_registry r ON r.identifier_hash = p.point.hash AND NOT coalesce(r.shared, false)""" + f"""
    UNION ALL  -- a record whose earlier version held a requested e-mail or phone (its source replaced it since) and
    -- that still carries that version's names (not an account handed over to someone else)
    SELECT f.customer_id, NULL, 'former_' || f.kind, r.identifier_hash, r.request_source, r.request_id
    FROM ({_former_holders("scoped_xref")}) f
    JOIN identity.erasure_registry r ON r.identifier_hash = f.identifier_hash AND NOT coalesce(r.shared, false)
        AND r.request_source <> 'erased_customer'
    UNION ALL  -- a record with an erased person's landline and name (see LANDLINE_NAME_KEYS_SQL)
    SELECT x.customer_id, NULL, r.kind, r.identifier_hash, r.request_source, r.request_id
    FROM ({LANDLINE_NAME_KEYS_SQL.format(records="SELECT source, source_record_id FROM scoped_xref")}) k
    JOIN scoped_xref x USING (source, source_record_id)
    JOIN identity.erasure_registry r ON r.identifier_hash = k.identifier_hash AND NOT coalesce(r.shared, false)
        AND {LANDLINE_MATCH}"""
_ERASURE_MATCHES = f"""
    matched AS MATERIALIZED ({MATCHED_ERASURES_SQL}),
    requested AS (SELECT DISTINCT identifier_hash, kind, value, request_id FROM matched
                  WHERE kind <> 'record' AND request_source <> 'erased_customer'),
    holders AS (
        SELECT q.identifier_hash, q.request_id, x.customer_id
        FROM requested q JOIN staging.person_records o ON o.email_key = q.value AND q.kind = 'email'
        JOIN marts.customer_xref x USING (source, source_record_id)
        UNION
        SELECT q.identifier_hash, q.request_id, x.customer_id
        FROM requested q JOIN staging.person_records o ON o.phone = q.value AND q.kind = 'phone'
        JOIN marts.customer_xref x USING (source, source_record_id)
        UNION
        SELECT q.identifier_hash, q.request_id, x.customer_id
        FROM requested q JOIN staging.person_contacts o ON o.contact_key = q.value AND o.kind = q.kind
        JOIN marts.customer_xref x USING (source, source_record_id)
        UNION  -- a record that held it before: its customer is a holder too (one of two who asked?)
        SELECT q.identifier_hash, q.request_id, o.customer_id
        FROM requested q JOIN ({_former_holders("marts.customer_xref")}) o USING (identifier_hash)),
    ambiguous AS (SELECT identifier_hash, request_id FROM holders GROUP BY ALL HAVING count(DISTINCT customer_id) > 1)"""
ERASED_CUSTOMERS_SQL = f"""
    WITH {_ERASURE_MATCHES}
    SELECT DISTINCT customer_id FROM matched WHERE identifier_hash NOT IN (SELECT identifier_hash FROM ambiguous)"""
# The requests (ids) whose e-mail or phone several customers hold; reads scoped_xref as above.
AMBIGUOUS_REQUESTS_SQL = f"WITH {_ERASURE_MATCHES} SELECT DISTINCT request_id FROM ambiguous ORDER BY 1"

# Which customer each request erased, and when (ids only, append-only, never purged): what the data-protection officer
# answers a requester with, "erased on that run" or "we hold nothing of yours yet". The purge scrubs the erased records'
# values, so a match cannot be found again afterwards: it is recorded on the run that makes it (reads scoped_xref).
ERASURE_MATCHES = "identity.erasure_matches"
CREATE_MATCHES_SQL = f"""CREATE TABLE IF NOT EXISTS {ERASURE_MATCHES} (
    request_source VARCHAR, request_id VARCHAR, customer_id VARCHAR, matched_run VARCHAR, matched_at TIMESTAMP)"""
RECORD_MATCHES_SQL = f"""
INSERT INTO {ERASURE_MATCHES}
WITH {_ERASURE_MATCHES}
SELECT DISTINCT request_source, request_id, customer_id, $run_id, now()::TIMESTAMP FROM matched
WHERE kind <> 'record' AND request_source <> 'erased_customer'
  AND identifier_hash NOT IN (SELECT identifier_hash FROM ambiguous)
  AND (request_source, request_id, customer_id) NOT IN (SELECT (request_source, request_id, customer_id)
                                                        FROM {ERASURE_MATCHES})"""
# Requests that have erased no one so far (the person is not in the base, or only an old value of theirs was named):
# registered, they erase whoever later arrives with their e-mail or phone. Ambiguous ones are counted apart.
UNMATCHED_REQUESTS_SQL = f"""
SELECT count(DISTINCT (request_source, request_id)) FROM identity.erasure_registry r
WHERE kind <> 'record' AND request_source <> 'erased_customer'
  AND (request_source, request_id) NOT IN (SELECT (request_source, request_id) FROM {ERASURE_MATCHES})"""


def unusable_requests_sql(con: duckdb.DuckDBPyConnection, sources: list[Source]) -> str:
    """The requests (ids) holding neither a valid e-mail nor a valid phone (`not-an-email`, a number invalid for the
    erasure source's country): they can erase no one, and were kept as requests without a word (a field issue only).
    A request the purge has scrubbed (its raw row holds the purge's token) is left out: it holds neither any more
    either, and every run after it was honoured said it erased no one."""
    parts = []
    for source in (s for s in sources if s.is_erasure and table_exists(con, f"raw.{s.name}")):
        purged = " OR ".join(f"r.{quote(c)} = {literal(PURGED_TOKEN)}"
                             for c in purged_columns(source, raw_columns(con, source))) or "false"
        parts.append(f"SELECT e.source_record_id FROM staging.erasure_requests e JOIN {raw_table(source.name)} r "
                     f"ON e.source = {literal(source.name)} AND r._file = e._file AND r._line = e._line "
                     f"WHERE e.email_key IS NULL AND e.phone IS NULL AND NOT coalesce({purged}, false)")
    if not parts:
        return "SELECT NULL WHERE false"
    return f"SELECT DISTINCT source_record_id FROM ({' UNION ALL '.join(parts)}) ORDER BY 1"


def excluded_customers_sql(retention_days: int) -> str:
    """customer_id, reason ('erased' wins over 'retention'), last_seen_at, for the customers in_scope (changes.py);
    `$as_of` (a date) anchors retention. Reads the view customer_activities_stitched (golden/sessions.py, with the
    table scoped_xref it creates), not golden.customer_activity: who is excluded is known before the golden rows are
    built, so they are built as the purge leaves them (purge.as_purged). The last activity is
    golden.customer_activity's last_activity_at."""
    return f"""
    WITH erased AS ({ERASED_CUSTOMERS_SQL}),
    seen AS (
        SELECT x.customer_id, greatest(max(coalesce(p.record_updated_at, p.record_delivered_at)), max(a.last_activity_at)) AS last_seen_at
        FROM scoped_xref x
        JOIN staging.person_records p USING (source, source_record_id)
        LEFT JOIN (SELECT customer_id, max(occurred_at) AS last_activity_at FROM customer_activities_stitched
                   GROUP BY customer_id) a ON a.customer_id = x.customer_id
        GROUP BY x.customer_id
    )
    SELECT seen.customer_id,
           CASE WHEN erased.customer_id IS NOT NULL THEN 'erased' ELSE 'retention' END AS reason,
           seen.last_seen_at
    FROM seen LEFT JOIN erased USING (customer_id)
    WHERE erased.customer_id IS NOT NULL
       OR seen.last_seen_at IS NULL
       OR seen.last_seen_at < $as_of::DATE - INTERVAL {int(retention_days)} DAY
    """
