"""A name its systems spell with its letter, without the letter's marks, or in its language's ASCII spelling
(`Müller`, `MULLER`, `Mueller`) is one name to identity (pipeline/identity/spellings.py)."""

import duckdb

from pipeline.identity import spellings
from pipeline.identity.features import linkage_input_sql
from pipeline.normalise.address import normalise_city
from pipeline.normalise.names import display_form, match_form


def _read(rows: list[tuple]) -> tuple[dict[str, tuple], int]:
    """unique_id -> (first name, canonical, surname, city) the linkage input reads from staged (id, first name,
    surname, city) rows, and the spellings listed."""
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA staging")
        con.execute("CREATE SCHEMA identity")
        con.execute("""CREATE TABLE staging.person_records (source VARCHAR, source_record_id VARCHAR,
            first_name VARCHAR, first_name_norm VARCHAR, first_name_canonical VARCHAR, last_name VARCHAR,
            last_name_norm VARCHAR, birth_date DATE, email_key VARCHAR, phone VARCHAR, phone_kind VARCHAR,
            street_norm VARCHAR, postcode VARCHAR, city VARCHAR, city_norm VARCHAR)""")
        con.executemany("INSERT INTO staging.person_records (source, source_record_id, first_name, first_name_norm, "
                        "first_name_canonical, last_name, last_name_norm, city, city_norm) "
                        "VALUES ('s', ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(i, display_form(f), match_form(f), match_form(f), display_form(ln), match_form(ln),
                          display_form(c), normalise_city(c)) for i, f, ln, c in rows])
        listed = spellings.refresh(con)
        return {u: tuple(r) for u, *r in con.execute(
            "SELECT unique_id, first_name, first_name_canonical, last_name, city "
            f"FROM ({linkage_input_sql(placeholders=False, spelled=True)})").fetchall()}, listed


def test_a_name_spelled_without_its_umlaut_or_in_ascii_is_one_name():
    # `mueller` was another surname than `muller` (a typo level at best, blocked apart on every name prefix key),
    # `Müller-Lüdenscheidt` / `Mueller-Luedenscheidt` two edits apart, `Zürich` / `Zuerich` two cities.
    read, listed = _read([("1", "Jürgen", "Müller-Lüdenscheidt", "Zürich"), ("2", "Juergen", "Mueller-Luedenscheidt", "Zuerich"),
                          ("3", "JURGEN", "MULLER-LUDENSCHEIDT", "ZURICH"), ("4", "Søren", "Groß", "Köln"),
                          ("5", "Soeren", "Gross", "Koeln")])
    assert read["s:1"] == read["s:2"] == read["s:3"] == ("jurgen", "jurgen", "muller ludenscheidt", "zurich")
    assert read["s:4"] == read["s:5"] == ("soren", "soren", "gross", "koln")
    assert listed == 5  # juergen, mueller luedenscheidt, zuerich, soeren, koeln


def test_an_ascii_spelling_is_read_only_where_the_data_hold_the_letter():
    # `michael`, `manuel`, `joel` hold an `ae`, `ue`, `oe` that are no umlaut; `Mueller` alone is left as written.
    read, listed = _read([("1", "Michael", "Mueller", None), ("2", "Manuel", "Schroeder", None),
                          ("3", "Joel", "Goethe", None), ("4", "Michal", "Muller", None)])
    assert [read[f"s:{i}"][::2] for i in "1234"] == [("michael", "mueller"), ("manuel", "schroeder"),
                                                    ("joel", "goethe"), ("michal", "muller")]
    assert listed == 0


def test_customer_service_finds_a_name_typed_without_its_umlauts():
    # 'Juergen Weiss' and 'Hans Mueller' at their postcodes found no one: the surviving names hold 'ü' and 'ß'.
    from pipeline.marts.lookup import find_by_name

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.customer_360 AS SELECT * FROM (VALUES ('C1', 'Jürgen', 'Weiß', '8001', 'CH'), "
                    "('C2', 'Hans', 'Müller', '80331', 'DE'), ('C3', 'Anna', 'Müller', '80331', 'DE')) "
                    "t(customer_id, first_name, last_name, postcode, country)")
        for typed, postcode, found in (("Juergen Weiss", "CH-8001", ["C1"]), ("JURGEN WEISS", "8001", ["C1"]),
                                       ("Hans Mueller", "80331", ["C2"]), ("Müller, Hans", "D-80331", ["C2"]),
                                       ("Hans Muller", "80331", ["C2"]), ("Hanna Mueller", "80331", []),
                                       # the surname alone: each customer of that name there (it found no one)
                                       ("Mueller", "80331", ["C2", "C3"]), ("weiß", "8001", ["C1"]),
                                       ("Weiss", "80331", []), ("Hans", "80331", [])):
            assert find_by_name(con, typed, postcode) == found, typed


def test_a_country_written_without_its_umlaut_is_read():
    from pipeline.normalise.address import country_code

    assert [country_code(v) for v in ("Oesterreich", "Österreich", "Daenemark", "Tuerkei")] == ["AT", "AT", "DK", "TR"]
