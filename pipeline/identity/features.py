"""The linkage input: staged person records reduced to the match forms Splink compares."""

from __future__ import annotations

import duckdb

from pipeline.warehouse import table_exists

# Strong identifiers mapped in the sources file (`identifiers:`) become one column each, named by this prefix:
# sources that carry the same identifier name share the column, so the id links across them.
IDENTIFIER_PREFIX = "id_"


def identifier_columns(names: list[str]) -> list[str]:
    return [IDENTIFIER_PREFIX + n for n in names]


def identifier_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The identifier names the staged records carry (sorted): the model adapts to what was mapped."""
    if not table_exists(con, "staging.person_records") or "identifiers" not in {
            r[0] for r in con.execute("DESCRIBE staging.person_records").fetchall()}:
        return []
    return [r[0] for r in con.execute("""
        SELECT DISTINCT unnest(json_keys(identifiers::JSON)) AS name FROM staging.person_records
        WHERE identifiers IS NOT NULL ORDER BY 1""").fetchall() if r[0].isidentifier()]


def linkage_input_sql(identifiers: list[str] = ()) -> str:
    # Names are validated identifiers (config._identifiers, and re-checked above): safe in a JSON path.
    ids = "".join(f"\n    json_extract_string(identifiers, '$.{n}') AS {IDENTIFIER_PREFIX}{n},"
                  for n in identifiers)
    id_hash = "".join(f", json_extract_string(identifiers, '$.{n}')" for n in identifiers)
    return f"""
-- A record with one name, typed in the first-name field, whose value the data use as a surname more often than as
-- a first name ('descamps' alone on a ticket), is read as a surname: as a first name it would contradict the
-- person's real first name on every other record (a veto on household data) and never meet their surname.
WITH first_names AS (SELECT first_name_norm AS v, count(*) AS n FROM staging.person_records GROUP BY 1),
     last_names AS (SELECT last_name_norm AS v, count(*) AS n FROM staging.person_records GROUP BY 1),
     records AS (
         SELECT p.*, p.last_name_norm IS NULL AND coalesce(l.n, 0) > coalesce(f.n, 0) AS surname_in_first_name
         FROM staging.person_records p
         LEFT JOIN first_names f ON f.v = p.first_name_norm LEFT JOIN last_names l ON l.v = p.first_name_norm)
SELECT
    source || ':' || source_record_id               AS unique_id,
    source,
    source_record_id,
    CASE WHEN NOT surname_in_first_name THEN first_name_norm END            AS first_name,
    CASE WHEN NOT surname_in_first_name THEN first_name_canonical END       AS first_name_canonical,
    CASE WHEN surname_in_first_name THEN first_name_norm ELSE last_name_norm END AS last_name,
    strftime(birth_date, '%Y-%m-%d')                AS birth_date,
    email_key                                       AS email,
    -- A mobile is personal; a landline is shared by a household, so they are compared apart.
    CASE WHEN phone_kind = 'mobile' THEN phone END  AS mobile,
    CASE WHEN phone_kind <> 'mobile' THEN phone END AS landline,
    street_norm                                     AS street,
    postcode,
    city_norm                                       AS city,{ids}
    -- Changes when anything compared changes (the reading of a lone name too): the incremental run relinks such
    -- records.
    md5(to_json([first_name_norm, first_name_canonical, last_name_norm, strftime(birth_date, '%Y-%m-%d'),
                 email_key, phone, phone_kind, street_norm, postcode, city_norm{id_hash}])
        || CASE WHEN surname_in_first_name THEN 'surname in first name' ELSE '' END) AS record_hash
FROM records
ORDER BY unique_id
"""


# The input without identifiers (kept for readers of the plain query).
LINKAGE_INPUT_SQL = linkage_input_sql()
