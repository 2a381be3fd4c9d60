"""One run at a time on a warehouse: an exclusive lock on `<warehouse>.lock`, held for the whole run.

DuckDB allows one writer per file, and two runs interleaving their steps would each see the other's half
of the tables. The lock is an OS file lock (flock): a killed run releases it with its process, so a
crash never leaves a stale lock behind. The file says who holds it, for the message to the second run.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def exclusive_run(warehouse: Path) -> Iterator[None]:
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise WarehouseBusy(f"another run is using {warehouse} ({holder}); wait for it to finish, "
                                "then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
