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


def test_benchmark_measures_a_person_only_delivery(tmp_path):
    """--person-only: three CRM-like sources with person mappings only (no activity rows), the full run only."""
    out = subprocess.run([sys.executable, str(BENCH), "--records", "600", "--person-only", "--full-only",
                          "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "per step at" in out.stdout and "staging" in out.stdout
    (delivery,) = tmp_path.glob("person-only-*")
    assert sorted(p.name for p in (delivery / "raw").iterdir()) == ["cs_tickets", "ecommerce_accounts", "loyalty_cards"]
    assert "activity" not in (delivery / "sources.yaml").read_text(encoding="utf-8")
