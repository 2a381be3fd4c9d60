"""Customer service's lookup: find a customer by any e-mail or phone they ever used.

What the caller types is normalised the way staging normalised the sources (e-mail lower-cased and reduced to
its match key, so case, '+tags' and Gmail dots do not matter; a phone in any format to E.164), then looked up
among every contact point of every published customer (`marts.contact_points`, restricted copy), older ones
included. Works on the restricted copy or the warehouse; the value is bound as a parameter."""

from __future__ import annotations

import itertools
import re
import unicodedata

import duckdb

from pipeline.normalise.address import compared_postcode_sql, normalise_postcode
from pipeline.normalise.email import email_match_key, normalise_email
from pipeline.normalise.names import letter_spellings, match_form, nickname_table, spelled
from pipeline.normalise.phone import normalise_phone


def point_key(text: str, region: str = "FR") -> str | None:
    """The contact-point key of what a customer gives: an e-mail's match key, or a phone's E.164 form."""
    if "@" in str(text):
        address, valid, _ = normalise_email(text)
        return email_match_key(address) if valid else None
    return normalise_phone(text, region)[0]


def customer_countries(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The countries the published customers live in, most customers first: where a phone typed without its
    country code, or a postcode, is read when the caller names no country (it was France's, always: a British
    agent's '07911 123456' and a Dutch '06 12345678' found no one, nor a lower-case 'm1 1ae')."""
    rows = con.execute("SELECT country FROM marts.customer_360 WHERE country IS NOT NULL GROUP BY country "
                       "ORDER BY count(*) DESC, country").fetchall()
    return [r[0] for r in rows] or ["FR"]


def find_customers(con: duckdb.DuckDBPyConnection, text: str, region: str | None = None) -> list[str]:
    """customer_ids holding the e-mail or phone `text` (any spelling), most recently seen first. A national phone
    number is read in `region`, or else in each country of the customers in turn until one finds someone."""
    for country in [region] if region else customer_countries(con):
        key = point_key(text, country)
        if key is None:
            continue
        rows = con.execute("""SELECT customer_id FROM marts.contact_points WHERE contact_point_key = ?
                              GROUP BY customer_id ORDER BY max(last_seen_at) DESC NULLS LAST, customer_id""",
                           [key]).fetchall()
        if rows or "@" in str(text) or str(text).strip().startswith(("+", "00")):  # no country to try another in
            return [r[0] for r in rows]
    return []


CUSTOMER_ID = re.compile(r"^C[0-9A-F]{15}$", re.IGNORECASE)  # read out on the phone, typed in any case


def find_by_name(con: duckdb.DuckDBPyConnection, name: str, postcode: str, region: str | None = None) -> list[str]:
    """customer_ids whose surviving first and last name, or last name alone ('Müller' at 80331: each Müller there, as
    customer service asks a caller; it found no one), match `name` (any order, case and accents ignored) at that
    postcode, as typed or as staging reads it in `region`, or else in any country of the customers (`69 003`,
    `1000` -> `01000`, `sw1a1aa`, `1012ab`), a US ZIP+4 as its ZIP, as identity compares it (`20500` found no one
    whose surviving postcode is `20500-0003`)."""
    words = _formal_words(str(name).replace(",", " "))
    if not words:
        return []
    joined = _joined(name)
    typed = str(postcode).strip()
    read = {normalise_postcode(typed, country)[0] for country in ([region] if region else customer_countries(con))}
    rows = con.execute(f"SELECT customer_id, first_name, last_name FROM marts.customer_360 WHERE list_contains("
                       f"(SELECT list({compared_postcode_sql('p')}) FROM unnest(?) AS t(p)), "
                       f"{compared_postcode_sql('postcode')})", [sorted({typed} | read - {None})]).fetchall()
    return sorted(cid for cid, first, last in rows
                  if any(words in (_formal_words(f"{given} {family}"), _formal_words(family))
                         or joined is not None and joined in (_joined(family + given), _joined(given + family),
                                                              _joined(family))
                         for given in _spellings(first or "") for family in _spellings(last or "")))


def _spellings(name: str) -> set[str]:
    """`name` with each word as written and as a keyboard without its letters spells it: the surviving 'Jürgen Weiß'
    is found as 'Jurgen' or 'Juergen Weiss', and 'Søren Jørgensen' as 'Soren Joergensen' (one word of each way: it
    found no one until the sixteenth session)."""
    letters = letter_spellings()
    return {" ".join(words) for words in itertools.product(*({w, spelled(w, letters)} for w in name.split(" ")))}


def _joined(name: str) -> str | None:
    """A name's match form without its spaces, so that a name is found however its words were cut: '山田太郎' typed as
    one word, Italian 'Deluca' or 'DAngelo' for the surviving 'De Luca', 'D'Angelo' (they found no one until the
    sixteenth session). None for no name (no two empty names match)."""
    return (match_form(name) or "").replace(" ", "") or None


def _formal_words(name: str) -> list[str]:
    """A name's words in match form, each short form read as its formal name: 'Margaret O'Neill' finds the customer
    whose surviving first name is 'Peggy' (it found no one). An apostrophe joins (`OBrien` is `O'Brien`, as a
    keyboard or a system without apostrophes writes it) and a hyphen parts (`Jean Pierre` is `Jean-Pierre`): each
    found no one written the other way."""
    nicknames = nickname_table()
    words = (match_form(re.sub(r"['’‘`´]", "", name)) or "").split()
    return sorted(nicknames.get(w, w) for w in words)


def needs_postcode(text: str) -> bool:
    """Whether `text` reads as a name, which is looked up with a postcode only (neither a contact point nor an id)."""
    text = unicodedata.normalize("NFKC", text)
    return not CUSTOMER_ID.match(text.strip()) and "@" not in text and not any(c.isdigit() for c in text)


def find(con: duckdb.DuckDBPyConnection, text: str, postcode: str | None = None,
         region: str | None = None) -> list[str]:
    """What customer service types: a customer id, an e-mail or phone (any spelling, older ones included), or a
    name with `postcode`. Full-width forms are read as what they stand for: an agent on a Chinese or Japanese keyboard
    types 'wang＠example.cn' (it was read as a name, and found no one)."""
    text = unicodedata.normalize("NFKC", text)
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
                                needs_repermission, undeliverable_since, first_seen_at, last_seen_at, sources
                         FROM marts.contact_points WHERE customer_id = ? ORDER BY kind, last_seen_at DESC""",
    "consent history": """SELECT occurred_at, channel, action, contact_point, source, source_record_id, collection_point
                          FROM marts.consent_history WHERE customer_id = ? ORDER BY occurred_at""",
    "timeline (latest 50)": """SELECT occurred_at, activity_type, channel, source, source_record_id, amount, currency,
                                      status, category FROM marts.customer_timeline WHERE customer_id = ?
                               ORDER BY occurred_at DESC NULLS LAST LIMIT 50""",
    "source records": "SELECT source, source_record_id FROM marts.customer_xref WHERE customer_id = ? ORDER BY ALL",
}


def present_sections(con: duckdb.DuckDBPyConnection, sections: dict[str, str]) -> dict[str, str]:
    """The sections (title -> one table's SELECT) whose table, the one after FROM, the database holds: a copy built
    before a table existed lacks it."""
    tables = {r[0] for r in con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                        "WHERE table_catalog = current_database()").fetchall()}
    return {title: sql for title, sql in sections.items() if sql.split(" FROM ")[1].split()[0] in tables}
