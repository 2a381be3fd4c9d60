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

from pipeline import runner
from pipeline.config import load_sources
from pipeline.staging import stage_source
from pipeline.staging_changes import TABLES, stage_changes
from pipeline.staging_lookup import KINDS, TABLE, NormalisedValues
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

    def map(self, kind, values, region=""):
        regions = region if isinstance(region, pd.Series) else pd.Series(region, index=values.index)
        return pd.Series([None if v is None else KINDS[kind](v, g) for v, g in zip(values, regions, strict=True)],
                         index=values.index, dtype=object)


def _tables(path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM staging.{t} ORDER BY ALL").df() for t in TABLES}


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
