"""Each staged person record (and activity) with its customer_id, for the customers in_scope (golden/changes.py):
the input of survivorship (and of consent)."""

GOLDEN_CANDIDATES_SQL = """
CREATE OR REPLACE TEMP VIEW golden_candidates AS
SELECT x.customer_id, p.*
FROM staging.person_records p
JOIN marts.customer_xref x USING (source, source_record_id)
WHERE in_scope(x.customer_id)
"""

# Activities reach their customer through the person record they belong to (their own, or the one
# `person_ref` names: an order's web account, a receipt's loyalty card). Anonymous rows have none.
CUSTOMER_ACTIVITIES_SQL = """
CREATE OR REPLACE TEMP VIEW customer_activities AS
SELECT x.customer_id, a.*
FROM staging.activities a
JOIN marts.customer_xref x ON x.source = a.person_source AND x.source_record_id = a.person_record_id
WHERE in_scope(x.customer_id)
"""
