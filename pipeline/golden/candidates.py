"""Each staged person record (and activity) with its customer_id, for the customers in_scope (golden/changes.py):
the input of survivorship (and of consent)."""

from pipeline.identity.placeholders import CREATE_SQL as PLACEHOLDERS_TABLE_SQL
from pipeline.identity.placeholders import is_placeholder

# The record keys of the customers in_scope with their customer_id, made a table first (the scope defined before):
# filtered on the scope inside a join, DuckDB joined every record (and activity) of the base to its customer before
# the filter, whole-base work on an incremental day (~1 CPU s per query at 1M source records). Each view below
# that reads it creates it again, so it follows the scope it is created under.
SCOPED_XREF_SQL = """
CREATE OR REPLACE TEMP TABLE scoped_xref AS
SELECT source, source_record_id, customer_id FROM marts.customer_xref WHERE in_scope(customer_id)
"""

# An e-mail or phone many people hold (identity/placeholders.py) is no one's: not valid, so it never survives as a
# customer's value nor makes a contact point contactable.
# `name_in_customer_script`: whether the record's name is written in Latin letters as its customer's most trusted
# named record's is (ordered as survivorship breaks ties), or in another script as that one's. The first and last
# names survive by their own rules; both prefer these records, so a customer whose Russian CRM writes 'Иван Иванов'
# and a web shop 'Ivan Ivanov' is not displayed 'Иван Ivanov' (nor a Greek one 'Γεώργιος Papadopoulos').
_LATIN_NAME = r"regexp_full_match(coalesce(p.last_name, p.first_name), '[\x{0}-\x{24f}\x{1e00}-\x{1eff}]*')"
GOLDEN_CANDIDATES_SQL = SCOPED_XREF_SQL + f""";
CREATE SCHEMA IF NOT EXISTS identity;
{PLACEHOLDERS_TABLE_SQL};
CREATE OR REPLACE TEMP VIEW golden_candidates AS
SELECT x.customer_id, p.* REPLACE (
    p.email_valid AND NOT coalesce({is_placeholder("email", "p.email_key")}, false) AS email_valid,
    p.phone_valid AND NOT coalesce({is_placeholder("phone", "p.phone")}, false) AS phone_valid),
    coalesce({_LATIN_NAME} = first_value({_LATIN_NAME} IGNORE NULLS) OVER (
        PARTITION BY x.customer_id ORDER BY p.trust_rank, p.record_updated_at DESC NULLS LAST,
        p.record_delivered_at DESC NULLS LAST, p.source, p.source_record_id
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), true) AS name_in_customer_script
FROM staging.person_records p
JOIN scoped_xref x USING (source, source_record_id)
"""

# Activities reach their customer through the person record they belong to (their own, or the one
# `person_ref` names: an order's web account, a receipt's loyalty card). Anonymous rows have none.
CUSTOMER_ACTIVITIES_SQL = SCOPED_XREF_SQL + """;
CREATE OR REPLACE TEMP VIEW customer_activities AS
SELECT x.customer_id, a.*
FROM staging.activities a
JOIN scoped_xref x ON x.source = a.person_source AND x.source_record_id = a.person_record_id
"""
