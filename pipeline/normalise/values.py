"""Dates, timestamps and numbers written the way each source writes them."""

from __future__ import annotations

import re
from datetime import date, datetime

import pandas as pd

from pipeline.normalise import missing
from pipeline.warehouse import scratch


def parse_datetime(value: object, formats: tuple[str, ...]) -> tuple[datetime | None, str | None]:
    """(timestamp, reason if unparseable) trying each declared format, then ISO 8601."""
    if missing(value):
        return None, None
    text = str(value).strip()
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt), None
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=None), None
    except ValueError:
        pass
    return None, f"'{text}' matches none of the formats {list(formats)} (or is an impossible date)"


def parse_birth_date(value: object, formats: tuple[str, ...], today: date) -> tuple[date | None, str | None]:
    """A birth date between 1900 and today, or None with the reason."""
    parsed, reason = parse_datetime(value, formats)
    if parsed is None:
        return None, reason
    born = parsed.date()
    if not date(1900, 1, 1) <= born <= today:
        return None, f"implausible birth date {born.isoformat()}"
    return born, None


def parse_decimal(value: object, decimal: str = ".") -> tuple[float | None, str | None]:
    """'1 234,50' with decimal=',' -> 1234.5. Thousands separators (space, nbsp, other mark) dropped."""
    if missing(value):
        return None, None
    text = re.sub(r"[\s\u00a0\u202f€$]", "", str(value))
    other = "," if decimal == "." else "."
    text = text.replace(other, "").replace(decimal, ".")
    try:
        return float(text), None
    except ValueError:
        return None, f"'{value}' is not a number (decimal mark '{decimal}')"


def parse_datetimes(values: pd.Series, formats: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    """parse_datetime over a column of stripped text (None when missing): DuckDB's strptime parses the values
    matching a declared format in bulk (timestamps are nearly all distinct, so per-value Python is slow);
    whatever it cannot parse goes through parse_datetime, for the ISO fallback and the reason.
    Returns (timestamps, reasons)."""
    distinct = pd.DataFrame({"v": pd.Series(values.dropna().unique(), dtype=object)})
    with scratch() as con:
        con.register("_values", distinct)
        parsed = con.execute("SELECT v, try_strptime(v, $formats) FROM _values", {"formats": list(formats)}).fetchall()
    stamps, reasons = {}, {}
    for value, stamp in parsed:
        if stamp is None:
            stamp, reasons[value] = parse_datetime(value, formats)
        stamps[value] = stamp
    return values.map(stamps), values.map(reasons)
