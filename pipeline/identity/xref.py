"""The published cross-reference: every staged person record, once, with its customer_id."""

# Every scored pair seen from each end: one row (unique_id, other, match_probability) per record and pair.
PAIR_ENDS_SQL = """
    SELECT unique_id_l AS unique_id, unique_id_r AS other, match_probability FROM identity.pairwise_predictions
    UNION ALL
    SELECT unique_id_r, unique_id_l, match_probability FROM identity.pairwise_predictions"""

CUSTOMER_XREF_SQL = f"""
WITH links AS ({PAIR_ENDS_SQL}
),
best_link AS (   -- the strongest link of a record to another record of the same customer
    SELECT links.unique_id, max(links.match_probability) AS match_probability
    FROM links
    JOIN identity.record_customer mine   ON mine.unique_id = links.unique_id
    JOIN identity.record_customer theirs ON theirs.unique_id = links.other
    WHERE mine.customer_id = theirs.customer_id
    GROUP BY links.unique_id
)
SELECT
    li.source,
    li.source_record_id,
    rc.customer_id,
    best_link.match_probability  -- NULL: the record is its customer's only record
FROM identity.linkage_input li
JOIN identity.record_customer rc USING (unique_id)
LEFT JOIN best_link USING (unique_id)
ORDER BY rc.customer_id, li.source, li.source_record_id
"""
