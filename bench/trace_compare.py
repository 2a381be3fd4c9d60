"""Two statement traces side by side: where two runs' SQL spends, statement by statement.

    python bench/trace_compare.py A.json B.json [--top 30] [--grep household]

A trace is the JSON `bench/day_two.py run --trace` or `bench/after_scoring.py after --trace` keeps (every statement the
warehouse resource ran: caller, SQL text cut short, wall and CPU seconds; no values). Statements are grouped by their
caller and the start of their SQL (one group per statement of the code, summed over its executions and fetches), then
printed by the CPU seconds of both runs together, with each run's total. Run `main` and a branch one after the other
on copies of one snapshot, and trace two runs of one checkout too: their difference is the noise a change must beat
(at 1M and load ~12, 0.1-0.3 CPU s on the dearest statements).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

KEY_CHARS = 60  # the start of a statement's SQL that names it (the trace keeps 160)


def grouped(path: Path) -> dict[tuple[str, str], float]:
    """CPU seconds per (caller, start of the SQL)."""
    cpu: dict[tuple[str, str], float] = defaultdict(float)
    for statement in json.loads(path.read_text()):
        cpu[(statement["caller"], statement["sql"][:KEY_CHARS])] += statement["cpu"]
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--top", type=int, default=30, help="how many groups to print")
    parser.add_argument("--grep", default="", help="only groups whose caller or SQL contains this")
    args = parser.parse_args()
    a, b = grouped(args.a), grouped(args.b)
    print(f"total CPU s  {sum(a.values()):7.2f} {sum(b.values()):7.2f}  ({args.a.name} / {args.b.name})")
    keys = [k for k in set(a) | set(b) if args.grep.lower() in f"{k[0]} {k[1]}".lower()]
    for key in sorted(keys, key=lambda k: -(a.get(k, 0.0) + b.get(k, 0.0)))[:args.top]:
        caller, sql = key
        print(f"{a.get(key, 0.0):7.2f} {b.get(key, 0.0):7.2f}  {caller[:44]:44} {sql}")


if __name__ == "__main__":
    main()
