"""Contact values that belong to no one: a till's `pasdemail@enseigne.fr` or `06 00 00 00 00` typed for every customer
who gives none, a form's `noemail@...`, a shop's switchboard number on every card.

Held by many people, such a value made them one person to identity: two people sharing an e-mail is strong evidence,
so 170 of 1,163 loyalty cards under one placeholder e-mail took precision from 0.997 to 0.978 on a 2,000-person demo,
and its pairs (names and birth dates far apart) taught the model that a shared e-mail means little, for everyone:
recall 0.967 -> 0.848. At scale the value's block is over the comparison budget and e-mail blocking is left out for
all. And the golden record published it as 65 customers' e-mail, contactable.

A value held by more person records than one customer may hold (the linkage policy's `max_cluster_size`, the
operator's bound: a cluster never grows past it) cannot be one person's: it is left out of identity (the linkage
input reads it as empty: blocking, scoring, the learned u, clustering's contact rules) and out of the golden record
(not valid: never a customer's surviving e-mail or phone, never contactable), and kept in the staged records as
delivered. Every run looks at every staged record (own and further contacts) for values newly over the bound, kept
apart for that run so that the golden layer recomputes the customers holding them. A value once listed stays listed,
however few records hold it later: the till's remaining placeholders would otherwise make their holders one person
again as soon as some customers gave a real address. A value held by fewer records (a small store's few
placeholders) is not caught: it looks like a household's.
"""

from __future__ import annotations

import duckdb

from pipeline.sql import scalar
from pipeline.warehouse import table_exists, transaction

TABLE = "identity.placeholder_contacts"  # kind ('email' match key, 'phone' E.164), contact_key, records when listed
MOVES = "identity.placeholder_moves"     # the values listed in TABLE this run (kind, contact_key)
CREATE_SQL = f"CREATE TABLE IF NOT EXISTS {TABLE} (kind VARCHAR, contact_key VARCHAR, records BIGINT)"

def is_placeholder(kind: str, expression: str) -> str:
    """SQL: the e-mail match key or phone `expression` is a placeholder (`kind` 'email' or 'phone'): the readers' one
    spelling."""
    return f"{expression} IN (SELECT contact_key FROM {TABLE} WHERE kind = '{kind}')"


def _held_sql(further: bool) -> str:
    more = ("UNION ALL SELECT kind, contact_key FROM staging.person_contacts WHERE contact_key IS NOT NULL"
            if further else "")
    return f"""
SELECT kind, contact_key, count(*) AS records FROM (
    SELECT 'email' AS kind, email_key AS contact_key FROM staging.person_records WHERE email_key IS NOT NULL
    UNION ALL SELECT 'phone', phone FROM staging.person_records WHERE phone IS NOT NULL
    {more})
GROUP BY ALL HAVING count(*) > $limit"""


def refresh(con: duckdb.DuckDBPyConnection, limit: int) -> dict[str, int]:
    """List the values of the staged records newly over `limit` in TABLE and, for this run, in MOVES, in one
    transaction; counts per kind, no value."""
    further = table_exists(con, "staging.person_contacts")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _placeholders AS {_held_sql(further)}", {"limit": limit})
    with transaction(con):
        con.execute(CREATE_SQL)
        con.execute(f"""CREATE OR REPLACE TABLE {MOVES} AS
            SELECT kind, contact_key FROM _placeholders EXCEPT SELECT kind, contact_key FROM {TABLE}""")
        con.execute(f"""INSERT INTO {TABLE} SELECT * FROM _placeholders
            WHERE (kind, contact_key) IN (SELECT (kind, contact_key) FROM {MOVES})""")
    counts = dict(con.execute(f"SELECT kind, sum(records) FROM {TABLE} GROUP BY 1").fetchall())
    return {"placeholder_emails_records": int(counts.get("email", 0)),
            "placeholder_phones_records": int(counts.get("phone", 0)),
            "placeholder_values": scalar(con, f"SELECT count(*) FROM {TABLE}"),
            "placeholder_values_moved": scalar(con, f"SELECT count(*) FROM {MOVES}")}


def moved_holders_sql(further: bool) -> str:
    """SQL of the records (source, source_record_id) holding a value listed as a placeholder this run:
    their customers' golden e-mail, phone and contact points change with it."""
    more = (f"UNION SELECT source, source_record_id FROM staging.person_contacts c JOIN {MOVES} m "
            "ON m.kind = c.kind AND m.contact_key = c.contact_key" if further else "")
    return f"""
SELECT source, source_record_id FROM staging.person_records WHERE email_key IN (
    SELECT contact_key FROM {MOVES} WHERE kind = 'email')
UNION SELECT source, source_record_id FROM staging.person_records WHERE phone IN (
    SELECT contact_key FROM {MOVES} WHERE kind = 'phone')
{more}"""
