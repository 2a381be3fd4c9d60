"""The benchmark script runs end to end on a tiny size (timings themselves belong to the benchmark, not here)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "benchmark.py"


def test_benchmark_runs_on_a_tiny_size(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH), "--records", "1500", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| source records (day 1) |" in out.stdout and "identity__pairwise_predictions" in out.stdout
    assert "per step at" in out.stdout and "incremental / full" in out.stdout
