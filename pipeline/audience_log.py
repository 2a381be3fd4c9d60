"""Which audiences each customer was sent in, on which point: the other half of the consent proof.

`marts.consent_history` says what a person consented to, on which channel and point, when and from which source record;
nothing said whom `customer360 audience` then put in a campaign, so the officer could not answer "was it honoured in
every audience since?". Every audience now appends one line per customer to `audience_log.csv` beside the restricted
copy (owner-only, append-only): when, the channel, the file, the customer id and the SHA-256 of the point it used
(`email:<match key>` / `phone:<E.164>`, as the suppression list spells it; none for post). Ids and hashes only, like
`identity.erasure_matches`: an erasure leaves nothing in it to purge. `customer360 lookup` joins it with the consent
history: for each audience the customer was in, the last consent event on that point and channel before the export
(post: on the customer), so an export after an opt-out shows as `honoured = false`."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.private_files import appending

LOG_NAME = "audience_log.csv"
COLUMNS = ["exported_at", "channel", "file", "customer_id", "point_hash"]
# The point each channel reaches the customer on (audience.CHANNEL_FIELDS), hashed as the suppression list is.
POINT_SQL = {
    "email": "(SELECT sha256('email:' || p.contact_point_key) FROM marts.contact_points p WHERE p.customer_id = "
             "c.customer_id AND p.kind = 'email' AND p.is_surviving ORDER BY p.last_seen_at DESC NULLS LAST LIMIT 1)",
    "sms": "sha256('phone:' || c.mobile)",
    "phone": "sha256('phone:' || c.phone)",
    "post": "NULL",
}


def log_path(restricted: Path) -> Path:
    return restricted.with_name(LOG_NAME)


def append(restricted: Path, channel: str, out: Path, rows: list[tuple[str, str | None]]) -> None:
    """One line per (customer id, point hash) of the audience just written, appended owner-only."""
    path = log_path(restricted)
    new = not path.exists()
    at = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    with appending(path, newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(COLUMNS)
        writer.writerows([at, channel, str(out.resolve()), customer, point] for customer, point in rows)


# Each audience a customer was in, with the last consent event on that channel and point (post: the customer) that
# occurred before the export: honoured when it is an opt-in.
SENT_SQL = """
WITH sent AS (SELECT * FROM read_csv(?, header = true, all_varchar = true) WHERE customer_id = ?),
events AS (  -- each event's point by its match key: the history keeps the spelling the source gave (`+promo`)
    SELECT h.channel, h.action, h.occurred_at, h.source, h.source_record_id,
           sha256(p.kind || ':' || p.contact_point_key) AS point_hash
    FROM marts.consent_history h LEFT JOIN marts.contact_points p ON p.customer_id = h.customer_id
     AND p.kind = h.contact_point_kind AND (p.contact_point_key = h.contact_point OR list_contains(p.variants, h.contact_point))
    WHERE h.customer_id = ?)
SELECT CAST(s.exported_at AS TIMESTAMP) AS exported_at, s.channel, s.file, e.action AS consent_then,
       e.occurred_at AS consent_at, e.source, e.source_record_id, coalesce(e.action = 'opt_in', false) AS honoured
FROM sent s LEFT JOIN LATERAL (
    SELECT * FROM events e WHERE e.channel = s.channel AND e.occurred_at <= CAST(s.exported_at AS TIMESTAMP)
      AND (s.channel = 'post' OR e.point_hash = s.point_hash)
    ORDER BY e.occurred_at DESC LIMIT 1) e ON true
ORDER BY exported_at, s.channel"""


def audiences_of(con: duckdb.DuckDBPyConnection, restricted: Path, customer_id: str):
    """The customer's audiences as a frame (None when no audience was ever written beside this restricted copy)."""
    path = log_path(restricted)
    if not path.exists():
        return None
    return con.execute(SENT_SQL, [str(path), customer_id, customer_id]).df()
