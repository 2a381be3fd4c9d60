"""How `make test` hands the suite's files to its workers, replayed from a `--durations=0` log: when each worker
would finish, and which files it would take. It answers whether the order of files (tests/conftest.py's
LONGEST_FIRST) or the number of workers bounds the suite, without running the suite again.

Usage:

    .venv/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=0 > LOG
    python bench/suite_schedule.py LOG [--workers N] [--first test_a.py,test_b.py,...]

pytest-xdist's `loadfile` (LoadScopeScheduling, 3.8) gives each worker one file, then one more to every worker
with two tests or fewer pending, and one more whenever a test ends on a worker left with two or fewer pending.
The replay charges each test its setup, call and teardown as the log measured them (a session fixture is charged
to the test that first built it) and assumes a worker never waits for a core: it is a lower bound at any load."""

from __future__ import annotations

import argparse
import heapq
import re
import sys
from collections import OrderedDict, deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.conftest, for the order `make test` uses

DURATION = re.compile(r"([0-9.]+)s (?:call|setup|teardown)\s+(tests/[^:\s]+)::(\S+)")


def durations(log: Path) -> OrderedDict[str, list[float]]:
    """file -> its tests' durations in the order they ran."""
    tests: dict[str, OrderedDict[str, float]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if m := DURATION.match(line):
            per_file = tests.setdefault(m.group(2), OrderedDict())
            per_file[m.group(3)] = per_file.get(m.group(3), 0.0) + float(m.group(1))
    return OrderedDict((f, list(tests[f].values())) for f in sorted(tests))


def replay(files: OrderedDict[str, list[float]], order: list[str], workers: int) -> list[tuple[float, list[str]]]:
    """(finish time, files taken) per worker, files handed out in `order` first, then in collection order."""
    rank = {f"tests/{name}": i for i, name in enumerate(order)}
    queue = deque(sorted(files, key=lambda f: rank.get(f, len(rank))))
    pending: list[deque[float]] = [deque() for _ in range(workers)]
    taken: list[list[str]] = [[] for _ in range(workers)]

    def hand_out(w: int, only_if_low: bool) -> None:
        if queue and (not only_if_low or len(pending[w]) <= 2):
            name = queue.popleft()
            pending[w].extend(files[name])
            taken[w].append(name)

    for w in range(workers):
        hand_out(w, only_if_low=False)
    for w in range(workers):
        hand_out(w, only_if_low=True)
    clock, finished = [(0.0, w) for w in range(workers)], [0.0] * workers
    while clock:
        now, w = heapq.heappop(clock)
        if not pending[w]:
            finished[w] = now
            continue
        now += pending[w].popleft()
        hand_out(w, only_if_low=True)
        heapq.heappush(clock, (now, w))
    return list(zip(finished, taken, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first", default="", help="files handed out first (default: tests/conftest.py's order)")
    args = parser.parse_args()
    if args.first:
        order = args.first.split(",")
    else:
        from tests.conftest import LONGEST_FIRST
        order = LONGEST_FIRST
    files = durations(args.log)
    for w, (finish, taken) in enumerate(replay(files, order, args.workers)):
        print(f"worker {w}: done at {finish:7.1f} s, {len(taken)} files: {', '.join(Path(f).name for f in taken[:6])}"
              + (" ..." if len(taken) > 6 else ""))
    print(f"sum of test durations {sum(map(sum, files.values())):.1f} s")


if __name__ == "__main__":
    main()
