"""A purged person leaves the bytes of the warehouse file, its WAL and the copies, not only their tables: after an
erasure delivered on day two, after retention's purge, and after a `--restored` run (pipeline/compaction.py)."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dagster as dg
import duckdb

from assets.cli import main
from assets.keys import WAREHOUSE_COMPACTION
from pipeline.compaction import compact, due, pending, request

# Hand-written people with values no generated person holds, delivered beside a small demo's own files.
ERASED = {"account_id": "A09999001", "created_at": "2024-05-02T10:00:00", "updated_at": "2026-10-01T10:00:00",
          "email": "Zephyrine.Quaglierini@exemple.fr", "first_name": "Zéphyrine", "last_name": "Quaglièrini",
          "birth_date": "1984-03-17", "phone": "06 47 19 83 52",
          "address": {"street": "12 rue des Quenouilles", "zip": "33000", "city": "Bordeaux", "country": "FR"}}
TICKET = {"ticket_id": "T09999001", "opened_at": "2026-10-02T10:00:00", "closed_at": None, "status": "open",
          "category": "delivery", "customer": {"first_name": "ZEPHYRINE", "last_name": "QUAGLIÈRINI",
                                               "email": "zephyrine.quaglierini@exemple.fr", "phone": "+33 6 47 19 83 52"}}
EXPIRED = {"account_id": "A09999002", "created_at": "2015-02-03T10:00:00", "updated_at": "2015-02-03T10:00:00",
           "email": "H.Vauquelinot@exemple.org", "first_name": "Hildebrande", "last_name": "Vauquelinot",
           "birth_date": "1950-06-01", "phone": "07 58 31 62 94",
           "address": {"street": "4 impasse des Tanneurs", "zip": "69001", "city": "Lyon", "country": "FR"}}
# As delivered (each spelling) and as staging normalises them (lower case, no accent, e-mail key, E.164 phone).
ERASED_VALUES = ["Zephyrine.Quaglierini@exemple.fr", "zephyrinequaglierini@exemple.fr", "Quaglièrini",
                 "QUAGLIÈRINI", "quaglierini", "06 47 19 83 52", "+33 6 47 19 83 52", "+33647198352"]
EXPIRED_VALUES = ["H.Vauquelinot@exemple.org", "hvauquelinot@exemple.org", "Vauquelinot", "vauquelinot",
                  "07 58 31 62 94", "+33758316294"]


def _held(folder: Path, values: list[str]) -> dict[str, list[str]]:
    """Which of `values` the raw bytes of each DuckDB file under `folder` hold (warehouse, WAL, copies, leftovers)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".duckdb" in path.name:
            data = path.read_bytes()
            hits = [v for v in values if v.encode() in data or v.lower().encode() in data.lower()]
            if hits:
                found[path.name] = hits
    return found


def _run(raw: Path, warehouse: Path, *options: str) -> int:
    return main(["run", "--raw-dir", str(raw), "--warehouse", str(warehouse), "--truth", "", "--quiet", *options])


def _one(warehouse: Path, sql: str, params: list | None = None):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchone()


def _compaction(*keys: str) -> dict:
    event = dg.DagsterInstance.get().get_latest_materialization_event(WAREHOUSE_COMPACTION)
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    return {k: metadata.get(k) for k in keys}


def test_a_purged_person_leaves_the_bytes_of_the_warehouse_and_the_copies(tmp_path, monkeypatch):
    raw, folder = tmp_path / "raw", tmp_path / "w"
    warehouse = folder / "warehouse.duckdb"
    assert main(["generate", "--customers", "120", "--seed", "7", "--raw-dir", str(raw),
                 "--truth", str(tmp_path / "truth.csv")]) == 0
    shutil.rmtree(raw / "erasure_requests")  # the demo's own: day one purges by retention alone
    delivered = b"".join(p.read_bytes().lower() for p in raw.rglob("*") if p.is_file())
    assert not [v for v in ERASED_VALUES + EXPIRED_VALUES if v.lower().encode() in delivered]  # no one else's
    day = next((raw / "ecommerce_accounts").iterdir()).name
    (raw / "ecommerce_accounts" / day / "extra.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (ERASED, EXPIRED)), encoding="utf-8")
    (raw / "cs_tickets" / day / "extra.jsonl").write_text(json.dumps(TICKET, ensure_ascii=False) + "\n",
                                                           encoding="utf-8")

    assert _run(raw, warehouse) == 0
    assert _one(warehouse, "SELECT count(*) FROM golden.purge_log p JOIN marts.customer_xref x USING (customer_id) "
                           "WHERE x.source_record_id = 'A09999002' AND p.reason = 'retention'")[0] == 1
    # retention's purge waits (C360_COMPACTION_DAYS, default 7): said to the operator
    assert _compaction("compacted", "purges_waiting", "compaction_days") == {
        "compacted": False, "purges_waiting": 1, "compaction_days": 7}
    warehouse_id = _one(warehouse, "SELECT warehouse_id FROM identity.warehouse_identity")[0]
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)  # the nightly backup, taken before the request
    monkeypatch.setenv("C360_COMPACTION_DAYS", "0")
    assert _run(raw, warehouse) == 0  # no new drop: the waiting purge is compacted
    assert _held(folder, EXPIRED_VALUES) == {}
    assert _held(folder, ERASED_VALUES)  # the other one is still a customer
    monkeypatch.delenv("C360_COMPACTION_DAYS")

    request = raw / "erasure_requests" / f"{day[:-2]}{int(day[-2:]) + 1:02d}" / "requests.csv"
    request.parent.mkdir(parents=True)
    request.write_text(f"request_id,email,phone,requested_at\nR9,{ERASED['email']},,{day} 12:00:00\n")
    assert _run(raw, warehouse) == 0
    assert _one(warehouse, "SELECT count(*) FROM golden.purge_log p JOIN marts.customer_xref x USING (customer_id) "
                           "WHERE x.source_record_id = 'A09999001' AND p.reason = 'erased'")[0] == 1
    # out of every table at once; the freed blocks wait like any purge's (said), unless the officer asks for now
    assert _compaction("compacted", "purges_waiting") == {"compacted": False, "purges_waiting": 1}
    assert _one(warehouse, "SELECT erasure FROM identity.warehouse_compactions WHERE compacted_at IS NULL")[0] is True
    monkeypatch.setenv("C360_COMPACTION_DAYS", "0")
    assert _run(raw, warehouse) == 0
    # Until 2026-11-29 the freed blocks of the warehouse (and of the restricted copy, merged from the previous one)
    # held them after the purge, in no cell.
    assert _held(folder, ERASED_VALUES + EXPIRED_VALUES) == {}
    # compacted; the same warehouse for the erasure guard, owner-only; sizes and seconds
    compacted = _compaction("compacted", "bytes_before", "bytes_after", "seconds")
    assert compacted["compacted"] is True and compacted["bytes_after"] > 0 and compacted["seconds"] >= 0, compacted
    assert _one(warehouse, "SELECT warehouse_id FROM identity.warehouse_identity")[0] == warehouse_id
    assert warehouse.stat().st_mode & 0o777 == 0o600

    shutil.rmtree(folder)
    shutil.copytree(backup, folder)  # restored from before the request: refused, then run with the request back
    assert _run(raw, warehouse) == 2
    assert _run(raw, warehouse, "--restored") == 0
    assert _held(folder, ERASED_VALUES + EXPIRED_VALUES) == {}


def test_a_purge_erasure_or_not_is_compacted_within_the_days_allowed(tmp_path):
    path = tmp_path / "w.duckdb"

    @contextmanager
    def connection():
        with duckdb.connect(str(path)) as con:
            yield con

    with connection() as con:
        con.execute("CREATE TABLE t AS SELECT 'Quaglierini' AS surname")
        assert not request(con, "r0", 0, erasure=True)  # nothing scrubbed: nothing asked
        request(con, "r1", 1, erasure=False)
        con.execute("UPDATE t SET surname = NULL")
        assert not due(con, 7) and due(con, 0)
    assert compact(path, connection, nullcontext, 7) is None  # retention's, a day old: waits
    with connection() as con:
        request(con, "r2", 1, erasure=True)
        assert not due(con, 7)  # an erasure's freed blocks wait as well: the values left every table already
    done = compact(path, connection, nullcontext, 0)
    assert done.requests == 2 and done.bytes_after > 0
    assert b"Quaglierini" not in path.read_bytes() and not path.with_name("w.duckdb.compacting").exists()
    with connection() as con:
        assert pending(con) == 0 and not due(con, 0)
        assert con.execute("SELECT count(*) FROM identity.warehouse_compactions WHERE bytes_after > 0").fetchone()[0] == 2
