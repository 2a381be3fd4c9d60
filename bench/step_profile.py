"""Where an incremental day's time goes, per kind of cost: Dagster's own step bookkeeping and event log, opening and
closing the DuckDB warehouse, table metadata, Great Expectations, and the work itself.

    python bench/step_profile.py --persons 3000 [--workdir /tmp/c360-profile] [--instance sqlite] [--cpu]

Generates the demo (seed 17, never tuned on), delivers 99% of every file on day one and the last 1% the next day
(as bench/benchmark.py does), runs day one unprofiled, then day two under cProfile in the same process (imports
and Great Expectations' registrations already warm, as in the benchmark). `--instance sqlite` records the runs in
a SQLite event log as `customer360 run` does (default: the benchmark's in-memory instance); `--cpu` profiles CPU
seconds instead of wall time (steadier on a shared machine). The profile is kept as `<workdir>/day2.prof`.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import time
from datetime import timedelta
from pathlib import Path

# (label, part of the file path, function name): cumulative time of each, summed over calls.
COSTS = [
    ("steps: Dagster's bookkeeping and the user code", "execute_step.py", "core_dagster_event_sequence_for_step"),
    ("  user code (asset and check bodies)", "execution/plan/compute.py", "_yield_compute_results"),
    ("    warehouse connections opened and closed", "resource", "get_connection"),
    ("    table metadata (counts, schema)", "assets/metadata.py", "table_metadata"),
    ("    Great Expectations (checkpoint runs)", "pipeline/quality/gx_runner.py", "run"),
    ("event log writes (in and out of steps)", "methods/event_methods.py", "handle_new_event"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--workdir", default="/tmp/c360-profile")
    parser.add_argument("--instance", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args()

    import dagster as dg

    from assets import runner
    from pipeline.config import BUNDLED_SOURCES, Settings
    from pipeline.demo import DEMO_DAY, generate_demo
    from pipeline.demo.next_day import hold_back

    root = Path(args.workdir)
    shutil.rmtree(root, ignore_errors=True)
    generate_demo(args.persons, seed=17, raw_dir=root / "raw", truth_path=root / "truth.csv")
    hold_back(root / "raw", 0.01, DEMO_DAY)
    next_day = (DEMO_DAY + timedelta(days=1)).isoformat()
    parked = [(d, root / "parked" / d.parent.name) for d in (root / "raw").glob(f"*/{next_day}")]
    for src, dst in parked:
        shutil.move(src, dst)
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                        truth_file=root / "truth.csv")
    if args.instance == "sqlite":
        (root / "dagster_home").mkdir()
        instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    else:
        instance = dg.DagsterInstance.ephemeral()
    runner.run(settings, instance=instance, console_level="ERROR")
    for src, dst in parked:
        shutil.move(dst, src)

    profile = cProfile.Profile(time.process_time if args.cpu else time.perf_counter)
    wall, cpu = time.perf_counter(), time.process_time()
    profile.enable()
    results = runner.run(settings, instance=instance, console_level="ERROR")
    profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profile.dump_stats(str(root / "day2.prof"))
    steps = [s for r in results for s in instance.get_run_step_stats(r.run_id)]
    stats = pstats.Stats(profile).stats
    print(f"day two: {len(steps)} steps, wall {wall:.1f} s, CPU {cpu:.1f} s, load {os.getloadavg()[0]:.1f}, "
          f"success {all(r.success for r in results)} ({'CPU' if args.cpu else 'wall'} seconds below)")
    for label, path, name in COSTS:
        found = [(v[1], v[3]) for k, v in stats.items() if path in k[0] and k[2] == name]
        print(f"  {label:<55} {sum(c for _, c in found):>7.2f} s  ({sum(n for n, _ in found)} calls)")


if __name__ == "__main__":
    main()
