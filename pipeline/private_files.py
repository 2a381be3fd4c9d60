"""Files holding personal data are created owner-only (0600, folders 0700).

The warehouse and restricted.duckdb hold every name, e-mail, phone and address; explain charts show
names and e-mails. A process-wide umask for the duration of a run or an explain covers every file DuckDB,
Dagster and Great Expectations create, including the WAL and temporary files, without chasing each one.
The analysts' copy (published.duckdb, pseudonymised) is then opened to the group and others
(`SHARED_MODE`), as before: share its folder with them, or copy it where they read.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import duckdb

OWNER_ONLY_UMASK = 0o077
SHARED_MODE = 0o644
GROUP_MODE = 0o640  # the analysts' copy when it keeps direct identifiers (C360_ANALYST_IDENTIFIERS)


@contextmanager
def owner_only() -> Iterator[None]:
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def restrict(*paths: Path) -> None:
    """Existing files made owner-only (a warehouse created before this rule)."""
    for path in paths:
        if path.exists():
            path.chmod(0o700 if path.is_dir() else 0o600)


@contextmanager
def replaced_whole(out: Path) -> Iterator[Path]:
    """A temporary owner-only file beside `out` to write, swapped in whole on leaving: a reader, or a crash, sees the
    old file or the new one, never half of it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    yield tmp
    os.replace(tmp, out)


def appending(path: Path, **text) -> IO[str]:
    """`path` opened to append text, created owner-only whatever the umask: a log beside the warehouse."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8", **text)


def share(path: Path, mode: int = SHARED_MODE) -> None:
    if path.exists():
        path.chmod(mode)


_SPILL: list[str] = []  # the process's spill folder, made on first use


def memory_db(**config) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose spill files go to an owner-only folder of the process's own. Left to DuckDB, an in-memory
    database spills big joins and sorts to `.tmp` in the current directory (the project's, or wherever the command was
    started), with the process's umask: person values in plain text, 0644 under an audience or explain run from a shell
    with umask 022, and left behind when the process is killed (until 2026-11-29)."""
    if not _SPILL:
        _SPILL.append(tempfile.mkdtemp(prefix="customer360-spill-"))  # 0700 whatever the umask
        atexit.register(shutil.rmtree, _SPILL[0], True)
    return duckdb.connect(":memory:", config={"temp_directory": _SPILL[0], **config})
