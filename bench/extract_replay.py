"""Every `read_source` call a test makes, recorded with one version of the code and replayed with another: the hostile
files of the tests (stray quotes, broken headers, bad bytes, mojibake, symlinks...) read the same by both.

    C360_EXTRACT_RECORD=/tmp/rec PYTHONPATH=bench .venv/bin/pytest -p extract_replay tests/test_hostile_deliveries.py ...
    .venv/bin/python bench/extract_replay.py /tmp/rec      # with the other version checked out

Recording copies each call's raw folder (symlinks kept as links) and the files beside it, and pickles the call's
arguments and result. Replaying copies them into a scratch folder (links into the test's folder follow it), reads
them again, and writes both results as raw tables (`replace_rows`, as `load_day` does) into an in-memory DuckDB: the
calls are the same when the tables have the same columns and rows (EXCEPT ALL both ways) and the file loads and
warnings are equal. The data frames themselves may differ in how a missing value is held (None or NaN): both are
NULL in the table.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pipeline.extract

_RECORD = os.environ.get("C360_EXTRACT_RECORD")
_count = itertools.count()


def _copy(root: Path, raw: str, to: Path) -> None:
    """The raw folder under `root` (symlinks as links) and the files beside it, into `to`."""
    shutil.copytree(root / raw, to / raw, symlinks=True)
    for path in root.iterdir():
        if path.is_file() and not path.is_symlink():
            shutil.copy2(path, to / path.name)


def _recording(read_source):
    @functools.wraps(read_source)
    def wrapper(source, raw_dir, day=None, loaded_elsewhere=None):
        result = read_source(source, raw_dir, day, loaded_elsewhere)
        call = Path(_RECORD) / f"call-{os.getpid()}-{next(_count):05d}"
        root = Path(raw_dir).parent  # the test's folder: files outside raw/ that raw/ links to live there
        _copy(root, Path(raw_dir).name, call / "tree")
        with open(call / "call.pickle", "wb") as out:
            pickle.dump({"root": str(root), "raw_dir": str(raw_dir), "source": source, "day": day,
                         "loaded_elsewhere": loaded_elsewhere, "result": result}, out)
        return result

    return wrapper


if _RECORD:  # imported as a pytest plugin (-p), before the tests import read_source by name
    pipeline.extract.read_source = _recording(pipeline.extract.read_source)


def _table(con, name: str, rows) -> None:
    from pipeline.warehouse import replace_rows

    rows = rows.copy()
    rows["_loaded_at"] = datetime(2026, 11, 27)
    replace_rows(con, f"r.{name}", rows, "_drop", "", {"_line": "BIGINT", "_loaded_at": "TIMESTAMP"})


def replay(folder: Path) -> bool:
    import duckdb

    same, calls = True, sorted(folder.glob("call-*"))
    for call in calls:
        with open(call / "call.pickle", "rb") as f:
            recorded = pickle.load(f)
        raw = Path(recorded["raw_dir"]).name
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            _copy(call / "tree", raw, root)
            for link in (p for p in (root / raw).rglob("*") if p.is_symlink()):  # links into the test's folder
                target = os.readlink(link)
                if target.startswith(recorded["root"] + os.sep):
                    link.unlink()
                    link.symlink_to(root / os.path.relpath(target, recorded["root"]))
            result = pipeline.extract.read_source(recorded["source"], root / raw, recorded["day"],
                                                  recorded["loaded_elsewhere"])
        old = recorded["result"]
        con = duckdb.connect()
        _table(con, "old", old.rows)
        _table(con, "new", result.rows)
        problems = []
        if con.execute("DESCRIBE r.old").fetchall() != con.execute("DESCRIBE r.new").fetchall():
            problems.append("columns")
        elif con.execute("SELECT count(*) FROM (SELECT * FROM r.old EXCEPT ALL SELECT * FROM r.new UNION ALL "
                         "(SELECT * FROM r.new EXCEPT ALL SELECT * FROM r.old))").fetchone()[0]:
            problems.append("rows")
        if [vars(f) for f in old.files] != [vars(f) for f in result.files]:
            problems.append("file loads")
        if old.warnings != result.warnings:
            problems.append("warnings")
        if list(old.rows.columns) != list(result.rows.columns) or len(old.rows) != len(result.rows):
            problems.append("frame shape")
        if problems:
            print(f"{call.name} ({recorded['source'].name}): {', '.join(problems)} differ")
            same = False
    print(f"{len(calls)} calls replayed: {'IDENTICAL' if same else 'DIFFERENT'}")
    return same


if __name__ == "__main__":
    sys.exit(0 if replay(Path(sys.argv[1])) else 1)
