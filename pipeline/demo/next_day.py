"""Turn one demo drop into two days: the last `share` of each file's lines arrive a day later.

This is the daily case the incremental run is built for (a small share of new records on top of what
was loaded). Files are split as bytes, header kept, so encodings and formats stay as generated.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path


def hold_back(raw_dir: Path, share: float, day: date) -> dict[str, int]:
    """Move the last `share` of the data lines of every file dated `day` into a drop dated `day` + 1."""
    moved = {}
    for path in sorted(raw_dir.glob(f"*/{day.isoformat()}/*")):
        lines = path.read_bytes().splitlines(keepends=True)
        header = lines[:1] if path.suffix == ".csv" else []
        body = lines[len(header):]
        keep = len(body) - int(len(body) * share)
        target = path.parent.parent / (day + timedelta(days=1)).isoformat() / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(header + body[:keep]))
        target.write_bytes(b"".join(header + body[keep:]))
        moved[path.parent.parent.name] = len(body) - keep
    return moved
