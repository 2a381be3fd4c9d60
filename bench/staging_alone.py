"""Staging alone on a delivery: its CPU seconds, where they go, and its staged tables to compare two versions of the code.

    python bench/staging_alone.py --raw /tmp/c360-bench/person-only-52356-s42 --workdir /tmp/c360-staging \
        [--profile] [--dump /tmp/c360-staging/staged-new]

The delivery's raw rows are loaded once (real Dagster materialisation of the raw layer) into
`<workdir>/raw.duckdb`; each invocation copies that file and stages every source from an empty lookup (the first
day: every value new), timed. `--profile` prints the 30 costliest functions (cumulative CPU seconds); `--dump`
writes each staged table, rows in a fixed order, as Parquet, for `--compare` with another dump (another commit's):

    python bench/staging_alone.py --compare /tmp/c360-staging/staged-main /tmp/c360-staging/staged-new
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from datetime import date
from pathlib import Path

TODAY = date(2026, 11, 26)  # fixed: birth dates are judged against it, so two runs stage the same


def load_raw(delivery: Path, workdir: Path) -> tuple[Path, Path]:
    """The raw layer of `delivery` in `<workdir>/raw.duckdb` (loaded once), and the sources file."""
    from assets import runner
    from pipeline.config import Settings

    sources_file, warehouse = delivery / "sources.yaml", workdir / "raw.duckdb"
    if not warehouse.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        loading = workdir / "loading.duckdb"
        settings = Settings(raw_dir=delivery / "raw", warehouse=loading, sources_file=sources_file, truth_file=None)
        for result in runner.run(settings, layers=("raw",), console_level="ERROR"):
            assert result.success
        loading.rename(warehouse)
    return warehouse, sources_file


def stage(warehouse: Path, sources_file: Path, workdir: Path, profile: bool, dump: Path | None) -> None:
    import duckdb

    from pipeline.config import load_sources
    from pipeline.staging_changes import TABLES, stage_changes

    copy = workdir / "staged_copy.duckdb"  # not "staging.duckdb": its catalog would clash with the schema
    shutil.copy(warehouse, copy)
    sources = load_sources(sources_file)
    with duckdb.connect(str(copy)) as con:
        profiler = cProfile.Profile(time.process_time) if profile else None  # its overhead is several times the work
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        changes = stage_changes(con, sources, TODAY, full_refresh=True)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows = sum(c.rows for c in changes)
        print(f"staged {rows:,} raw rows: wall {wall:.1f} s, CPU {cpu:.1f} s, load {os.getloadavg()[0]:.1f}")
        if profile:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        if dump:
            dump.mkdir(parents=True, exist_ok=True)
            for table in TABLES:
                con.execute(f"COPY (SELECT * FROM staging.{table} ORDER BY ALL) TO '{dump / table}.parquet'")
    copy.unlink()


def compare(a: Path, b: Path) -> int:
    """0 when every staged table of the two dumps holds the same rows (values and types), else 1."""
    import duckdb

    differ = 0
    with duckdb.connect() as con:
        for path in sorted(a.glob("*.parquet")):
            left, right = f"read_parquet('{path}')", f"read_parquet('{b / path.name}')"
            types = [con.execute(f"DESCRIBE SELECT * FROM {side}").fetchall() for side in (left, right)]
            only = [con.execute(f"SELECT count(*) FROM (FROM {x} EXCEPT ALL FROM {y})").fetchone()[0]
                    for x, y in ((left, right), (right, left))]
            rows = con.execute(f"SELECT count(*) FROM {left}").fetchone()[0]
            same = types[0] == types[1] and only == [0, 0]
            differ += not same
            print(f"{path.stem:<18} {rows:>9,} rows  {'identical' if same else f'DIFFER: {only} rows one side only'}"
                  + ("" if types[0] == types[1] else "  (column types differ)"))
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="a delivery folder: raw/ and sources.yaml")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/c360-staging"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2)
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    warehouse, sources_file = load_raw(args.raw, args.workdir)
    stage(warehouse, sources_file, args.workdir, args.profile, args.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
