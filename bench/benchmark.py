"""Benchmark: demo data at several sizes through the whole pipeline, and Splink alone on the same data.

    python bench/benchmark.py --records 10000 100000 1000000 [--workdir /tmp/c360-bench]

For each size (source records, i.e. raw rows over all sources) it prints per asset the wall time and the
peak resident memory of the process while that step ran, then the Splink comparisons, pairwise F1 against
the truth, and the same linkage done by Splink alone (the one training recipe, predict, connected components at
the same threshold) so
the pipeline's overhead is a ratio measured in the same run. Each size runs in its own process.

The data arrive over two days: 99% of every source's rows in the first drop (the full run), the last 1%
the next day (the incremental run: new records staged and linked against the saved model), timed apart.
`--engine spark` runs the identity work on Spark (C360_SPARK_* settings apply); plain Splink stays on
DuckDB as the reference. Peak memory counts the process and its children (Spark's JVM).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from isolated import measure_in_own_process  # bench/isolated.py, beside this script

from pipeline.config import ENGINES
from pipeline.sql import scalar

RECORDS_PER_PERSON = 11.6  # raw rows over all sources per generated person (measured on the demo)
NEXT_DAY_SHARE = 0.01


def _rss_of(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # the process ended meanwhile
        pass
    return 0.0


def _children(pid: str) -> list[str]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += (task / "children").read_text().split()
    except OSError:
        pass
    return found


def _rss_mb() -> float:
    """Resident memory of this process and all its descendants (Spark runs in a child JVM)."""
    total, todo = 0.0, [str(os.getpid())]
    while todo:
        pid = todo.pop()
        total += _rss_of(pid)
        todo += _children(pid)
    return total


class MemorySampler(threading.Thread):
    def __init__(self, every: float = 0.1):
        super().__init__(daemon=True)
        self.every, self.samples, self.running = every, [], True

    def run(self) -> None:
        while self.running:
            self.samples.append((time.time(), _rss_mb()))
            time.sleep(self.every)

    def peak(self, start: float, end: float) -> float:
        inside = [rss for t, rss in self.samples if start <= t <= end + self.every]
        return max(inside, default=0.0)


def splink_alone(warehouse: Path, workdir: Path, threshold: float) -> dict:
    """The pipeline's own training recipe (recipe.py) and predict on the same linkage input, then Splink's
    connected components at the same threshold: the cost of Splink's work without the rest of the pipeline."""
    import duckdb

    from pipeline.identity import recipe
    from pipeline.identity.link import DuckDBEngine

    with duckdb.connect(str(warehouse), read_only=True) as wh:
        records = wh.sql("SELECT * FROM identity.linkage_input").to_arrow_table()
    scratch = workdir / "splink_alone.duckdb"
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    engine = DuckDBEngine(con)
    timings = {}
    t = time.perf_counter()
    trained = recipe.train(engine, records)
    timings["splink_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    linker, predictions = recipe.predict(engine, trained)
    timings["splink_predict_s"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    timings["splink_cluster_s"] = time.perf_counter() - t
    con.close()
    scratch.unlink(missing_ok=True)
    timings["splink_total_s"] = sum(timings.values())
    return timings


def _steps(instance, results, sampler) -> list[dict]:
    return [{"step": st.step_key, "seconds": round(st.end_time - st.start_time, 2),
             "peak_mb": round(sampler.peak(st.start_time, st.end_time))}
            for r in results for st in instance.get_run_step_stats(r.run_id) if st.start_time and st.end_time]


def run_one(records: int, workdir: Path, engine: str = "duckdb") -> dict:
    """Generate, run the first day then the incremental day with a memory sampler, then Splink alone."""
    import shutil
    from datetime import timedelta

    import dagster as dg
    import duckdb

    from assets.identity import CLUSTERS_OP, PREDICTIONS_OP
    from pipeline import runner
    from pipeline.config import BUNDLED_SOURCES, Settings
    from pipeline.demo import DEMO_DAY, generate_demo
    from pipeline.demo.next_day import hold_back

    persons = max(50, round(records / RECORDS_PER_PERSON))
    root = workdir / (f"r{records}" if engine == "duckdb" else f"r{records}-{engine}")
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    generate_demo(persons, seed=42, raw_dir=root / "raw", truth_path=root / "truth.csv")
    generate_s = time.perf_counter() - t
    hold_back(root / "raw", NEXT_DAY_SHARE, DEMO_DAY)
    next_day = (DEMO_DAY + timedelta(days=1)).isoformat()
    parked = [(d, root / "parked" / d.parent.name) for d in (root / "raw").glob(f"*/{next_day}")]
    for src, dst in parked:  # not delivered yet
        shutil.move(src, dst)
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                        truth_file=root / "truth.csv", engine=engine)
    instance = dg.DagsterInstance.ephemeral()
    sampler = MemorySampler()
    sampler.start()
    t, cpu = time.perf_counter(), time.process_time()
    results = runner.run(settings, instance=instance, console_level="ERROR")
    pipeline_s, pipeline_cpu = time.perf_counter() - t, time.process_time() - cpu
    for src, dst in parked:
        shutil.move(dst, src)
    t, cpu = time.perf_counter(), time.process_time()
    day_two = runner.run(settings, instance=instance, console_level="ERROR")
    incremental_s, incremental_cpu = time.perf_counter() - t, time.process_time() - cpu
    sampler.running = False
    steps, incremental_steps = _steps(instance, results, sampler), _steps(instance, day_two, sampler)
    result = results[-1]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        raw = scalar(con, "SELECT sum(raw_rows) FROM marts.data_quality WHERE run_id = ?", [result.run_id])
        quality = {run: con.execute("SELECT pairwise_precision, pairwise_recall, pairwise_f1 FROM identity.linkage_quality "
                                    "WHERE run_id = ?", [run]).fetchall() for run in (result.run_id, day_two[-1].run_id)}
        persons_records = scalar(con, "SELECT count(*) FROM identity.linkage_input")
    quality, quality_two = quality[result.run_id], quality[day_two[-1].run_id]
    comparisons = next((m.metadata["comparisons_scored"].value for m in result.get_asset_materialization_events()
                        if m.asset_key.path == ["identity", "pairwise_predictions"]
                        for m in [m.event_specific_data.materialization]), None)
    alone = splink_alone(settings.warehouse, root, settings.linkage.threshold)
    identity_steps = {PREDICTIONS_OP, CLUSTERS_OP}
    identity_s = sum(s["seconds"] for s in steps if s["step"] in identity_steps)
    return {
        "engine": engine, "records": int(raw or 0), "persons": persons, "person_records": persons_records,
        "success": all(r.success for r in results + day_two),
        "generate_s": round(generate_s, 1), "pipeline_s": round(pipeline_s, 1),
        "incremental_s": round(incremental_s, 1), "incremental_share": round(incremental_s / pipeline_s, 3),
        # CPU seconds of the process (all its threads): steadier than wall time on a shared machine
        "pipeline_cpu_s": round(pipeline_cpu, 1), "incremental_cpu_s": round(incremental_cpu, 1),
        "load_average": os.getloadavg()[0],
        "incremental_f1": quality_two[0][2] if quality_two else None,
        "peak_mb": round(max((rss for _, rss in sampler.samples), default=0)), "comparisons": comparisons,
        "precision": quality[0][0] if quality else None, "recall": quality[0][1] if quality else None,
        "f1": quality[0][2] if quality else None, "steps": steps, "incremental_steps": incremental_steps,
        **{k: round(v, 1) for k, v in alone.items()},
        "identity_steps_s": round(identity_s, 1),
        "pipeline_over_splink_alone": round(pipeline_s / alone["splink_total_s"], 2),
    }


def report(figures: list[dict]) -> str:
    lines = ["| source records (day 1) | person records | full run | incremental day (+1%) | incremental / full "
             "| CPU s full / incr. (ratio) | load | peak | comparisons | F1 | F1 after day 2 "
             "| Splink alone (train / predict / cluster) | identity steps | full / Splink alone |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f['records']:,} | {f['person_records']:,} | {f['pipeline_s']} s | {f['incremental_s']} s "
                     f"| {f['incremental_share']:.0%} | {f['pipeline_cpu_s']} / {f['incremental_cpu_s']} "
                     f"({f['incremental_cpu_s'] / f['pipeline_cpu_s']:.0%}) | {f['load_average']:.1f} "
                     f"| {f['peak_mb'] / 1024:.2f} GB | {f['comparisons']:,} | {f['f1']} "
                     f"| {f['incremental_f1']} | {f['splink_total_s']} s ({f['splink_train_s']} / "
                     f"{f['splink_predict_s']} / {f['splink_cluster_s']}) | {f['identity_steps_s']} s | "
                     f"{f['pipeline_over_splink_alone']} |")
    for f in figures:
        lines += ["", *step_table(f)]
    return "\n".join(lines)


def step_table(f: dict, top: int = 15) -> list[str]:
    """Per step, the full run's and the incremental day's seconds (the slowest steps of either), then the rest
    summed: where a run's time goes, and what the incremental day still repeats."""
    full = {s["step"]: s for s in f["steps"]}
    incr = {s["step"]: s for s in f["incremental_steps"]}
    order = sorted(set(full) | set(incr), key=lambda k: -max(full.get(k, {}).get("seconds", 0),
                                                                 incr.get(k, {}).get("seconds", 0)))
    lines = [f"per step at {f['records']:,} source records: {len(full)} steps in the full run, {len(incr)} on the "
             f"incremental day (seconds; peak MB of the process while the step ran)",
             f"  {'step':<55} {'full':>8} {'incr.':>8} {'peak MB':>8}"]
    for k in order[:top]:
        peak = max(full.get(k, {}).get("peak_mb", 0), incr.get(k, {}).get("peak_mb", 0))
        lines.append(f"  {k:<55} {full.get(k, {}).get('seconds', 0):>8.2f} {incr.get(k, {}).get('seconds', 0):>8.2f} "
                     f"{peak:>8}")
    rest = order[top:]
    lines.append(f"  {f'{len(rest)} other steps':<55} {sum(full.get(k, {}).get('seconds', 0) for k in rest):>8.2f} "
                 f"{sum(incr.get(k, {}).get('seconds', 0) for k in rest):>8.2f}")
    lines.append(f"  {'sum of steps / wall clock':<55} {sum(s['seconds'] for s in full.values()):>8.1f} "
                 f"{sum(s['seconds'] for s in incr.values()):>8.1f}   (wall: {f['pipeline_s']} / {f['incremental_s']} s)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", default="/tmp/c360-bench")
    parser.add_argument("--engine", choices=ENGINES, default="duckdb",
                        help="where the identity work runs (default duckdb)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_one(args.one, workdir, args.engine)))
        return 0
    figures = []
    for records in args.records:
        figures.append(measure_in_own_process(__file__, str(records), workdir, "--engine", args.engine))
        print(f"measured {records:,} source records", file=sys.stderr)
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
