"""Dates, timestamps and numbers written the way each source writes them."""

from __future__ import annotations

import re
from datetime import date, datetime

from pipeline.normalise import missing


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
