"""marts.household: one row per household of marts.customer_360, its members and their figures.

A household's row reads its members' customer_360 rows alone. On an incremental day only the households that hold,
or held, a customer whose customer_360 row changed are computed again (changes.replace_changed_rows records those
customers); the copies merge the same households (assets/publication.py)."""

from __future__ import annotations

import duckdb

from pipeline.golden.changes import CHANGED_ROWS, GENERATION, changed_rows, is_full, same_columns
from pipeline.marts.customer_360 import ROWS
from pipeline.sql import exact_sum, scalar
from pipeline.warehouse import create_table_as, table_exists, transaction

TABLE = "marts.household"

# Every member-picking aggregate names its member (the first customer_id, the best spender then the first
# customer_id): marts.customer_360 is merged customer by customer, so its rows are in no particular order.
def household_sql(members: str = "marts.customer_360") -> str:
    """The household rows of the customer_360 rows in `members` (a relation holding every member of its households)."""
    return f"""
SELECT household_id,
       count(*)                                   AS members,
       list(customer_id ORDER BY customer_id)     AS member_ids,
       arg_min(postcode, customer_id)             AS postcode,
       arg_min(country, customer_id)              AS country,  -- the analysts' copy derives départements for FR only
       arg_min(city, customer_id)                 AS city,
       arg_min(region, customer_id)               AS region,
       {exact_sum('coalesce(monetary, 0)')} AS household_revenue,
       {exact_sum('coalesce(revenue_12m, 0)')} AS household_revenue_12m,
       arg_min(loyalty_tier, (-coalesce(revenue_12m, 0), customer_id)) AS best_member_tier
FROM {members}
GROUP BY household_id
ORDER BY household_id
"""


def households_of(customers: str, *households: str) -> str:
    """The household ids (NULL too: the customers without a household make one row) that hold a customer of
    `customers` (a relation of customer_id) in marts.customer_360 or in any of `households` (tables of the
    household mart: its rows as they were)."""
    return " UNION ".join(
        [f"SELECT household_id FROM marts.customer_360 WHERE customer_id IN (SELECT customer_id FROM {customers})"]
        + [f"SELECT household_id FROM (SELECT household_id, unnest(member_ids) AS customer_id FROM {h}) "
           f"WHERE customer_id IN (SELECT customer_id FROM {customers})" for h in households])


def build_household(con: duckdb.DuckDBPyConnection) -> int | None:
    """Bring marts.household up to date with marts.customer_360: whole on a full run (or when missing or of other
    columns, returns None), else the households of the customers whose customer_360 rows changed since the
    committed generation, deleted and computed again in one transaction (returns how many)."""
    if is_full(con) or not all(table_exists(con, t) for t in (TABLE, GENERATION, CHANGED_ROWS)) \
            or not same_columns(con, TABLE, f"({household_sql()})"):
        create_table_as(con, TABLE, household_sql())
        return None
    changed = changed_rows(ROWS.split(".")[1], scalar(con, f"SELECT current FROM {GENERATION}"))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _households AS {households_of(changed, TABLE)}")
    with transaction(con):
        con.execute(f"DELETE FROM {TABLE} h USING _households k WHERE h.household_id IS NOT DISTINCT FROM k.household_id")
        members = ("(SELECT c.* FROM marts.customer_360 c "
                   "SEMI JOIN _households k ON c.household_id IS NOT DISTINCT FROM k.household_id)")
        con.execute(f"INSERT INTO {TABLE} {household_sql(members)}")
    return scalar(con, "SELECT count(*) FROM _households")
