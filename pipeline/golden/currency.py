"""Amounts in the house currency: each converted from the currency it was delivered in, or kept out of the totals.

Staging keeps each amount's currency (the value's sign or code, else the sources file's; NULL: the house currency,
`Settings.currency`). Every total golden and the marts publish (revenue, RFM monetary, segment and household
figures) is in the house currency: an amount in another is converted with the operator's rate for that currency on
the amount's day (the latest rate dated on or before it, `exchange_rates.csv`). An amount with no such rate is never
added as it is: it is left out of the totals and listed, with why, in golden.unconverted_amounts (until 2026-11-29
`CHF 12.50`, `£3` and `€5` were added up as one currency, the sign dropped). Loyalty points are no money: they are
summed as delivered. The rates file is read as pipeline/currency.py says.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.currency import RATES, REVENUE, converted_sql, read_rates
from pipeline.warehouse import registered

UNCONVERTED = "golden.unconverted_amounts"


def write_rates(con: duckdb.DuckDBPyConnection, path: Path, house: str) -> int:
    """golden.exchange_rates from the file; the number of rates."""
    rates = read_rates(path, house)
    con.execute("CREATE SCHEMA IF NOT EXISTS golden")
    with registered(con, _rates=rates):
        con.execute(f"CREATE OR REPLACE TABLE {RATES} AS SELECT currency::VARCHAR AS currency, "
                    "valid_from::DATE AS valid_from, rate::DOUBLE AS rate FROM _rates ORDER BY ALL")
    return len(rates)


def unconverted_sql(foreign: bool) -> str:
    """golden.unconverted_amounts: each revenue amount of a published customer in_scope left out of the totals, with
    why (an excluded customer has no published total). Reads the view customer_activities_stitched
    (golden/sessions.py)."""
    return f"""SELECT customer_id, source, source_record_id, activity_type, occurred_at, amount_currency AS currency,
                      unconverted_reason AS reason
               FROM ({converted_sql("customer_activities_stitched", foreign)})
               WHERE unconverted_reason IS NOT NULL AND {REVENUE}
                 AND customer_id NOT IN (SELECT customer_id FROM golden.excluded_customers)"""


# golden.unconverted_amounts when every amount is in the house currency (unconverted_sql's columns).
EMPTY_UNCONVERTED_SQL = f"""CREATE OR REPLACE TABLE {UNCONVERTED} (customer_id VARCHAR, source VARCHAR,
    source_record_id VARCHAR, activity_type VARCHAR, occurred_at TIMESTAMP, currency VARCHAR, reason VARCHAR)"""
