"""Customer service's lookup: find a customer by any e-mail or phone they ever used.

What the caller types is normalised the way staging normalised the sources (e-mail lower-cased and reduced to
its match key, so case, '+tags' and Gmail dots do not matter; a phone in any format to E.164), then looked up
among every contact point of every published customer (`marts.contact_points`, restricted copy), older ones
included. Works on the restricted copy or the warehouse; the value is bound as a parameter."""

from __future__ import annotations

import duckdb

from pipeline.normalise.email import email_match_key, normalise_email
from pipeline.normalise.phone import normalise_phone


def point_key(text: str, region: str = "FR") -> str | None:
    """The contact-point key of what a customer gives: an e-mail's match key, or a phone's E.164 form."""
    if "@" in str(text):
        address, valid, _ = normalise_email(text)
        return email_match_key(address) if valid else None
    return normalise_phone(text, region)[0]


def find_customers(con: duckdb.DuckDBPyConnection, text: str, region: str = "FR") -> list[str]:
    """customer_ids holding the e-mail or phone `text` (any spelling), most recently seen first."""
    key = point_key(text, region)
    if key is None:
        return []
    rows = con.execute("""SELECT customer_id FROM marts.contact_points WHERE contact_point_key = ?
                          GROUP BY customer_id ORDER BY max(last_seen_at) DESC NULLS LAST, customer_id""",
                       [key]).fetchall()
    return [r[0] for r in rows]
