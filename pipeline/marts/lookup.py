"""Customer service's lookup: find a customer by any e-mail or phone they ever used.

What the caller types is normalised the way staging normalised the sources (e-mail lower-cased and reduced to
its match key, so case, '+tags' and Gmail dots do not matter; a phone in any format to E.164), then looked up
among every contact point of every published customer (`marts.contact_points`, restricted copy), older ones
included. Works on the restricted copy or the warehouse; the value is bound as a parameter."""

from __future__ import annotations

import re

import duckdb

from pipeline.normalise.address import normalise_postcode
from pipeline.normalise.email import email_match_key, normalise_email
from pipeline.normalise.names import match_form
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


CUSTOMER_ID = re.compile(r"^C[0-9A-F]{15}$", re.IGNORECASE)  # read out on the phone, typed in any case


def find_by_name(con: duckdb.DuckDBPyConnection, name: str, postcode: str, region: str = "FR") -> list[str]:
    """customer_ids whose surviving first and last name match `name` (any order, case and accents ignored) at
    that postcode, as typed or as staging reads it in `region` (`69 003`, `1000` -> `01000`, `sw1a1aa`)."""
    words = sorted(w for w in (match_form(part) for part in str(name).replace(",", " ").split()) if w)
    if not words:
        return []
    typed = str(postcode).strip()
    read, _ = normalise_postcode(typed, region)
    rows = con.execute("SELECT customer_id, first_name, last_name FROM marts.customer_360 WHERE postcode IN (?, ?)",
                       [typed, read or typed]).fetchall()
    return sorted(cid for cid, first, last in rows
                  if sorted(w for p in (first, last) if p for w in (match_form(x) for x in p.split()) if w) == words)


def needs_postcode(text: str) -> bool:
    """Whether `text` reads as a name, which is looked up with a postcode only (neither a contact point nor an id)."""
    return not CUSTOMER_ID.match(text.strip()) and "@" not in text and not any(c.isdigit() for c in text)


def find(con: duckdb.DuckDBPyConnection, text: str, postcode: str | None = None, region: str = "FR") -> list[str]:
    """What customer service types: a customer id, an e-mail or phone (any spelling, older ones included), or a
    name with `postcode`."""
    if CUSTOMER_ID.match(text.strip()):
        return [r[0] for r in con.execute("SELECT customer_id FROM marts.customer_360 WHERE customer_id = ?",
                                          [text.strip().upper()]).fetchall()]
    if postcode:
        return find_by_name(con, text, postcode, region)
    return find_customers(con, text, region)


# What the card shows: the golden record, every contact point with its consent, and the consent proof.
CARD_SQL = {
    "customer": "SELECT * FROM marts.customer_360 WHERE customer_id = ?",
    "contact points": """SELECT kind, contact_point, is_surviving, valid, consent_email, consent_sms, consent_phone,
                                needs_repermission, first_seen_at, last_seen_at, sources
                         FROM marts.contact_points WHERE customer_id = ? ORDER BY kind, last_seen_at DESC""",
    "consent history": """SELECT occurred_at, channel, action, contact_point, source, source_record_id, collection_point
                          FROM marts.consent_history WHERE customer_id = ? ORDER BY occurred_at""",
    "timeline (latest 50)": """SELECT occurred_at, activity_type, channel, source, source_record_id, amount, status,
                                      category FROM marts.customer_timeline WHERE customer_id = ?
                               ORDER BY occurred_at DESC NULLS LAST LIMIT 50""",
    "source records": "SELECT source, source_record_id FROM marts.customer_xref WHERE customer_id = ? ORDER BY ALL",
}
