"""The extract step alone on a delivery: its CPU seconds per source, where they go, and its raw tables to compare two
versions of the code.

    python bench/extract_alone.py --raw /tmp/c360-scale/person-only-523560-s42 [--profile] [--dump DIR]
    python bench/extract_alone.py --raw /tmp/demo --sources seeds/sources.yaml    # raw files in /tmp/demo/raw
    python bench/extract_alone.py --compare DIR_A DIR_B

For every source of `<raw>/sources.yaml`, `read_source` reads its files (every drop day) and `replace_rows` writes
them into raw.<source> of an in-memory DuckDB, as `assets/sources.load_day` does, both timed (CPU seconds of this
process). `--profile` prints the 30 costliest functions (cumulative). `--dump` writes, per source, the raw table
(rows in a fixed order, `_loaded_at` fixed) as Parquet, and the frame's columns and value types, the file loads and
the warnings as JSON; `--compare` says whether two dumps are identical (column names, order and types, every row).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

LOADED_AT = datetime(2026, 11, 27)  # fixed: two dumps compare equal


def frame_types(frame) -> dict[str, dict[str, int]]:
    """Per column, how many values of each Python type the frame holds (str, int...; None and NaN both "missing":
    the table holds NULL for either)."""
    import pandas as pd

    return {c: dict(sorted(Counter("missing" if v is None or v is pd.NA or v != v else type(v).__name__
                                   for v in frame[c].tolist()).items())) for c in frame.columns}


def extract(delivery: Path, sources_file: Path | None, profile: bool, dump: Path | None) -> None:
    import duckdb

    from pipeline.config import load_sources
    from pipeline.extract import read_source
    from pipeline.sql import raw_table
    from pipeline.warehouse import replace_rows

    sources = load_sources(sources_file or delivery / "sources.yaml")
    raw_dir = delivery / "raw"
    con = duckdb.connect()
    profiler = cProfile.Profile(time.process_time) if profile else None
    total_read = total_write = 0.0
    for source in sources:
        if profiler:
            profiler.enable()
        cpu = time.process_time()
        result = read_source(source, raw_dir)
        read = time.process_time() - cpu
        types = frame_types(result.rows) if dump else None
        cpu = time.process_time()
        rows = result.rows
        rows["_loaded_at"] = LOADED_AT
        replace_rows(con, f"raw.{source.name}", rows, "_drop", "", {"_line": "BIGINT", "_loaded_at": "TIMESTAMP"})
        write = time.process_time() - cpu
        if profiler:
            profiler.disable()
        total_read, total_write = total_read + read, total_write + write
        print(f"{source.name}: {len(rows):,} rows, read {read:.2f} CPU s, write {write:.2f} CPU s", flush=True)
        if dump:
            dump.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY (SELECT * FROM {raw_table(source.name)} ORDER BY _file, _line) "
                        f"TO '{dump / (source.name + '.parquet')}' (FORMAT parquet)")
            (dump / f"{source.name}.json").write_text(json.dumps({
                "columns": list(rows.columns), "dtypes": [str(t) for t in rows.dtypes], "types": types,
                "files": [vars(f) for f in result.files], "warnings": result.warnings}, indent=1))
        del rows, result  # nothing kept between sources
    print(f"all: read {total_read:.2f} CPU s, write {total_write:.2f} CPU s, total {total_read + total_write:.2f}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def compare(a: Path, b: Path) -> bool:
    import duckdb

    same = True
    names = sorted(p.stem for p in a.glob("*.json"))
    if names != sorted(p.stem for p in b.glob("*.json")):
        print(f"different sources: {names} vs {sorted(p.stem for p in b.glob('*.json'))}")
        return False
    con = duckdb.connect()
    for name in names:
        meta_a, meta_b = (json.loads((d / f"{name}.json").read_text()) for d in (a, b))
        for key in meta_a:
            if meta_a[key] != meta_b[key]:
                print(f"{name}: {key} differ")
                same = False
        schema_a, schema_b = (con.execute(f"SELECT column_name, column_type FROM (DESCRIBE "
                                          f"SELECT * FROM '{d / name}.parquet')").fetchall() for d in (a, b))
        if schema_a != schema_b:
            print(f"{name}: table columns differ")
            same = False
            continue
        # Row multisets both ways, and the same order (the dump is ordered by file and line).
        one_way, other_way = (con.execute(f"SELECT count(*) FROM (SELECT * FROM '{x / name}.parquet' EXCEPT ALL "
                                          f"SELECT * FROM '{y / name}.parquet')").fetchone()[0]
                              for x, y in ((a, b), (b, a)))
        rows = con.execute(f"SELECT count(*) FROM '{a / name}.parquet'").fetchone()[0]
        print(f"{name}: {rows:,} rows, {len(schema_a)} columns, {one_way} / {other_way} rows differ")
        same &= one_way == other_way == 0
    print("IDENTICAL" if same else "DIFFERENT")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="a delivery: raw/ and sources.yaml (unless --sources)")
    parser.add_argument("--sources", type=Path, help="the sources file (seeds/sources.yaml for a generated demo)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2)
    args = parser.parse_args()
    if args.compare:
        sys.exit(0 if compare(*args.compare) else 1)
    extract(args.raw, args.sources, args.profile, args.dump)


if __name__ == "__main__":
    main()
