"""Run one measurement of a benchmark script in a process of its own: a clean Dagster instance and a clean heap,
so one size or data set does not inherit another's caches or memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def measure_in_own_process(script: str, one: str, workdir: Path, *extra: str) -> dict:
    """`script --one ONE --workdir WORKDIR EXTRA...`; its last line on stdout is the figures as JSON. A failure
    prints the end of its stderr and exits with its code."""
    out = subprocess.run([sys.executable, script, "--one", one, "--workdir", str(workdir), *extra],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(out.returncode)
    return json.loads(out.stdout.strip().splitlines()[-1])
