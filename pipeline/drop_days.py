"""The day a file was delivered: named by its folder, else by its file name, else its modification date.

Exporters spell the day in a folder (`crm/2026-11-28/export.csv`, `20261128`, `dt=2026-11-28`, `2026/11/28`) or, when
they drop every day's file into one flat folder, in the file's name (`crm_2026-11-27.csv`, `customers_20261127.json`,
`loyalty_2026_11_27_0300.csv`, `web-orders.2026-11-27T03-00.parquet`, `export-27.11.2026.xlsx`, a timestamp
`export_202611270300.csv`). A file naming no day
counts for its modification date: a month of named files copied at once (every mtime the copy day) loaded as one
day, a record's versions were ordered by name instead of by day, and a file copied again got a new day.

Only unambiguous spellings of a day are read from a name: the year first (`2026-11-27`, `2026_11_27`, `2026.11.27`,
`20261127`), or the year last with dots (`27.11.2026`: day first, the German, French and Russian habit; a
month-first exporter writes dashes or slashes). The year last with dashes, underscores or nothing (`11-27-2026`,
`27_11_2026`, `27112026`) is either order, and so is a name naming two different days (`crm_2026-11-01_2026-11-27`, a
range): such a name is no day, the file keeps its modification date, and `ambiguous_name` says why so the run can
tell the operator (rename the files year first). Eight digits that are no day (`20261399`) are a batch or store
number, no day; a spelling with separators that is no day (`2026-02-30`, `31.02.2026`) comes back as written, for
`drops.refusal` to refuse the file by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

# A drop folder's day as exporters spell it: `2026-11-28`, `20261128`, a second drop of the day (`2026-11-28_2`,
# `20261128T0300`), a Hive partition (`dt=2026-11-28`); or three nested folders (`2026/11/28`, `year=2026/month=11/day=28`).
_DAY = re.compile(r"(?:[a-z_]+=)?((?:19|20)\d\d)(-?)(\d\d)\2(\d\d)(?:[_.T (-].*)?", re.IGNORECASE)
_NESTED = (re.compile(r"(?:year=)?((?:19|20)\d\d)", re.I), re.compile(r"(?:month=)?(\d\d?)", re.I),
           re.compile(r"(?:day=)?(\d\d?)", re.I))
# A day inside a file's name, not inside a longer number (`crm_2026-11-27_1.csv`, `20261127T0300`, `x.2026_11_27.csv`)
_NAME_YEAR_FIRST = re.compile(r"(?<!\d)((?:19|20)\d\d)([-_.]?)(\d\d)\2(\d\d)(?!\d)")
# ... and a timestamp written as one number, the day then the time (`export_202611270300.csv`, `20261127031500`): a day
# only when the digits after it are a time of day (`202611279999` is a batch number)
_NAME_STAMP = re.compile(r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?:[01]\d|2[0-3])[0-5]\d(?:[0-5]\d)?(?!\d)")
_NAME_DOTTED = re.compile(r"(?<![\d.])(\d\d)\.(\d\d)\.((?:19|20)\d\d)(?!\d|\.\d)")
_NAME_YEAR_LAST = re.compile(r"(?<!\d)(\d\d)([-_]?)(\d\d)\2((?:19|20)\d\d)(?!\d)")


@dataclass(frozen=True)
class NamedDay:
    day: str      # YYYY-MM-DD; as written when shaped as a day that is none (`2026-02-30`)
    where: str    # "folder" or "file name": what the refusal of a day that is none, or still to come, points at


def _real(year: int, month: int, day: int, written: str) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None if written.isdigit() else written


def _folder_day(parts: tuple[str, ...]) -> str | None:
    """The day the folder(s) at the start of `parts` name, as YYYY-MM-DD; a name shaped as a day that is none
    (`2026-02-30`, `2026/02/30`) comes back as written, which `drops.refusal` refuses; None when no day is named (eight
    digits that are no day, `20261399`, may be a batch or store number: not a day folder)."""
    nested = [m for rule, part in zip(_NESTED, parts[:3], strict=False) if (m := rule.fullmatch(part))]
    if len(nested) == 3:
        year, month, day = (int(m.group(1)) for m in nested)
        return _real(year, month, day, "/".join(parts[:3]))
    if m := _DAY.fullmatch(parts[0]):
        return _real(int(m.group(1)), int(m.group(3)), int(m.group(4)), parts[0])
    return None


def _name_days(name: str) -> set[str]:
    """The days a file name spells unambiguously (see the module's docstring), each as `_real` gives it."""
    found = {_real(int(m[1]), int(m[3]), int(m[4]), m[0]) for m in _NAME_YEAR_FIRST.finditer(name)}
    found |= {_real(int(m[1]), int(m[2]), int(m[3]), m[0][:8]) for m in _NAME_STAMP.finditer(name)}
    found |= {_real(int(m[3]), int(m[2]), int(m[1]), m[0]) for m in _NAME_DOTTED.finditer(name)}
    return found - {None}


def named_day(path: Path, raw_dir: Path) -> NamedDay | None:
    """The day `path` names: its first folder under raw_dir naming a day, else its file name; None if neither does."""
    folders = path.relative_to(raw_dir).parts[:-1]
    for i in range(len(folders)):
        if (day := _folder_day(folders[i:])) is not None:
            return NamedDay(day, "folder")
    days = _name_days(path.name)
    return NamedDay(days.pop(), "file name") if len(days) == 1 else None


def drop_day(path: Path, raw_dir: Path) -> str:
    """The day a file was delivered: the day its folders or its name spell (`named_day`), else its modification date
    (UTC) for sources that name no day."""
    named = named_day(path, raw_dir)
    if named is not None:
        return named.day
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()


def ambiguous_name(path: Path, raw_dir: Path) -> str | None:
    """Why a file counted for its modification date holds what looks like a day in its name, or None: the operator
    is told, as the file's day (and so its versions' order) is then the copy's, not the export's."""
    if named_day(path, raw_dir) is not None:
        return None
    if len(_name_days(path.name)) > 1:
        return "its name spells several days"
    if (m := _NAME_YEAR_LAST.search(path.name)) and any(_real(int(m[4]), a, b, "0") for a, b in (
            (int(m[3]), int(m[1])), (int(m[1]), int(m[3])))):
        return f"its name spells a day with the year last ('{m[0]}'), day or month first"
    return None


def file_order(file: str) -> str:
    """A key sorting file names as their exporter numbered them: `crm_2026-11-27_2.csv` before `..._10.csv` (each run
    of digits compared as a number; plain text put `_10` first, so the tenth file of a day lost to the second)."""
    return re.sub(r"\d+", lambda m: m[0].lstrip("0").rjust(24, "0"), file)
