"""Per-source data quality: completeness, validity, duplicate rate, freshness, quarantine rate.

One SQL, used twice: the blocking source-health check reads it, and marts.data_quality keeps it per run
so an analyst sees at a glance which system feeds bad data."""

from __future__ import annotations

from pipeline.config import PERSON_FIELDS, Source
from pipeline.extract import REFUSED_FILE_REASON
from pipeline.sql import literal, raw_table
from pipeline.staging import NO_DATE_NOR_PERSON, NO_PERSON_REASON, RETIRED_REASONS, SUPERSEDED_REASON
from pipeline.staging_renamed import RENAMED_REASON
from pipeline.trailers import REASONS as TRAILER_REASONS

FOOTER_REASONS = (NO_DATE_NOR_PERSON, NO_PERSON_REASON, *TRAILER_REASONS)  # a file's last line: no record


def source_quality_sql(sources: list[Source], with_customers: bool = True) -> str:
    """One row per source, fresh as of the parameter `$as_of` (a date); `with_customers` adds records per
    customer (needs marts.customer_xref)."""
    raw = " UNION ALL ".join(f"SELECT {literal(s.name)} AS source, {literal(s.channel)} AS channel, count(*) AS raw_rows "
                             f"FROM {raw_table(s.name)}" for s in sources)
    completeness = ",\n".join(f"avg(({f}_raw IS NOT NULL)::INT) AS complete_{f}" for f in PERSON_FIELDS
                              if f not in ("country", "civility", "full_name"))  # a full name is staged split
    return f"""
    WITH raw AS ({raw}),
    persons AS (
        SELECT source, count(*) AS person_records,
               {completeness},
               avg(email_valid::INT) FILTER (WHERE email_raw IS NOT NULL)       AS email_valid_share,
               avg(phone_valid::INT) FILTER (WHERE phone_raw IS NOT NULL)       AS phone_valid_share,
               avg(postcode_valid::INT) FILTER (WHERE postcode_raw IS NOT NULL) AS postcode_valid_share,
               max(record_updated_at)                                           AS newest_record_at
        FROM staging.person_records GROUP BY source
    ),
    customers AS ({"SELECT source, count(DISTINCT customer_id) AS customers FROM marts.customer_xref GROUP BY source"
                   if with_customers else "SELECT NULL::VARCHAR AS source, NULL::BIGINT AS customers"}),
    activities AS (SELECT source, count(*) AS activities, max(occurred_at) AS newest_activity_at,
                          count(*) FILTER (WHERE activity_type = 'consent') AS consent_events
                   FROM staging.activities GROUP BY source),
    -- A consent cell no one can read leaves its person staged without an event (staging._person_consent): a source
    -- whose consent cells are mostly unreadable (a renamed vocabulary) is said by name, as its invalid phones are.
    consent_issues AS (SELECT source, count(*) AS unread FROM staging.field_issues
                       WHERE field LIKE 'consent%' GROUP BY source),
    -- Rows of a file refused for its columns are a delivery fault, reported by the source's own check:
    -- they are counted apart so one bad file does not read as bad data in the source's quarantine share. So are
    -- the versions of a file whose export renamed a key, held back so as not to erase earlier values.
    -- Older versions of a record delivered again (a daily full export) are superseded, not bad: counted
    -- apart too, or a source re-sending its snapshot would read as half quarantined and block every run.
    -- So are the bad rows of a file every other row of which a later delivery superseded (yesterday's full export,
    -- its footer row or its record without a name delivered again today): each day's copy counted as a new bad row,
    -- and the share grew day after day until it blocked every run.
    old_snapshots AS (SELECT source, _file FROM staging.quarantine WHERE reason LIKE '{SUPERSEDED_REASON}%'
                      EXCEPT SELECT source, _file FROM staging.person_records
                      EXCEPT SELECT source, _file FROM staging.activities),
    -- A file's last record quarantined as a footer would be (a till's `Summe;;;22,70`, a card export's `Anzahl
    -- Datensätze: 13`) is the export's summary, not a bad record: counted apart (footer_rows), one a file at most. In
    -- the share, a source of three receipts a day read 25 % bad for its footer alone and blocked every run.
    -- A quarantined row of an erased or expired customer has lost its reason with its values (purge.py): what it
    -- was (a superseded version, most often) can no longer be told, nor does it say anything of the source today.
    -- Counted apart (purged_rows): read as bad data, one erased person re-sent by a small source blocked every run.
    -- A record its source deleted (a tombstone row, or omitted by a full delivery's newest export) is a deletion, not
    -- bad data (deleted_rows).
    -- So is a trailer line (`TRAILER|1523`, pipeline/trailers.py): one whose count is not the file's records fails
    -- the file's check, which the operator acts on; it is no bad record either.
    footer_candidates AS (SELECT source, _file, _line FROM staging.quarantine
                          WHERE reason IN ({", ".join(map(literal, FOOTER_REASONS))})),
    later_lines AS (SELECT c.source, c._file, c._line FROM footer_candidates c
                    WHERE EXISTS (SELECT 1 FROM staging.quarantine q
                                  WHERE q.source = c.source AND q._file = c._file AND q._line > c._line)
                       OR EXISTS (SELECT 1 FROM staging.person_records r
                                  WHERE r.source = c.source AND r._file = c._file AND r._line > c._line)
                       OR EXISTS (SELECT 1 FROM staging.activities a
                                  WHERE a.source = c.source AND a._file = c._file AND a._line > c._line)),
    footers AS (SELECT * FROM footer_candidates EXCEPT SELECT * FROM later_lines),
    kinds AS (SELECT q.source, q.source_record_id,
                     CASE WHEN reason LIKE '{REFUSED_FILE_REASON}%' OR reason LIKE '{RENAMED_REASON.split("{")[0]}%'
                          THEN 'refused' WHEN reason LIKE '{SUPERSEDED_REASON}%' THEN 'superseded'
                          WHEN reason IN ({', '.join(map(literal, RETIRED_REASONS))}) THEN 'deleted'
                          WHEN o._file IS NOT NULL THEN 'superseded' WHEN f._file IS NOT NULL THEN 'footer'
                          WHEN reason IS NULL THEN 'purged' END AS kind
              FROM staging.quarantine q LEFT JOIN old_snapshots o ON o.source = q.source AND o._file = q._file
              LEFT JOIN footers f ON f.source = q.source AND f._file = q._file AND f._line = q._line),
    quarantined AS (SELECT source, count(*) AS quarantined,
                           count(*) FILTER (WHERE kind = 'refused') AS refused,
                           count(*) FILTER (WHERE kind = 'superseded') AS superseded,
                           count(*) FILTER (WHERE kind = 'footer') AS footer,
                           count(*) FILTER (WHERE kind = 'purged') AS purged,
                           count(*) FILTER (WHERE kind = 'deleted') AS deleted,
                           count(*) FILTER (WHERE kind IS NOT NULL) AS set_apart  -- none of them bad data today
                    FROM kinds GROUP BY source)
    SELECT raw.source, raw.channel, raw.raw_rows,
           coalesce(quarantined.quarantined, 0)                                 AS quarantined_rows,
           coalesce(quarantined.refused, 0)                                     AS refused_file_rows,
           coalesce(quarantined.superseded, 0)                                  AS superseded_rows,
           coalesce(quarantined.footer, 0)                                      AS footer_rows,
           coalesce(quarantined.purged, 0)                                      AS purged_rows,
           coalesce(quarantined.deleted, 0)                                     AS deleted_rows,
           (coalesce(quarantined.quarantined, 0) - coalesce(quarantined.set_apart, 0))
               / nullif(raw.raw_rows - coalesce(quarantined.set_apart, 0), 0)   AS quarantine_share,
           persons.* EXCLUDE (source, newest_record_at),
           persons.person_records / nullif(customers.customers, 0)             AS records_per_customer,
           activities.activities,
           coalesce(activities.consent_events, 0) / (coalesce(activities.consent_events, 0) + consent_issues.unread)
                                                                                AS consent_read_share,
           date_diff('day', greatest(persons.newest_record_at, activities.newest_activity_at), $as_of::DATE)
                                                                                AS freshness_days
    FROM raw
    LEFT JOIN persons USING (source)
    LEFT JOIN customers USING (source)
    LEFT JOIN activities USING (source)
    LEFT JOIN consent_issues USING (source)
    LEFT JOIN quarantined USING (source)
    ORDER BY raw.source
    """
