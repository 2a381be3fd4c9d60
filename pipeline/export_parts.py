"""One day's export split into numbered parts (`customers_20261127_part1.csv`, `_part2.csv`, `export_3of7.csv`),
and the parts missing from a day's files.

A system writing a large export in parts sends them one by one; one may come a day late, or never. A full
delivery's day read without it retired every record of the missing part when it held less than the shrink guard
allows (one part in eight: 12 %), their values scrubbed, and brought them back when it came. A day whose numbered
parts have a gap (1, 2, 3, 5), or fewer than the `of N` its names say, is incomplete: said, and its export retires
nothing. Only numbers a part's word or an `N of M` names are parts: `crm_2026-11-27_2.csv` and `_10.csv` are a
day's second and tenth drops (pipeline/drop_days.py), not parts 2 and 10 of one export. A last part missing with no
total named cannot be told from the file names: the shrink guard stays the only check of that.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_PART = re.compile(r"(?i)(?<![^\W\d_])(?:part|partie|teil|chunk|split|segment|piece)[ _.-]?0*(\d{1,4})"
                   r"(?:[ _.-]?(?:of|von|sur|de)[ _.-]?0*(\d{1,4}))?(?!\d)"
                   r"|(?<!\d)0*(\d{1,4})[ _.-]?(?:of|von|sur)[ _.-]?0*(\d{1,4})(?!\d)")


def missing_parts(files: list[str]) -> list[str]:
    """One line per series of numbered parts among `files` (one day's) with parts missing: its name with the part's
    number as `*` and the missing numbers."""
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
    lines = []
    for key, (numbers, total) in sorted(series.items()):
        start = 0 if 0 in numbers else 1
        missing = sorted(set(range(start, max(total, *numbers) + 1)) - numbers)
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            lines.append(f"{key}: part(s) {shown} missing" + (f" of {total}" if total else ""))
    return lines
