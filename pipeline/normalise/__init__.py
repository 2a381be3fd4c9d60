"""Pure functions that turn one raw value into its canonical form (no I/O, no DuckDB)."""

import unicodedata

# Unicode's direction marks (LRM, RLM, ALM, the embeddings, overrides and isolates): invisible, no content. Arabic and
# Hebrew systems write them around a value to keep its direction in a right-to-left table ('\u200f٠٥٠١٢٣٤٥٦٧\u200f');
# kept, a name was displayed and compared with them, and a date or an amount beside them was unreadable. A cell is
# trimmed of them as of whitespace (STRIPPED), and names drop them anywhere (names.clean).
DIRECTION_MARKS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# What a cell is trimmed of at both ends: what Python's str.strip() strips (every Unicode whitespace lies in the Basic
# Multilingual Plane) and the direction marks. Staging's pandas path (staging._col) and its DuckDB path
# (staging_read.trimmed) trim with this one set.
STRIPPED = "".join(c for c in map(chr, range(0x10000)) if ("a" + c).strip() == "a") + DIRECTION_MARKS

# Every script's decimal digits as ASCII ones: Arabic-Indic '٠١٢٣', Persian '۰۱۲۳', Devanagari, Bengali, Thai...;
# full-width ones fold under NFKC already. strptime and the number patterns read ASCII digits only: a birth date
# '۲۰/۰۳/۱۹۸۸' or an order date '١٢/١٠/٢٠٢٦' was a field issue. Arabic's decimal separator '٫' and thousands
# separator '٬' are written as the marks they are.
_DIGITS = {ord(c): str(unicodedata.digit(c)) for c in map(chr, range(0x10000))
           if unicodedata.category(c) == "Nd" and not c.isascii()} | {0x066B: ".", 0x066C: ","} | dict.fromkeys(map(ord, DIRECTION_MARKS))


def ascii_digits(text: str) -> str:
    """`text` with every script's digits as ASCII digits, full-width forms folded (NFKC), Arabic's decimal and
    thousands separators as '.' and ',' and no direction mark; ASCII text as it is."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_DIGITS)


def missing(value: object) -> bool:
    """None, NaN (pandas' missing value) or blank text (direction marks alone are blank)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, str) and (not value.strip() or not value.isascii() and not value.strip(STRIPPED))
