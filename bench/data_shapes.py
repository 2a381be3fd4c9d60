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
letters in another, among 300 FEBRL people alone). Round 19's (`EXTRA`, `extra_shape`'s comments say how each is
made): one person many times, compound surnames, Cyrillic beside Latin in one source, ids repeating across one day's
files, no duplicate at 4,000, FEBRL4 with caps / initials / swapped names, day- vs month-first dates, international
phones; FEBRL2 mostly `martin`. Prints one JSON line per shape.
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


# Shapes of issue 14's sweep of round 19 (sweepB19): built from FEBRL4's two files or by hand.
COMPOUND = [  # one person's surname as each of two sources writes it
    ("de la Fontaine", "Delafontaine"), ("van der Berg", "Vanderberg"), ("Martin-Dupont", "Martin Dupont"),
    ("García López", "Garcia"), ("Le Goff", "Legoff"), ("d'Alembert", "Dalembert"), ("O'Connor", "OConnor"),
    ("van Beethoven", "Beethoven"), ("Saint-Exupéry", "St Exupery"), ("Fernández de Córdoba", "Fernandez Cordoba"),
    ("von Trapp", "Von Trapp"), ("Mac Donald", "MacDonald"), ("Dos Santos", "dos santos"), ("ten Brink", "Tenbrink"),
    ("Lloyd-Webber", "Lloyd Webber"), ("Pérez Galdós", "Perez-Galdos"), ("De Smet", "Desmet"),
    ("della Rovere", "Della-Rovere"), ("al-Rashid", "Al Rashid"), ("Ben Ali", "Benali"),
]
FIRST = ["Anne-Marie", "Jean Paul", "Maria José", "Pieter", "Sophie", "Luis", "Aoife", "Karl", "Eva", "Tomás"]
COUNTRY_MOBILES = {"GB": ("+44 7400 1{:05d}", "07400 1{:05d}"), "DE": ("+49 1512 34{:05d}", "01512 34{:05d}"),
                   "US": ("+1 201-555-0{:03d}", "001 201 555 0{:03d}"), "FR": ("+33 6 12 3{:05d}", "0033 6 12 3{:05d}"),
                   "ES": ("+34 612 3{:05d}", "0034 612 3{:05d}"), "AU": ("+61 412 3{:05d}", "0412 3{:05d}")}
EXTRA = ("one_person_many", "compound_names", "caps_initials_swapped", "day_month_first", "intl_phones",
         "many_martins", "ids_repeat_across_files", "cyrillic_one_source", "all_unique_large",
         "mixed_date_formats")


def _born(rng: random.Random) -> str:
    return f"19{40 + rng.randrange(60)}{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}"


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if rng.random() < 0.5 else word[:i] + word[i + 1:]


def _day_first_then_month_first(a: pd.DataFrame, b: pd.DataFrame) -> None:
    for frame, fmt in ((a, "%d/%m/%Y"), (b, "%m/%d/%Y")):
        when = pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce")
        frame["date_of_birth"] = when.dt.strftime(fmt).astype("string")


def extra_shape(name: str) -> tuple[dict[str, pd.DataFrame], list[dict], dict | None]:
    """source -> frame, the sources file's entries, and the frames plain Splink reads when they differ."""
    f = febrl_frames("febrl1")["febrl"]
    alone = _originals(f).head(500)
    a, b = (x.copy() for x in febrl_frames("febrl4").values())
    rng = random.Random(19)
    if name == "one_person_many":  # one person held 25 times (typos, fields missing) beside 500 singletons
        full = alone.dropna()
        one = dict(full.iloc[0])
        rows = []
        for i in range(25):
            r, field = {**one, "rec_id": f"rec-9999-dup-{i}"}, rng.choice(["given_name", "surname", "address_1", "suburb"])
            r[field] = _typo(rng, str(r[field]))
            if rng.random() < 0.3:
                r[rng.choice(["postcode", "street_number", "date_of_birth"])] = None
            rows.append(r)
        return {"febrl": pd.concat([alone.drop(full.index[0]), pd.DataFrame(rows).astype("string")])}, [source("febrl", FULL)], None
    if name == "compound_names":  # 20 compound / particle surnames written two ways by two sources, 300 others
        person = {**NAMES, "birth_date": "date_of_birth", "postcode": "postcode"}
        crm, shop = [], []
        for i, (written, typed) in enumerate(COMPOUND):
            born, pc = _born(rng), f"{3000 + i}"
            crm.append({"rec_id": f"rec-{i}-org", "given_name": FIRST[i % 10], "surname": written,
                        "date_of_birth": born, "postcode": pc})
            shop.append({"rec_id": f"rec-{i}-dup-0", "given_name": FIRST[i % 10].replace("-", " "),
                         "surname": typed, "date_of_birth": born, "postcode": pc})
        others = alone.assign(rec_id=alone["rec_id"].str.replace("rec-", "rec-9", regex=False))[
            ["rec_id", "given_name", "surname", "date_of_birth", "postcode"]].head(300)
        return ({"crm": pd.concat([pd.DataFrame(crm), others.iloc[:150]]).astype("string"),
                 "shop": pd.concat([pd.DataFrame(shop), others.iloc[150:]]).astype("string")},
                [source("crm", person), source("shop", person)], None)
    if name == "caps_initials_swapped":  # FEBRL4 b: a fifth upper case, a fifth initial only, a fifth names swapped
        plain = {"febrl_a": a.copy(), "febrl_b": b.copy()}
        k = pd.Series(range(len(b)), index=b.index) % 5
        b.loc[k == 0, ["given_name", "surname"]] = b.loc[k == 0, ["given_name", "surname"]].apply(lambda s: s.str.upper())
        b.loc[k == 1, "given_name"] = b.loc[k == 1, "given_name"].str[:1].str.upper() + "."
        b.loc[k == 2, ["given_name", "surname"]] = b.loc[k == 2, ["surname", "given_name"]].to_numpy()
        return {"febrl_a": a, "febrl_b": b}, [source("febrl_a", FULL), source("febrl_b", FULL)], \
            {"febrl_a": plain["febrl_a"], "febrl_b": b}
    if name == "day_month_first":  # FEBRL4: a writes birth dates day first, b month first
        plain = {"febrl_a": a.copy(), "febrl_b": b.copy()}
        _day_first_then_month_first(a, b)
        return {"febrl_a": a, "febrl_b": b}, [source("febrl_a", FULL, date_formats=["%d/%m/%Y"]),
                                              source("febrl_b", FULL, date_formats=["%m/%d/%Y"])], plain
    if name == "mixed_date_formats":  # FEBRL4's two files as one source: day first, then month first; both declared
        plain = {"people": pd.concat([a, b])}
        _day_first_then_month_first(a, b)
        return {"people": pd.concat([a, b])}, [source("people", FULL, date_formats=["%d/%m/%Y", "%m/%d/%Y"])], plain
    if name == "intl_phones":  # FEBRL4 with a mobile from six countries: international in a, another way in b
        countries = list(COUNTRY_MOBILES)
        for frame, way in ((a, 0), (b, 1)):
            n = person_of(frame["rec_id"]).astype(int)
            frame["phone"] = [COUNTRY_MOBILES[countries[p % 6]][way].format(p % 1000 if countries[p % 6] == "US"
                                                                            else p) for p in n]
        with_phone = {**FULL, "phone": "phone"}
        return {"febrl_a": a, "febrl_b": b}, [source("febrl_a", with_phone), source("febrl_b", with_phone)], None
    if name == "many_martins":  # FEBRL2 (5,000): four people in five surnamed Martin, a third of them first named Martin
        f2 = febrl_frames("febrl2")["febrl"]
        n = person_of(f2["rec_id"]).astype(int)
        f2["surname"] = f2["surname"].where(n % 5 == 0, "martin")
        f2["given_name"] = f2["given_name"].where(n % 15 != 1, "martin")
        return {"febrl": f2}, [source("febrl", FULL)], None
    if name == "all_unique_large":  # FEBRL2's 4,000 originals: no duplicate at all
        return {"febrl": _originals(febrl_frames("febrl2")["febrl"])}, [source("febrl", FULL)], None
    if name == "ids_repeat_across_files":  # two stores number their customers from 1: ids repeat across files
        return {"shops": alone}, [source("shops", FULL, record_id="customer_no")], None
    if name == "cyrillic_one_source":  # one source holds people in Cyrillic / Greek and, again, transliterated
        rows = []
        for i, (first, last, latin_first, latin_last) in enumerate(NON_LATIN[:10]):
            born = _born(rng)
            rows += [{"rec_id": f"rec-{i}-org", "given_name": first, "surname": last, "date_of_birth": born,
                      "postcode": f"{2000 + i}"},
                     {"rec_id": f"rec-{i}-dup-0", "given_name": latin_first, "surname": latin_last,
                      "date_of_birth": born, "postcode": f"{2000 + i}"}]
        others = alone.assign(rec_id=alone["rec_id"].str.replace("rec-", "rec-9", regex=False))[
            ["rec_id", "given_name", "surname", "date_of_birth", "postcode"]].head(300)
        return {"people": pd.concat([pd.DataFrame(rows), others]).astype("string")}, \
            [source("people", {**NAMES, "birth_date": "date_of_birth", "postcode": "postcode"})], None
    raise ValueError(name)


SHAPES = ("tiny", "all_unique", "many_copies", "names_only", "emails_only", "ids_only", "ids_names", "skewed",
          "birth_years", "date_parts", "foreign_columns", "cjk_columns", "split_sources", "non_latin", *EXTRA)


def run_shape(name: str, workdir: Path) -> dict:
    root = workdir / name
    shutil.rmtree(root, ignore_errors=True)
    frames, sources, plain = extra_shape(name) if name in EXTRA else (*shape(name), None)
    for src, frame in frames.items():
        (root / "raw" / src).mkdir(parents=True)
        if name == "ids_repeat_across_files":  # each store's file numbers its customers 1, 2, ...
            halves = (frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2:])
            for store, half in zip(("store_a", "store_b"), halves, strict=True):
                half.assign(customer_no=range(1, len(half) + 1)).to_csv(root / "raw" / src / f"{store}.csv",
                                                                         index=False)
            frames[src] = halves[1].assign(customer_no=[str(i) for i in range(1, len(halves[1]) + 1)])
            continue
        frame.to_csv(root / "raw" / src / "data.csv", index=False)
    (root / "sources.yaml").write_text(sources_yaml(sources), encoding="utf-8")
    ids = {s["name"]: s["record_id"] for s in sources}
    pd.concat([pd.DataFrame({"source": src, "source_record_id": f[ids[src]], "person_id": person_of(f["rec_id"])})
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
            figures["plain_splink"] = plain_splink(plain or frames, root / "truth.csv")
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
