"""Hand-made hostile deliveries for tests/test_hostile_*.py: a tiny two-source project (a plain CRM export
without any date, and a web shop), files with one fault each, and the personal values that must never
reach a log line, run metadata or a column name."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import openpyxl

from pipeline.config import Settings, load_sources

# Values of records that must never be read (refused files) or shown (anywhere but the data tables).
SECRET_EMAIL, SECRET_PHONE, SECRET_NAME = "secret.person@leak.example", "0699999999", "Zorglub"

SOURCES_YAML = """
sources:
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    encoding: latin-1
    delimiter: ";"
    trust_rank: 1
    record_id: id
    person:
      first_name: prenom
      last_name: nom
      email: email
      phone: tel
      postcode: cp
  - name: {shop}
    channel: online
    format: jsonl
    files: shop/**/*.jsonl
    trust_rank: 2
    record_id: id
    updated_at: updated
    person:
      first_name: given
      last_name: family
      email: mail
"""
CRM_HEADER = "id;prenom;nom;email;tel;cp"
FIRST = ["Jean", "Claire", "Louis", "Sophie", "Marc", "Julie", "Paul", "Emma", "Hugo", "Léa", "Noé", "Inès",
         "Théo", "Chloé", "Lucas", "Manon", "Adam", "Zoé"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
        "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux"]


def day(offset: int) -> str:
    """A drop day relative to today (the partitions end today)."""
    return (date.today() + timedelta(days=offset)).isoformat()


def person(i: int) -> tuple[str, str, str, str, str]:
    first, last = FIRST[i], LAST[i]
    mail = f"{first}.{last}@example.fr".lower().replace("é", "e").replace("è", "e")
    return first, last, mail, f"06123456{i:02d}", f"750{i % 20 + 1:02d}"


def crm_rows(n: int = 14, changed: int | None = None) -> list[str]:
    rows = []
    for i in range(n):
        first, last, mail, tel, cp = person(i)
        if i == changed:
            mail = mail.replace("@", ".new@")
        rows.append(f"C{i:02d};{first};{last};{mail};{tel};{cp}")
    return rows


def shop_lines(ids: range) -> list[str]:
    """Shop accounts: those below 14 are CRM people (same e-mail), the others are shop-only."""
    lines = []
    for i in ids:
        first, last, mail, _, _ = person(i)
        lines.append(json.dumps({"id": f"S{i:02d}", "given": first, "family": last, "mail": mail,
                                 "updated": day(-30)}, ensure_ascii=False))
    return lines


def write(raw: Path, source: str, drop: str, name: str, data: bytes) -> Path:
    folder = raw / source / drop
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def project(root: Path, shop_name: str = "shop", more_sources: str = "", **overrides) -> Settings:
    """The two-source project (SOURCES_YAML), `more_sources` (YAML entries of the `sources` list) after them."""
    sources = root / "sources.yaml"
    sources.write_text(SOURCES_YAML.format(shop=shop_name) + more_sources, encoding="utf-8")
    return Settings(**{"raw_dir": root / "raw", "warehouse": root / "data" / "warehouse.duckdb",
                       "sources_file": sources, "truth_file": None, "first_day": day(-10), **overrides})


def first_delivery(root: Path) -> None:
    """Day -2: a CRM export with a stray quote, a 200 KB field, a UTF-8 row in the latin-1 file, a name
    '007', a record with nothing to identify anyone; a headerless CRM file; a shop file whose keys vary in
    case; a symlink to a file outside the raw dir, an impossible and a future drop folder."""
    raw = root / "raw"
    rows = crm_rows()
    rows[9] = rows[9].replace("Léa", "Hélène")
    body = [CRM_HEADER, *rows[:3], 'C50;"Ana;Stray;ana@example.fr;0612345650;75001', *rows[3:9]]
    text = "\r\n".join(body) + "\r\n"
    data = text.encode("latin-1") + (rows[9] + "\r\n").encode("utf-8")  # one row pasted from a UTF-8 system
    tail = [*rows[10:], "C51;Big;Field;" + "x" * 200_000 + "@example.fr;0612345651;75001", "C52;007;Bond;;;75001",
            "C53;;;;;75001", ""]
    data += "\r\n".join(tail).encode("latin-1")
    write(raw, "crm", day(-2), "export.csv", data)
    secret = f"C90;{SECRET_NAME};Secret;{SECRET_EMAIL};{SECRET_PHONE};75009\nC91;Ann;Other;ann@x.fr;0600000001;75009\n"
    write(raw, "crm", day(-2), "no_header.csv", secret.encode("latin-1"))
    shop = shop_lines(range(11, 17))
    shop[1] = shop[1].replace('"mail"', '"MAIL"')  # the same key in another case: still the e-mail
    write(raw, "shop", day(-2), "accounts.jsonl", ("\n".join(shop) + "\n").encode("utf-8"))
    outside = root / "elsewhere.csv"
    outside.write_text(f"{CRM_HEADER}\n{secret}", encoding="latin-1")
    (raw / "crm" / day(-2) / "linked.csv").symlink_to(outside)
    write(raw, "crm", "2026-02-30", "export.csv", f"{CRM_HEADER}\n{secret}".encode("latin-1"))
    write(raw, "crm", day(3), "export.csv", f"{CRM_HEADER}\n{secret}".encode("latin-1"))


def balanced(settings: Settings) -> dict[str, tuple]:
    """Per file: (the file's own records, raw, staged, quarantined), all asserted equal."""
    from assets.staging import reconciliation_sql

    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute(reconciliation_sql(load_sources(settings.sources_file))).fetchall()
    for src, file, records, raw_n, staged, quarantined in rows:
        assert records == raw_n == staged + quarantined, (src, file, records, raw_n, staged, quarantined)
    return {file: (records, raw_n, staged, quarantined) for _, file, records, raw_n, staged, quarantined in rows}


# Records their sources deleted (tests/test_tombstones.py, tests/test_full_delivery.py).
QUARANTINED = ("SELECT source, _file, _line, source_record_id, split_part(reason, ';', 1) FROM staging.quarantine "
               "ORDER BY ALL")  # what each quarantined row is, the version a superseded one names left out
FORGET_YAML = """
  - name: forget
    channel: online
    format: csv
    files: forget/**/*.csv
    record_id: request_id
    updated_at: requested_at
    date_formats: ["%Y-%m-%d"]
    purpose: erasure
    person:
      email: email
"""


def published_ids(settings: Settings) -> set[str]:
    with duckdb.connect(str(settings.published), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT customer_id FROM marts.customer_360").fetchall()}


def customer_of(con, source: str, record: str) -> str | None:
    row = con.execute("SELECT customer_id FROM marts.customer_xref WHERE source = ? AND source_record_id = ?",
                      [source, record]).fetchone()
    return row and row[0]


def personal_values(i: int) -> tuple[str, ...]:
    """A person's values as any table may hold them (the phone as delivered and as normalised)."""
    first, last, mail, tel, _ = person(i)
    return first.lower(), last.lower(), mail, tel, "+33" + tel[1:]


def values_left(settings: Settings, needles: tuple[str, ...]) -> dict[str, int]:
    """Where one of `needles` is left: cells of every table of the warehouse and both copies, and the lines of every
    other file under the warehouse folder (the DuckDB files themselves are read as tables)."""
    from tests.test_personal_data import _cells_holding

    found = {f"{path.name}:{cell}": n for path in (settings.warehouse, settings.published, settings.restricted)
             for cell, n in _cells_holding(path, needles).items()}
    for path in sorted(settings.warehouse.parent.rglob("*")):
        if path.is_file() and not path.name.startswith(tuple(p.name for p in (settings.warehouse, settings.published,
                                                                               settings.restricted))):
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
            if n := sum(text.count(needle) for needle in needles):
                found[str(path.relative_to(settings.warehouse.parent))] = n
    return found


def workbook(sheets: dict[str, list[list]], hidden: tuple[str, ...] = (), merged: dict[str, str] | None = None,
             cached: dict[str, str] | None = None) -> bytes:
    """An .xlsx of these sheets (rows from row 1; an empty list is an empty row). `cached`: formula cells given the
    value a spreadsheet computes and saves with them (openpyxl writes a formula without one)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = "hidden" if name in hidden else "visible"
        for cells in (merged or {}).get(name, "").split():
            sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return with_cached(out.getvalue(), cached or {})


def with_cached(data: bytes, cached: dict[str, str]) -> bytes:
    if not cached:
        return data
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            part = src.read(item)
            for cell, value in cached.items():
                part = re.sub(rf'<c r="{cell}"([^>]*)><f>(.*?)</f><v\s*/>'.encode(),
                              lambda m, c=cell, v=value: f'<c r="{c}"{m[1].decode()} t="str"><f>{m[2].decode()}</f>'
                                                         f'<v>{v}</v>'.encode(), part)
            dst.writestr(item, part)
    return out.getvalue()


def cli_run(settings, capsys) -> str:
    """`customer360 run` on the project, as the operator starts it; what it printed on stderr."""
    from assets.cli import main

    code = main(["run", "--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse),
                 "--sources", str(settings.sources_file), "--truth", "", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    return err


CLI = str(Path(sys.executable).parent / "customer360")  # the command the operator types


def operator_run(root: Path, sources: str, files: dict[tuple[str, str], str]):
    """`customer360 run` in its own process, as the operator starts it, on a project in `root`: the sources file's
    text and each (source, file name) -> text delivered yesterday. The finished process, the environment its later
    commands need (its own Dagster instance, `DAGSTER_HOME`) and the warehouse; asserts the run succeeded."""
    raw, home = root / "raw", root / "dagster_home"
    (root / "sources.yaml").write_text(sources, encoding="utf-8")
    for (source, name), text in files.items():
        write(raw, source, day(-1), name, text.encode())
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "C360_FIRST_DAY": day(-10)}
    warehouse = root / "data" / "warehouse.duckdb"
    run = subprocess.run([CLI, "run", "--raw-dir", str(raw),
                          "--warehouse", str(warehouse), "--sources", str(root / "sources.yaml"), "--truth", ""],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, env, warehouse


def local_webhook(path: str = "/hook"):
    """A local HTTP endpoint standing in for a team chat's incoming webhook (Slack, Teams): its URL, the texts of the
    JSON bodies posted to it, and the server (shut it down when done; a daemon thread serves it)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    texts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            texts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}{path}", texts, server


@dataclass(frozen=True)
class Delivered:
    """One `customer360 run` of hand-written deliveries and what it left: rows keyed by record id (staged, golden),
    the customers as sets of record ids (people), the field issues, the orders' (amount, currency)."""
    run: subprocess.CompletedProcess
    env: dict
    home: Path
    warehouse: Path
    staged: dict
    golden: dict
    people: set
    issues: list
    amounts: dict


def delivered_by_cli(root: Path, sources: str, files: dict[str, tuple[str, str]], staged_sql: str, golden_sql: str,
                     issues_sql: str) -> Delivered:
    """`files` (source: (file name, text)) dropped yesterday, run once by `customer360 run` as the operator starts it
    (its own DAGSTER_HOME); `*_sql` select the rows kept, the record id first."""
    run, env, warehouse = operator_run(root, sources, {(source, name): text for source, (name, text) in files.items()})
    home = Path(env["DAGSTER_HOME"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return Delivered(
            run, env, home, warehouse,
            staged={r[0]: r[1:] for r in con.execute(staged_sql).fetchall()},
            golden={r[0]: r[1:] for r in con.execute(golden_sql).fetchall()},
            people={frozenset(r[0]) for r in con.execute(
                "SELECT list(source_record_id) FROM marts.customer_xref GROUP BY customer_id").fetchall()},
            issues=con.execute(issues_sql).fetchall(),
            amounts={r[0]: r[1:] for r in con.execute("SELECT source_record_id, amount, currency FROM "
                                                      "staging.activities WHERE activity_type = 'order'").fetchall()})
