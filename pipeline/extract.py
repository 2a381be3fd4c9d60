"""Read one source's files as they are: every record becomes a raw row, readable or not.

Values stay text; `_file`, `_line` and `_drop` (the delivery day) say where a row came from, `_error`
why it could not be read (it is quarantined by staging, never dropped). A file identical to one
already loaded (on any day) is skipped and logged, so a drop delivered twice does not duplicate rows.

A bad record costs that record only (see `pipeline/csv_records.py`); each file's own record count is kept
beside its rows so the reconciliation can prove none was lost. A file whose header cannot be trusted (no
header at all, the same column twice, a reserved name, mapped columns missing) is refused whole: its
records are quarantined as raw text, and no value of it ever becomes a column name. Column names are
compared case-insensitively, as DuckDB does: `EVENT_ID` is the mapped `event_id`. A workbook's sheet (xlsx) takes the
CSV path: its rows as the text of their cells (pipeline/spreadsheet.py), each numbered by its sheet row.
"""

from __future__ import annotations

import codecs
import gc
import hashlib
import io
import itertools
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import csv_records, spreadsheet, trailers
from pipeline.config import SELECTOR, Source
from pipeline.delivery_history import History
from pipeline.drop_days import drop_day
from pipeline.drops import list_files, listed, scan
from pipeline.export_parts import missing_parts
from pipeline.text_repair import repair, suspect

META_COLUMNS = ["_file", "_line", "_error", "_raw", "_drop"]
RESERVED = {*META_COLUMNS, "_loaded_at"}
REFUSED_FILE_REASON = "file refused"
DUPLICATE_OF = "duplicate of "  # the status of a file skipped as a copy of another, named after it
LOADED_BUT = "loaded, but "  # the status of a file read whole that its check reports all the same
TRAILER_FLAW = "its trailer ("  # a file whose trailer's count is not its records (_with_trailer), or that lost it
TRAILER_LOST = "is missing (a transfer cut short?)"
TRAILER_MISSING = TRAILER_FLAW + "the last line of each of the source's files of {days}) " + TRAILER_LOST
# What a column name may look like to be shown in a log line; others are counted, never shown (a data
# value taken for a header would otherwise leak into the logs).
_VALUE_LIKE = re.compile(r"^[\d\s.,:/+()-]+$")  # numbers, dates, phones: values, never column names
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape kept because they were not valid
# A JSON escape of half a UTF-16 pair (`"\ud800"` with no partner): JSON reads it as a lone surrogate, which no text
# column can store (DuckDB refused the whole batch: the source's every file of the day failed to load).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_A_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
LONE_SURROGATE_REASON = "a JSON escape of half a character (\\uD800-\\uDFFF without its pair)"
_SHOWABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_. -]{0,63}$")
# A JSON line this short holds no value over MAX_FIELD: a value as text is at most ~4.5 times its JSON
# (`1e15` is `1000000000000000.0`, `[1e15,1e15]` a list with `, `), so a line of MAX_FIELD / 8 is far from it.
_NO_LONG_VALUE = csv_records.MAX_FIELD // 8
# A spreadsheet shows a long number as 1.23457E+12 and saves it so: distinct ids rounded to one would supersede each
# other as versions of one record, silently. Such an id is a read error (the record is quarantined with the reason).
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?E\+\d+", re.IGNORECASE)
ROUNDED_ID_REASON = ("record id in a spreadsheet's scientific notation (such as 1.23E+12): rounded, so distinct records "
                     "would share it; export the column as text")
_SEPARATOR_HINT = re.compile("sep=.", re.IGNORECASE)
_DELIMITERS = (",", ";", "\t", "|")  # the ones exports use: a header split by another is named in the refusal
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_UTF32_MARKS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")  # before UTF-16's: the LE mark starts the same
_UTF8_MARK = b"\xef\xbb\xbf"
# A character UTF-8 encodes in several bytes: a file declared UTF-8 holding none, but bytes UTF-8 cannot be, is 8-bit text.
_UTF8_CHARACTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
WINDOWS_TEXT_NOTE = ("read as Windows-1252, not the declared UTF-8: it holds no UTF-8 character but bytes UTF-8 cannot be "
                     "(a spreadsheet's CSV saved on Windows?); declare its encoding (cp1252) to silence this")
_SHOWN_LINES = 10  # line numbers a warning lists
_HABIT_SAMPLE = 1000  # the first lines a file's habit is read from (a delimiter ending each record)
CUT_REASON = "the file ends {how}: its last record may be cut short"


@dataclass
class FileLoad:
    file: str
    sha256: str
    drop: str = ""
    rows: int = 0
    unreadable: int = 0
    records: int = 0      # the file's own count of records (non-blank data lines, JSON lines, Parquet and sheet rows)
    repaired: int = 0     # records whose text was UTF-8 read as latin-1, repaired
    status: str = "loaded"  # loaded | loaded, but <why> | duplicate of <file> | refused: <why>
    read_with: str = ""     # read_settings(source) when read: another one reads the file again (assets/runner.plan)


@dataclass
class Extract:
    rows: pd.DataFrame
    files: list[FileLoad] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    parts_missing: list[str] = field(default_factory=list)  # numbered parts of the day's export that did not come


def showable(names) -> list[str]:
    """The identifier-like names among `names`: those a log line or metadata may show."""
    return [n for n in names if _SHOWABLE.match(n) and "@" not in n]


def shown(names) -> str:
    """Column names for a log line: identifier-like ones by name, the others only counted."""
    names = list(names)
    ok = showable(names)
    hidden = len(names) - len(ok)
    return f"{ok}" + (f" and {hidden} name(s) not shown (they look like data)" if hidden else "")


class _Names:
    """One spelling per column, compared case-insensitively (the mapped spelling first)."""

    def __init__(self, mapped: list[str]):
        self.spelling = {m.lower(): m for m in mapped}

    def __call__(self, name: str) -> str:
        return self.spelling.setdefault(name.lower(), name)


def _lone_surrogate(obj: object) -> bool:
    """Whether a parsed JSON value holds a lone surrogate in any key or string (a valid pair decodes to one character)."""
    if isinstance(obj, str):
        return _LONE_SURROGATE.search(obj) is not None
    if isinstance(obj, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_lone_surrogate(v) for v in obj)
    return False


def _has_bad_bytes(text: str) -> bool:
    return not text.isascii() and _UNDECODED.search(text) is not None


def _utf16_without_mark(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the file opens with Latin text in UTF-16 without a byte-order mark (a NUL byte
    beside every character), which none of the 8-bit encodings a source declares produces; else None."""
    head = data[:256]
    head = head[: len(head) - len(head) % 2]  # whole two-byte units
    if len(head) < 4:
        return None
    low, high = head[0::2], head[1::2]
    if high.count(0) == len(high) and 0 not in low:
        return "utf-16-le"
    if low.count(0) == len(low) and 0 not in high:
        return "utf-16-be"
    return None


def _decode(data: bytes, encoding: str) -> tuple[str, str | None, str | None]:
    """The file's text, how it was cut short when it was (a UTF-16 file of an odd number of bytes), and what to say
    of how it was read (a note) when it was not as declared."""
    # A byte-order mark says how the file is encoded, whatever the sources file declares (an Excel "CSV UTF-8"
    # export in a source declared cp1252, a UTF-16 one in a source declared UTF-8); without one, UTF-16's NUL bytes
    # do (read as declared, its header would look like no header at all and the file be refused). A file declared
    # UTF-16 or UTF-32 that holds no NUL byte is not (its ASCII delimiters and digits would be NUL-padded): it is read
    # as UTF-8 (decoded as declared, it was one line of garbage refused as "no header row", or a crash of the run on
    # an odd number of bytes).
    declared_wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if data.startswith(_UTF32_MARKS):
        wide = "utf-32"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        wide = "utf-16"
    elif data.startswith(_UTF8_MARK):
        wide, encoding = None, "utf-8"
    else:
        wide = _utf16_without_mark(data) or (encoding if declared_wide and b"\x00" in data[:256] else None)
        encoding = "utf-8" if declared_wide and not wide else encoding
    cut = None
    if wide:
        if odd := len(data) % (4 if "32" in wide else 2):  # cut inside a character: decoding it whole failed
            data, cut = data[:-odd], f"in the middle of a {wide[:6].upper()} character"
        text = data.decode(wide, errors="surrogateescape")
    else:  # surrogateescape keeps undecodable bytes visible so the rows holding them can be quarantined.
        text = data.decode(encoding, errors="surrogateescape")
    note = None
    if not wide and _has_bad_bytes(text) and codecs.lookup(encoding).name == "utf-8" \
            and _UTF8_CHARACTER.search(data) is None:
        # A spreadsheet's "CSV" saved on Windows is Windows-1252 whatever the sources file says (UTF-8, the default):
        # read as UTF-8, every record holding an accent was quarantined (`bytes not valid in declared encoding utf-8`,
        # Hélène, Zoé, Lefèvre lost and the source's quarantine share blocking the run). A file that holds no UTF-8
        # character at all but such bytes is 8-bit text: read as latin-1, whose C1 codes the records' repair reads as
        # Windows-1252 (`€`, `’`, `œ`). A UTF-8 file with a few bad bytes still quarantines those records only.
        text, note = data.decode("latin-1"), WINDOWS_TEXT_NOTE
    # A byte-order mark, or several (a tool adding one to a file that had one): the header's first name hid behind it.
    return text.lstrip("\ufeff"), cut, note


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    """A gzip file's content (every member: `cat a.gz b.gz` is one gzip file), and how it was cut short when its
    stream ends early or breaks (a copy still under way): what could be decompressed is kept."""
    parts, rest = [], data
    while rest[:2] == _GZIP_MAGIC:
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            for start in range(0, len(rest), 1 << 20):  # by chunks: a broken stream keeps what came before
                parts.append(stream.decompress(rest[start:start + (1 << 20)]))
                if stream.eof:
                    break
        except zlib.error:
            return b"".join(parts), "in a broken gzip stream"
        if not stream.eof:
            return b"".join(parts), "before the end of its gzip stream (truncated)"
        rest = stream.unused_data
    return b"".join(parts), ("with bytes after its gzip stream" if rest.strip(b"\x00") else None)


def _unzip(data: bytes) -> tuple[bytes, str | None]:
    """A zip archive's one file (folders, macOS's `__MACOSX/` and hidden files aside), or why it cannot be read: an
    archive of several files is several deliveries, which a drop folder holds apart."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            held = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                    and not PurePosixPath(i.filename).name.startswith(".")]
            if len(held) != 1:
                return b"", (f"a zip archive of {len(held)} files: unzip them into the drop folder, or deliver one "
                             "file a zip")
            if held[0].flag_bits & 0x1:
                return b"", "a password-protected zip archive: deliver it unzipped"
            return archive.read(held[0]), None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as exc:
        return b"", f"a zip archive that cannot be read ({type(exc).__name__}: cut short?)"


def _flatten(obj: dict, prefix: str = "") -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for key, value in obj.items():
        name = prefix + key if prefix else key
        if type(value) is str:  # nearly every value: tested first (a million records, a dozen values each)
            flat[name] = value
        elif isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif value is None:
            flat[name] = None
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, list):
            # An array of plain values (an address's lines) reads as them joined by a space, as a composite of columns
            # does: staged as JSON text, `["Hauptstr. 12", "2. OG"]` was the street in the golden record. An array of
            # objects (contacts) stays JSON text: no one value of it is the field.
            if all(v is None or type(v) is str or type(v) in (int, float) and v == v for v in value):
                flat[name] = " ".join(s for v in value if v is not None and (s := str(v).strip())) or None
            else:
                flat[name] = json.dumps(value, ensure_ascii=False)
        elif type(value) is float:  # NaN (Python's json writes a missing float so: not JSON, json.loads reads it)
            flat[name] = _number_text(value)
        else:
            flat[name] = str(value)
    return flat


def _number_text(value: float | None) -> str | None:
    """A float as text, a whole number without its '.0' (an id or a phone exported through a float column, in JSON
    or Parquet: '880001.0' was another record id than '880001'); NaN is a missing value."""
    if value is None or value != value:
        return None
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else str(value)


def _child(obj: object, key: str) -> object:
    """obj[key] for a JSON object, its key compared case-insensitively as columns are; None when absent."""
    if not isinstance(obj, dict):
        return None
    if key in obj:
        return obj[key]
    return next((v for k, v in obj.items() if k.lower() == key.lower()), None)


def _path(obj: object, dotted: str) -> object:
    for key in dotted.split("."):
        obj = _child(obj, key)
    return obj


# The raw column beside a selector's (`_also:contacts[kind=email].value`) holding, as a JSON list, the values of the
# further elements it matches (a second e-mail): staging says them in a field issue (one value a field a record).
ALSO = "_also:"


def _selected(obj: dict, selectors: list[tuple[str, re.Match]], flat: dict[str, str | None]) -> None:
    """Add to `flat` the value of each mapped element of an array of objects (`contacts[kind=email].value`), when the
    line holds the array (a line without it leaves the key absent, as for any key): an array of objects stays JSON
    text under its own name, which no field reads as a value (an export's contact list was a field issue). The first
    element a key's value selects is read; the other values it selects go to ALSO + column (they were lost unsaid)."""
    for column, parts in selectors:
        array = _path(obj, parts["array"])
        if not isinstance(array, list):
            continue
        if parts["index"] is not None:
            index = int(parts["index"])
            elements = [array[index]] if index < len(array) else []
        else:
            wanted = parts["value"].strip().lower()
            elements = [e for e in array if isinstance(e, dict) and isinstance(v := _child(e, parts["key"]), str | int)
                        and str(v).strip().lower() == wanted]
        found = [json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else _flatten({"v": value}).get("v")
                 for element in elements or [None]
                 for value in [_path(element, parts["field"]) if parts["field"] else element]]
        flat[column] = found[0]
        seen = {(found[0] or "").strip().lower()}
        others = [v for v in found[1:] if v and v.strip() and (v.strip().lower() not in seen)
                  and not seen.add(v.strip().lower())]
        if others:
            flat[ALSO + column] = json.dumps(others, ensure_ascii=False)


def _bad_row(file: str, line: int, error: str, raw: str) -> dict:
    # Undecodable bytes are kept visible as \xNN escapes (the surrogates themselves cannot be stored).
    # A lone surrogate no byte made (a JSON escape's, read back) is written as its escape.
    raw = _NOT_A_BYTE.sub(lambda m: f"\\u{ord(m[0]):04x}", raw[:2000])
    shown_raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return {"_file": file, "_line": line, "_error": error, "_raw": shown_raw}


@dataclass
class _Read:
    frame: pd.DataFrame  # the file's rows, in its order
    columns: list[str]
    records: int
    repaired: int = 0
    refused: str | None = None  # why the whole file is refused (its rows then carry no data column)
    flaw: str | None = None  # what is wrong with a file read all the same (its check fails, its rows load)
    notes: list[str] = field(default_factory=list)  # what the extract says of the file (a warning each)
    trailer: tuple[trailers.Trailer, int] | None = None  # its trailer line and the records above it (a CSV's)


def _rows_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


class _Rows:
    """A file's rows gathered column by column, not as a dict each (a million records): the records read with the
    same columns (nearly all of a file) make one block of values; a bad record holds no value (but its id when it was
    read) and says why."""

    def __init__(self, file: str):
        self.file, self.lines = file, []
        self.blocks: dict[tuple[str, ...], tuple[list[int], list]] = {}  # columns -> positions, values
        self.bad: dict[int, dict] = {}  # position -> its row

    def add(self, line: int, columns: tuple[str, ...], values) -> None:
        block = self.blocks.get(columns)  # not setdefault: its default would be two new lists a record
        if block is None:
            block = self.blocks[columns] = ([], [])
        positions, rows = block
        positions.append(len(self.lines))
        rows.append(values)
        self.lines.append(line)

    def add_bad(self, line: int, error: str, raw: str, record_id: tuple[str, str] | None = None) -> None:
        """`record_id`: (column, value) of a record read but refused (a field too long), so its quarantine row
        carries its id as the others do (its line alone named it)."""
        self.bad[len(self.lines)] = _bad_row(self.file, line, error, raw)
        if record_id and (value := record_id[1]) is not None and len(str(value)) <= csv_records.MAX_FIELD \
                and not _has_bad_bytes(str(value)):
            self.bad[len(self.lines)][record_id[0]] = str(value)
        self.lines.append(line)

    def frame(self, columns: list[str], missing: str | None = None) -> pd.DataFrame:
        """The rows in the file's order; a value equal to `missing` (CSV's empty field) becomes None."""
        if not self.blocks:  # no record read: no data column, only the bad records
            return _rows_frame(list(self.bad.values()))
        data = {c: np.full(len(self.lines), None, dtype=object) for c in columns}
        for names, (positions, rows) in self.blocks.items():
            cells, at = np.array(rows, dtype=object).reshape(len(rows), len(names)), np.array(positions)
            if missing is not None:
                cells[cells == missing] = None
            for j, name in enumerate(names):
                data[name][at] = cells[:, j]
        errors, raws = [None] * len(self.lines), [None] * len(self.lines)
        for i, row in self.bad.items():
            errors[i], raws[i] = row["_error"], row["_raw"]
            for name, value in row.items():  # a refused record's id
                if not name.startswith("_"):
                    data.setdefault(name, np.full(len(self.lines), None, dtype=object))[i] = value
        return pd.DataFrame({**data, "_file": self.file, "_line": self.lines, "_error": errors, "_raw": raws})


def _repaired(row: dict) -> bool:
    changed = False
    for key, value in row.items():
        if isinstance(value, str) and not key.startswith("_"):
            fixed = repair(value)
            changed |= fixed != value
            row[key] = fixed
    return changed


def _other_delimiter(header: list[str], source: Source) -> str | None:
    """The usual delimiter that splits a one-field header into every mapped column, when the file uses it in place of
    the declared one (its header would otherwise look like no header at all)."""
    if len(header) != 1:
        return None
    return next((d for d in _DELIMITERS if d != source.delimiter
                 and _missing(source.mapped_columns, [h.strip() for h in header[0].split(d)]) is None), None)


def _header_problem(header: list[str], source: Source) -> str | None:
    lowered = [h.lower() for h in header]
    mapped = {m.lower() for m in source.mapped_columns}
    if delimiter := _other_delimiter(header, source):
        return f"the header is delimited by {delimiter!r}, the sources file declares {source.delimiter!r}"
    if any("\x00" in h for h in header):  # was "lacks mapped column(s) ['id']": the NULs hid the name
        return "NUL bytes in the header (a file not yet written where it begins, or not text)"
    if not mapped & set(lowered) or any(_VALUE_LIKE.match(h) or "@" in h for h in header):
        return "no header row (the first line looks like data, not column names; it is read as a record)"
    dupes = sorted({h for h, low in zip(header, lowered, strict=False) if lowered.count(low) > 1})
    if dupes:
        return f"the same column more than once (case-insensitive): {shown(dupes)}"
    reserved = [h for h in header if h.lower() in RESERVED]
    if reserved:
        return f"reserved column name(s) {reserved}"
    return _missing(source.mapped_columns, header)


def _absent(required: list[str], columns: list[str]) -> list[str]:
    """The `required` names not among `columns` (compared case-insensitively)."""
    have = {c.lower() for c in columns}
    return [c for c in required if c.lower() not in have]


def _missing(required: list[str], columns: list[str]) -> str | None:
    missing = _absent(required, columns)
    return f"lacks mapped column(s) {missing}" if missing else None


def _drop_separator_hint(lines: list[str]) -> None:
    """Blanks a leading `sep=;` line, Excel's hint of the delimiter: neither the header nor a record (taken for the
    header, it made the whole file look headerless). The lines keep their numbers."""
    first = next((i for i, line in enumerate(lines) if line and not line.isspace()), None)
    if first is not None and _SEPARATOR_HINT.fullmatch(lines[first]):
        lines[first] = ""


@dataclass
class _Header:
    record: csv_records.Record  # the header's line (the first record when the file has no header)
    names: list[str]
    problem: str | None  # why the header cannot be trusted: the file is refused
    skipped: list[int]  # the lines of a report's title block above it

    @property
    def is_record(self) -> bool:
        """Whether its line is a record too (the file has no header)."""
        return bool(self.problem and self.problem.startswith("no header"))

    def note(self, read: _Read) -> _Read:
        if self.skipped:
            read.notes.append(f"{len(self.skipped)} line(s) above the header (a report's title or date?) not read as "
                              f"records: line(s) {listed(self.skipped, _SHOWN_LINES)}")
        return read


def _header_names(record: csv_records.Record) -> list[str]:
    return [h.strip() or f"column_{i}" for i, h in enumerate(record.values or [], 1)]


def _header(first: list[csv_records.Record], source: Source) -> _Header | None:
    """The header among a file's first records (a CSV's lines, a sheet's rows): the first record, or the line under a
    report's title block (`_under_title`); None for a file without a record."""
    if not first:
        return None
    head, skipped = first[0], []
    header = _header_names(head)
    problem = "header line unreadable" if head.values is None else _header_problem(header, source)
    title = problem and _under_title(first, source)
    if title:  # a report's title or date above the header: not a record, not the header
        head, skipped = title
        header = _header_names(head)
        problem = _header_problem(header, source)
    return _Header(head, header, problem, skipped)


def _read_csv(text: str, source: Source, file: str, names: _Names) -> _Read:
    lines = csv_records.physical_lines(text)
    _drop_separator_hint(lines)
    found = _header(list(itertools.islice(csv_records.records("", source.delimiter, lines=lines), _TITLE_LINES)), source)
    if found is None:
        return _Read(_rows_frame([]), [], 0)
    head, header, problem = found.record, found.names, found.problem
    if found.is_record:  # the first line is a record too
        body, first = lines[head.line - 1:], head.line
    else:
        body, first = lines[head.line - 1 + head.lines:], head.line + head.lines
    if problem:
        bad = [_bad_row(file, rec.line, f"{REFUSED_FILE_REASON}: {problem}", rec.text)
               for rec in csv_records.records("", source.delimiter, None, first, lines=body)]
        return _Read(_rows_frame(bad), [], len(bad), 0, problem)
    if _separator_ends_each_record(body, source.delimiter, len(header)):
        header = [*header, f"column_{len(header) + 1}"]  # as a header ending in the delimiter names it
    rows, columns = _Rows(file), tuple(names(h) for h in header)
    plain, repaired = _plain_lines(body, first, source, columns, rows)
    for rec in csv_records.records("", source.delimiter, len(header), first + plain, lines=body[plain:]):
        repaired += _add_record(rows, rec.line, rec.text, rec.values, rec.error, source, columns)
    read = _without_repeated_header(_Read(rows.frame(list(columns), missing=""), list(columns), len(rows.lines),
                                          repaired), header, names(source.record_id))
    return found.note(read if read.refused else _with_trailer(read, body, first, source, len(header)))


def _separator_ends_each_record(body: list[str], delimiter: str, width: int) -> bool:
    """Whether the records end in a delimiter the header lacks (`C01;Jean;...;75001;`: an exporter writing one after
    every field, its header written apart): most of the first lines split into one field more than the header, the last
    empty. Read as a record each, all were bad data (`7 fields where the header has 6`), the file lost and the run
    blocked; one record with a stray delimiter in a file without the habit is still a bad record."""
    lines = list(itertools.islice((line for line in body if line and not line.isspace()), _HABIT_SAMPLE))
    ending = sum(1 for line in lines if line.rstrip("\r").endswith(delimiter) and line.count(delimiter) == width)
    return ending * 2 > len(lines) > 0


def _with_trailer(read: _Read, body: list[str], first: int, source: Source, width: int) -> _Read:
    """The file's last line, when it is a trailer (`pipeline/trailers.py`), is no record: quarantined as the export's
    count (counted apart, as a footer is), and when its count is not the file's records the file is flawed (its check
    fails; a full export's day holding it retires nothing): it was bad data, its count never compared."""
    last = next((i for i in range(len(body) - 1, -1, -1) if body[i] and not body[i].isspace()), None)
    frame = read.frame
    if last is None or not len(frame) or frame["_line"].iat[-1] != first + last:
        return read
    found = trailers.trailer(body[last], source.delimiter, width)
    if found is None:
        return read
    records = len(frame) - 1
    read.trailer = found, records
    whole = found.matches(records)
    frame.loc[frame.index[-1], ["_error", "_raw"]] = [
        trailers.MATCHED_REASON if whole else trailers.MISMATCH_REASON, body[last]]
    if source.record_id in frame:  # `TRL;14;;;` put its label in the id column: no record the export holds
        frame.loc[frame.index[-1], source.record_id] = None
    if not whole:
        read.flaw = (f"its trailer (line {first + last}) counts {listed(found.counts, 3)} record(s), the file holds "
                     f"{records}: incomplete (a transfer cut short?) or miscounted")
    return read


def _against_history(read: _Read, history: History) -> None:
    """A CSV file read against its source's earlier days (pipeline/delivery_history.py): a trailer counting the header
    and/or trailer line too, as the earlier ones all did, is the whole file's; one that may count them, when no earlier
    trailer says how the source counts, says so; a file without the trailer every earlier file ended in is flawed (a transfer cut short loses its end, the
    trailer with it): its records load, its full export retires nothing."""
    if read.refused or not len(read.frame):
        return
    if read.trailer is None:
        if history.trailer_days and read.flaw is None:
            read.flaw = TRAILER_MISSING.format(days=", ".join(history.trailer_days))
        return
    found, records = read.trailer
    if not (lines := found.lines_counted(records)):
        return
    if lines == history.lines_counted:
        read.frame.loc[read.frame.index[-1], "_error"] = trailers.HABIT_REASON
        read.flaw = None
    elif history.lines_counted is None:  # no earlier trailer says how the source counts
        read.flaw += (f"; {records + lines} is {trailers.HABITS[lines]}: if that is the source's habit, its next "
                      "files are read so")


# A source reading several sheets of a workbook numbers each sheet's rows apart: line = the sheet's position in the
# workbook (from 0, as `sheet:` counts) times SHEET_LINES plus its row (sheet 3's row 17 is line 20000017); a sheet
# holds at most 1,048,576 rows. One sheet read keeps its rows' numbers.
SHEET_LINES = 10_000_000


def _refused_file(file: str, problem: str) -> _Read:
    """A file read as one refused row saying why (a workbook without the declared sheet, an archive or gzip stream
    that cannot be read)."""
    return _Read(_rows_frame([_bad_row(file, 0, f"{REFUSED_FILE_REASON}: {problem}", "")]), [], 1, 0, problem)


def _read_xlsx(path: Path, source: Source, file: str, names: _Names) -> _Read:
    """A workbook's sheets through the CSV reader's path, each with its own header (see _read_sheet); several sheets
    make one read of the file, a sheet refused for its header refusing its own rows only."""
    try:
        sheets = spreadsheet.read_sheets(path, source.sheet, source.decimal)
    except spreadsheet.SheetMissing as exc:
        problem = str(exc)
        return _refused_file(file, problem)
    if len(sheets) == 1:
        return _read_sheet(sheets[0], source, file, names)
    reads = [_read_sheet(sheet, source, file, names, sheet.position * SHEET_LINES) for sheet in sheets]
    frames = [r.frame for r in reads if len(r.frame)]
    frame = pd.concat(frames, ignore_index=True).astype(object) if frames else _rows_frame([])
    combined = _Read(frame.where(frame.notna(), None),  # a column one sheet lacks: None, as a CSV's missing field
                     list(dict.fromkeys(c for r in reads for c in r.columns)), sum(r.records for r in reads),
                     sum(r.repaired for r in reads), flaw=next((r.flaw for r in reads if r.flaw), None),
                     notes=[n for r in reads for n in r.notes])
    refused = [(sheet, r.refused) for sheet, r in zip(sheets, reads, strict=True) if r.refused]
    if refused and len(refused) == len(reads):
        combined.refused = "; ".join(f"sheet {sheet.position + 1}: {why}" for sheet, why in refused)
    else:
        combined.notes += [f"sheet {sheet.position + 1}: {why}; its {len(r.frame)} record(s) are quarantined"
                           for sheet, r in zip(sheets, reads, strict=True) if (why := r.refused)]
    return combined


def _read_sheet(sheet: spreadsheet.Sheet, source: Source, file: str, names: _Names, offset: int = 0) -> _Read:
    """A sheet through the CSV reader's path: the same header checks (a report's title rows above it, a renamed column
    refusing the sheet, the header repeated), each row a record numbered by its sheet row (plus `offset`), its cells
    as the text a CSV export of the sheet holds (pipeline/spreadsheet.py)."""
    # A row's text (raw_record of a quarantined row) is its cells as a CSV line would hold them.
    records = [csv_records.Record(offset + line, 1, source.delimiter.join(cells), cells) for line, cells in sheet.rows]
    found = _header(records[:_TITLE_LINES], source)
    if found is None:
        return _Read(_rows_frame([]), [], 0, notes=sheet.notes)
    at = records.index(found.record)
    body = records[at if found.is_record else at + 1:]
    if found.problem:
        bad = [_bad_row(file, rec.line, f"{REFUSED_FILE_REASON}: {found.problem}", rec.text) for rec in body]
        return _Read(_rows_frame(bad), [], len(bad), 0, found.problem, notes=sheet.notes)
    rows, columns = _Rows(file), tuple(names(h) for h in found.names)
    repaired = 0
    for rec in body:
        if rec.text.isascii():  # nearly every row: no mojibake to repair
            rows.add(rec.line, columns, rec.values)
        else:
            repaired += _add_record(rows, rec.line, rec.text, rec.values, None, source, columns)
    read = _without_repeated_header(_Read(rows.frame(list(columns), missing=""), list(columns), len(rows.lines),
                                          repaired, notes=sheet.notes), found.names, names(source.record_id))
    return found.note(read)


_TITLE_LINES = 10  # a report's title block: a few lines, never a page of records


def _under_title(first: list[csv_records.Record], source: Source) -> tuple[csv_records.Record, list[int]] | None:
    """(the header, the lines above it) when the first lines are a report's title block (`Export clients - 25/11/2026`,
    `Date:;25/11/2026`: at most two values each) above a line holding every mapped column: the title was taken for
    the header and the whole file refused (`no header row`). A line above with more values may be a record: then
    nothing is skipped and the file is refused as before."""
    skipped = []
    for rec in first:
        if rec.values is None:
            return None
        if _missing(source.mapped_columns, [v.strip() for v in rec.values]) is None:
            return (rec, skipped) if skipped else None
        if sum(bool(v.strip()) for v in rec.values) > 2:
            return None
        skipped.append(rec.line)
    return None


def _without_repeated_header(read: _Read, header: list[str], record_id: str) -> _Read:
    """Exports joined into one file (`cat monday.csv tuesday.csv`) repeat the header inside it: such a line is not a
    record (read as one, it staged a person named `prenom nom`), so it is left out, and said. A header line with the
    same names in another order means the records after it have other columns: the file is refused."""
    frame = read.frame
    if record_id not in frame:  # no record read
        return read
    spellings = {v for h in header for v in (h, h.lower(), h.upper(), h.title())}
    maybe = frame[record_id].isin(spellings | {"\ufeff" + v for v in spellings})  # nearly always none: one pass
    if not maybe.any():
        return read
    wanted, columns = [h.lower() for h in header], read.columns
    repeated = []
    for at in np.flatnonzero(maybe & frame["_error"].isna()):
        got = [(v or "").lstrip("\ufeff").strip().lower() for v in frame.iloc[at][columns]]
        if got == wanted:
            repeated.append(at)
        elif sorted(got) == sorted(wanted):
            read.refused = (f"the header again at line {frame['_line'].iat[at]} with its columns in another order "
                            "(exports of different layouts joined into one file)")
            frame["_error"] = f"{REFUSED_FILE_REASON}: {read.refused}"
            return read
    if repeated:
        lines = [int(frame["_line"].iat[at]) for at in repeated]
        read.frame, read.records = frame.drop(index=frame.index[repeated]).reset_index(drop=True), read.records - len(lines)
        read.notes.append(f"the header line again at line(s) {listed(lines, _SHOWN_LINES)} (exports joined into one "
                          "file?): not read as record(s)")
    return read


def _add_record(rows: _Rows, line: int, text: str, values: list[str] | None, error: str | None, source: Source,
                columns: tuple[str, ...]) -> bool:
    """One CSV record into `rows` (bad: with why); whether its text was repaired (UTF-8 read as latin-1)."""
    ascii = text.isascii()  # nearly every record: neither bad bytes nor mojibake to look for
    error = error or (not ascii and _has_bad_bytes(text) and f"bytes not valid in declared encoding {source.encoding}")
    if error:
        at = [i for i, c in enumerate(columns) if c.lower() == source.record_id.lower()]
        whole = values is not None and len(values) == len(columns) and at  # its fields where the header says
        rows.add_bad(line, error, text, (columns[at[0]], values[at[0]]) if whole else None)
        return False
    repaired = False
    if not ascii and suspect(text):
        fixed = [repair(v) for v in values]
        repaired, values = fixed != values, fixed
    rows.add(line, columns, values)
    return repaired


def _plain_lines(lines: list[str], first: int, source: Source, columns: tuple[str, ...], rows: _Rows) -> tuple[int, int]:
    """The leading lines without a quote (nearly every file: all of it) into `rows`, as csv_records.records and
    _add_record read them (such a line is one record, split on the delimiter), without a Record and a generator step
    each (~40 % of a plain file's read); returns where they stop (the first line with a quote: the record reader
    takes over, as a quote may join lines) and the records repaired."""
    delimiter, width, add, repaired = source.delimiter, len(columns), rows.add, 0
    for i, line in enumerate(lines):
        if '"' in line:
            return i, repaired
        if not line or line.isspace():  # blank
            continue
        values = line.split(delimiter)
        if len(values) == width and len(line) <= csv_records.MAX_FIELD and line.isascii():
            add(first + i, columns, values)
        else:
            repaired += _add_record(rows, first + i, line, values, csv_records.check(values, width, len(line)),
                                    source, columns)
    return len(lines), repaired


def _key_problem(keys: tuple[str, ...]) -> str | None:
    """Why a JSON line with these (flattened) keys cannot be read, or None."""
    lowered = [k.lower() for k in keys]
    clash = sorted({k for k, low in zip(keys, lowered, strict=False) if lowered.count(low) > 1 or low in RESERVED})
    if clash:
        return f"keys differing only in case, or reserved: {shown(clash)}"
    if any("@" in k or _VALUE_LIKE.match(k) for k in keys):  # a value as a key would become a column name
        return "key(s) that look like data values (not shown)"
    return None


_SCAN = json.JSONDecoder().scan_once  # json.loads' own scanner, without its wrapper's checks and regexes


def _json_object(line: str) -> object:
    """json.loads(line): its scanner alone reads a line that starts with a value and ends with it (nearly every
    line); any other (whitespace around the value, several values, invalid JSON) goes through json.loads itself,
    which reads or refuses it with its own message."""
    try:
        obj, end = _SCAN(line, 0)
    except StopIteration:
        end = -1
    return obj if end == len(line) else json.loads(line)


_BREAK = re.compile(r"\r\n|\r|\n")
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


def _array_elements(text: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each element of a file that is one JSON array (`[{...}, {...}]`, pretty-printed or not: what
    many systems export as "JSON"), as if each were a JSON line: read line by line, its every line was quarantined
    as broken JSON and the file refused for lacking the record id. An element that does not parse (a file cut short,
    a missing comma) and what follows it are one record, bad: the elements before it are read."""
    pos, line, counted = _SPACE.match(text).end() + 1, 1, 0  # after the "["

    def line_of(at: int) -> int:
        nonlocal line, counted
        line, counted = line + len(_BREAK.findall(text, counted, at)), at
        return line

    while True:
        pos = _SPACE.match(text, pos).end()
        if text.startswith("]", pos):
            pos += 1
            break
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            end = len(text)
        yield line_of(pos), text[pos:end]
        pos = _SPACE.match(text, end).end()
        if not text.startswith(",", pos):
            if text.startswith("]", pos):
                pos += 1
            break
        pos += 1
    rest = text[pos:]
    if rest.strip():  # text after the array's end: one bad record, never dropped
        yield line_of(pos + len(rest) - len(rest.lstrip())), rest.strip()



def _one_array(text: str) -> bool:
    """Whether the file is one JSON array rather than JSON lines: it opens with "[" and its first line is not JSON on
    its own (`[` alone, `[{...},`), or that line is the file's only one and holds objects (or nothing: `[]`).
    (A JSON line holding an array is that line's fault only: "not an object".)"""
    start = _SPACE.match(text).end()
    if not text.startswith("[", start):
        return False
    first = _BREAK.split(text[start:], 1)
    try:
        value = json.loads(first[0])
    except json.JSONDecodeError:
        return True
    except RecursionError:
        return False
    return (len(first) == 1 or not first[1].strip()) and isinstance(value, list) and \
        (not value or any(isinstance(v, dict) for v in value))


def _object_stream(text: str) -> bool:
    """Whether the file is JSON objects one after the other, pretty-printed (`jq '.[]'`'s output, a dump of objects):
    its first line is not JSON on its own (`{` alone) but an object starts there and ends on a later line."""
    start = _SPACE.match(text).end()
    if not text.startswith("{", start):
        return False
    first_end = m.start() if (m := _BREAK.search(text, start)) else len(text)  # no copy of the file: every JSON file
    try:
        json.loads(text[start:first_end])
        return False
    except (json.JSONDecodeError, RecursionError):
        pass
    try:
        return _DECODER.raw_decode(text, start)[1] > first_end
    except (json.JSONDecodeError, RecursionError):
        return False


def _stream_objects(text: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each value of a file of JSON values one after the other; one that does not parse is a bad
    record with the rest of the file (its end cannot be told), the values before it are read."""
    pos, line, counted = 0, 1, 0
    while (pos := _SPACE.match(text, pos).end()) < len(text):
        try:
            end = _DECODER.raw_decode(text, pos)[1]
        except (json.JSONDecodeError, RecursionError):
            end = len(text)
        line, counted = line + len(_BREAK.findall(text, counted, pos)), pos
        yield line, text[pos:end]
        pos = end


def _wrapped_records(text: str, source: Source) -> tuple[list, str, list[str]] | None:
    """(records, key, other keys) of a file that is one JSON object wrapping the records in an array (`{"data": [...],
    "count": 2}`, an API's or a reporting tool's dump): an object without the record id, one of whose keys (or of its
    objects' keys) holds the only array of objects that carry it. Read as one line, it was a record without id and
    the file was refused whole. None for any other file (the first line's object ends before the file does)."""
    start = _SPACE.match(text).end()
    if not text.startswith("{", start):
        return None
    try:
        obj, end = _DECODER.raw_decode(text, start)
    except (json.JSONDecodeError, RecursionError):
        return None
    if _SPACE.match(text, end).end() < len(text) or not isinstance(obj, dict) or _path(obj, source.record_id) is not None:
        return None
    inner = [(f"{k}.{k2}", v2) for k, v in obj.items() if isinstance(v, dict) for k2, v2 in v.items()]
    found = [(k, v) for k, v in [*obj.items(), *inner] if isinstance(v, list)
             and any(isinstance(e, dict) and _path(e, source.record_id) is not None for e in v)]
    if len(found) != 1:
        return None
    key, records = found[0]
    return records, key, [k for k in obj if k != key.split(".")[0]]


_AFTER = ("after.", "payload.after.")  # a record id under these: a Debezium change feed (below)


def _deleted_row_as_after(obj: dict) -> None:
    """A Debezium delete event (`"op": "d"`, `"after": null`, the deleted row under `before`; the event itself under
    `payload` when the converter writes schemas) reads its `before` row as its `after`: a source mapping `after.*` then
    finds the deleted record's id, and its `deleted` key (`op`, `d`) retires it. It was a row without record id."""
    event = obj["payload"] if isinstance(obj.get("payload"), dict) else obj
    if event.get("op") == "d" and event.get("after") is None and isinstance(event.get("before"), dict):
        event["after"] = event["before"]


def _read_jsonl(text: str, source: Source, file: str, names: _Names) -> _Read:
    rows, keys, repaired, problems, renamed, nulls = _Rows(file), {}, 0, {}, {}, 0
    change_feed = source.record_id.lower().startswith(_AFTER)
    selectors = [(c, m) for c in source.mapped_columns if "[" in c and (m := SELECTOR.fullmatch(c))]
    notes = []
    if wrapped := _wrapped_records(text, source):
        records, key, others = wrapped
        lines = [(i, json.dumps(r, ensure_ascii=False)) for i, r in enumerate(records, 1)]
        notes.append(f"one JSON object holding its records in the array {shown([key])}: its {len(records)} "
                     f"element(s) read as records, numbered by position" +
                     (f"; its other key(s) {shown(others)} not read" if others else ""))
    elif (array := _one_array(text)) or _object_stream(text):
        lines = list(_array_elements(text) if array else _stream_objects(text))
        if len({line for line, _ in lines}) < len(lines):  # an array on one line: (file, line) names one record
            lines = [(i, content) for i, (_, content) in enumerate(lines, 1)]
            notes.append("several records on one line: numbered by their position in the file, not their line")
    else:
        lines = enumerate(csv_records.physical_lines(text), 1)
    for line, content in lines:
        if not content or content.isspace():  # blank (`not content.strip()` without copying the line)
            continue
        ascii = content.isascii()  # nearly every line: neither bad bytes nor mojibake to look for
        if not ascii and _has_bad_bytes(content):
            rows.add_bad(line, f"bytes not valid in declared encoding {source.encoding}", content)
            continue
        if len(content) > csv_records.MAX_FIELD * 8:
            rows.add_bad(line, f"a JSON line of {len(content)} characters", content)
            continue
        try:
            obj = _json_object(content)
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f" ({exc.msg} at column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            rows.add_bad(line, f"not valid JSON{where}", content)
            continue
        if obj is None:  # a change feed's tombstone message (Kafka's null value after each delete event): no record
            nulls += 1
            continue
        if not isinstance(obj, dict):
            rows.add_bad(line, "JSON line is not an object", content)
            continue
        if change_feed:
            _deleted_row_as_after(obj)
        flat = _flatten(obj)
        if (_SURROGATE_ESCAPE.search(content) or not ascii and _LONE_SURROGATE.search(content)) and _lone_surrogate(obj):
            rows.add_bad(line, LONE_SURROGATE_REASON, content)
            continue
        if selectors:
            _selected(obj, selectors, flat)
        key_set = tuple(flat)
        problem = problems.get(key_set, False)  # the lines of a file share a few key sets: each is judged once
        if problem is False:
            problem = problems[key_set] = _key_problem(key_set)
        if problem:
            rows.add_bad(line, problem, content)
            continue
        if len(content) > _NO_LONG_VALUE and any(len(v) > csv_records.MAX_FIELD for v in flat.values() if v):
            at = next((k for k in flat if k.lower() == source.record_id.lower()), None)
            rows.add_bad(line, f"a value over {csv_records.MAX_FIELD} characters", content,
                         (names(at), flat[at]) if at else None)
            continue
        spelled = renamed.get(key_set, False)
        if spelled is False:  # named as the first line read with them (None: as they are, the usual case)
            spelled = tuple(names(k) for k in key_set)
            keys.update(dict.fromkeys(spelled))
            spelled = renamed[key_set] = None if spelled == key_set else spelled
        if not ascii and suspect(content):
            repaired += _repaired(flat)
        rows.add(line, spelled or key_set, tuple(flat.values()))
    if nulls:
        notes.append(f"{nulls} line(s) holding only `null` (a change feed's tombstone message) not read as records")
    return _Read(rows.frame(list(keys)), list(keys), len(rows.lines), repaired, notes=notes)


def _nested_text(value: object) -> str | None:
    """A Parquet list (or map) value as a JSON array reads (`_flatten`): plain values joined by a space, anything else
    JSON text."""
    if value is None:
        return None
    if all(v is None or isinstance(v, str | int | float) and not isinstance(v, bool) and v == v for v in value):
        return " ".join(t for v in value if v is not None and (t := str(v).strip())) or None
    return json.dumps(value, ensure_ascii=False, default=str)


def _parquet_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A Parquet column as the text a JSON export of it holds (integers and whole floats without '.0', lists as above;
    other types as pandas writes them)."""
    kind = column.type
    if pa.types.is_integer(kind):
        return column.cast(pa.string())
    if pa.types.is_floating(kind):
        return pa.array([_number_text(v) for v in column.to_pylist()], pa.string())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind) or \
            pa.types.is_map(kind):
        return pa.array([_nested_text(v) for v in column.to_pylist()], pa.string())
    return column


def _read_parquet(path: Path, source: Source, file: str, names: _Names) -> _Read:
    table = pq.read_table(path)
    # A struct column (a nested record, `address` holding `city` and `zip`) is its fields, named by dotted paths as a
    # JSON object's keys are (`address.city`): it was one column of Python text (`{'city': 'Paris', 'zip': ...}`), and
    # a mapped `address.city` refused the file.
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    header = list(table.column_names)
    problem = _header_problem(header, source)
    if problem:  # Parquet has no header line to mistake for data: every row is refused as such
        bad = [_bad_row(file, i, f"{REFUSED_FILE_REASON}: {problem}", "") for i in range(1, table.num_rows + 1)]
        return _Read(_rows_frame(bad), [], table.num_rows, 0, problem)
    # Integers as text in Arrow: pandas makes an integer column holding a null float64, so a card number column with
    # one empty value read '880001.0' (another record id than the '880001' of a file without one) and 17 digits rounded.
    # A float column (what pandas writes for integers beside a missing value) reads its whole numbers so too.
    table = pa.table([_parquet_text(column) for column in table.columns], names=header)
    frame = table.to_pandas().astype("string").astype(object).where(lambda f: f.notna(), None)
    frame.columns = [names(c) for c in header]
    columns = list(frame.columns)
    frame = frame.assign(_file=file, _line=range(1, table.num_rows + 1), _error=None, _raw=None)
    return _Read(frame if table.num_rows else pd.DataFrame(), columns, table.num_rows)


def _read_file(path: Path, data: bytes, source: Source, file: str, names: _Names) -> _Read:
    if source.format == "parquet":
        return _read_parquet(path, source, file, names)
    if source.format == "xlsx":
        read = _read_xlsx(path, source, file, names)
        if source.record_id in read.frame:  # a long id typed as a number shows as 1.23457E+12, and is rounded so
            _refuse_rounded_ids(read.frame, source.record_id)
        return read
    gzip_cut = None
    if data[:4] == _ZIP_MAGIC:  # `export.csv.zip`: read as the one file it holds (it was refused as NUL bytes in a header)
        data, problem = _unzip(data)
        if problem:
            return _refused_file(file, problem)
    if data[:2] == _GZIP_MAGIC:  # a compressed export (`export.csv.gz`, a glob that reaches it): read as its content
        data, gzip_cut = _gunzip(data)
        if not data and gzip_cut:
            problem = "a gzip file whose stream cannot be decompressed"
            return _refused_file(file, problem)
    text, cut, how = _decode(data, source.encoding)
    read = (_read_csv if source.format == "csv" else _read_jsonl)(text, source, file, names)
    read.notes += [how] if how else []
    if cut := gzip_cut or cut:  # the last record stops where the bytes do: never taken whole
        if len(read.frame) and pd.isna(read.frame.at[read.frame.index[-1], "_error"]):
            read.frame.at[read.frame.index[-1], "_error"] = CUT_REASON.format(how=cut)
        read.notes.append(CUT_REASON.format(how=cut))
    if source.format == "csv" and '="' in text and (n := _text_formulas(read)):  # rare: a scan
        read.notes.append(f"{n} record(s) hold values written as a spreadsheet's text formula (=\"00123\", to keep "
                          "leading zeros): read as their text")
    if source.format == "csv" and ".0" in text and (ids := _float_ids(read, source)):
        read.notes.append(f"record ids written as floats in column(s) {shown(ids)} (`123.0`: every id of the file a whole "
                          "number with `.0`, an integer column exported through a float): read without `.0`")
    if source.format == "csv" and ("E+" in text or "e+" in text) and source.record_id in read.frame:  # rare: a scan
        _refuse_rounded_ids(read.frame, source.record_id)
    if source.format == "jsonl" and len(read.frame) and not read.refused:
        # JSON lines may omit null keys: only the record id is required of the file.
        problem = _missing([source.record_id], read.columns)
        if problem:
            read.refused = problem
            read.frame["_error"] = read.frame["_error"].fillna(f"{REFUSED_FILE_REASON}: {problem}")
        else:
            read.flaw = _absent_keys(source, read)
    return read


def _parents(key: str) -> set[str]:
    """The objects a dotted key reaches through, lower case: `address.geo.lat` -> {'address', 'address.geo'}; an
    array element's (`contacts[kind=email].value`) are the array and its parents: {'contacts'}."""
    if selector := SELECTOR.fullmatch(key):
        return _parents(selector["array"]) | {selector["array"].lower()}
    parts = key.lower().split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _absent_keys(source: Source, read: _Read) -> str | None:
    """A mapped key that no line of a JSON-lines file holds, with the unmapped keys it holds: a key renamed in the export
    (`mail` -> `e_mail`) left that field empty in every record without a word. Not a refusal: JSON lines may omit null
    keys, so a small file of a sparse key can lack it; the file check fails and the operator reads which key."""
    # An object given as null (`"address": null`) holds its mapped keys (`address.zip`) as empty: not absent.
    have = {c.lower() for c in read.columns}
    absent = [k for k in _absent(source.mapped_columns, read.columns) if not _parents(k) & have]
    if source.deleted:  # a tombstone flag is absent from live lines; a file of tombstones only holds no person key
        absent = [k for k in absent if k.lower() != source.deleted.column.lower()]
        flag = next((c for c in read.columns if c.lower() == source.deleted.column.lower()), None)
        if flag and read.frame[flag].map(source.deleted.marks).all():
            return None
    if not absent:
        return None
    parents = set().union(*map(_parents, source.mapped_columns))
    unmapped = [c for c in _absent(read.columns, source.mapped_columns) if c.lower() not in parents
                and not c.startswith(ALSO)]
    return (ABSENT_KEYS.format(keys=absent)
            + (f" (it holds unmapped key(s) {shown(unmapped)}: {RENAMED_HINT})" if unmapped else ""))


ABSENT_KEYS, RENAMED_HINT = "no line holds mapped key(s) {keys}", "renamed in the export?"
_RENAMED_STATUS = re.compile(re.escape(LOADED_BUT + ABSENT_KEYS).replace(re.escape("{keys}"), r"(\[[^]]*\])")
                             + ".*" + re.escape(RENAMED_HINT))


def renamed_keys(status: str | None) -> list[str]:
    """The mapped keys a JSON-lines file's status (raw.<source>__files) says no line holds while it holds unmapped
    ones (a key renamed in the export), or []."""
    found = _RENAMED_STATUS.match(status or "")
    return re.findall(r"'((?:[^'\\]|\\.)*)'", found.group(1)) if found else []


_TEXT_FORMULA = re.compile(r'\s*="(.*)"\s*', re.DOTALL)


def _text_formulas(read: _Read) -> int:
    """Values a spreadsheet export wrote as a formula of their text (`="00017"`, `="0612345678"`: Excel's way to keep
    leading zeros) replaced by that text, as the spreadsheet shows them; the records holding one, counted. Read as
    written, `="00017"` was another record id than `00017` in every other system, and such an amount not a number."""
    held = np.zeros(len(read.frame), dtype=bool)
    for column in read.columns:
        values = read.frame[column]
        text = values.where(values.notna(), "").astype(str)
        found = text.str.fullmatch(_TEXT_FORMULA.pattern, flags=re.DOTALL).to_numpy(dtype=bool)
        if found.any():
            read.frame.loc[found, column] = text[found].str.replace(_TEXT_FORMULA, lambda m: m[1].replace('""', '"'),
                                                                    regex=True)
            held |= found
    return int(held.sum())


_FLOAT_ID = re.compile(r"\d+\.0")


def _float_ids(read: _Read, source: Source) -> list[str]:
    """The id columns (the record id, a `person_ref`) every value of which in this file is a whole number written with
    `.0` (`123.0`: pandas writes an integer column holding a gap as floats, so does a spreadsheet's number format),
    rewritten as the integers (`123`). Read as written, each was a second record beside yesterday's `123` (the newer
    version superseded nothing) and a receipt pointing at `123.0` reached no card. A file mixing `123.0` with other ids
    keeps them as written (an id scheme may end in `.0`; a float export writes every id so)."""
    found = []
    for column in dict.fromkeys([source.record_id, *([source.person_ref.column] if source.person_ref else [])]):
        if column not in read.frame:
            continue
        values = read.frame[column].to_numpy()
        present = (v for v in values if isinstance(v, str))
        if (first := next(present, None)) and all(v.endswith(".0") and _FLOAT_ID.fullmatch(v)
                                                  for v in itertools.chain([first], present)):  # the first other stops it
            read.frame[column] = [v[:-2] if isinstance(v, str) else v for v in values]
            found.append(column)
    return found


def _refuse_rounded_ids(frame: pd.DataFrame, record_id: str) -> None:
    """Marks the records whose id a spreadsheet wrote in scientific notation as unreadable, with the reason."""
    ids = frame[record_id].to_numpy()
    rounded = [i for i, v in enumerate(ids) if v and "+" in v and _SCIENTIFIC.fullmatch(v.strip())]
    if rounded:
        frame.loc[frame.index[rounded], "_error"] = ROUNDED_ID_REASON


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while files are read: their records are a million small lists, dicts and strings,
    none in a cycle (each freed when no longer used), and its passes over them cost up to a third of the read at 1M."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_settings(source: Source) -> str:
    """A digest of what decides how this module reads a source's files: format, encoding, delimiter, sheet, the
    mapped columns (a file lacking one is refused) and the record id. A file read with other settings is read again,
    so fixing a refused file's `delimiter` in the sources file takes effect on the next run, as its README row says."""
    mapped = sorted(c.lower() for c in source.mapped_columns)
    settings = (source.format, source.encoding, source.delimiter, source.decimal if source.format == "xlsx" else None,
                source.sheet, source.record_id.lower(), mapped, repr(source.deleted))
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def read_source(source: Source, raw_dir: Path, day: str | None = None,
                loaded_elsewhere: dict[str, str] | None = None, history: History | None = None) -> Extract:
    """All records of one source's files (of one drop day if given), as text, with file/line and any read
    error. `loaded_elsewhere` maps the sha256 of files already loaded to their names: a file read here with the content
    of another is skipped as its duplicate (a file still on disk among those read here is read again: its day is
    reloaded; one gone from disk keeps its rows, so a copy of it under a new name is a duplicate, not read twice).
    `history`: what the source's earlier days show (its trailer, its numbered parts), read against."""
    history = history or History()
    frames: list[pd.DataFrame] = []
    loads: list[FileLoad] = []
    names, settings = _Names(source.mapped_columns), read_settings(source)
    paths, refused = scan(source, raw_dir, day)
    reading = {str(path.relative_to(raw_dir)) for path in paths}
    seen = {sha: file for sha, file in (loaded_elsewhere or {}).items() if file not in reading}
    warnings = [f"{r.file}: {r.reason}" for r in refused]
    # fewer parts than the earlier days' is a full export's gap only (a delta's size, hence its parts, varies)
    parts = missing_parts(sorted(reading), history.days if source.delivery == "full" else None)
    warnings += [f"{series} (one day's export in numbered parts: late, or lost?)" for series in parts]
    for path in paths:
        file = str(path.relative_to(raw_dir))
        data = path.read_bytes()
        load = FileLoad(file=file, sha256=hashlib.sha256(data).hexdigest(), drop=drop_day(path, raw_dir),
                        read_with=settings)
        loads.append(load)
        if not data:  # loaded (nothing to read), never the duplicate of another empty file, and said
            warnings.append(f"{file}: empty (0 bytes): an export that failed, or a copy not yet written? nothing read; "
                            "deliver it again if it should hold records")
            continue
        if load.sha256 in seen:
            load.status = f"{DUPLICATE_OF}{seen[load.sha256]}"
            warnings.append(f"{file}: same content as {seen[load.sha256]}, skipped")
            continue
        seen[load.sha256] = file
        try:
            with _collector_paused():
                read = _read_file(path, data, source, file, names)
        except Exception as exc:  # noqa: BLE001 - a file that cannot be opened at all (a broken Parquet): one row says why
            kind = type(exc).__name__  # the exception's text may quote the file's content: never shown
            bad = _bad_row(file, 0, f"{REFUSED_FILE_REASON}: unreadable {source.format} file ({kind})", "")
            read = _Read(_rows_frame([bad]), [], 1, 0, f"unreadable {source.format} file")
        if source.format == "csv":
            _against_history(read, history)
        if read.refused:
            load.status = f"refused: {read.refused}"
            warnings.append(f"{file}: {read.refused}; its {len(read.frame)} record(s) are quarantined")
        elif read.flaw:
            load.status = f"{LOADED_BUT}{read.flaw}"
            warnings.append(f"{file}: {read.flaw}; its records are loaded" +
                            ("" if read.flaw.startswith(TRAILER_FLAW) else " with that field empty"))
        warnings += [f"{file}: {note}" for note in read.notes]
        if read.repaired:
            warnings.append(f"{file}: {read.repaired} record(s) held UTF-8 text or Windows-1252 characters read as "
                            f"{source.encoding} (mojibake), repaired")
        load.rows, load.records, load.repaired = len(read.frame), read.records, read.repaired
        if len(read.frame):  # a file without rows adds no column (its header's only trace would be an empty column)
            load.unreadable = int(read.frame["_error"].notna().sum())
            frames.append(read.frame.assign(_drop=load.drop))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=META_COLUMNS)
    for col in [*source.mapped_columns, *META_COLUMNS]:
        if col not in frame.columns:
            frame[col] = None
    data_cols = [c for c in frame.columns if c not in META_COLUMNS]
    frame = frame[[*data_cols, *META_COLUMNS]]
    typed = [c for c in data_cols if frame[c].dtype != object]  # all-missing columns (NaN) among the text ones
    if typed:
        frame[typed] = frame[typed].astype(object)
    frame["_line"] = frame["_line"].astype("int64")
    return Extract(rows=frame, files=loads, warnings=warnings, parts_missing=parts)


__all__ = ["ALSO", "Extract", "FileLoad", "META_COLUMNS", "REFUSED_FILE_REASON", "list_files", "read_source", "showable", "shown"]
