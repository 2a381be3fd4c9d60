"""`customer360` command line: generate demo data, run the whole pipeline, print what it did."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from pipeline.config import BUNDLED_SOURCES, CONSENT_CHANNELS, ENGINES, PROJECT_ROOT

DATA = PROJECT_ROOT / "data"


def _generate(args: argparse.Namespace) -> int:
    from pipeline.demo import generate_demo

    started = time.perf_counter()
    summary = generate_demo(n_persons=args.customers, seed=args.seed, raw_dir=Path(args.raw_dir),
                            truth_path=Path(args.truth))
    for name, rows in summary.items():
        print(f"  {name:<22} {rows:>10,}")
    if args.next_day_share:
        from pipeline.demo import DEMO_DAY
        from pipeline.demo.next_day import hold_back

        moved = hold_back(Path(args.raw_dir), args.next_day_share, DEMO_DAY)
        print(f"  {sum(moved.values()):,} rows held back into the next day's drop ({args.next_day_share:.1%})")
    print(f"generated in {time.perf_counter() - started:.1f} s into {args.raw_dir} (truth: {args.truth})")
    return 0


def _settings_env(args: argparse.Namespace) -> None:
    """The CLI's options become the environment that `assets.definitions` reads."""
    os.environ["C360_RAW_DIR"] = str(Path(args.raw_dir).resolve())
    os.environ["C360_WAREHOUSE"] = str(Path(args.warehouse).resolve())
    os.environ["C360_SOURCES"] = str(Path(args.sources).resolve())
    os.environ["C360_TRUTH"] = str(Path(args.truth).resolve()) if args.truth else ""
    if args.engine:
        os.environ["C360_ENGINE"] = args.engine


def _run(args: argparse.Namespace) -> int:
    import dagster as dg
    import duckdb

    from assets import runner
    from assets.alerting import CLI_TAG, alert, run_failures
    from pipeline.config import FolderTaken, Settings
    from pipeline.report import layer_counts_of, run_summary
    from pipeline.run_lock import WarehouseBusy

    _settings_env(args)
    settings = Settings.from_env()
    if not settings.raw_dir.is_dir():
        print(f"error: raw directory {settings.raw_dir} does not exist (run `customer360 generate`)",
              file=sys.stderr)
        return 2
    try:
        days = _days(args.days)
    except ValueError as exc:
        print(f"error: --days {exc}", file=sys.stderr)
        return 2
    if settings.engine == "spark":
        from pipeline.identity.spark_engine import spark_missing

        if reason := spark_missing():
            print(f"error: the Spark engine cannot run: {reason}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    from pipeline.instance import dagster_home
    from pipeline.private_files import owner_only
    from pipeline.progress import ConsoleProgress, JsonProgress

    with owner_only():  # its run history (runs.db, index.db), made in a folder the operator may have opened to others
        os.environ["DAGSTER_HOME"] = str(dagster_home())  # the instance the UI shows: this run joins its history
        instance = dg.DagsterInstance.get()
    progress = None if args.quiet else JsonProgress() if args.json else ConsoleProgress()
    published = _fingerprints(settings)
    try:  # Dagster's console log shows warnings only: the progress lines and the summary say what ran
        results = runner.run(settings, days=days, full_refresh=args.full_refresh, instance=instance,
                             progress=progress, report=lambda line: print(line, file=sys.stderr),
                             restored=args.restored, tags={CLI_TAG: "true"})
    except WarehouseBusy as exc:
        return _refused(settings, f"error: {exc}", 3)
    except FolderTaken as exc:
        return _refused(settings, f"error: {exc}", 2)
    except duckdb.IOException as exc:  # another process (an analyst's session) holds the warehouse file
        return _refused(settings, f"error: cannot open the warehouse {settings.warehouse}: {exc}; close the other "
                                  "session (analysts read published.duckdb)", 3)
    except ValueError as exc:
        return _refused(settings, f"error: {exc}", 2)
    elapsed = time.perf_counter() - started
    loaded = [r.dagster_run.tags.get("dagster/partition") for r in results]
    try:  # the summary is a courtesy: never let it hide the run's own outcome
        if args.json:
            print(json.dumps({"event": "run_end", "success": all(r.success for r in results), "drop_days": loaded,
                              "elapsed": round(elapsed, 3), "tables": dict(layer_counts_of(settings.warehouse))}))
        elif not args.quiet:
            print(run_summary(settings.warehouse, elapsed))
            print(f"drop days loaded: {', '.join(loaded)}")
    except Exception as exc:  # noqa: BLE001
        print(f"(no summary: {type(exc).__name__})", file=sys.stderr)
    events = [e for r in results for e in r.all_events]
    for result in results:  # failed checks, with what failed (counts only, no values), their asset and drop day
        day = result.dagster_run.tags.get("dagster/partition")
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.asset_check_evaluation_data.passed:
                data = event.asset_check_evaluation_data
                print(f"check FAILED {data.asset_key.to_user_string()} {data.check_name}"
                      f"{f' (drop day {day})' if day else ''}: {data.description}", file=sys.stderr)
    if not all(r.success for r in results):
        failed = [name for name, _ in run_failures(events)]  # the alert's list: failed steps, blocking checks
        # Say what is true of the published copies: compare them with what they were before the run.
        unchanged = _fingerprints(settings) == published
        copies = "published copies left as they were" if unchanged else "published copies WERE REPLACED by this run"
        print(f"run FAILED at: {', '.join(failed) or 'see the Dagster log above'}; {copies}",
              file=sys.stderr)
        failed_run = next(r for r in results if not r.success)
        if problem := alert(settings, failed_run.dagster_run, failed_run.all_events, copies):
            print(f"warning: {problem}", file=sys.stderr)
        return 1
    return 0


def _refused(settings, message: str, code: int) -> int:
    """A run that could not start: said on stderr and as an alert (a nightly run that did not happen), `code` returned."""
    from pipeline import alerts

    print(message, file=sys.stderr)
    if problem := alerts.send(f"customer360 run did not start: {message.removeprefix('error: ')}", settings.warehouse,
                              settings.alert_webhook):
        print(f"warning: {problem}", file=sys.stderr)
    return code


def _fingerprints(settings) -> tuple:
    """(size, mtime) of the analysts' and the restricted copy: a copy swapped in changes its inode time."""
    return tuple((p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None
                 for p in (settings.published, settings.restricted))


def _forget(args: argparse.Namespace) -> int:
    from pipeline.config import Settings
    from pipeline.forget import forget_files
    from pipeline.run_lock import WarehouseBusy, exclusive_run

    _settings_env(args)
    settings = Settings.from_env()
    try:
        with exclusive_run(settings.warehouse):
            removed = forget_files(settings, args.files)
    except (WarehouseBusy, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for file, rows in removed.items():
        print(f"  forgot {file}: {rows} raw row(s)")
    print("the next `customer360 run` removes their records from staging, identity and the marts")
    return 0


def _days(spec: str | None) -> list[str] | None:
    """'2026-11-01' or '2026-11-01:2026-11-05' (inclusive) -> the days, for a backfill."""
    from datetime import date, timedelta

    if not spec:
        return None
    first, _, last = spec.partition(":")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise ValueError(f"'{spec}' is not DAY or FIRST:LAST (YYYY-MM-DD)") from None
    if end < start:
        raise ValueError(f"'{spec}' ends before it starts")
    return [(start + timedelta(n)).isoformat() for n in range((end - start).days + 1)]


def _explain(args: argparse.Namespace) -> int:
    from pipeline.identity.explain import explain
    from pipeline.private_files import owner_only, restrict

    warehouse = Path(args.warehouse)
    model = warehouse.parent / "artefacts" / "splink_model.json"
    if args.customer_id:  # an id read out on the phone, typed in any case (ids are minted upper-case)
        args.customer_id = args.customer_id.strip().upper()
    target = args.customer_id or "-".join(args.pair)
    out = Path(args.out or warehouse.parent / "artefacts" / f"explain_{target.replace(':', '_')}.html")
    try:
        with owner_only():  # the chart shows names and e-mails
            result = explain(warehouse, model, out, customer_id=args.customer_id,
                             pair=tuple(args.pair) if args.pair else None)
        restrict(out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for left, right, probability, vetoed in result["pairs"]:
        note = "  (contrary evidence: never merged)" if vetoed else ""
        print(f"  {left} ~ {right}: match probability {probability}{note}")
    if result["customers_apart"]:
        print(f"  {result['customers_apart']}")
    print(f"waterfall chart: {result['chart']}")
    return 0


def _built(path: Path, what: str) -> bool:
    """Whether a file the pipeline writes is there; says what to do when it is not."""
    if not path.exists():
        print(f"error: no {what} at {path} (run `customer360 run` first)", file=sys.stderr)
    return path.exists()


def _report(args: argparse.Namespace) -> int:
    from pipeline.config import Settings
    from pipeline.run_report import write_report

    warehouse = Path(args.warehouse)
    if not _built(warehouse, "warehouse"):
        return 2
    out = Path(args.out or warehouse.parent / "artefacts" / "run_report.html")
    print(f"run report: {write_report(warehouse, out, Settings.from_env().linkage.threshold)}")
    return 0


def _lookup(args: argparse.Namespace) -> int:
    """Customer service's card: read-only on the restricted copy; prints only the customers the query finds."""
    import duckdb

    from pipeline.audience_log import audiences_of
    from pipeline.marts.lookup import CARD_SQL, find, needs_postcode, present_sections
    from pipeline.normalise.address import country_code

    region = country_code(args.country) if args.country else None  # 'UK', 'Ireland': as a record's country is read
    if args.country and region is None:
        print(f"error: --country {args.country!r} names no country we know (GB, IE, US, ... or its name)",
              file=sys.stderr)
        return 2
    restricted = Path(args.restricted)
    if not _built(restricted, "restricted copy"):
        return 2
    with duckdb.connect(str(restricted), read_only=True) as con:
        found = find(con, args.query, args.postcode, region)
        if not found:
            hint = " (a name is looked up with the customer's --postcode)" if not args.postcode and \
                needs_postcode(args.query) else ""
            print(f"no customer found{hint}", file=sys.stderr)
            return 1
        sections = present_sections(con, CARD_SQL)
        for customer_id in [] if args.export else found:
            print(f"=== customer {customer_id}")
            for title, sql in sections.items():
                frame = con.execute(sql, [customer_id]).df()
                if title == "customer":
                    frame = frame.dropna(axis=1).T  # one attribute a line, the empty ones left out
                print(f"--- {title}\n{frame.to_string(header=title != 'customer')}\n")
            sent = audiences_of(con, restricted, customer_id)
            if sent is not None:  # the consent proof's other half: was each audience it was sent in allowed?
                print(f"--- audiences sent (consent on the point at export)\n{sent.to_string()}\n")
    if args.export and len(found) > 1:  # one person's data per file: never a household member's with the requester's
        print(f"error: {len(found)} customers hold what the query gives ({', '.join(found)}): check who the requester "
              "is, then export by their customer id", file=sys.stderr)
        return 2
    return _export(args, restricted, found) if args.export else 0


def _export(args: argparse.Namespace, restricted: Path, found: list[str]) -> int:
    """The data-protection officer's export of everything held on the customer found (a subject access request)."""
    import duckdb

    from pipeline.marts.subject_access import export

    warehouse = _warehouse_beside(args, restricted)
    if warehouse is not None and not warehouse.exists():
        print(f"warning: no warehouse at {warehouse}: the staged records are not in the export", file=sys.stderr)
        warehouse = None
    out = Path(args.export)
    try:
        counts = export(restricted, found[0], out, warehouse)
    except duckdb.IOException as exc:  # a run holds the warehouse (one writer)
        print(f"error: cannot read the warehouse {warehouse} ({exc}): export again once the run is over, or with "
              "--warehouse '' for the restricted copy alone", file=sys.stderr)
        return 3
    rows = ", ".join(f"{name} {n}" for name, n in counts.items())
    print(f"customer {found[0]} exported to {out} (owner-only): {rows}")
    return 0


def _warehouse_beside(args: argparse.Namespace, restricted: Path) -> Path | None:
    """`--warehouse`: the warehouse beside the restricted copy unless said otherwise; '' for none."""
    return restricted.with_name("warehouse.duckdb") if args.warehouse is None else \
        Path(args.warehouse) if args.warehouse else None


def _audience(args: argparse.Namespace) -> int:
    from pipeline.audience import build_audience

    try:
        restricted = Path(args.restricted)  # the warehouse is beside the restricted copy unless said otherwise
        audience = build_audience(restricted, _warehouse_beside(args, restricted),
                                  args.channel, Path(args.out), args.segment, args.tier, args.country)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{audience.customers:,} customers reachable by {args.channel} -> {audience.path}")
    print(f"{audience.left_out_repermission:,} left out: their opt-in needs re-permission")
    print(f"{audience.suppressed:,} identifiers to suppress (opt-outs, erased; SHA-256) -> {audience.suppression_path}")
    return 0


def _dev(args: argparse.Namespace) -> int:
    """The Dagster UI and daemon (schedule, sensor, queued runs) on the shared instance, on 127.0.0.1 only."""
    from pipeline.instance import dagster_home
    from pipeline.private_files import OWNER_ONLY_UMASK

    _settings_env(args)
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    dagster = str(Path(sys.executable).parent / "dagster")
    os.chdir(PROJECT_ROOT)
    # Dagster stops on SIGTERM by giving it SIGINT's handler. A background job of a script (`customer360 dev &`, a
    # service wrapper) starts with SIGINT ignored, and an ignored signal stays ignored across exec: dagster dev, its
    # webserver and daemon then ignored SIGTERM too and could only be killed. The default restored, Python installs its
    # KeyboardInterrupt handler again.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # Owner-only files for the UI, the daemon and every run they launch (the umask survives exec): the run history,
    # event logs and compute logs they create were left to the operator's umask (0644 under 022). The analysts' copy
    # sets its own mode.
    os.umask(OWNER_ONLY_UMASK)
    os.execv(dagster, [dagster, "dev", "-h", "127.0.0.1", "-p", str(args.port), "-w", "workspace.yaml"])


def main(argv: list[str] | None = None) -> int:
    import warnings

    # pyspark (the [spark] extra) warns on import about pandas 3 on every command; the engine's test covers it.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    parser = argparse.ArgumentParser(prog="customer360", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write demo source files and their ground truth")
    gen.add_argument("--customers", type=int, default=20000, help="persons to generate (default 20000)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--raw-dir", default=str(DATA / "raw"))
    gen.add_argument("--truth", default=str(DATA / "truth.csv"))
    gen.add_argument("--next-day-share", type=float, default=0.0, metavar="SHARE",
                     help="deliver the last SHARE of each file's rows a day later (an incremental day)")
    gen.set_defaults(func=_generate)

    run = sub.add_parser("run", help="materialise every asset into the warehouse")
    run.add_argument("--raw-dir", default=str(DATA / "raw"))
    run.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    run.add_argument("--sources", default=str(BUNDLED_SOURCES))
    run.add_argument("--truth", default=str(DATA / "truth.csv"),
                     help="ground truth for the evaluation asset ('' to skip evaluation)")
    run.add_argument("--days", metavar="DAY[:LAST]",
                     help="backfill: reload these drop days (YYYY-MM-DD, or FIRST:LAST) even if unchanged")
    run.add_argument("--full-refresh", action="store_true",
                     help="restage every source and retrain the linkage model instead of the incremental path")
    run.add_argument("--restored", action="store_true",
                     help="the warehouse was restored from an older copy and the erasure requests delivered since are "
                          "back in the drop folder: run although its erasure registry is smaller than last recorded")
    run.add_argument("--engine", choices=ENGINES,
                     help="where Splink trains and scores pairs (default: $C360_ENGINE or duckdb; "
                          "spark needs the [spark] extra and Java, settings C360_SPARK_*)")
    shown = run.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no progress lines nor summary: errors only")
    shown.add_argument("--json", action="store_true", help="progress and summary as JSON lines on stdout")
    run.set_defaults(func=_run)

    dev = sub.add_parser("dev", help="the Dagster UI and daemon on 127.0.0.1, on the instance `run` uses")
    dev.add_argument("--raw-dir", default=str(DATA / "raw"))
    dev.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    dev.add_argument("--sources", default=str(BUNDLED_SOURCES))
    dev.add_argument("--truth", default=str(DATA / "truth.csv"))
    dev.add_argument("--engine", choices=ENGINES)
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=_dev)

    look = sub.add_parser("lookup", help="customer service: a customer's card by e-mail, phone, name or id")
    look.add_argument("query", help="an e-mail or phone (any spelling, older ones too), a customer id, or a name "
                                    "with --postcode")
    look.add_argument("--postcode", help="with a name: the customer's postcode")
    look.add_argument("--country", help="region for phone numbers and postcodes written without their country "
                                        "(default: each country the customers live in, most customers first)")
    look.add_argument("--restricted", default=str(DATA / "restricted.duckdb"))
    look.add_argument("--export", help="write everything held on the customer found to this JSON file (a subject "
                                       "access request; owner-only) instead of printing the card")
    look.add_argument("--warehouse", help="with --export: the warehouse, for the records as staged and quarantined "
                                          "(read-only; default: beside --restricted); '' to leave them out")
    look.set_defaults(func=_lookup)

    aud = sub.add_parser("audience", help="marketing: customers reachable on one channel, with a suppression list")
    aud.add_argument("--channel", required=True, choices=CONSENT_CHANNELS)
    aud.add_argument("--segment", action="append", help="RFM segment (repeat for several); default: all")
    aud.add_argument("--tier", action="append", help="loyalty tier (repeat for several); default: all")
    aud.add_argument("--country", action="append", help="the customers' country, a code or a name (repeat for "
                                                        "several); default: all")
    aud.add_argument("--out", required=True, help="a .csv or .parquet file; the suppression list is written beside it")
    aud.add_argument("--restricted", default=str(DATA / "restricted.duckdb"))
    aud.add_argument("--warehouse", help="for erased identifiers (read-only; default: beside --restricted); '' to "
                                         "leave them out")
    aud.set_defaults(func=_audience)

    rep = sub.add_parser("report", help="static HTML page of the runs' figures (no personal values, offline)")
    rep.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    rep.add_argument("--out", help="HTML file to write (default: artefacts/run_report.html)")
    rep.set_defaults(func=_report)

    fgt = sub.add_parser("forget", help="remove loaded files' rows from raw (archiving a file keeps them)")
    fgt.add_argument("files", nargs="+", metavar="FILE", help="file as loaded, relative to --raw-dir "
                     "(e.g. crm/2026-11-20/export.csv)")
    fgt.add_argument("--raw-dir", default=str(DATA / "raw"))
    fgt.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    fgt.add_argument("--sources", default=str(BUNDLED_SOURCES))
    fgt.add_argument("--truth", default="")
    fgt.add_argument("--engine", default=None)
    fgt.set_defaults(func=_forget)

    exp = sub.add_parser("explain", help="waterfall chart of why a customer's records were linked")
    exp.add_argument("customer_id", nargs="?", help="a customer_id of marts.customer_xref")
    exp.add_argument("--pair", nargs=2, metavar="UNIQUE_ID", help="two records '<source>:<record id>' instead")
    exp.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    exp.add_argument("--out", help="HTML file to write (default: artefacts/explain_<id>.html)")
    exp.set_defaults(func=_explain)

    args = parser.parse_args(argv)
    if args.command == "explain" and not (args.customer_id or args.pair):
        parser.error("explain needs a CUSTOMER_ID or --pair UID UID")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
