"""The sheets of an Excel workbook (.xlsx) as rows of text, for the CSV reader's path (pipeline/extract.py).

A spreadsheet's cells are typed; a CSV's are the text a person sees. Each cell becomes that text, so the sources file
maps a workbook exactly as it maps the CSV export of the same sheet, and staging reads both alike:
- a number typed as one: a whole number without its `.0` (`17.0` is the id `17`, as the CSV shows it), another in the
  source's `decimal` mark (`12.5` is `12,5` in a source declaring `,`: written with `.`, `1.234` read 1234 there);
  a postcode whose leading zero the typing dropped (`1000`) is restored by the postcode's reading, as in a CSV;
- a date or time cell: ISO 8601 (`1980-01-02`, `2026-11-25 10:31:00`), which every date field reads whatever the
  source's `date_formats` (it reads ISO 8601 when no declared format does);
- a boolean: `true` / `false`, as a JSON line's; a formula: its value as last computed (the spreadsheet's cached one);
- an empty cell, an empty row: empty (a row of empty cells is skipped, as a blank line, and rows keep their numbers:
  a record's line is its sheet row, as the spreadsheet shows it);
- a merged range: its value in its first cell, the others empty, as the file stores it; rows of merged ranges only
  above the header (a title, labels grouping columns) are not records, and said.
What the workbook does not hold is said: a formula never computed (a file written by a program that never opened it
in a spreadsheet), an error cell (`#N/A`) and the other sheets (hidden or not) are notes of the extract.
A source reads one sheet (`sheet:` a name or position, else the first visible one), a list of them, or every visible
worksheet (`sheet: "*"`: a month or a store per sheet), each sheet with its own header.

python-calamine (Rust) reads a 100,000-row sheet in ~0.5 CPU s, openpyxl in ~6 (README, "Libraries").
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from xml.etree import ElementTree

import python_calamine

from pipeline.drops import listed

_SHOWN_ROWS = 10  # row numbers a note lists


class SheetMissing(ValueError):
    """The workbook has no sheet of the name or position the sources file gives (the message says which it has)."""


EVERY_SHEET = "*"  # the sources file's `sheet:` for every visible worksheet


@dataclass
class Sheet:
    name: str
    rows: list[tuple[int, list[str]]]  # (sheet row number from 1, its cells' text, '' when empty); empty rows left out
    notes: list[str] = field(default_factory=list)
    position: int = 0  # in the workbook, from 0 (hidden sheets counted, as `sheet:` counts them)


def cell_text(value: object, decimal: str = ".") -> str:
    """A cell's value as the text of its CSV export (see the module's docstring)."""
    if type(value) is str:  # nearly every cell
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if value != value:
            return ""
        if float(value).is_integer() and abs(value) < 2**53:
            return str(int(value))
        return str(value).replace(".", decimal) if decimal != "." else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):  # a duration cell
        return str(value)
    return "" if value is None else str(value)


def _named(names: list[str], wanted: str | int) -> str:
    """The sheet `wanted` names: by position, or by name (exactly, else in any case)."""
    if isinstance(wanted, int):
        if wanted >= len(names):
            raise SheetMissing(f"no sheet at position {wanted} (from 0): the workbook has {len(names)} sheet(s)")
        return names[wanted]
    name = next((n for n in names if n == wanted), None) or \
        next((n for n in names if n.strip().lower() == wanted.strip().lower()), None)
    if name is None:
        raise SheetMissing(f"no sheet named {wanted!r} (the workbook has {len(names)} sheet(s))")
    return name


def _chosen(book: python_calamine.CalamineWorkbook, wanted) -> tuple[list[str], list[str]]:
    """(the sheets read, what is said of the others): `wanted` a name (any case) or position, a list of them, or
    EVERY_SHEET (every visible worksheet); else the first visible."""
    meta = book.sheets_metadata
    names = [m.name for m in meta]
    visible = [m.name for m in meta if m.visible == python_calamine.SheetVisibleEnum.Visible
               and m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    if isinstance(wanted, tuple | list):
        chosen = list(dict.fromkeys(_named(names, w) for w in wanted))
    elif wanted == EVERY_SHEET or wanted is None:
        if not visible:
            raise SheetMissing("no visible worksheet in the workbook (name the sheet to read: `sheet:`)")
        chosen = visible if wanted == EVERY_SHEET else visible[:1]
    else:
        chosen = [_named(names, wanted)]
    others = [m for m in meta if m.name not in chosen]
    notes = []
    if others:
        hidden = sum(m.visible != python_calamine.SheetVisibleEnum.Visible for m in others)
        read = ", ".join(str(names.index(n) + 1) for n in chosen)
        notes.append(f"sheet{'s' if len(chosen) > 1 else ''} {read} of {len(names)} read; {len(others)} other "
                     "sheet(s) not read" + (f" ({hidden} of them hidden)" if hidden else "")
                     + " (the sources file's `sheet:` names the ones to read, `\"*\"` every visible one)")
    return chosen, notes


def read_sheets(path: Path, wanted=None, decimal: str = ".") -> list[Sheet]:
    """The rows of the sheets `wanted` names of the workbook at `path` (see the module's docstring; the notes on the
    sheets not read go with the first); SheetMissing when it has no such sheet, python_calamine's errors when the file
    is no workbook."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        names, notes = _chosen(book, wanted)
        positions = [m.name for m in book.sheets_metadata]
        sheets = [_read(book, name, decimal, positions.index(name)) for name in names]
    finally:
        book.close()
    for sheet in sheets:
        sheet.notes += _not_held(path, sheet.name)
        if len(sheets) > 1:  # named by position: a sheet's name is the exporter's (a store's, a person's?)
            sheet.notes = [f"sheet {sheet.position + 1}: {note}" for note in sheet.notes]
    sheets[0].notes[:0] = notes
    return sheets


def _read(book: python_calamine.CalamineWorkbook, name: str, decimal: str, position: int) -> Sheet:
    sheet = book.get_sheet_by_name(name)
    start = sheet.start
    rows, notes = [], []
    if start is not None:
        first = start[0] + 1
        for at, cells in enumerate(sheet.to_python(skip_empty_area=True)):
            texts = [c if type(c) is str else cell_text(c, decimal) for c in cells]  # text cells: no call
            if any(texts):
                rows.append((first + at, texts))
        rows, labels = _without_labels(rows, sheet.merged_cell_ranges or [], start[1])
        if labels:
            notes.append(f"{len(labels)} row(s) above the header of merged cells only (a title, or labels grouping "
                         f"columns) not read as records: row(s) {listed(labels, _SHOWN_ROWS)}")
    return Sheet(name, rows, notes, position)


def _without_labels(rows: list[tuple[int, list[str]]], merged: list, first_column: int
                    ) -> tuple[list[tuple[int, list[str]]], list[int]]:
    """The rows without the leading ones whose every value is the first cell of a range merged across columns: a title,
    or labels grouping the columns under them (`Client` over three columns, `Adresse` over three more). They are not the
    header, nor records; three labels or more made the header look like a record line (a CSV's title rule reads at most
    two values a line)."""
    starts = {(top, left) for (top, left), (_, right) in merged if right > left}
    labels = []
    for line, cells in rows:
        filled = [first_column + j for j, c in enumerate(cells) if c]
        if not all((line - 1, column) in starts for column in filled):
            break
        labels.append(line)
    return rows[len(labels):], labels


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATION = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_CELL = re.compile(rb"<c\b([^>]*?)(?<!/)>(.*?)</c>", re.DOTALL)
_ROW_OF = re.compile(rb'\br="[A-Z]+(\d+)"')
_ERROR_TYPE = re.compile(rb'\bt="e"')
_CACHED = re.compile(rb"<v>[^<]")


def _sheet_part(archive: zipfile.ZipFile, name: str) -> str | None:
    """The path inside the archive of the sheet called `name` (workbook.xml names it, its relations locate it)."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rid = next((s.get(_RELATION) for s in book.iter(f"{_MAIN}sheet") if s.get("name") == name), None)
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target") for r in rels if r.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _not_held(path: Path, name: str) -> list[str]:
    """Notes on the cells calamine reads as empty though the sheet shows something: error values (`#N/A`) and formulas
    the file holds no computed value for. One pass of bytes searches over the sheet's XML; the cells are looked at only
    when one of them may be there."""
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, name)
            xml = archive.read(part) if part else b""
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return []
    if b't="e"' not in xml and b"<f" not in xml:
        return []
    errors, uncomputed = [], []
    for cell in _CELL.finditer(xml):
        attributes, content = cell.groups()
        if _ERROR_TYPE.search(attributes):
            errors.append(cell)
        elif b"<f" in content and not _CACHED.search(content):
            uncomputed.append(cell)
    notes = []
    for cells, what in ((errors, "an error value (#N/A, #DIV/0!, ...)"),
                        (uncomputed, "a formula without a computed value (a file written by a program, never saved by "
                                     "a spreadsheet)")):
        if cells:
            rows = sorted({int(m[1]) for c in cells if (m := _ROW_OF.search(c.group(1)))})
            notes.append(f"{len(cells)} cell(s) hold {what}: read as empty, in row(s) {listed(rows, _SHOWN_ROWS)}")
    return notes
