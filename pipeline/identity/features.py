"""The linkage input: staged person records reduced to the match forms Splink compares."""

from __future__ import annotations

import duckdb

from pipeline.identity import spellings
from pipeline.identity.placeholders import is_placeholder
from pipeline.normalise.address import compared_postcode_sql
from pipeline.sql import scalar
from pipeline.warehouse import table_exists, transaction

# Strong identifiers mapped in the sources file (`identifiers:`) become one column each, named by this prefix:
# sources that carry the same identifier name share the column, so the id links across them.
IDENTIFIER_PREFIX = "id_"


def identifier_columns(names: list[str]) -> list[str]:
    return [IDENTIFIER_PREFIX + n for n in names]


# A record's further e-mails and phones (staging.person_contacts, the sources' `more_contacts`) that can link it: per
# kind, the record's own and further contact keys that are some record's further one, NULL when none. Only such keys:
# a pair sharing an own e-mail, mobile or landline is compared and blocked by those columns already, and the arrays
# (and the exploded blocking over `contact_keys`, all kinds) stay as small as the further contacts are few. Absent from
# the input (and so from the model) where no source declares further contacts: those bases are linked as before.
FURTHER_CONTACTS = ("more_emails", "more_mobiles", "more_landlines")
CONTACT_KEYS = "contact_keys"


def has_further_contacts(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any staged record holds a valid further contact (the linkage input then carries FURTHER_CONTACTS)."""
    return table_exists(con, "staging.person_contacts") and bool(scalar(
        con, "SELECT count(*) > 0 FROM staging.person_contacts WHERE valid AND contact_key IS NOT NULL"))


# The kind of each key, as the record's own phone is split (a mobile personal, any other phone a landline).
FURTHER_CONTACTS_SQL = f"""
     further_contacts AS (  -- placeholders (placeholders.py) are no one's
         SELECT * FROM staging.person_contacts WHERE valid AND contact_key IS NOT NULL
             AND NOT (CASE WHEN kind = 'email' THEN {is_placeholder("email", "contact_key")}
                      ELSE {is_placeholder("phone", "contact_key")} END)),
     further_keys AS (SELECT DISTINCT contact_key AS k FROM further_contacts),
     contact_kinds AS (
         SELECT source, source_record_id, contact_key AS k,
                CASE WHEN kind = 'email' THEN 'e' WHEN phone_kind = 'mobile' THEN 'm' ELSE 'l' END AS kind
         FROM further_contacts
         UNION
         SELECT source, source_record_id, k, kind FROM (
             SELECT source, source_record_id, email_key AS k, 'e' AS kind FROM staging.person_records
             UNION ALL
             SELECT source, source_record_id, phone, CASE WHEN phone_kind = 'mobile' THEN 'm' ELSE 'l' END
             FROM staging.person_records WHERE phone_kind IS NOT NULL) o SEMI JOIN further_keys USING (k)),
     further AS (
         SELECT source, source_record_id,
                list(k ORDER BY k) FILTER (WHERE kind = 'e') AS more_emails,
                list(k ORDER BY k) FILTER (WHERE kind = 'm') AS more_mobiles,
                list(k ORDER BY k) FILTER (WHERE kind = 'l') AS more_landlines,
                list(k ORDER BY k) AS contact_keys
         FROM contact_kinds GROUP BY ALL),"""


def identifier_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The identifier names the staged records carry (sorted): the model adapts to what was mapped."""
    if not table_exists(con, "staging.person_records") or "identifiers" not in {
            r[0] for r in con.execute("DESCRIBE staging.person_records").fetchall()}:
        return []
    return [r[0] for r in con.execute("""
        SELECT DISTINCT unnest(json_keys(identifiers::JSON)) AS name FROM staging.person_records
        WHERE identifiers IS NOT NULL ORDER BY 1""").fetchall() if r[0].isidentifier()]


# The names a record's e-mail mailbox spells, for a record that lacks them: 'jean.dupont@...', 'dupont.jean@...',
# 'j.dupont@...' or 'jeandupont@...' on a consent event that carries only the first name 'jean' (or no name) names a
# Jean Dupont. Read only where the mailbox is two words (letters; digits and separators dropped) that the record's own
# first name, or its initial, explains, the other word then being its surname; or, on a record without a first name,
# where one word is held by the data as a first name more often than as a surname and the other the reverse. A
# surname so read must be one the data hold as a surname more often than as a first name; a word that is neither
# ('famille' in 'dupont.famille@', a household's e-mail) reads nothing. A mailbox in one word is read only around the
# record's own first name ('jeandupont', 'dupontjean') or its initial ('jdupont'), or, on a record without names, where
# exactly one cut of it is a first name then a surname by the same counts ('jeandupont' on a consent event that holds
# only an e-mail: the record would otherwise share nothing with the person's other records). A two-word mailbox the
# record's first name does not explain ('dupont.famille@', or 'jean.dupont@' on Marie's record: a household's or another
# member's) gives the record its surname when exactly one word is one by the same counts: a member shares the
# household's surname (20k seed 257: such pairs 0.93 true; F1 +0.0002-0.0004 on three seeds, bench/HISTORY.md `blk22`).
# Typed names are never replaced.
MAILBOX_NAMES_SQL = """
     own AS (SELECT *, CASE WHEN NOT surname_in_first_name THEN first_name_norm END AS own_first,
                    last_name_norm IS NULL AND NOT surname_in_first_name AS lacks_last FROM records),
     guessed AS (
         SELECT *,
             CASE WHEN NOT lacks_last OR len(box) NOT IN (1, 2) THEN NULL
                  WHEN own_first IS NOT NULL AND len(box) = 2 THEN
                      CASE WHEN box[1] IN (own_first, left(own_first, 1)) THEN box[2]
                           WHEN box[2] IN (own_first, left(own_first, 1)) THEN box[1] END
                  WHEN own_first IS NOT NULL AND length(box[1]) > length(own_first) + 1 THEN
                      CASE WHEN starts_with(box[1], own_first) THEN box[1][length(own_first) + 1:]
                           WHEN ends_with(box[1], own_first) THEN box[1][:length(box[1]) - length(own_first)] END
             END AS own_guess,
             len(box) = 2 AND own_first IS NULL AND first_name_norm IS NULL AND last_name_norm IS NULL AS both_guess,
             -- two words, neither the record's first name: a household's or another member's mailbox
             lacks_last AND own_first IS NOT NULL AND len(box) = 2 AND own_guess IS NULL AS house
         FROM own),
     scored AS (
         SELECT g.*, coalesce(f1.n, 0) AS f1, coalesce(l1.n, 0) AS l1, coalesce(f2.n, 0) AS f2, coalesce(l2.n, 0) AS l2,
                coalesce(fo.n, 0) AS fo, coalesce(lo.n, 0) AS lo, coalesce(fi.n, 0) AS fi, coalesce(li.n, 0) AS li,
                f1.canonical AS c1, f2.canonical AS c2
         FROM guessed g
         LEFT JOIN first_names f1 ON (g.both_guess OR g.house) AND f1.v = g.box[1]
         LEFT JOIN last_names l1 ON (g.both_guess OR g.house) AND l1.v = g.box[1]
         LEFT JOIN first_names f2 ON (g.both_guess OR g.house) AND f2.v = g.box[2]
         LEFT JOIN last_names l2 ON (g.both_guess OR g.house) AND l2.v = g.box[2]
         LEFT JOIN first_names fo ON fo.v = g.own_guess LEFT JOIN last_names lo ON lo.v = g.own_guess
         -- one word: the record's initial glued to a surname ('jdupont')
         LEFT JOIN first_names fi ON g.own_guess IS NULL AND g.lacks_last AND len(g.box) = 1
              AND starts_with(g.box[1], left(g.own_first, 1)) AND fi.v = g.box[1][2:]
         LEFT JOIN last_names li ON g.own_guess IS NULL AND g.lacks_last AND len(g.box) = 1
              AND starts_with(g.box[1], left(g.own_first, 1)) AND li.v = g.box[1][2:]),
     cuts AS (  -- a one-word mailbox of a record without names: its cuts into a first name then a surname
         SELECT source, source_record_id, any_value(f.v) AS cut_first, any_value(f.canonical) AS cut_first_canonical,
                any_value(l.v) AS cut_last
         FROM (SELECT source, source_record_id, box[1] AS word, unnest(range(2, length(box[1]) - 1)) AS i
               FROM own WHERE len(box) = 1 AND own_first IS NULL AND first_name_norm IS NULL AND lacks_last) w
         JOIN first_names f ON f.v = w.word[:w.i] JOIN last_names l ON l.v = w.word[w.i + 1:]
         LEFT JOIN last_names fl ON fl.v = f.v LEFT JOIN first_names lf ON lf.v = l.v
         WHERE f.n > coalesce(fl.n, 0) AND l.n > coalesce(lf.n, 0)
         GROUP BY ALL HAVING count(*) = 1),
     mailbox_named AS (
         SELECT *,
             CASE WHEN both_guess AND f1 > l1 AND l2 > f2 THEN box[1] WHEN both_guess AND f2 > l2 AND l1 > f1 THEN box[2]
                  ELSE cut_first END AS box_first,
             CASE WHEN both_guess AND f1 > l1 AND l2 > f2 THEN coalesce(c1, box[1])
                  WHEN both_guess AND f2 > l2 AND l1 > f1 THEN coalesce(c2, box[2])
                  ELSE coalesce(cut_first_canonical, cut_first) END AS box_first_canonical,
             CASE WHEN own_guess IS NOT NULL AND lo > fo THEN own_guess
                  WHEN own_guess IS NULL AND li > fi THEN box[1][2:]
                  WHEN both_guess AND f1 > l1 AND l2 > f2 THEN box[2] WHEN both_guess AND f2 > l2 AND l1 > f1 THEN box[1]
                  WHEN house AND l1 > f1 AND NOT l2 > f2 THEN box[1] WHEN house AND l2 > f2 AND NOT l1 > f1 THEN box[2]
                  ELSE cut_last END AS box_last
         FROM scored LEFT JOIN cuts USING (source, source_record_id))"""


_WITHOUT_PLACEHOLDERS = f"""REPLACE (
    CASE WHEN {is_placeholder("email", "email_key")} THEN NULL ELSE email_key END AS email_key,
    CASE WHEN {is_placeholder("phone", "phone")} THEN NULL ELSE phone END AS phone,
    CASE WHEN {is_placeholder("phone", "phone")} THEN NULL ELSE phone_kind END AS phone_kind)"""


# A name or city in its language's ASCII spelling is read as the name with its letter (spellings.py: `mueller` is
# `muller` where the data hold `Müller`), the names read from a mailbox too; a nickname's formal name is left as it is.
# Applied to the input's names, not to the staged ones the name counts and the mailbox reading use (read from a
# mapped base, the mailbox's `haering` was no surname the data hold, and two records lost theirs). The record's hash
# changes only where a spelling is read, so a warehouse holding none relinks nothing.
_SPELLED = f"""
SELECT i.* REPLACE (
    coalesce(sf.canonical, i.first_name) AS first_name,
    CASE WHEN i.first_name_canonical = i.first_name THEN coalesce(sf.canonical, i.first_name_canonical)
         ELSE i.first_name_canonical END AS first_name_canonical,
    coalesce(sl.canonical, i.last_name) AS last_name,
    coalesce(sc.canonical, i.city) AS city,
    CASE WHEN sf.canonical IS NULL AND sl.canonical IS NULL AND sc.canonical IS NULL THEN i.record_hash
         ELSE md5(concat_ws('|', i.record_hash, sf.canonical, sl.canonical, sc.canonical)) END AS record_hash)
FROM ({{}}) i
LEFT JOIN {spellings.TABLE} sf ON sf.spelling = i.first_name
LEFT JOIN {spellings.TABLE} sl ON sl.spelling = i.last_name
LEFT JOIN {spellings.TABLE} sc ON sc.spelling = i.city"""


def linkage_input_sql(identifiers: list[str] = (), further: bool = False, placeholders: bool = True,
                      spelled: bool = False) -> str:
    """The linkage input's SELECT; `further` (has_further_contacts) adds FURTHER_CONTACTS and CONTACT_KEYS;
    `placeholders` reads the values placeholders.refresh listed as empty (its table must exist); `spelled` reads
    the names spellings.refresh listed as their letter's match form (its table must exist)."""
    # Names are validated identifiers (config._identifiers, and re-checked above): safe in a JSON path.
    ids = "".join(f"\n    json_extract_string(identifiers, '$.{n}') AS {IDENTIFIER_PREFIX}{n},"
                  for n in identifiers)
    id_hash = "".join(f", json_extract_string(identifiers, '$.{n}')" for n in identifiers)
    more = "".join(f"\n    {c}," for c in (*FURTHER_CONTACTS, CONTACT_KEYS)) if further else ""
    more_hash = f", to_json([{', '.join(FURTHER_CONTACTS)}])::VARCHAR" if further else ""
    query = f"""
-- A record with one name, typed in the first-name field, whose value the data use as a surname more often than as
-- a first name ('descamps' alone on a ticket), is read as a surname: as a first name it would contradict the
-- person's real first name on every other record (a veto on household data) and never meet their surname.
WITH first_names AS (SELECT first_name_norm AS v, count(*) AS n, any_value(first_name_canonical) AS canonical
                     FROM staging.person_records GROUP BY 1),
     last_names AS (SELECT last_name_norm AS v, count(*) AS n FROM staging.person_records GROUP BY 1),
     -- an e-mail or phone many people hold is no one's (placeholders.py): read as empty, in the hash too
     persons AS (
         SELECT * {_WITHOUT_PLACEHOLDERS if placeholders else ""} FROM staging.person_records),
     records AS (
         SELECT p.*, p.last_name_norm IS NULL AND coalesce(l.n, 0) > coalesce(f.n, 0) AS surname_in_first_name,
                -- the mailbox's words: read only for a record without a surname (a regex on every e-mail cost more)
                CASE WHEN p.last_name_norm IS NULL
                     THEN regexp_extract_all(split_part(p.email_key, '@', 1), '[a-z]+') END AS box
         FROM persons p
         LEFT JOIN first_names f ON f.v = p.first_name_norm LEFT JOIN last_names l ON l.v = p.first_name_norm),
     {FURTHER_CONTACTS_SQL if further else ""}
     {MAILBOX_NAMES_SQL}
SELECT
    source || ':' || source_record_id               AS unique_id,
    source,
    source_record_id,
    coalesce(CASE WHEN NOT surname_in_first_name THEN first_name_norm END, box_first)          AS first_name,
    coalesce(CASE WHEN NOT surname_in_first_name THEN first_name_canonical END, box_first_canonical)
                                                                                           AS first_name_canonical,
    coalesce(CASE WHEN surname_in_first_name THEN first_name_norm ELSE last_name_norm END, box_last) AS last_name,
    strftime(birth_date, '%Y-%m-%d')                AS birth_date,
    email_key                                       AS email,
    -- A mobile is personal; a landline is shared by a household, so they are compared apart.
    CASE WHEN phone_kind = 'mobile' THEN phone END  AS mobile,
    CASE WHEN phone_kind <> 'mobile' THEN phone END AS landline,
    street_norm                                     AS street,
    -- A US ZIP+4 is compared as its ZIP ('10118-0110' / '10118' were two postcodes, the address's exact levels lost).
    {compared_postcode_sql('postcode')} AS postcode,
    city_norm                                       AS city,{ids}{more}
    -- Changes when anything compared changes (the reading of a lone name too): the incremental run relinks such
    -- records. Not the names read from a mailbox: they follow from the e-mail, in the hash, and the data's name counts,
    -- which a purge or a day's records shift for a borderline word; an unchanged record keeps the pairs it was scored
    -- with until the next full re-link (a rerun of the same day must stay 'unchanged', tests/test_incremental.py).
    md5(to_json([first_name_norm, first_name_canonical, last_name_norm, strftime(birth_date, '%Y-%m-%d'),
                 email_key, phone, phone_kind, street_norm, postcode, city_norm{id_hash}{more_hash}])
        || CASE WHEN surname_in_first_name THEN 'surname in first name' ELSE '' END) AS record_hash
FROM mailbox_named{" LEFT JOIN further USING (source, source_record_id)" if further else ""}
"""  # unordered (sorting every row here cost ~0.1 CPU s at 1M): write_linkage_input sorts what it writes, and its
#   appended rows come after the others, so a reader that needs unique_id order asks for it
    return _SPELLED.format(query) if spelled else query


# The input without identifiers, further contacts or placeholders: readers of staging alone (the plain query).
LINKAGE_INPUT_SQL = linkage_input_sql(placeholders=False)


# A table's rows by unique_id, each with a hash of the whole row (as golden's changed rows compare theirs).
_ROW_HASHES = "SELECT unique_id, hash(r) AS h FROM {} r"


def write_linkage_input(con: duckdb.DuckDBPyConnection, candidate: str) -> int | None:
    """Bring identity.linkage_input to `candidate` (a table of linkage_input_sql's rows), in one transaction: only
    the rows that differ, appeared or left are deleted and inserted (a day changes ~1 % of them; writing the whole
    table cost more than the query). Written whole (returns None) when the table is missing or of other columns;
    else returns the rows replaced. Rows appended are out of unique_id order: a reader that needs an order asks."""
    same = table_exists(con, "identity.linkage_input") and con.execute("DESCRIBE identity.linkage_input").fetchall() \
        == con.execute(f"DESCRIBE {candidate}").fetchall()
    with transaction(con):
        if not same:
            con.execute(f"CREATE OR REPLACE TABLE identity.linkage_input AS SELECT * FROM {candidate} ORDER BY unique_id")
            return None
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _linkage_differs AS
            SELECT unique_id FROM ({_ROW_HASHES.format(candidate)}) n
            FULL JOIN ({_ROW_HASHES.format("identity.linkage_input")}) o USING (unique_id)
            WHERE n.h IS DISTINCT FROM o.h""")
        con.execute("DELETE FROM identity.linkage_input WHERE unique_id IN (SELECT unique_id FROM _linkage_differs)")
        con.execute(f"""INSERT INTO identity.linkage_input SELECT * FROM {candidate}
            WHERE unique_id IN (SELECT unique_id FROM _linkage_differs) ORDER BY unique_id""")
        return scalar(con, "SELECT count(*) FROM _linkage_differs")
