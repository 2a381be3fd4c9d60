"""The linkage input: staged person records reduced to the match forms Splink compares."""

LINKAGE_INPUT_SQL = """
SELECT
    source || ':' || source_record_id               AS unique_id,
    source,
    source_record_id,
    first_name_norm                                 AS first_name,
    first_name_canonical,
    last_name_norm                                  AS last_name,
    strftime(birth_date, '%Y-%m-%d')                AS birth_date,
    email_key                                       AS email,
    -- A mobile is personal; a landline is shared by a household, so they are compared apart.
    CASE WHEN phone_kind = 'mobile' THEN phone END  AS mobile,
    CASE WHEN phone_kind <> 'mobile' THEN phone END AS landline,
    street_norm                                     AS street,
    postcode,
    city_norm                                       AS city,
    -- Changes when anything compared changes: the incremental run relinks such records.
    md5(to_json([first_name_norm, first_name_canonical, last_name_norm, strftime(birth_date, '%Y-%m-%d'),
                 email_key, phone, phone_kind, street_norm, postcode, city_norm])) AS record_hash
FROM staging.person_records
ORDER BY unique_id
"""
