"""A CSV file, record by record: one bad record never costs the rest of the file.

Python's csv module, fed a whole file, lets one stray `"` swallow every later line into a single field,
and refuses any field over 131,072 characters by raising on the whole file. Here each record is cut out
first: a line without quotes is one record (the fast path); a line that leaves a quoted field open is
joined with the next lines only while that yields a well-formed record of the header's width, within
MAX_RECORD_LINES, swallowing no line that is a whole record itself. Otherwise the quote is taken as stray and that single line is a bad record. Every
non-blank line thus belongs to exactly one record, and the records of a file can be counted and reconciled.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_FIELD = 131_072          # characters; a longer field is a bad record (csv's own default limit)
MAX_RECORD_LINES = 50        # a quoted field may hold line breaks (an address), not a whole file
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
# Said of a bad record holding \" : an export escaping quotes with a backslash (not CSV's doubled "") cuts a field
# holding a quote, a delimiter or a line break into pieces that read as records of the wrong width.
BACKSLASH_HINT = '; it holds \\" (a quote escaped by a backslash, not doubled as CSV does: export with "" instead)'
# ... and said of the lines such an escaping makes one record of the header's width: quarantined as that one record
# (reading its values would guess the file's escaping: an RFC file may hold a backslash before a closing quote).
BACKSLASH_RECORD = ('quotes escaped by a backslash (\\", not doubled as CSV does): read so, its {lines} line(s) are one '
                    'record of the header\'s width, quarantined whole; export with "" instead')

csv.field_size_limit(2**31 - 1)  # the limit is enforced per record below, not by failing the whole file


@dataclass
class Record:
    line: int                  # first physical line, 1-based
    lines: int                 # physical lines it spans
    text: str
    values: list[str] | None   # None when the record could not be read (kept when only a field is too long)
    error: str | None = None


def _open_quote(line: str, delimiter: str, inside: bool) -> bool:
    """Whether a quoted field is still open at the end of `line` (csv rules: a quote opens a field only
    at its start; "" inside a quoted field is a literal quote)."""
    at_start, i, n = not inside, 0, len(line)
    while i < n:
        ch = line[i]
        if inside:
            if ch == '"':
                if i + 1 < n and line[i + 1] == '"':
                    i += 2
                    continue
                inside = False
        elif ch == '"' and at_start:
            inside = True
        at_start = not inside and ch == delimiter
        i += 1
    return inside


def _parse(text: str, delimiter: str) -> list[str]:
    if '"' not in text:
        return text.split(delimiter)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return rows[0] if len(rows) == 1 else []


def check(values: list[str], width: int | None, length: int) -> str | None:
    if width is not None and len(values) != width:
        return f"{len(values)} fields where the header has {width}"
    longest = max((len(v) for v in values), default=0) if length > MAX_FIELD else 0  # no field outgrows its record
    if longest > MAX_FIELD:
        return f"a field of {longest} characters (limit {MAX_FIELD})"
    return None


def physical_lines(text: str) -> list[str]:
    # str.split when every break is "\n" (the usual file): the same lines, several times faster than the regex
    lines = text.split("\n") if "\r" not in text else _LINE_BREAK.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def records(text: str, delimiter: str, width: int | None = None, first_line: int = 1,
            lines: list[str] | None = None) -> Iterator[Record]:
    """The non-blank records of `text` (or of `lines`), each either read (values) or bad (error).
    `width`: the header's field count, None for the header itself."""
    lines = physical_lines(text) if lines is None else lines
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line or line.isspace():  # blank (`not line.strip()` without copying the line)
            i += 1
            continue
        if '"' in line and _open_quote(line, delimiter, False):
            span = _closing_span(lines, i, delimiter)
            if span and not _holds_records(lines[i + 1:i + span - 1], delimiter, width):
                joined = "\n".join(lines[i:i + span])
                values = _parse(joined, delimiter)
                if check(values, width, len(joined)) is None:
                    yield Record(first_line + i, span, joined, values)
                    i += span
                    continue
            error = "unbalanced quote (a field opened with \" is never closed)"
            values = None
        else:
            values = _parse(line, delimiter)
            if not (error := check(values, width, len(line))):
                yield Record(first_line + i, 1, line, values)
                i += 1
                continue
        if '\\"' in line and (escaped := _escaped_span(lines, i, delimiter, width)):
            yield Record(first_line + i, escaped, "\n".join(lines[i:i + escaped]), None,
                         BACKSLASH_RECORD.format(lines=escaped))
            i += escaped
            continue
        # A record of the header's width that is bad for a long field keeps its values: the reader takes its id
        yield Record(first_line + i, 1, line, values if values and len(values) == width else None,
                     error + (BACKSLASH_HINT if '\\"' in line else ""))
        i += 1


def _holds_records(inner: list[str], delimiter: str, width: int | None) -> bool:
    """Whether lines a join would swallow are whole records themselves: then the quote is stray (a line
    break inside a real quoted field is followed by a fragment, not by a full record)."""
    return width is not None and any(
        '"' not in line and line.count(delimiter) == width - 1 for line in inner)


def _closing_span(lines: list[str], start: int, delimiter: str) -> int:
    """Lines from `start` that close the quoted field it opens, or 0 when none does within the limit."""
    inside = True
    for k in range(start + 1, min(start + MAX_RECORD_LINES, len(lines))):
        inside = _open_quote(lines[k], delimiter, inside)
        if not inside:
            return k - start + 1
    return 0


def _escaped_span(lines: list[str], start: int, delimiter: str, width: int | None) -> int:
    """Lines from `start` (a line CSV's own rules could not read) that make one record of `width` fields when `\\"`
    escapes a quote, else 0."""
    if width is None:
        return 0
    for span in range(1, min(MAX_RECORD_LINES, len(lines) - start) + 1):
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines[start:start + span]), newline=""), delimiter=delimiter,
                                   escapechar="\\", doublequote=False, strict=True))
        except csv.Error:  # a quoted field still open: take the next line too
            continue
        whole = len(rows) == 1 and len(rows[0]) == width
        return span if whole and not _holds_records(lines[start + 1:start + span], delimiter, width) else 0
    return 0
