"""Money across currencies, read by identity (the review queue's spend) and golden (every published total).

The operator's rates file (CSV, header `date,from_currency,to_currency,rate`): one unit of `from_currency` is worth
`rate` units of `to_currency` from `date` (YYYY-MM-DD; empty: from any date) until that pair's next dated row. Rows
into the house currency are used as they are, rows out of it inverted (an ECB table `EUR,USD,1.08` serves a EUR
house); rows between two other currencies are not used (no cross rates are guessed). pipeline/golden/currency.py
says how golden uses them.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import SourcesFileError, currency_code

RATES = "golden.exchange_rates"  # currency, valid_from, rate (units of house currency per unit)
RATE_COLUMNS = ("date", "from_currency", "to_currency", "rate")
_ANY_DAY = date(1, 1, 1)  # an undated rate's valid_from


class RatesFileError(SourcesFileError):
    """The exchange rates file cannot be read as documented (line and what is wrong; rates are no personal data)."""


def read_rates(path: Path, house: str) -> pd.DataFrame:
    """The rates into `house` the file gives (currency, valid_from, rate), one per currency and day; empty when the
    file is absent. RatesFileError for a malformed file."""
    rows = _read(path, house) if path.exists() else {}
    # dates as Python's (an undated rate's year 1 is beyond pandas' own timestamps)
    return pd.DataFrame({"currency": pd.Series([c for c, _ in rows], dtype=object),
                         "valid_from": pd.Series([d for _, d in rows], dtype=object),
                         "rate": pd.Series(list(rows.values()), dtype="float64")})


def _read(path: Path, house: str) -> dict[tuple[str, date], float]:
    """(currency, valid from) -> units of `house` per unit, from the file's rows into or out of `house`."""
    rows: dict[tuple[str, date], float] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(c.strip().lower() for c in reader.fieldnames or ()) != RATE_COLUMNS:
            raise RatesFileError(f"{path.name}: the header must be {','.join(RATE_COLUMNS)}, not {reader.fieldnames}")
        for line, row in enumerate(reader, 2):
            where = f"{path.name}, line {line}"
            try:
                values = {k.strip().lower(): (v or "").strip() for k, v in row.items()}
                day = date.fromisoformat(values["date"]) if values["date"] else _ANY_DAY
                rate = float(values["rate"].replace(",", "."))
            except (ValueError, AttributeError) as error:
                raise RatesFileError(f"{where}: {error}") from None
            source, target = (currency_code(where, values[k]) for k in ("from_currency", "to_currency"))
            if not rate > 0 or rate == float("inf"):
                raise RatesFileError(f"{where}: a rate is a positive number")
            if target == house and source != house:
                rows[(source, day)] = rate
            elif source == house and target != house:
                rows.setdefault((target, day), 1 / rate)  # a direct rate of that day wins over an inverted one
    return rows


def rates_version(path: Path, house: str) -> str:
    """Changes with the house currency and the rates file's content: every customer's totals are then recomputed."""
    content = path.read_bytes() if path.exists() else b""
    return hashlib.sha256(house.encode() + b"|" + content).hexdigest()[:16]


def foreign_amounts(con: duckdb.DuckDBPyConnection, house: str) -> bool:
    """Whether staging holds an amount in another currency than the house's (else nothing needs converting)."""
    return bool(con.execute("SELECT count(*) FROM (FROM staging.activities WHERE currency <> ? LIMIT 1)",
                            [house]).fetchall()[0][0])


def converted_sql(relation: str, foreign: bool, rates: str = RATES) -> str:
    """`relation`'s rows with `amount_currency` (NULL currency: the house's, `$currency`), `amount_converted` (the
    amount in the house currency, NULL when no rate converts it) and `unconverted_reason`. `foreign`
    (foreign_amounts): whether any amount needs a rate; without one the amounts stay as they are, and no join.
    `rates`: the relation of read_rates' columns (golden.exchange_rates, or a frame registered under that name)."""
    if not foreign:
        return f"""SELECT *, coalesce(currency, $currency) AS amount_currency, amount AS amount_converted,
                          NULL::VARCHAR AS unconverted_reason FROM {relation}"""
    return f"""
        SELECT a.* EXCLUDE (rate, valid_from, known),
               CASE WHEN amount_currency = $currency THEN amount ELSE amount * rate END AS amount_converted,
               CASE WHEN amount IS NULL OR amount_currency = $currency OR rate IS NOT NULL THEN NULL
                    WHEN occurred_at IS NULL AND known THEN 'no date to take a ' || amount_currency || ' rate on'
                    WHEN known THEN 'no ' || amount_currency || '->' || $currency || ' rate on or before '
                                    || strftime(occurred_at, '%Y-%m-%d') || ' in the exchange rates file'
                    ELSE 'no ' || amount_currency || '->' || $currency || ' rate in the exchange rates file'
               END AS unconverted_reason
        FROM (SELECT x.*, r.rate, r.valid_from, x.amount_currency IN (SELECT currency FROM {rates}) AS known
              FROM (SELECT *, coalesce(currency, $currency) AS amount_currency FROM {relation}) x
              ASOF LEFT JOIN {rates} r
                -- an undated amount takes an undated rate only
                ON r.currency = x.amount_currency AND coalesce(x.occurred_at, TIMESTAMP '0001-01-01') >= r.valid_from
              ) a"""


# An activity whose amount is revenue (golden.customer_activity): orders and receipts neither cancelled nor returned.
PURCHASE = "activity_type IN ('order', 'store_purchase')"
REVENUE = f"{PURCHASE} AND coalesce(status, '') NOT IN ('cancelled', 'returned')"
