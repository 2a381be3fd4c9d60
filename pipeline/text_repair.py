"""Text encoded twice: UTF-8 bytes read as latin-1/cp1252 ("HÃ©lÃ¨ne" for "Hélène"), and Windows-1252 read as latin-1.

A latin-1 export often carries a few rows pasted from a UTF-8 system. Read as latin-1 they become
mojibake, which no longer matches the person's other records and splits them into two customers.
Such a value is repaired when it round-trips exactly (encode as cp1252 or latin-1, decode as UTF-8):
a genuine latin-1 text almost never does, since it would need a lead byte (Ã, Â...) followed by a
continuation character on every non-ASCII position.

A file declared latin-1 is, from Windows, nearly always Windows-1252: its bytes 0x80-0x9F are ’ “ ” € œ Œ …,
which latin-1 reads as C1 control codes (invisible: "O’Brien" became "OBrien", "Cœur" "CUr" once capitalised).
No person's data holds those controls, so each is read as the Windows-1252 character it stands for (the five
bytes Windows-1252 leaves undefined stay controls).
"""

from __future__ import annotations

import re

# A UTF-8 lead byte (U+00C2..U+00F4 when read as latin-1) followed by a continuation byte as latin-1 or cp1252 shows it.
_SUSPECT = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                      "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")
_C1 = re.compile("[\u0080-\u009f]")
_SUSPECT_OR_C1 = re.compile(f"{_SUSPECT.pattern}|{_C1.pattern}")  # one pass over a record, not two


def _windows_1252(code: int) -> str:
    try:
        return bytes([code]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined in Windows-1252, kept as they are
        return chr(code)


_C1_AS_WINDOWS_1252 = str.maketrans({code: _windows_1252(code) for code in range(0x80, 0xA0)})


def suspect(text: str) -> bool:
    """Whether `text` may hold mojibake or C1 controls (ASCII text cannot: the fast path of every clean record)."""
    return not text.isascii() and _SUSPECT_OR_C1.search(text) is not None


def repair(value: str) -> str:
    """The value with Windows-1252 characters read as C1 controls and double-encoded UTF-8 undone, or the value
    unchanged."""
    if _C1.search(value):
        value = value.translate(_C1_AS_WINDOWS_1252)
    if not _SUSPECT.search(value):
        return value
    for encoding in ("cp1252", "latin-1"):
        try:
            return value.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
    return value
