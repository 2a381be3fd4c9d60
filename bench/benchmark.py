"""Benchmark: demo data at several sizes through the whole pipeline, and Splink alone on the same data.

    python bench/benchmark.py --records 10000 100000 1000000 [--workdir /tmp/c360-bench]

For each size (source records, i.e. raw rows over all sources) it prints per asset the wall time and the
peak resident memory of the process while that step ran, then the Splink comparisons, pairwise F1 against
the truth, and the same linkage done by Splink alone (the one training recipe, predict, connected components at
the same threshold) so
the pipeline's overhead is a ratio measured in the same run. Each size runs in its own process.

The data arrive over two days: 99% of every source's rows in the first drop (the full run), the last 1%
the next day (the incremental run: new records staged and linked against the saved model), timed apart. The
incremental day runs one day later than the first, as a nightly run does (its reference date moves: every
purchaser's recency, the rolling windows); `--same-date` keeps both days on one reference date.
`--engine spark` runs the identity work on Spark (C360_SPARK_* settings apply); plain Splink stays on
DuckDB as the reference. Peak memory counts the process and its children (Spark's JVM).

`--person-only` measures a person-only delivery instead: three CRM-like sources of the demo (web accounts, loyalty
cards, service tickets) with their person mapping only, no activity rows; `--records` then counts person records.
The delivery is generated once per size in a child process (its heap is not the pipeline's) and kept under
`<workdir>/person-only-<persons>`; a later invocation reuses it. `--full-only` skips the incremental day and
Splink alone (the full run's figures only).
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
PERSON_ONLY_SOURCES = ("ecommerce_accounts", "loyalty_cards", "cs_tickets")
PERSON_ONLY_RECORDS_PER_PERSON = 1.91  # rows of those three sources per generated person (measured on the demo)
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
            self.samples.append((time.time(), _rss_mb(), time.process_time()))
            time.sleep(self.every)

    def peak(self, start: float, end: float) -> float:
        inside = [rss for t, rss, _ in self.samples if start <= t <= end + self.every]
        return max(inside, default=0.0)

    def cpu(self, start: float, end: float) -> float:
        """CPU seconds of this process (all its threads) between two moments: a step's own figure, which a busy
        machine stretches far less than its wall time."""
        def at(moment: float) -> float:
            return next((cpu for t, _, cpu in reversed(self.samples) if t <= moment), 0.0)
        return at(end) - at(start)


def splink_alone(warehouse: Path, workdir: Path, threshold: float) -> dict:
    """The pipeline's own training recipe (recipe.py) and predict on the same linkage input, then Splink's
    connected components at the same threshold: the cost of Splink's work without the rest of the pipeline."""
    import duckdb

    from pipeline.identity import recipe
    from pipeline.identity.link import DuckDBEngine

    with duckdb.connect(str(warehouse), read_only=True) as wh:
        records = wh.sql("SELECT * FROM identity.linkage_input ORDER BY unique_id").to_arrow_table()
    scratch = workdir / "splink_alone.duckdb"
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch))
    engine = DuckDBEngine(con)
    timings = {}
    t = time.perf_counter()
    trained = recipe.train(engine, records)
    timings["splink_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    linker, predictions, _ = recipe.predict(engine, trained, records)  # clustered on the records' numbers
    timings["splink_predict_s"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    timings["splink_cluster_s"] = time.perf_counter() - t
    con.close()
    scratch.unlink(missing_ok=True)
    timings["splink_total_s"] = sum(timings.values())
    return timings


def person_only_delivery(records: int, workdir: Path, seed: int = 42) -> tuple[Path, Path, Path]:
    """The raw directory, truth and sources file of a person-only delivery of about `records` person records,
    generated once (in a child process) and reused."""
    import yaml

    from pipeline.config import BUNDLED_SOURCES

    persons = max(50, round(records / PERSON_ONLY_RECORDS_PER_PERSON))
    cache = workdir / f"person-only-{persons}-s{seed}"
    raw, truth, sources_file = cache / "raw", cache / "truth.csv", cache / "sources.yaml"
    if not sources_file.exists():
        import shutil
        import subprocess

        shutil.rmtree(cache, ignore_errors=True)
        # The demo without its activity rows (a quarter of its generation time): the person records are the same.
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from pipeline.demo import generate_demo, records; "
                        "records._activities = lambda *a: {'web_orders': [], 'store_receipts': [], 'app_sessions': []}; "
                        "generate_demo(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))",
                        str(persons), str(seed), str(raw), str(truth)], check=True)
        for folder in raw.iterdir():
            if folder.name not in PERSON_ONLY_SOURCES:
                shutil.rmtree(folder)
        doc = yaml.safe_load(BUNDLED_SOURCES.read_text(encoding="utf-8"))
        doc["sources"] = [{k: v for k, v in source.items() if k != "activity"}
                          for source in doc["sources"] if source["name"] in PERSON_ONLY_SOURCES]
        sources_file.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return raw, truth, sources_file


def _steps(instance, results, sampler) -> list[dict]:
    return [{"step": st.step_key, "seconds": round(st.end_time - st.start_time, 2),
             "cpu_s": round(sampler.cpu(st.start_time, st.end_time), 2),
             "peak_mb": round(sampler.peak(st.start_time, st.end_time))}
            for r in results for st in instance.get_run_step_stats(r.run_id) if st.start_time and st.end_time]


def run_one(records: int, workdir: Path, engine: str = "duckdb", person_only: bool = False,
            full_only: bool = False, same_date: bool = False) -> dict:
    """Generate, run the first day then the incremental day (the next reference date, or with `same_date` the
    first day's) with a memory sampler, then Splink alone."""
    import dataclasses
    import shutil
    from datetime import date, timedelta

    import dagster as dg
    import duckdb

    from assets import runner
    from assets.identity import CLUSTERS_OP, PREDICTIONS_OP
    from pipeline.config import BUNDLED_SOURCES, Settings
    from pipeline.demo import DEMO_DAY, generate_demo
    from pipeline.demo.next_day import hold_back

    persons = max(50, round(records / (PERSON_ONLY_RECORDS_PER_PERSON if person_only else RECORDS_PER_PERSON)))
    root = workdir / (f"{'p' if person_only else 'r'}{records}" + ("" if engine == "duckdb" else f"-{engine}"))
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    sources_file, truth = BUNDLED_SOURCES, root / "truth.csv"
    if person_only:
        raw, truth, sources_file = person_only_delivery(records, workdir)
        shutil.copytree(raw, root / "raw")
    else:
        generate_demo(persons, seed=42, raw_dir=root / "raw", truth_path=truth)
    generate_s = time.perf_counter() - t
    if not full_only:  # the last 1% of every file arrives the next day
        hold_back(root / "raw", NEXT_DAY_SHARE, DEMO_DAY)
    next_day = (DEMO_DAY + timedelta(days=1)).isoformat()
    parked = [(d, root / "parked" / d.parent.name) for d in (root / "raw").glob(f"*/{next_day}")]
    for src, dst in parked:  # not delivered yet
        shutil.move(src, dst)
    first_day = date.today()
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=sources_file,
                        truth_file=truth, engine=engine, as_of=first_day)
    instance = dg.DagsterInstance.ephemeral()
    sampler = MemorySampler()
    sampler.start()
    load_at_start = os.getloadavg()[0]
    t, cpu = time.perf_counter(), time.process_time()
    results = runner.run(settings, instance=instance, console_level="ERROR")
    pipeline_s, pipeline_cpu = time.perf_counter() - t, time.process_time() - cpu
    for src, dst in parked:
        shutil.move(dst, src)
    settings = dataclasses.replace(settings, as_of=first_day if same_date else first_day + timedelta(days=1))
    t, cpu = time.perf_counter(), time.process_time()
    day_two = [] if full_only else runner.run(settings, instance=instance, console_level="ERROR")
    incremental_s, incremental_cpu = time.perf_counter() - t, time.process_time() - cpu
    sampler.running = False
    steps, incremental_steps = _steps(instance, results, sampler), _steps(instance, day_two, sampler)
    result = results[-1]
    runs = [result.run_id] + [r.run_id for r in day_two[-1:]]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        raw = scalar(con, "SELECT sum(raw_rows) FROM marts.data_quality WHERE run_id = ?", [result.run_id])
        quality = [con.execute("SELECT pairwise_precision, pairwise_recall, pairwise_f1 FROM identity.linkage_quality "
                               "WHERE run_id = ?", [run]).fetchall() for run in runs]
        persons_records = scalar(con, "SELECT count(*) FROM identity.linkage_input")
    quality, quality_two = quality[0], (quality[1:] or [[]])[0]
    comparisons = next((m.metadata["comparisons_scored"].value for m in result.get_asset_materialization_events()
                        if m.asset_key.path == ["identity", "pairwise_predictions"]
                        for m in [m.event_specific_data.materialization]), None)
    alone = {} if full_only else splink_alone(settings.warehouse, root, settings.linkage.threshold)
    identity_steps = {PREDICTIONS_OP, CLUSTERS_OP}
    identity_s = sum(s["seconds"] for s in steps if s["step"] in identity_steps)
    return {
        "engine": engine, "records": int(raw or 0), "persons": persons, "person_records": persons_records,
        "success": all(r.success for r in results + day_two),
        "generate_s": round(generate_s, 1), "pipeline_s": round(pipeline_s, 1),
        "incremental_s": round(incremental_s, 1) if day_two else None,
        "incremental_share": round(incremental_s / pipeline_s, 3) if day_two else None,
        # CPU seconds of the process (all its threads): steadier than wall time on a shared machine
        "pipeline_cpu_s": round(pipeline_cpu, 1), "incremental_cpu_s": round(incremental_cpu, 1) if day_two else None,
        "load_average": os.getloadavg()[0], "load_at_start": load_at_start,
        "incremental_f1": quality_two[0][2] if quality_two else None,
        "peak_mb": round(max((rss for _, rss, _ in sampler.samples), default=0)), "comparisons": comparisons,
        "precision": quality[0][0] if quality else None, "recall": quality[0][1] if quality else None,
        "f1": quality[0][2] if quality else None, "steps": steps, "incremental_steps": incremental_steps,
        **{k: round(v, 1) for k, v in alone.items()},
        "identity_steps_s": round(identity_s, 1),
        "pipeline_over_splink_alone": round(pipeline_s / alone["splink_total_s"], 2) if alone else None,
    }


def _or_dash(value, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def report(figures: list[dict]) -> str:
    lines = ["| source records (day 1) | person records | full run | incremental day (+1%) | incremental / full "
             "| CPU s full / incr. (ratio) | load | peak | comparisons | F1 | F1 after day 2 "
             "| Splink alone (train / predict / cluster) | identity steps | full / Splink alone |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        incr_cpu = f["incremental_cpu_s"]
        alone = (f"{f['splink_total_s']} s ({f['splink_train_s']} / {f['splink_predict_s']} / {f['splink_cluster_s']})"
                 if f.get("splink_total_s") else "-")
        lines.append(f"| {f['records']:,} | {f['person_records']:,} | {f['pipeline_s']} s "
                     f"| {_or_dash(f['incremental_s'])} s | {_or_dash(f['incremental_share'], '.0%')} "
                     f"| {f['pipeline_cpu_s']} / {_or_dash(incr_cpu)} "
                     f"({_or_dash(incr_cpu and incr_cpu / f['pipeline_cpu_s'], '.0%')}) "
                     f"| {f.get('load_at_start', 0):.1f}-{f['load_average']:.1f} "
                     f"| {f['peak_mb'] / 1024:.2f} GB | {f['comparisons']:,} | {f['f1']} "
                     f"| {_or_dash(f['incremental_f1'])} | {alone} | {f['identity_steps_s']} s | "
                     f"{_or_dash(f['pipeline_over_splink_alone'])} |")
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
             f"incremental day (wall and CPU seconds; peak MB of the process while the step ran)",
             f"  {'step':<55} {'full':>8} {'CPU s':>8} {'incr.':>8} {'CPU s':>8} {'peak MB':>8}"]
    for k in order[:top]:
        peak = max(full.get(k, {}).get("peak_mb", 0), incr.get(k, {}).get("peak_mb", 0))
        lines.append(f"  {k:<55} {full.get(k, {}).get('seconds', 0):>8.2f} {full.get(k, {}).get('cpu_s', 0):>8.2f} "
                     f"{incr.get(k, {}).get('seconds', 0):>8.2f} {incr.get(k, {}).get('cpu_s', 0):>8.2f} {peak:>8}")
    rest = order[top:]
    lines.append(f"  {f'{len(rest)} other steps':<55} {sum(full.get(k, {}).get('seconds', 0) for k in rest):>8.2f} "
                 f"{sum(full.get(k, {}).get('cpu_s', 0) for k in rest):>8.2f} "
                 f"{sum(incr.get(k, {}).get('seconds', 0) for k in rest):>8.2f} "
                 f"{sum(incr.get(k, {}).get('cpu_s', 0) for k in rest):>8.2f}")
    lines.append(f"  {'sum of steps / wall clock':<55} {sum(s['seconds'] for s in full.values()):>8.1f} "
                 f"{sum(s.get('cpu_s', 0) for s in full.values()):>8.1f} "
                 f"{sum(s['seconds'] for s in incr.values()):>8.1f} "
                 f"{sum(s.get('cpu_s', 0) for s in incr.values()):>8.1f}   (wall: {f['pipeline_s']} / "
                 f"{_or_dash(f['incremental_s'])} s)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", default="/tmp/c360-bench")
    parser.add_argument("--engine", choices=ENGINES, default="duckdb",
                        help="where the identity work runs (default duckdb)")
    parser.add_argument("--person-only", action="store_true",
                        help="three CRM-like person sources, no activity rows; --records counts person records")
    parser.add_argument("--full-only", action="store_true", help="the full run only: no incremental day, no "
                        "Splink alone")
    parser.add_argument("--same-date", action="store_true", help="the incremental day on the first day's reference "
                        "date (default: the next day's, as a nightly run)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_one(args.one, workdir, args.engine, args.person_only, args.full_only, args.same_date)))
        return 0
    flags = [flag for flag, on in (("--person-only", args.person_only), ("--full-only", args.full_only),
                                   ("--same-date", args.same_date)) if on]
    figures = []
    for records in args.records:
        figures.append(measure_in_own_process(__file__, str(records), workdir, "--engine", args.engine, *flags))
        print(f"measured {records:,} source records", file=sys.stderr)
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
