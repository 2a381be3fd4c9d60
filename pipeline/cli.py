"""`customer360` command line: generate demo data, run the whole pipeline, print what it did."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pipeline.config import BUNDLED_SOURCES, PROJECT_ROOT

DATA = PROJECT_ROOT / "data"


def _generate(args: argparse.Namespace) -> int:
    from pipeline.demo import generate_demo

    started = time.perf_counter()
    summary = generate_demo(n_persons=args.customers, seed=args.seed, raw_dir=Path(args.raw_dir),
                            truth_path=Path(args.truth))
    for name, rows in summary.items():
        print(f"  {name:<22} {rows:>10,}")
    print(f"generated in {time.perf_counter() - started:.1f} s into {args.raw_dir} (truth: {args.truth})")
    return 0


def _settings_env(args: argparse.Namespace) -> None:
    """The CLI's options become the environment that `pipeline.definitions` reads."""
    os.environ["C360_RAW_DIR"] = str(Path(args.raw_dir).resolve())
    os.environ["C360_WAREHOUSE"] = str(Path(args.warehouse).resolve())
    os.environ["C360_SOURCES"] = str(Path(args.sources).resolve())
    os.environ["C360_TRUTH"] = str(Path(args.truth).resolve()) if args.truth else ""
    if args.engine:
        os.environ["C360_ENGINE"] = args.engine


def _run(args: argparse.Namespace) -> int:
    import dagster as dg

    from pipeline.config import Settings
    from pipeline.definitions import build_definitions
    from pipeline.report import run_summary

    _settings_env(args)
    settings = Settings.from_env()
    if not settings.raw_dir.is_dir():
        print(f"error: raw directory {settings.raw_dir} does not exist (run `customer360 generate`)",
              file=sys.stderr)
        return 2
    if settings.engine == "spark":
        from pipeline.identity.spark_engine import spark_missing

        if reason := spark_missing():
            print(f"error: the Spark engine cannot run: {reason}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the summary below says what ran
    result = job.execute_in_process(run_config=quiet, instance=instance, raise_on_error=False)
    elapsed = time.perf_counter() - started
    print(run_summary(settings.warehouse, elapsed))
    for event in result.all_events:  # failed checks, with what failed (counts only, no values)
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.asset_check_evaluation_data.passed:
            data = event.asset_check_evaluation_data
            print(f"check FAILED {data.check_name}: {data.description}", file=sys.stderr)
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(f"run FAILED at: {', '.join(failed) or 'see the Dagster log above'}; published marts left as they were",
              file=sys.stderr)
        return 1
    return 0


def _explain(args: argparse.Namespace) -> int:
    from pipeline.identity.explain import explain

    warehouse = Path(args.warehouse)
    model = warehouse.parent / "artefacts" / "splink_model.json"
    target = args.customer_id or "-".join(args.pair)
    out = Path(args.out or warehouse.parent / "artefacts" / f"explain_{target.replace(':', '_')}.html")
    try:
        result = explain(warehouse, model, out, customer_id=args.customer_id,
                         pair=tuple(args.pair) if args.pair else None)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for left, right, probability, vetoed in result["pairs"]:
        note = "  (contrary evidence: never merged)" if vetoed else ""
        print(f"  {left} ~ {right}: match probability {probability}{note}")
    print(f"waterfall chart: {result['chart']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="customer360", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write demo source files and their ground truth")
    gen.add_argument("--customers", type=int, default=20000, help="persons to generate (default 20000)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--raw-dir", default=str(DATA / "raw"))
    gen.add_argument("--truth", default=str(DATA / "truth.csv"))
    gen.set_defaults(func=_generate)

    run = sub.add_parser("run", help="materialise every asset into the warehouse")
    run.add_argument("--raw-dir", default=str(DATA / "raw"))
    run.add_argument("--warehouse", default=str(DATA / "warehouse.duckdb"))
    run.add_argument("--sources", default=str(BUNDLED_SOURCES))
    run.add_argument("--truth", default=str(DATA / "truth.csv"),
                     help="ground truth for the evaluation asset ('' to skip evaluation)")
    run.add_argument("--engine", choices=("duckdb", "spark"),
                     help="where Splink trains and scores pairs (default: $C360_ENGINE or duckdb; "
                          "spark needs the [spark] extra and Java, settings C360_SPARK_*)")
    run.set_defaults(func=_run)

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
