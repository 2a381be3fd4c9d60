"""One day's export split into numbered parts (`customers_20261127_part1.csv`, `_part2.csv`, `export_3of7.csv`),
and the parts missing from a day's files.

A system writing a large export in parts sends them one by one; one may come a day late, or never. A full
delivery's day read without it retired every record of the missing part when it held less than the shrink guard
allows (one part in eight: 12 %), their values scrubbed, and brought them back when it came. A day whose numbered
parts have a gap (1, 2, 3, 5), or fewer than the `of N` its names say, is incomplete: said, and its export retires
nothing. Only numbers a part's word or an `N of M` names are parts: `crm_2026-11-27_2.csv` and `_10.csv` are a
day's second and tenth drops (pipeline/drop_days.py), not parts 2 and 10 of one export. A last part missing with no
total named cannot be told from one day's names: the source's earlier days tell it (pipeline/delivery_history.py).
A series with fewer parts than the most any of those days' same series came in (its names compared with their digits
masked: `customers_20261127_part*.csv` is `customers_20261126_part*.csv` of the day before) is incomplete too, until
the source has delivered that few parts on each of them (a smaller export is then believed).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_PART = re.compile(r"(?i)(?<![^\W\d_])(?:part|partie|teil|chunk|split|segment|piece)[ _.-]?0*(\d{1,4})"
                   r"(?:[ _.-]?(?:of|von|sur|de)[ _.-]?0*(\d{1,4}))?(?!\d)"
                   r"|(?<!\d)0*(\d{1,4})[ _.-]?(?:of|von|sur)[ _.-]?0*(\d{1,4})(?!\d)")


_DIGITS = re.compile(r"\d+")


def _series(files: list[str]) -> dict[str, tuple[set[int], int]]:
    """Each series of numbered parts among `files`: its name with the part's number as `*` -> the part numbers
    present and the most parts an `of N` names (0 when none does)."""
    series: dict[str, tuple[set[int], int]] = {}
    for file in files:
        name = PurePosixPath(file).name
        found = _PART.search(name)
        if not found:
            continue
        number, total = (int(found[1]), found[2]) if found[1] else (int(found[3]), found[4])
        key = str(PurePosixPath(file).parent / (name[:found.start()] + "*" + name[found.end():]))
        numbers, most = series.get(key, (set(), 0))
        numbers.add(number)
        series[key] = (numbers, max(most, int(total or 0)))
    return series


def _usual(earlier: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Per series (digits masked), the most parts it came in on the earlier days, and the last day it did."""
    usual: dict[str, tuple[int, str]] = {}
    for day, files in sorted(earlier.items()):
        for key, (numbers, _) in _series(files).items():
            masked = _DIGITS.sub("#", key)
            if len(numbers) >= usual.get(masked, (0, ""))[0]:
                usual[masked] = (len(numbers), day)
    return usual


def missing_parts(files: list[str], earlier: dict[str, list[str]] | None = None) -> list[str]:
    """One line per series of numbered parts among `files` (one day's) with parts missing: its name with the part's
    number as `*` and the missing numbers. `earlier`: the source's earlier days' files, by day (a last part missing
    without `of N`: fewer parts than they came in)."""
    usual = _usual(earlier or {})
    lines = []
    for key, (numbers, total) in sorted(_series(files).items()):
        start = 0 if 0 in numbers else 1
        most, day = usual.get(_DIGITS.sub("#", key), (0, ""))
        last = max(total, *numbers, most - 1 + start if not total else 0)
        missing = sorted(set(range(start, last + 1)) - numbers)
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            came = f" (the export of {day} came in {most} parts)" if not total and last > max(numbers) else ""
            lines.append(f"{key}: part(s) {shown} missing" + (f" of {total}" if total else "") + came)
    return lines
