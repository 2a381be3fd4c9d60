"""Which files a source's glob reaches, and which of them the pipeline refuses to read, with the reason.

A drop folder is trusted for its place and its name only: a file (or symlink) resolving outside the raw
directory is refused (another team's export, /etc/passwd), and so is a file whose folder or name spells a day that
is not a real day (2026-02-30) or is still to come (a future day has no partition; reading it would stop every
source), each with its reason (pipeline/drop_days.py: which spellings are a day).
Refused files are reported, never read; the rest of the delivery goes on. So are the files in a source's folder
that no glob reaches (a `.csv.gz` beside the `.csv` files was otherwise left unread without a word).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import takewhile
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.config import Source
from pipeline.drop_days import NamedDay, ambiguous_name, drop_day, named_day

PARTITION_TZ = ZoneInfo("Europe/Paris")
_WILDCARD = re.compile(r"[*?[]")
_SHOWN_UNREACHED = 5  # file names listed per folder; the rest are counted
# Excel and LibreOffice write `~$clients.xlsx` beside a workbook while it is open (a few bytes naming who opened it): a
# `*.xlsx` glob reaches it, and read as a workbook it was a refused file failing its source's check.
OFFICE_LOCK = "~$"
# What transfer tools and browsers append to a file's name while it is still coming (`export.csv.part`: curl, rsync's
# `--partial-dir` aside, WinSCP's `.filepart`, Chrome's `.crdownload`), renamed once whole: a `*.csv*` glob (the gzip
# habit) reached it, and its first half loaded under that name.
IN_TRANSFER = (".part", ".partial", ".filepart", ".crdownload", ".download", ".tmp", ".temp", ".uploading")


@dataclass(frozen=True)
class Refused:
    file: str    # path relative to the raw directory (as found, before resolving links)
    reason: str


def today() -> str:
    return datetime.now(PARTITION_TZ).date().isoformat()


def is_readable_day(name: str) -> bool:
    """A folder name that is a real day, not after today."""
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return name <= today()


def refusal(path: Path, raw_dir: Path, last_day: str | None = None) -> str | None:
    """Why the file must not be read, or None."""
    root = raw_dir.resolve()
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return "resolves outside the raw directory (symlink or path escape): not read"
    if path.name.startswith(OFFICE_LOCK):
        return "an Office lock file (the workbook it names is open in a spreadsheet, maybe still being written): not read"
    if len(path.suffixes) > 1 and path.suffix.lower() in IN_TRANSFER:
        return f"a file still being transferred ('{path.suffix}' after its name): not read until it is renamed whole"
    named = named_day(path, raw_dir) or NamedDay(drop_day(path, raw_dir), "modification date")
    try:
        date.fromisoformat(named.day)
    except ValueError:
        if named.where == "folder":
            return f"drop folder '{named.day}' is not a real day: not read (rename the folder)"
        return f"its file name spells '{named.day}', not a real day: not read (rename the file)"
    if named.day > (last_day or today()):
        return f"drop day {named.day} is in the future (its {named.where} says so): not read until that day"
    return None


def scan(source: Source, raw_dir: Path, day: str | None = None) -> tuple[list[Path], list[Refused]]:
    """The source's readable files under raw_dir (of one drop day if given), oldest drop first, and the
    files refused with their reason (all days: a refused folder is reported on every run until fixed)."""
    accepted, refused = [], []
    for path in sorted(p for p in raw_dir.glob(source.files) if p.is_file()):
        why = refusal(path, raw_dir)
        if why:
            refused.append(Refused(str(path.relative_to(raw_dir)), why))
        elif day is None or drop_day(path, raw_dir) == day:
            accepted.append(path)
    return accepted, refused


def undated_names(source: Source, paths: list[Path], raw_dir: Path) -> str | None:
    """One line for the operator when files of `source` count for their modification day though their name holds what
    looks like a day in no order the pipeline can trust (drop_days.ambiguous_name): read, but a copy of a month of
    them loads as one day. Paths only, as for refused files."""
    why = {str(path.relative_to(raw_dir)): reason for path in paths if (reason := ambiguous_name(path, raw_dir))}
    if not why:
        return None
    first, *others = why
    also = f"; also {listed(others, _SHOWN_UNREACHED)}" if others else ""
    return (f"{source.name}: {len(why)} file(s) count for their modification day, their name naming no day it can be "
            f"sure of ({first}: {why[first]}{also}): rename them with the year first (2026-11-27) or put each day's "
            "files in a folder named by the day")


def list_files(source: Source, raw_dir: Path, day: str | None = None) -> list[Path]:
    return scan(source, raw_dir, day)[0]


def listed(items: list, shown: int) -> str:
    """A log line's list: the first `shown` items, the rest counted (`a, b and 3 more`)."""
    return ", ".join(map(str, items[:shown])) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def glob_root(pattern: str) -> str:
    """The folder a `files` glob starts from, its leading parts without a wildcard: 'crm/**/*.csv' -> 'crm'."""
    return "/".join(takewhile(lambda part: not _WILDCARD.search(part), Path(pattern).parts[:-1]))


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, symlinked folders not followed (one may lead out of the raw directory, or loop)."""
    for parent, _, names in os.walk(folder):
        yield from (Path(parent) / name for name in names if (Path(parent) / name).is_file())


def unreached(sources: list[Source], raw_dir: Path) -> list[str]:
    """The files in a source's folder that no source's glob reaches (a `.csv.gz` or an Excel copy beside the `.csv`
    files), one line per folder: never read, so the operator is told (paths only, as for refused files; hidden files
    such as `.DS_Store` are left out)."""
    reached = {path for source in sources for path in raw_dir.glob(source.files)}
    lines, seen = [], set()
    for source in sources:
        root = glob_root(source.files)
        if root in seen or not (raw_dir / root).is_dir():
            continue
        seen.add(root)
        files = sorted(str(path.relative_to(raw_dir)) for path in _files_under(raw_dir / root)
                       if path not in reached and not path.name.startswith("."))
        if files:
            lines.append(f"{source.name}: {len(files)} file(s) in {root or '.'}/ that no `files` glob of the sources "
                         f"file reaches: not read ({listed(files, _SHOWN_UNREACHED)})")
    return lines
