"""Households: customers living together, from the golden address + surname and shared contact points.

Two customers are one household when they share a normalised street + postcode + surname, a landline, or
an e-mail (a family mailbox). household_id is opaque and stable while the household's earliest customer
stays in it. Drawn by identity/households.py, the routine the household-resolved attachment uses over clusters."""

from __future__ import annotations

import duckdb

from pipeline.identity.households import household_keys_sql, household_labels
from pipeline.sql import scalar
from pipeline.warehouse import create_table_as, registered

# Published customers only: an erased or expired person neither joins nor names anyone's household.
CUSTOMERS_SQL = """
    CREATE OR REPLACE TEMP TABLE _household_customers AS
    SELECT customer_id, (row_number() OVER (ORDER BY customer_id) - 1)::BIGINT AS i,
           street_norm, postcode, last_name_norm, landline, email
    FROM golden.customer_profile
    WHERE customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)"""
# A mobile is one person's line: it draws no household among customers.
KEYS_SQL = household_keys_sql("_household_customers", "i", "street_norm", "postcode", "last_name_norm",
                              {"landline": "landline", "email": "email"})
# The household's earliest customer is its component's smallest customer id (customers are numbered in id order).
HOUSEHOLDS_SQL = """
    SELECT c.customer_id, 'H' || upper(left(sha256(r.customer_id), 15)) AS household_id
    FROM _household_customers c JOIN _household_labels l USING (i) JOIN _household_customers r ON r.i = l.root_i
    ORDER BY c.customer_id"""


def build_households(con: duckdb.DuckDBPyConnection) -> None:
    """Replace golden.households (customer_id, household_id) from golden.customer_profile."""
    con.execute(CUSTOMERS_SQL)
    n = scalar(con, "SELECT count(*) FROM _household_customers")
    try:
        with registered(con, _household_labels=household_labels(con, KEYS_SQL, n)):
            create_table_as(con, "golden.households", HOUSEHOLDS_SQL)
    finally:
        con.execute("DROP TABLE _household_customers")
