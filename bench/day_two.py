"""The incremental day alone, from one day-one snapshot: two versions of the code compared on the same day two.

    python bench/day_two.py setup --records 100000 [--workdir /tmp/c360-day-two]
    python bench/day_two.py run --records 100000 [--workdir /tmp/c360-day-two]        # this checkout
    python bench/day_two.py run --records 100000 --profile day2.prof   # the warm run under cProfile, CPU seconds
    python bench/day_two.py run --records 100000 --unchanged   # then a run with nothing new: a step's fixed cost
    python bench/day_two.py run --records 100000 --trace day2.json     # the warm run's every statement timed
    python bench/day_two.py run --records 100000 --same-date   # day two on day one's reference date
    python bench/day_two.py run --records 100000 --rewrite     # the snapshot first rewritten by this checkout
    python bench/day_two.py run --records 100000 --sqlite      # runs recorded as `customer360 run` records them
    (cd OTHER_CHECKOUT && PYTHONPATH=. python /path/to/bench/day_two.py run --records 100000)   # another one

`setup` generates the demo as bench/benchmark.py does (seed 42, the last 1% of every file held back for the next day),
runs day one and keeps the folder as the snapshot. `run` copies the snapshot back, delivers the held-back files and
runs day two twice in one process, the second run warm as the benchmark's day two is (imports done, Great
Expectations' checkpoints registered), and prints its CPU seconds per step. `--unchanged` then runs once more on the
day-two warehouse with no new file and prints that run's steps too: what each step costs when nothing changed. Alternate two checkouts' `run` to compare
them under the same load: on a shared machine a full benchmark's two days drift apart by more than a small change.

The snapshot's golden fingerprints, normalisation lookup and staged files carry the version of the code that wrote
them; `run` sets them to this checkout's versions, or a change to the golden code would make day two a full rebuild
and a change to normalisation would normalise every value and restage every source again (what a real upgrade does
once, not what a day costs). Its marts and copies are as the snapshot's code wrote them: a checkout that stores or
copies them otherwise writes them whole on its first day; `--rewrite` first runs this checkout on the snapshot with
nothing new, on the snapshot's date, and keeps the result as the workdir's snapshot (do it on a copy), so day two
measures what a day of this checkout costs after a day of it.

Day two's reference date is the day after the snapshot's (as a nightly run's: every purchaser's recency and the rolling
windows move, as in bench/benchmark.py's two days), whatever day the snapshot was set up; `--same-date` keeps the
snapshot's (a second delivery on one day), `--as-of` sets it.
`--sqlite` records the runs in a persistent instance (a new DAGSTER_HOME under the workdir, with the dagster.yaml the
checkout's pipeline/instance.py writes) instead of an in-memory one: what `customer360 run` and the daemon pay to
write each event to the run's and the index's SQLite files.
`--trace` times every statement sent through the warehouse resource (bench/after_scoring.py's timer: CPU seconds
of the process, the statement's callers) and keeps the warm run's in a JSON file.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/benchmark.py imports its neighbours so
import after_scoring
from benchmark import NEXT_DAY_SHARE, RECORDS_PER_PERSON, MemorySampler, _steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("setup", "run"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/c360-day-two")
    parser.add_argument("--profile", help="keep a cProfile (CPU seconds) of the warm run in this file")
    parser.add_argument("--unchanged", action="store_true", help="then run again with nothing new, and time that")
    parser.add_argument("--trace", help="keep every statement of the warm run, timed, in this JSON file")
    parser.add_argument("--as-of", help="the reference date (YYYY-MM-DD; setup: default today; run: default the day "
                        "after the snapshot's)")
    parser.add_argument("--same-date", action="store_true", help="run: day two on the snapshot's reference date")
    parser.add_argument("--sqlite", action="store_true", help="run: record the runs in a persistent SQLite instance "
                        "(a new DAGSTER_HOME under the workdir) instead of an in-memory one")
    parser.add_argument("--rewrite", action="store_true", help="run: first rewrite the workdir's snapshot with this "
                        "checkout (a run with nothing new on the snapshot's date), as its own day one leaves it")
    args = parser.parse_args()

    import dagster as dg
    import duckdb

    from assets import runner
    from pipeline.config import BUNDLED_SOURCES, Settings
    from pipeline.demo import DEMO_DAY, generate_demo
    from pipeline.demo.next_day import hold_back
    from pipeline.golden import changes

    base = Path(args.workdir) / f"r{args.records}"
    snap, root = base / "snapshot", base / "work"
    next_day = (DEMO_DAY + timedelta(days=1)).isoformat()
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                        truth_file=root / "truth.csv", as_of=args.as_of)

    if args.mode == "setup":
        shutil.rmtree(base, ignore_errors=True)
        generate_demo(round(args.records / RECORDS_PER_PERSON), seed=42, raw_dir=root / "raw",
                      truth_path=root / "truth.csv")
        hold_back(root / "raw", NEXT_DAY_SHARE, DEMO_DAY)
        for day in (root / "raw").glob(f"*/{next_day}"):
            shutil.move(day, root / "parked" / day.parent.name)
        cpu = time.process_time()
        runner.run(settings, instance=dg.DagsterInstance.ephemeral(), console_level="ERROR")
        print(f"day one: {time.process_time() - cpu:.1f} CPU s; snapshot in {snap}")
        shutil.copytree(root, snap)
        return

    with duckdb.connect(str(snap / settings.warehouse.name), read_only=True) as con:
        day_one = con.execute(f"SELECT any_value(as_of) FROM {changes.FINGERPRINTS}").fetchone()[0]
    settings = dataclasses.replace(settings, as_of=args.as_of or (day_one if args.same_date else day_one + timedelta(days=1)))
    print(f"snapshot's reference date {day_one}, day two's {settings.reference_date}")
    if args.trace:
        after_scoring._trace_statements()
    instance = persistent_instance(base / "dagster_home") if args.sqlite else dg.DagsterInstance.ephemeral()
    if args.rewrite:
        prepare(root, snap, settings, next_day, deliver=False)
        timed_run(runner, dataclasses.replace(settings, as_of=day_one), instance, "snapshot rewritten (nothing new)")
        shutil.rmtree(snap)
        shutil.copytree(root, snap)
    for attempt in (1, 2):
        prepare(root, snap, settings, next_day)
        after_scoring.STATEMENTS.clear()  # the warm run's only
        results, sampler = timed_run(runner, settings, instance, f"run {attempt} ({'warm' if attempt == 2 else 'cold'})",
                                     cProfile.Profile(time.process_time) if args.profile and attempt == 2 else None,
                                     args.profile)
    if args.trace:
        Path(args.trace).write_text(json.dumps(after_scoring.STATEMENTS))
    print_steps(instance, results, sampler)
    if args.unchanged:
        print_steps(instance, *timed_run(runner, settings, instance, "run 3 (nothing new)"))


def persistent_instance(home: Path):
    """A new instance in `home`, configured as the checkout configures `customer360 run`'s."""
    import dagster as dg

    from pipeline.instance import dagster_home

    shutil.rmtree(home, ignore_errors=True)
    os.environ["DAGSTER_HOME"] = str(home)
    dagster_home()
    return dg.DagsterInstance.get()


def prepare(root: Path, snap: Path, settings, next_day: str, deliver: bool = True) -> None:
    """The snapshot copied back into `root` (the Great Expectations folder stays between runs, as it does between the
    benchmark's two days), the held-back files delivered, the code versions set to this checkout's."""
    import duckdb

    from pipeline.config import load_sources
    from pipeline.golden import changes
    from pipeline.golden.activity import ROLLING_WINDOW_DAYS
    from pipeline.staging_changes import fingerprint
    from pipeline.staging_lookup import TABLE, VERSION

    for item in root.iterdir() if root.exists() else []:
        if item.name != "quality":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    for item in snap.iterdir():
        if not (item.name == "quality" and (root / "quality").exists()):
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, root / item.name)
    for day in (root / "parked").iterdir() if deliver else []:
        shutil.move(day, root / "raw" / day.name / next_day)
    windows = (*ROLLING_WINDOW_DAYS, settings.retention_days, settings.repermission_days)
    try:  # as the changed_customers asset computes it (assets/golden.py): another version would make day two full
        from pipeline.currency import rates_version
        version = changes.code_version(*windows, rates_version(settings.rates_file, settings.currency))
    except ImportError:  # a checkout without currencies
        version = changes.code_version(*windows)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(f"UPDATE {changes.FINGERPRINTS} SET version = ?", [version])
        con.execute(f"UPDATE {TABLE} SET version = ?", [VERSION])
        for source in load_sources(settings.sources_file):
            con.execute("UPDATE staging.staged_files SET fingerprint = ? WHERE source = ?",
                        [fingerprint(source), source.name])
        since_day_one(con, settings)


def timed_run(runner, settings, instance, label: str, profile=None, profile_path=None):
    """One run of the checkout, timed in CPU seconds of the process (its steps by the memory sampler)."""
    sampler = MemorySampler()
    sampler.start()
    cpu, wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    results = runner.run(settings, instance=instance, console_level="ERROR")
    if profile:
        profile.disable()
        profile.dump_stats(profile_path)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sampler.running = False
    events = sum(len(instance.all_logs(r.run_id)) for r in results)
    print(f"day two, {label}: {cpu:.1f} CPU s, {wall:.1f} s wall, load {os.getloadavg()[0]:.1f}, "
          f"success {all(r.success for r in results)}, {events} Dagster events")
    return results, sampler


def print_steps(instance, results, sampler) -> None:
    print(f"  {'step':<50} {'wall':>7} {'CPU s':>7}")
    for step in sorted(_steps(instance, results, sampler), key=lambda s: -s["cpu_s"]):
        print(f"  {step['step']:<50} {step['seconds']:>7.2f} {step['cpu_s']:>7.2f}")


def since_day_one(con, settings) -> None:
    """What day one of this checkout leaves for the next day's clustering and ids (a snapshot of an older checkout
    lacks it): the clustering state, every record purged since (day one's purge came after its clustering), and an
    empty journal of reclustered records."""
    try:
        from pipeline.identity import id_scope, link, reclustering
    except ImportError:  # a checkout without them
        return
    from pipeline.warehouse import table_exists

    if table_exists(con, reclustering.STATE):
        return
    policy = settings.linkage
    state = reclustering.signature(policy.threshold, policy.max_cluster_size, policy.review_cluster_size,
                                   link.conflicts_path(settings.model_path))
    decided = [r[0] for r in con.execute("""SELECT DISTINCT unnest([record_1, record_2])
        FROM identity.steward_decisions WHERE decision IN ('must_link', 'cannot_link')""").fetchall()]
    con.execute(f"""CREATE TABLE {reclustering.STATE} AS
        SELECT ?::VARCHAR AS settings, TIMESTAMP '1970-01-01' AS clustered_at, ?::VARCHAR[] AS decided""",
                [state, decided])
    con.execute(f"CREATE TABLE IF NOT EXISTS {id_scope.JOURNAL} (unique_id VARCHAR, old_key VARCHAR)")


if __name__ == "__main__":
    main()
