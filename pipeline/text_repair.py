"""Text encoded twice: UTF-8 bytes read as latin-1/cp1252 ("HÃ©lÃ¨ne" for "Hélène").

A latin-1 export often carries a few rows pasted from a UTF-8 system. Read as latin-1 they become
mojibake, which no longer matches the person's other records and splits them into two customers.
Such a value is repaired when it round-trips exactly (encode as cp1252 or latin-1, decode as UTF-8):
a genuine latin-1 text almost never does, since it would need a lead byte (Ã, Â...) followed by a
continuation character on every non-ASCII position.
"""

from __future__ import annotations

import re

# A UTF-8 lead byte (U+00C2..U+00F4 when read as latin-1) followed by a continuation byte as latin-1 or cp1252 shows it.
_SUSPECT = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                      "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


def suspect(text: str) -> bool:
    """Whether `text` may hold mojibake (ASCII text cannot: the fast path of every clean record)."""
    return not text.isascii() and _SUSPECT.search(text) is not None


def repair(value: str) -> str:
    """The value with double-encoded UTF-8 undone, or the value unchanged."""
    if not _SUSPECT.search(value):
        return value
    for encoding in ("cp1252", "latin-1"):
        try:
            return value.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
    return value
