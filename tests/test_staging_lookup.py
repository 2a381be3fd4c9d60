"""The persisted normalisation lookup (pipeline/staging_lookup.py) stages exactly what normalising every value
with the libraries stages, on a demo at a seed never tuned on and on hostile values, and a value normalised once
is read back on a later run instead of normalised again."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date

import duckdb
import pandas as pd
import phonenumbers
import pytest

from assets import runner
from pipeline.config import load_sources
from pipeline.normalise.values import parse_birth_date, parse_birth_dates
from pipeline.staging import stage_source
from pipeline.staging_changes import TABLES, stage_changes
from pipeline.staging_lookup import KINDS, TABLE, WIDTHS, NormalisedValues
from tests.conftest import demo_settings

TODAY = date(2026, 11, 26)

HOSTILE_EMAILS = [
    "A.B@Example.COM", "a..b@x.com", ".a@x.com", "a.@x.com", "a@x..com", "a@-x.com", "a@x-.com", "a@x.local",
    "a@foo.test", "a@xn--abc.com", "a@xn--bcher-kva.com", "a b@x.com", "é@x.fr", "a@x.c", "a@1.com", "x" * 65 + "@x.com",
    "a@" + "b" * 64 + ".com", "a+tag@gmail.com", "a@localhost", "a@b", "@x.com", "a@", "a@@b.com", "Ａ@x.com",
    "K@x.com", "jean_dupont-2@sub.orange.fr", "o'brien@x.ie", "a@x.com\t", "=HYPERLINK(\"x\")@x.com", "a@x.onion",
    "a@my.arpa", "a@x.invalid", "a@192.168.0.1", "a@[192.168.0.1]", "\"quoted\"@x.com", "a@x.museum",
]
HOSTILE_PHONES = [
    "06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78", "+33 6 12 34 56 78", "0033612345678", "0033 6 12 34 56 78",
    "+33 (0)6 12 34 56 78", "06 12", "12345678901234567890", "abc", "+1 650 253 0000", "0612345678 ext 12", "+",
    "0", "00", "++33612345678", "06..12.34.56.78", "-0612345678", "01 42 68 53 00", "09 70 12 34 56",
    "08 00 12 34 56", "3615", "+32 2 555 12 12", "02 555 12 12", "044 668 18 00", "+44 20 7946 0958", "٠٦١٢٣٤٥٦٧٨",
    "06 12 34 56 7", "07 00 00 00 00", "+33612345678", "0612345678",
]


def _direct(kind: str, values: list[str], region: str) -> list:
    return [KINDS[kind](v, region) for v in values]


@pytest.mark.parametrize("region", ["FR", "BE", "CH", "GB"])
def test_sql_rules_and_digit_strings_give_the_libraries_results_on_hostile_values(region):
    for kind, values in (("email", HOSTILE_EMAILS), ("phone", HOSTILE_PHONES)):
        got = NormalisedValues().map(kind, pd.Series(values, dtype=object), region).tolist()
        assert got == _direct(kind, values, region), kind


def _random_phones(region: str, n: int, seed: int) -> list[str]:
    """Digit strings in the shapes SQL decides and next to them: national prefix or not, +code, 00code, the
    wrong code, separators, every length from 6 to 13 digits."""
    import random

    rng = random.Random(seed)
    code = str(phonenumbers.country_code_for_region(region))
    values = []
    for _ in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 13)))
        shape = rng.randrange(6)
        value = ["0" + digits, "+" + code + digits, "00" + code + digits, digits, "+" + code + "0" + digits,
                 "+33" + digits if code != "33" else "+32" + digits][shape]
        if rng.random() < 0.3:
            value = " ".join(value[i:i + 2] for i in range(0, len(value), 2))
        values.append(value)
    return values


@pytest.mark.parametrize("region", ["FR", "BE", "CH", "DE", "ES", "IT", "LU", "GB", "US"])
def test_phones_decided_in_sql_are_the_librarys_on_random_digit_strings(region):
    """The SQL written from libphonenumber's metadata (pipeline/staging_rules.py) gives the library's result on
    every value, including the ones it leaves to the library (another code, a national prefix written as a
    pattern, a code shared by several regions)."""
    values = _random_phones(region, 3000, seed=len(region) * 7919 + ord(region[0]))
    lookup = NormalisedValues()
    got = lookup.map("phone", pd.Series(values, dtype=object), region).tolist()
    assert got == _direct("phone", values, region)
    assert sum(r[1] for r in got) > 100  # valid numbers were among them, so SQL had work to do


class _Direct(NormalisedValues):
    """Today's definition: every distinct value through the library functions, nothing kept."""

    def columns(self, kind, values, region=""):
        regions = region if isinstance(region, pd.Series) else pd.Series(region, index=values.index)
        results = [None if v is None else KINDS[kind](v, g) for v, g in zip(values, regions, strict=True)]
        return [pd.Series([None if r is None else r[part] for r in results], index=values.index, dtype=object)
                for part in range(WIDTHS[kind])]


def _tables(path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'staging'").fetchall()}
        return {t: con.execute(f"SELECT * FROM staging.{t} ORDER BY ALL").df() for t in TABLES if t in present}


@pytest.fixture(scope="module")
def raw_demo(tmp_path_factory):
    """A demo at a seed never tuned on, loaded into raw by real Dagster materialisation (no staging yet)."""
    root = tmp_path_factory.mktemp("lookup")
    settings = demo_settings(root, 250, seed=23)
    for result in runner.run(settings, layers=("raw",)):
        assert result.success
    return settings


def test_staged_tables_are_those_of_normalising_every_value_and_a_later_run_normalises_nothing(raw_demo, tmp_path):
    sources = load_sources(raw_demo.sources_file)
    reference, cached = tmp_path / "reference.duckdb", tmp_path / "cached.duckdb"
    shutil.copy(raw_demo.warehouse, reference)
    shutil.copy(raw_demo.warehouse, cached)

    with duckdb.connect(str(reference)) as con:  # every value through the libraries, as staging did before
        con.execute("CREATE SCHEMA IF NOT EXISTS staging")
        for source in sources:
            raw = con.execute(f"SELECT * FROM raw.{source.name} ORDER BY _file, _line").df()
            staged = stage_source(source, raw, TODAY, _Direct())
            for table, (attr, types) in TABLES.items():
                frame = getattr(staged, attr)
                if frame is None or not len(frame):
                    continue
                frame = frame.reindex(columns=list(types))
                cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in types.items())
                con.register("_f", frame)
                exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'staging' "
                                     "AND table_name = ?", [table]).fetchall()[0][0]
                verb = f"INSERT INTO staging.{table}" if exists else f"CREATE TABLE staging.{table} AS"
                con.execute(f"{verb} SELECT {cols} FROM _f")
                con.unregister("_f")

    with duckdb.connect(str(cached)) as con:  # first run: an empty lookup, filled as values are normalised
        stage_changes(con, sources, TODAY)
        first = con.execute(f"SELECT kind, count(*) FROM {TABLE} GROUP BY ALL").fetchall()
    assert dict(first).keys() == {"name", "email", "phone", "street", "city"}
    expected = _tables(reference)
    got = _tables(cached)
    for table, frame in expected.items():
        if table in got and len(frame):
            pd.testing.assert_frame_equal(got[table], frame, check_dtype=False, obj=table)

    with duckdb.connect(str(cached)) as con:  # staging rebuilt from raw: every value is read back from the lookup
        for table in (*TABLES, "staged_files"):
            con.execute(f"DROP TABLE staging.{table}")
        stage_changes(con, sources, TODAY)
        second = con.execute(f"SELECT kind, count(*) FROM {TABLE} GROUP BY ALL").fetchall()
    assert sorted(second) == sorted(first)  # nothing normalised twice
    again = _tables(cached)
    for table, frame in got.items():
        pd.testing.assert_frame_equal(again[table], frame, check_dtype=False, obj=table)


def test_lookup_reads_back_instead_of_normalising(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA staging")
        first = NormalisedValues(con)
        phones = pd.Series(["06 12 34 56 78", None, "06.12.34.56.78", "garbage"], dtype=object)
        a = first.map("phone", phones, "FR")
        first.save()
        second = NormalisedValues(con)
        b = second.map("phone", phones, "FR")
        assert a.tolist() == b.tolist() and a[1] is None and a[0][0] == "+33612345678"
        assert (first.computed, first.reused, second.computed, second.reused) == (3, 0, 0, 3)
        # another region is another key: the same digits may be another number there
        assert NormalisedValues(con).map("phone", phones, "BE")[0] != a[0]



def test_values_staged_by_older_normalisation_code_are_normalised_again(small_project):
    """A lookup row or a staged row written by older code ('Strauß' read as 'strau', before letters Unicode does
    not decompose were spelt out) is never served once the code changed: the lookup is keyed by the code's version,
    and a source staged under another version is restaged from its raw rows."""
    for result in runner.run(small_project, layers=("raw",)):
        assert result.success
    sources = load_sources(small_project.sources_file)
    with duckdb.connect(str(small_project.warehouse)) as con:
        stage_changes(con, sources, TODAY)
        con.execute(f"""INSERT INTO {TABLE} VALUES ('name', '', 'Strauß', 'older-code', '[null, "Strau", "strau"]'),
                        ('name', '', 'Durand', 'older-code', '[null, "Durand", "durnd"]')""")
        assert NormalisedValues(con).map("name", pd.Series(["Strauß"], dtype=object))[0][2] == "strauss"
        fresh = con.execute("SELECT source_record_id, last_name_norm FROM staging.person_records ORDER BY 1").fetchall()
        assert ("A1", "durand") in fresh
        # What a warehouse staged by the older code holds: its forms, under the fingerprint that code wrote (of the
        # mapping alone, as every release before the normalisation version was part of it).
        con.execute("UPDATE staging.person_records SET last_name_norm = 'durnd' WHERE last_name_norm = 'durand'")
        for source in sources:
            con.execute("UPDATE staging.staged_files SET fingerprint = ? WHERE source = ?",
                        [hashlib.sha256(repr(source).encode()).hexdigest()[:16], source.name])
        changes = stage_changes(con, sources, TODAY)
        assert {c.mode for c in changes} == {"full"}
        assert con.execute("SELECT source_record_id, last_name_norm FROM staging.person_records ORDER BY 1"
                           ).fetchall() == fresh
        assert {c.mode for c in stage_changes(con, sources, TODAY)} == {"none"}  # today's code: nothing restaged


# A hostile mix for the staged tables: what SQL decides (plain ASCII streets, e-mails, phones of the common shapes,
# birth dates written in the first format) beside what it must leave to Python, in every column at once.
HOSTILE_STREETS = [
    "12 bis rue", "12bis RUE", "12 BISTRO", "3ter, av. X", "1 ter_b", "__", "a_b_c", "12_A bd", "-", "r.", "BD",
    "bd. st michel", "7\tbis", "é 12 rue", "12 rue\x00x", "5ter-b", "5 terrain", "5 bis1", "99 _bd_", "1bis2ter",
    "12  bis  r", "BIS 12", "N°12 rue", "12, rue de l'Église", "Hauptstraße 1", "Ⅻ rue", "rue ２", "ALL.", "12/14 bd",
    "(12) rue", "bd bd bd", "rue\u00a0de la Paix", "=SUM(A1)", "  12   avenue   Foch  ", "Шевченка 5",
    "Hauptstr. 5", "Marktpl. 3", "12 Pl. du Marché", "Am Str 2", "12 bisé rue", "3 TERÀ", "5é ÉGLISE", "rue Zoë_Ève",
    "Ølsen vej 2", "12 ÀV. FOCH", "bd Ÿves", "ÿ",
]
HOSTILE_BIRTH_DATES = [
    "02/01/1990", "2/1/1990", "1990-01-02", "1990-1-2", "31/02/1990", "01/01/1899", "01/01/1900", "27/11/2026",
    "26/11/2026", "0990-01-02", "02/01/90", "1990-01-02T10:00:00", "not a date", "02/01/1990 12:00", "٠٢/٠١/١٩٩٠",
]
HOSTILE_NAMES = ["Jean", "JEAN-PIERRE", "o'brien", "Lévêque", "Strauß", "Иванов", "007", "J3an", "=cmd", "王小明",
                 "Marie  Thérèse", "ÉLODIE", "d'Artagnan", "\x00", "Ⅻ", "Zoë", "ﬁfi", "Anne_Sophie", "-", "A"]
HOSTILE_SOURCE = """
sources:
  - name: hostile
    channel: offline
    format: csv
    files: hostile/*.csv
    trust_rank: 1
    record_id: id
    date_formats: ['%d/%m/%Y', '%Y-%m-%d']
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      email: email
      phone: tel
      street: rue
      postcode: cp
      city: ville
      country: pays
"""


def test_a_hostile_mix_is_staged_as_by_the_libraries_value_by_value(tmp_path):
    """stage_source with the lookup (SQL for what it decides, the libraries once per distinct value for the rest) gives
    the staged tables of every value through the library functions, row by row."""
    path = tmp_path / "sources.yaml"
    path.write_text(HOSTILE_SOURCE, encoding="utf-8")
    source, = load_sources(path)
    columns = {"prenom": HOSTILE_NAMES, "nom": HOSTILE_NAMES[::-1], "naissance": HOSTILE_BIRTH_DATES,
               "email": HOSTILE_EMAILS, "tel": HOSTILE_PHONES, "rue": HOSTILE_STREETS, "ville": HOSTILE_STREETS[::-1],
               "cp": ["75001", "1000", " 750 01", "ABC", "1234567"], "pays": ["FR", "Belgique", "", "ch", "xx", "DE"]}
    n = 3 * max(len(v) for v in columns.values())
    values = {c: [None if (i + k) % 11 == 0 else ("  " if (i + k) % 13 == 0 else v[(i * (k + 1)) % len(v)])
                  for i in range(n)] for k, (c, v) in enumerate(columns.items())}
    frame = pd.DataFrame({"id": [f"H{i}" for i in range(n)], **values, "_file": "hostile/a.csv",
                          "_line": range(2, n + 2), "_error": None, "_raw": None, "_drop": "2026-11-20"}, dtype=object)
    frame["_line"] = frame["_line"].astype("int64")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA staging")
        lookup = NormalisedValues(con)
        bulk = stage_source(source, frame, TODAY, lookup)
        lookup.save()
        again = stage_source(source, frame, TODAY, NormalisedValues(con))  # every value read back from the lookup
    direct = stage_source(source, frame, TODAY, _Direct())
    assert len(direct.persons) > 100 and direct.field_issues["field"].nunique() >= 5
    for attr in ("persons", "field_issues", "quarantine"):
        pd.testing.assert_frame_equal(getattr(bulk, attr), getattr(direct, attr), obj=attr)
        pd.testing.assert_frame_equal(getattr(again, attr), getattr(direct, attr), obj=attr)


@pytest.mark.parametrize("formats", [("%d/%m/%Y", "%Y-%m-%d"), ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"), ("%Y%m%d",),
                                     ("%d %b %Y",)])
def test_birth_dates_decided_in_sql_are_those_parsed_one_by_one(formats):
    values = HOSTILE_BIRTH_DATES + ["19900102", "02 Jan 1990", "1990-01-02 ", "2026-11-26", "2026-11-27"]
    assert parse_birth_dates(values, formats, TODAY) == [parse_birth_date(v, formats, TODAY) for v in values]


def test_street_abbreviations_are_staged_in_the_language_of_each_records_country(tmp_path):
    """Staging reads a street's abbreviations in the language of the record's country (its own, or the source's
    default): 'Pl.' is a Platz in a German address and a place in a French one of the same source, and the lookup
    keys each reading by that country."""
    (tmp_path / "s.yaml").write_text("""
defaults: {format: csv, channel: offline, country: DE}
sources:
  - name: kunden
    files: kunden/*.csv
    record_id: id
    person: {first_name: vorname, last_name: name, street: strasse, postcode: plz, country: land}
""", encoding="utf-8")
    source = load_sources(tmp_path / "s.yaml")[0]
    raw = pd.DataFrame({"id": ["1", "2", "3", "4"], "vorname": ["Jörg", "Jörg", "Anne", "Anne"],
                        "name": ["Köhler", "Köhler", "Roux", "Roux"],
                        "strasse": ["Marktpl. 3", "Marktplatz 3", "2 Pl. du Marché", "2 place du Marché"],
                        "plz": ["10115", "10115", "69003", "69003"], "land": ["", "DE", "FR", "France"],
                        "_file": ["f"] * 4, "_line": [1, 2, 3, 4], "_raw": [None] * 4, "_error": [None] * 4})
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA staging")
        lookup = NormalisedValues(con)
        persons = stage_source(source, raw, TODAY, lookup).persons
        lookup.save()
        keyed = con.execute(f"SELECT region, raw FROM {TABLE} WHERE kind = 'street' ORDER BY ALL").fetchall()
    assert persons["street_norm"].tolist() == ["marktplatz 3", "marktplatz 3", "2 place du marche", "2 place du marche"]
    assert persons["country"].tolist() == ["DE", "DE", "FR", "FR"]
    assert keyed == [("DE", "Marktpl. 3"), ("DE", "Marktplatz 3"), ("FR", "2 Pl. du Marché"), ("FR", "2 place du Marché")]
