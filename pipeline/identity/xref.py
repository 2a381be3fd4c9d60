"""The published cross-reference: every staged person record, once, with its customer_id."""

# Every scored pair seen from each end: one row (unique_id, other, match_probability) per record and pair.
PAIR_ENDS_SQL = """
    SELECT unique_id_l AS unique_id, unique_id_r AS other, match_probability FROM identity.pairwise_predictions
    UNION ALL
    SELECT unique_id_r, unique_id_l, match_probability FROM identity.pairwise_predictions"""

# Each scored pair of two records of one customer is found once (joined to the customers once, not per end), then
# counted for both its records. The pairs take their left end's customer first (MATERIALIZED): left to itself, DuckDB
# joined the customers' records to each other on customer_id (a million rows at 1M) before meeting the pairs, ~0.35
# of the query's ~1.2 CPU s there. No ORDER BY: the table is merged customer by customer
# (changes.replace_changed_rows), its rows in no particular order.
CUSTOMER_XREF_SQL = """
WITH pair_customer AS MATERIALIZED (
    SELECT p.unique_id_l, p.unique_id_r, p.match_probability, l.customer_id
    FROM identity.pairwise_predictions p
    JOIN identity.record_customer l ON l.unique_id = p.unique_id_l
),
same_customer AS (
    SELECT p.unique_id_l, p.unique_id_r, p.match_probability
    FROM pair_customer p
    JOIN identity.record_customer r ON r.unique_id = p.unique_id_r AND r.customer_id = p.customer_id
),
best_link AS (   -- the strongest link of a record to another record of the same customer
    SELECT unique_id, max(match_probability) AS match_probability
    FROM (SELECT unique_id_l AS unique_id, match_probability FROM same_customer
          UNION ALL
          SELECT unique_id_r, match_probability FROM same_customer)
    GROUP BY unique_id
)
SELECT
    li.source,
    li.source_record_id,
    rc.customer_id,
    best_link.match_probability  -- NULL: the record is its customer's only record
FROM identity.linkage_input li
JOIN identity.record_customer rc USING (unique_id)
LEFT JOIN best_link USING (unique_id)
"""
