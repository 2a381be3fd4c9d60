"""Shared fixtures and helpers.

- `small_project`: tiny hand-written source drops and a Settings pointing at a temporary warehouse.
- `demo_run` / `copy_demo`: ONE demo materialised per test session (by the first xdist worker that needs it, read
  by both), copied for each test or module that reads or changes it, so that a test pays for its own runs only, not
  for building the demo again.
- `materialise`, `checks`, `park_day`: a run as `customer360 run` does it, its check results, a day held back.
- Every session gets its own DAGSTER_HOME (in RAM where the machine has a tmpfs: `history_folder`): a command-line
  run in a test never writes the developer's data/dagster_home, and two xdist workers never share a run history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.config import Settings

SOURCES_YAML = """
sources:
  - name: shop_accounts
    channel: online
    format: jsonl
    files: shop_accounts/**/*.jsonl
    trust_rank: 1
    record_id: id
    updated_at: updated
    date_formats: ["%Y-%m-%d"]
    person:
      first_name: given
      last_name: family
      birth_date: born
      email: mail
      phone: tel
      street: address.street
      postcode: address.zip
      city: address.city
  - name: store_cards
    channel: offline
    format: csv
    files: store_cards/**/*.csv
    encoding: latin-1
    delimiter: ";"
    decimal: ","
    trust_rank: 2
    record_id: carte
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      phone: tel
    activity:
      type: loyalty_enrolment
      occurred_at: adhesion
      amount: points
  - name: newsletter
    channel: online
    format: csv
    files: newsletter/**/*.csv
    record_id: event_id
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: email
    activity:
      type: consent
      occurred_at: at
      consent_channel: channel
      consent_action: action
"""


def write_drop(raw: Path, day: str = "2026-11-20") -> None:
    accounts = [
        {"id": "A1", "given": "Élodie", "family": "DURAND", "born": "1985-03-04", "mail": "Elodie.Durand@Gmail.com",
         "tel": "06 12 34 56 78", "updated": "2026-01-02",
         "address": {"street": "12 bd Haussmann", "zip": "75009", "city": "Paris"}},
        {"id": "A2", "given": "Marc", "family": "Petit", "born": "1979-02-31", "mail": "not-an-email",
         "tel": "12", "address": {"street": "3 av. Foch", "zip": "1000", "city": "Bourg"}},
    ]
    lines = [json.dumps(a, ensure_ascii=False) for a in accounts] + ['{"id": "A3", "given": "Trunc']
    (raw / "shop_accounts" / day).mkdir(parents=True)
    (raw / "shop_accounts" / day / "accounts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cards = ("carte;prenom;nom;naissance;tel;adhesion;points\n"
             "C1;Élodie;DURAND;04/03/1985;0612345678;01/06/2020;125,50\n"
             "C2;François;LEFÈVRE;31/02/1990;01 42 68 53 00;02/06/2020;3,00\n"
             "C3;Paul;MARTIN;01/01/1970\n"
             ";Anne;NOIR;01/01/1980;;03/06/2020;0\n")
    (raw / "store_cards" / day).mkdir(parents=True)
    (raw / "store_cards" / day / "cards.csv").write_bytes(cards.encode("latin-1"))
    news = ("event_id,email,channel,action,at\n"
            "N1,elodie.durand@gmail.com,email,opt_in,2024-01-01 10:00:00\n"
            "N2,elodie.durand@gmail.com,email,opt_out,2025-01-01 10:00:00\n"
            "N3,x@y.fr,email,maybe,2025-01-01 10:00:00\n")
    (raw / "newsletter" / day).mkdir(parents=True)
    (raw / "newsletter" / day / "events.csv").write_text(news, encoding="utf-8")


@pytest.fixture
def small_project(tmp_path: Path) -> Settings:
    raw = tmp_path / "raw"
    write_drop(raw)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    return Settings(raw_dir=raw, warehouse=tmp_path / "warehouse.duckdb", sources_file=sources, truth_file=None)


def materialise(settings: Settings, **options):
    """Load the changed drop days and refresh everything, as `customer360 run` does; fail the test on any
    failure. Returns the final run's result."""
    from assets import runner

    results = runner.run(settings, **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results[-1]


def materialise_until(settings: Settings, key):
    """The next day's run up to `key` and what it needs (its upstream assets), as the daily job runs them; fail
    the test on any failure. Returns the run's result."""
    import dagster as dg

    from assets import runner
    from assets.definitions import build_definitions

    job = build_definitions(settings).resolve_job_def("refresh_all")
    selected = dg.AssetSelection.assets(key).upstream().required_multi_asset_neighbors().resolve(
        job.asset_layer.asset_graph)
    result = runner._execute(job, dg.DagsterInstance.ephemeral(), runner.run_config(console_level="ERROR"),
                             runner.plan(settings).final_day, sorted(selected))
    assert result.success
    return result


def demo_settings(root: Path, persons: int, seed: int, **overrides) -> Settings:
    """Generate a small demo under root and return Settings for it (bundled sources file, no truth)."""
    from pipeline.demo import generate_demo

    generate_demo(persons, seed=seed, raw_dir=root / "raw", truth_path=root / "truth.csv")
    return _demo_paths(root, **overrides)


def checks(result, by_asset: bool = False) -> dict:
    """The asset check evaluations of a run: check name -> evaluation, or (asset path, check name) -> evaluation."""
    evaluations = [e.asset_check_evaluation_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    if by_asset:
        return {(tuple(d.asset_key.path), d.check_name): d for d in evaluations}
    return {d.check_name: d for d in evaluations}


def park_day(settings: Settings, day: str) -> Callable[[], None]:
    """Move a day's drop folders aside (not delivered yet); returns a function that delivers them."""
    parked = settings.raw_dir.parent / "parked"
    for src in sorted(settings.raw_dir.glob(f"*/{day}")):
        dst = parked / src.relative_to(settings.raw_dir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)
    return lambda: deliver_day(settings, day)


def deliver_day(settings: Settings, day: str) -> None:
    """Deliver the drop folders `park_day` moved aside, also in a copy of the project made after parking them."""
    parked = settings.raw_dir.parent / "parked"
    for src in sorted(parked.glob(f"*/{day}")):
        shutil.move(src, settings.raw_dir / src.relative_to(parked))


# The longest files first (measured with --durations): `make test` hands whole files to two workers in collection
# order, so a long file collected last would run alone at the end.
LONGEST_FIRST = ["test_ui.py", "test_identity_learning.py", "test_spark_engine.py", "test_consent_lifecycle.py",
                 "test_delivery_learned.py", "test_north_american_addresses.py", "test_operations.py",
                 "test_non_latin_records.py", "test_incremental.py", "test_full_delivery.py",
                 "test_incremental_golden.py", "test_bench.py", "test_delivery_sweep.py", "test_stewardship.py",
                 "test_hostile_runs.py", "test_identity_flow.py", "test_personal_data.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: test order within a file is kept


def pytest_addoption(parser):
    parser.addoption("--update-snapshots", action="store_true",
                     help="rewrite tests/snapshots/*.txt from the code instead of comparing with them")


@pytest.fixture
def update_snapshots(request) -> bool:
    return request.config.getoption("--update-snapshots")


@pytest.fixture
def bundled_settings(tmp_path) -> Settings:
    """The bundled sources file (the demo's nine sources) over an empty raw folder; partitions from the demo day."""
    from pipeline.config import BUNDLED_SOURCES

    (tmp_path / "raw").mkdir()
    return Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                    truth_file=None, first_day="2026-11-23")


@pytest.fixture
def defs(bundled_settings):
    """The code location as `dagster dev` loads it, for the bundled sources file."""
    from assets.definitions import build_definitions

    return build_definitions(bundled_settings)


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """The CLI writes its options into the environment: set (and so restore after the test) each of them."""
    from pipeline.config import BUNDLED_SOURCES
    from tests.hostile import day

    for var, value in (("C360_RAW_DIR", tmp_path / "raw"), ("C360_WAREHOUSE", tmp_path / "data" / "warehouse.duckdb"),
                       ("C360_SOURCES", BUNDLED_SOURCES), ("C360_TRUTH", ""), ("C360_FIRST_DAY", day(-10))):
        monkeypatch.setenv(var, str(value))


RAM_DISK = Path("/dev/shm")


@contextlib.contextmanager
def _history_folder(fallback: Path) -> Iterator[Path]:
    """A folder for a Dagster run history, removed afterwards: in RAM (tmpfs) when the machine has one with room,
    else `fallback`. Dagster's SQLite run storage syncs every event to disk: ~1,900 fsyncs per `customer360 run`
    of a small project (strace, 2026-11-29), ~3.5 ms each on this machine's disk under load. The files, the SQL
    and the code are the same in RAM; no test is about surviving a power cut."""
    try:
        free = os.statvfs(RAM_DISK)
        roomy = free.f_bavail * free.f_frsize >= 1 << 30 and os.access(RAM_DISK, os.W_OK)
    except OSError:
        roomy = False
    if not roomy:
        fallback.mkdir(parents=True, exist_ok=True)
        yield fallback
        return
    folder = Path(tempfile.mkdtemp(prefix="c360-tests-", dir=RAM_DISK))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def history_folder(tmp_path) -> Iterator[Path]:
    """An empty folder for a test's own DAGSTER_HOME (created by what the test starts), in RAM when possible."""
    with _history_folder(tmp_path / "history") as folder:
        yield folder


@pytest.fixture(scope="session", autouse=True)
def _own_dagster_home(tmp_path_factory):
    """A run history per test session (the CLI's runs would otherwise land in the repo's data/dagster_home)."""
    with _history_folder(tmp_path_factory.mktemp("dagster_home")) as home:
        before = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(home)
        yield home
        if before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = before


# The demo most end-to-end tests start from: every source, every tier and consent channel, erasures and
# retention (as_of fixed so that the rolling windows do not move with the calendar).
DEMO = dict(persons=500, seed=21, as_of="2026-11-24")


@dataclasses.dataclass(frozen=True)
class DemoRun:
    root: Path          # raw/, warehouse.duckdb, published and restricted copies, artefacts/ ... as the run left them
    settings: Settings
    result: RunEvents   # the last Dagster run that built it (the one with every asset and check)
    events: str         # every event of the runs that built it (messages, metadata, check results), as text


@dataclasses.dataclass(frozen=True)
class RunEvents:
    """What the tests read of a Dagster run's result (`success`, `all_events`), kept on disk for the other worker."""
    success: bool
    all_events: list


def _demo_paths(root: Path, **overrides) -> Settings:
    from pipeline.config import BUNDLED_SOURCES

    options = dict(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                   truth_file=None)
    return Settings(**{**options, **overrides})


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """The demo, materialised once per session: by the first xdist worker that asks for it, while the other waits
    for it and then reads the same folder (a run costs the same on either worker; once is enough). Read it, never
    change it: copy it with `copy_demo` to write."""
    import fcntl

    import dagster as dg

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    root, events_file, result_file = shared / "demo_run", shared / "demo_run.events.txt", shared / "demo_run.result"
    options = dict(as_of=DEMO["as_of"])
    with open(shared / "demo_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when the building worker fails
        if not result_file.exists():
            settings = demo_settings(root, DEMO["persons"], seed=DEMO["seed"], **options)
            from assets import runner

            results = runner.run(settings)
            for result in results:
                assert result.success, [e.message for e in result.all_events if e.is_failure]
            events_file.write_text("\n".join(str(e) for result in results for e in result.all_events), encoding="utf-8")
            result_file.write_text(json.dumps({"success": results[-1].success,
                                               "events": dg.serialize_value(results[-1].all_events)}), encoding="utf-8")
    last = json.loads(result_file.read_text(encoding="utf-8"))
    result = RunEvents(last["success"], dg.deserialize_value(last["events"], list))
    return DemoRun(root, _demo_paths(root, **options), result, events_file.read_text(encoding="utf-8"))


def copy_demo(demo: DemoRun, dest: Path) -> Settings:
    """A private copy of the materialised demo under `dest`: its own raw drops, warehouse, copies and artefacts."""
    return copy_project(demo.root, demo.settings, dest)


def copy_project(root: Path, settings: Settings, dest: Path) -> Settings:
    """A private copy of a project laid out as `demo_settings` lays it out under `root` (raw/, parked/, the
    warehouse and what runs left beside it), with its settings pointing at the copy."""
    shutil.copytree(root, dest, dirs_exist_ok=True)
    return dataclasses.replace(settings, raw_dir=dest / "raw", warehouse=dest / "warehouse.duckdb")


@pytest.fixture
def demo_copy(demo_run, tmp_path) -> Settings:
    """A copy of the materialised demo for one test that changes it (new drops, re-runs, decisions)."""
    return copy_demo(demo_run, tmp_path / "demo")
