"""Data shapes the demo and the public sets never have, each run as a user does: `customer360 run` with a sources
file written for it, in its own Dagster home; P / R / F1 from the truth, and plain Splink (public_benchmarks.py's
`plain_splink`) where the shape has its columns.

    python bench/data_shapes.py [--shapes tiny names_only ...] [--workdir /tmp/c360-shapes]

FEBRL1-derived (rec_id's number is the person) unless said: `tiny` 20 records of 10 people; `all_unique` the 500
originals; `many_copies` 150 originals delivered 8 times; `names_only`; `emails_only` (an e-mail made of the names);
`ids_only` (`soc_sec_id` alone: refused, no name, e-mail or phone); `ids_names`; `skewed` (half the people's surname
`martin`); `birth_years` (`%Y`); `date_parts` (birth date from year / month / day); `foreign_columns` (German column
names); `cjk_columns` (Japanese column names, names + birth date); `split_sources` (birth dates in one source,
addresses in the other: only names shared); `non_latin` (30 people in their script in one source, typed in Latin
letters in another, among 300 FEBRL people alone). Prints one JSON line per shape.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
from public_benchmarks import febrl_frames, person_of, plain_splink  # bench/, beside this script

FULL = {"first_name": "given_name", "last_name": "surname", "birth_date": "date_of_birth",
        "street": ["street_number", "address_1"], "postcode": "postcode", "city": "suburb"}
NAMES = {"first_name": "given_name", "last_name": "surname"}
NON_LATIN = [  # (first and last name as written, as a Latin-script clerk types them)
    ("Иван", "Иванов", "Ivan", "Ivanov"), ("Ольга", "Смирнова", "Olga", "Smirnova"),
    ("Дмитрий", "Кузнецов", "Dmitriy", "Kuznetsov"), ("Наталья", "Попова", "Natalya", "Popova"),
    ("Сергей", "Соколов", "Sergei", "Sokolov"), ("Анна", "Лебедева", "Anna", "Lebedeva"),
    ("Γιώργος", "Παπαδόπουλος", "Giorgos", "Papadopoulos"), ("Μαρία", "Νικολάου", "Maria", "Nikolaou"),
    ("Νίκος", "Γεωργίου", "Nikos", "Georgiou"), ("Ελένη", "Οικονόμου", "Eleni", "Oikonomou"),
    ("محمد", "العلي", "Mohammed", "Al-Ali"), ("فاطمة", "حسن", "Fatima", "Hassan"), ("أحمد", "خليل", "Ahmed", "Khalil"),
    ("王", "伟", "Wei", "Wang"), ("李", "娜", "Na", "Li"), ("张", "敏", "Min", "Zhang"),
    ("Jürgen", "Strauß", "Juergen", "Strauss"), ("Søren", "Kierkegård", "Soren", "Kierkegaard"),
    ("Zoë", "Þórsdóttir", "Zoe", "Thorsdottir"), ("Seán", "Ó Briain", "Sean", "O'Brien"),
    ("Siobhán", "O'Neill", "Siobhan", "ONeill"), ("Anne-Marie", "de la Fontaine", "Anne Marie", "Delafontaine"),
    ("Pieter", "van der Berg", "Pieter", "Van Der Berg"), ("Œdipe", "Lefèvre", "Oedipe", "Lefevre"),
    ("Łukasz", "Wróbel", "Lukasz", "Wrobel"), ("Đorđe", "Petrović", "Djordje", "Petrovic"),
    ("Ævar", "Guðmundsson", "Aevar", "Gudmundsson"), ("José", "García-López", "Jose", "Garcia Lopez"),
    ("François", "L'Hôpital", "Francois", "Lhopital"), ("Ærøskøbing", "Müller", "Aeroskobing", "Mueller"),
]


def source(name: str, person: dict, record_id: str = "rec_id", date_formats: list | None = None,
           identifiers: dict | None = None) -> dict:
    return {"name": name, "person": person, "record_id": record_id, "date_formats": date_formats or ["%Y%m%d"],
            "identifiers": identifiers}


def sources_yaml(sources: list[dict]) -> str:
    lines = ["defaults:", "  format: csv", "  channel: offline", "  country: AU", "sources:"]
    for s in sources:
        lines += [f"  - name: {s['name']}", f"    files: {s['name']}/*.csv", f"    record_id: {s['record_id']}",
                  f"    date_formats: {json.dumps(s['date_formats'])}", "    person:"]
        lines += [f"      {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in s["person"].items()]
        if s["identifiers"]:
            lines += ["    identifiers:", *(f"      {k}: {v}" for k, v in s["identifiers"].items())]
    return "\n".join(lines) + "\n"


def _originals(f: pd.DataFrame) -> pd.DataFrame:
    return f[f["rec_id"].str.endswith("-org")]


def _non_latin(f: pd.DataFrame) -> tuple[dict, list]:
    rng, written, typed = random.Random(7), [], []
    for i, (first, last, latin_first, latin_last) in enumerate(NON_LATIN):
        born = f"19{50 + rng.randrange(50)}{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}"
        written.append({"rec_id": f"rec-{i}-org", "given_name": first, "surname": last, "date_of_birth": born,
                        "postcode": f"{2000 + i}"})
        typed.append({"rec_id": f"rec-{i}-dup-0", "given_name": latin_first, "surname": latin_last,
                      "date_of_birth": born, "postcode": f"{2000 + i}"})
    alone = _originals(f).head(300)
    alone = alone.assign(rec_id=alone["rec_id"].str.replace("rec-", "rec-9", regex=False))[
        ["rec_id", "given_name", "surname", "date_of_birth", "postcode"]]
    person = {**NAMES, "birth_date": "date_of_birth", "postcode": "postcode"}
    return ({"intl": pd.concat([pd.DataFrame(written), alone.iloc[:150]]),
             "latin": pd.concat([pd.DataFrame(typed), alone.iloc[150:]])},
            [source("intl", person), source("latin", person)])


def shape(name: str) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """source -> frame, and the sources file's entries."""
    f = febrl_frames("febrl1")["febrl"]
    person_no = person_of(f["rec_id"]).astype(int)
    if name == "tiny":
        orgs = _originals(f).head(60)  # the first ten duplicates of these people, and their originals
        dups = f[~f["rec_id"].str.endswith("-org") & person_no.isin(set(person_no[orgs.index]))].head(10)
        return {"febrl": pd.concat([orgs[person_no[orgs.index].isin(set(person_no[dups.index]))], dups])}, \
            [source("febrl", FULL)]
    if name == "all_unique":
        return {"febrl": _originals(f)}, [source("febrl", FULL)]
    if name == "many_copies":
        orgs = _originals(f).head(150)
        copies = [orgs.assign(rec_id=orgs["rec_id"].str.replace("-org", f"-dup-{i}")) for i in range(1, 8)]
        return {"febrl": pd.concat([orgs, *copies])}, [source("febrl", FULL)]
    if name == "names_only":
        return {"febrl": f[["rec_id", "given_name", "surname"]]}, [source("febrl", NAMES)]
    if name == "emails_only":
        email = f["given_name"].fillna("x").str.replace(" ", "") + "." + f["surname"].fillna("y").str.replace(" ", "")
        return {"webshop": f.assign(email=email + "@mail.example")[["rec_id", "email"]]}, \
            [source("webshop", {"email": "email"})]
    if name in ("ids_only", "ids_names"):
        person = NAMES if name == "ids_names" else {}
        return {"febrl": f[["rec_id", *person.values(), "soc_sec_id"]]}, \
            [source("febrl", person, identifiers={"soc_sec_id": "soc_sec_id"})]
    if name == "skewed":
        return {"febrl": f.assign(surname=f["surname"].where(person_no % 2 == 1, "martin"))}, [source("febrl", FULL)]
    if name == "birth_years":
        return {"febrl": f.assign(yob=f["date_of_birth"].str[:4])[["rec_id", "given_name", "surname", "yob"]]}, \
            [source("febrl", {**NAMES, "birth_date": "yob"}, date_formats=["%Y"])]
    if name == "date_parts":
        born = f["date_of_birth"].fillna("")
        parts = f.assign(by=born.str[:4], bm=born.str[4:6], bd=born.str[6:8]).drop(columns=["date_of_birth"])
        return {"febrl": parts}, [source("febrl", {**FULL, "birth_date": {"year": "by", "month": "bm", "day": "bd"}})]
    if name == "foreign_columns":
        german = {"rec_id": "Kundennummer", "given_name": "Vorname", "surname": "Familienname",
                  "date_of_birth": "Geburtsdatum", "street_number": "Hausnummer", "address_1": "Straße",
                  "postcode": "PLZ", "suburb": "Ort"}
        person = {k: ([german[c] for c in v] if isinstance(v, list) else german[v]) for k, v in FULL.items()}
        return {"kunden": f.rename(columns=german)}, [source("kunden", person, record_id="Kundennummer")]
    if name == "cjk_columns":
        japanese = {"rec_id": "顧客番号", "given_name": "名", "surname": "姓", "date_of_birth": "生年月日"}
        return {"kokyaku": f[list(japanese)].rename(columns=japanese)}, \
            [source("kokyaku", {"first_name": "名", "last_name": "姓", "birth_date": "生年月日"}, record_id="顧客番号")]
    if name == "split_sources":
        born = ["rec_id", "given_name", "surname", "date_of_birth"]
        lives = ["rec_id", "given_name", "surname", "street_number", "address_1", "postcode", "suburb"]
        return {"crm": _originals(f)[born], "shop": f[~f["rec_id"].str.endswith("-org")][lives]}, \
            [source("crm", {**NAMES, "birth_date": "date_of_birth"}),
             source("shop", {k: v for k, v in FULL.items() if k != "birth_date"})]
    if name == "non_latin":
        return _non_latin(f)
    raise ValueError(name)


SHAPES = ("tiny", "all_unique", "many_copies", "names_only", "emails_only", "ids_only", "ids_names", "skewed",
          "birth_years", "date_parts", "foreign_columns", "cjk_columns", "split_sources", "non_latin")


def run_shape(name: str, workdir: Path) -> dict:
    root = workdir / name
    shutil.rmtree(root, ignore_errors=True)
    frames, sources = shape(name)
    for src, frame in frames.items():
        (root / "raw" / src).mkdir(parents=True)
        frame.to_csv(root / "raw" / src / "data.csv", index=False)
    (root / "sources.yaml").write_text(sources_yaml(sources), encoding="utf-8")
    ids = {s["name"]: s["record_id"] for s in sources}
    pd.concat([pd.DataFrame({"source": src, "source_record_id": f[ids[src]], "person_id": person_of(f[ids[src]])})
               for src, f in frames.items()]).to_csv(root / "truth.csv", index=False)
    (root / "dh").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(root / "dh"), "C360_RETENTION_DAYS": "36500"}
    command = [str(Path(sys.executable).with_name("customer360")), "run", "--raw-dir", str(root / "raw"),
               "--warehouse", str(root / "warehouse.duckdb"), "--sources", str(root / "sources.yaml"),
               "--truth", str(root / "truth.csv")]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    (root / "run.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    figures = {"shape": name, "records": sum(len(f) for f in frames.values()), "exit": done.returncode,
               "seconds": round(time.perf_counter() - started, 1),
               "last_line": (done.stdout.strip() or done.stderr.strip()).splitlines()[-1][:200]}
    if done.returncode == 0:
        with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
            figures["precision"], figures["recall"], figures["f1"] = con.execute(
                "SELECT pairwise_precision, pairwise_recall, pairwise_f1 FROM identity.linkage_quality "
                "ORDER BY measured_at DESC LIMIT 1").fetchone()
            figures["customers"] = con.execute("SELECT count(DISTINCT customer_id) FROM marts.customer_xref").fetchone()[0]
    if all({"given_name", "surname"} <= set(f.columns) for f in frames.values()) and name != "split_sources":
        try:
            figures["plain_splink"] = plain_splink(frames, root / "truth.csv")
        except Exception as exc:  # noqa: BLE001 - plain Splink failing on a shape is a figure too
            figures["plain_splink"] = f"failed: {type(exc).__name__}"
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--workdir", default="/tmp/c360-shapes")
    args = parser.parse_args(argv)
    for name in args.shapes:
        print(json.dumps(run_shape(name, Path(args.workdir))), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
