"""The steps after scoring, alone, on a warehouse scored once: per-step CPU seconds and the costliest statements.

    python bench/after_scoring.py prepare --delivery /tmp/c360-scale/person-only-523560-s42 --root /tmp/x/scored
    python bench/after_scoring.py after --root /tmp/x/scored --work /tmp/x/run-a [--trace /tmp/x/a.json]
        [--include identity/clusters,marts/] [--exclude golden/purge_log]

`prepare` loads a delivery (a person-only one of bench/benchmark.py: raw/, sources.yaml, truth.csv) and runs every
asset up to and including identity/pairwise_predictions, as the first day of `customer360 run` does (real Dagster
materialisation). `after` copies that directory to `--work` and runs the rest of the job there (or the assets whose
keys start with an `--include` prefix, less the `--exclude` ones: a snapshot part-way), printing each step's wall
and CPU seconds. `--trace` times every statement the pipeline sends through the warehouse resource (CPU seconds of
the process, and the code that sent it), keeps them as JSON and prints the costliest: SQL text only, never values.
Two `after` runs of two checkouts on one snapshot compare the steps after scoring without rescoring a million
records (Splink's training and predict are most of a full run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from benchmark import MemorySampler, _steps  # bench/benchmark.py, beside this script

STATEMENTS: list[dict] = []


class _Timed:
    """A warehouse connection that records each statement's wall and CPU seconds, fetches included."""

    def __init__(self, con):
        object.__setattr__(self, "_con", con)
        object.__setattr__(self, "_last", ("", "?"))

    def __getattr__(self, name):
        return getattr(self._con, name)

    def _record(self, what: str, t: float, cpu: float) -> None:
        sql, caller = self._last
        STATEMENTS.append({"what": what, "caller": caller, "sql": sql[:160],
                           "wall": time.perf_counter() - t, "cpu": time.process_time() - cpu})

    def execute(self, sql, *args, **kwargs):
        caller = next((f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.name}"
                       for f in reversed(traceback.extract_stack(limit=12)[:-1])
                       if "/pipeline/" in f.filename or "/assets/" in f.filename), "?")
        object.__setattr__(self, "_last", (" ".join(str(sql).split()), caller))
        t, cpu = time.perf_counter(), time.process_time()
        self._con.execute(sql, *args, **kwargs)
        self._record("execute", t, cpu)
        return self

    def _fetch(self, what: str, *args):
        t, cpu = time.perf_counter(), time.process_time()
        try:
            return getattr(self._con, what)(*args)
        finally:
            self._record(what, t, cpu)

    def fetchall(self):
        return self._fetch("fetchall")

    def fetchone(self):
        return self._fetch("fetchone")

    def fetchnumpy(self):
        return self._fetch("fetchnumpy")

    def df(self):
        return self._fetch("df")


def _trace_statements() -> None:
    from assets import resources

    original = resources.Warehouse.get_connection

    @contextmanager
    def timed(self):
        with original(self) as con:
            yield _Timed(con)

    resources.Warehouse.get_connection = timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("prepare", "after"))
    parser.add_argument("--delivery", default="/tmp/c360-scale/person-only-523560-s42")
    parser.add_argument("--root", required=True, help="the scored snapshot (written by prepare, read by after)")
    parser.add_argument("--work", help="where `after` runs (a copy of --root)")
    parser.add_argument("--trace", help="JSON file of every statement's timing")
    parser.add_argument("--include", default="", help="key prefixes to run, comma-separated (default: all)")
    parser.add_argument("--exclude", default="", help="key prefixes not to run, comma-separated")
    args = parser.parse_args()

    import dagster as dg

    from assets import runner
    from assets.definitions import build_definitions
    from assets.keys import PREDICTIONS
    from pipeline.config import Settings

    if args.trace:
        _trace_statements()
    delivery, root = Path(args.delivery), Path(args.root)
    target = root if args.mode == "prepare" else Path(args.work)
    shutil.rmtree(target, ignore_errors=True)
    if args.mode == "prepare":
        shutil.copytree(delivery / "raw", root / "raw")
    else:
        shutil.copytree(root, target)
    settings = Settings(raw_dir=target / "raw", warehouse=target / "warehouse.duckdb",
                        sources_file=delivery / "sources.yaml", truth_file=delivery / "truth.csv")
    job = build_definitions(settings).resolve_job_def("refresh_all")
    scored = dg.AssetSelection.assets(PREDICTIONS).upstream().required_multi_asset_neighbors().resolve(
        job.asset_layer.asset_graph)
    keys = job.asset_layer.executable_asset_keys
    config = runner.run_config(console_level="ERROR")
    instance, sampler = dg.DagsterInstance.ephemeral(), MemorySampler()
    sampler.start()
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    if args.mode == "prepare":
        plan = runner.plan(settings)
        results = [runner._execute(job, instance, config, day, [k for k in keys if k.path[0] == "raw"])
                   for day in plan.days_to_load[:-1]]
        results.append(runner._execute(job, instance, config, plan.final_day, sorted(scored)))
        (root / "final_day").write_text(plan.final_day)
    else:
        def named(key, prefixes: str) -> bool:
            return any(key.to_user_string().startswith(p) for p in prefixes.split(",") if p)

        rest = [k for k in keys if k not in scored and (not args.include or named(k, args.include))
                and not named(k, args.exclude)]
        results = [runner._execute(job, instance, config, (root / "final_day").read_text(), rest)]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sampler.running = False
    if args.trace:
        Path(args.trace).write_text(json.dumps(STATEMENTS))
        for s in sorted(STATEMENTS, key=lambda s: -s["cpu"])[:40]:
            print(f"{s['cpu']:7.2f} {s['wall']:7.2f} {s['what']:<10} {s['caller'][:55]:<55} {s['sql'][:100]}")
    steps = _steps(instance, results, sampler)
    print(f"  {'step':<50} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}")
    for s in steps:
        print(f"  {s['step']:<50} {s['seconds']:>8.2f} {s['cpu_s']:>8.2f} {s['peak_mb']:>8}")
    print(json.dumps({"success": all(r.success for r in results), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                      "load_at_start": round(load, 1), "load_at_end": round(os.getloadavg()[0], 1),
                      "steps_cpu_s": {s["step"]: s["cpu_s"] for s in steps}}))


if __name__ == "__main__":
    main()
