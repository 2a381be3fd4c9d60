"""A source that writes a person's name in one column (`person.full_name`): split into given names, surname and
civility as people write it, linked and erased like any other name. Before the key, such a source could only map the
whole name as a surname (or not at all)."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipeline.config import SourcesFileError, load_sources
from pipeline.normalise.names import split_full_name
from tests.hostile import (
    CRM_HEADER,
    FORGET_YAML,
    SOURCES_YAML,
    crm_rows,
    customer_of,
    day,
    person,
    personal_values,
    project,
    values_left,
    write,
)
from tests.test_hostile_runs import _run


@pytest.mark.parametrize(("written", "family_first", "expected"), [
    ("Jean Dupont", False, ("Jean", "Dupont", None)),
    ("DUPONT Jean", False, ("Jean", "DUPONT", None)),  # the surname in capitals, wherever it stands
    ("Jean Pierre DUPONT", False, ("Jean Pierre", "DUPONT", None)),
    ("Dupont, Jean", False, ("Jean", "Dupont", None)),
    ("M. Jean Dupont", False, ("Jean", "Dupont", "M.")),
    ("Frau Dr. Anna Weber", False, ("Anna", "Weber", "Frau")),  # a title as its language writes it
    ("Dr. Emily O'Brien", False, ("Emily", "O'Brien", "Dr")),  # a title that says nothing of the sex is one too
    ("Mr & Mrs David Brown", False, ("David", "Brown", None)),  # a couple: no one person's civility
    ("Mr and Mrs Taylor", False, (None, "Taylor", None)),  # '& Mrs David', 'And Mrs' were first names
    ("M Dupont", False, ("M", "Dupont", None)),  # an initial, not Monsieur: a title's single letter has its dot
    ("Ludwig van Beethoven", False, ("Ludwig", "van Beethoven", None)),
    ("Jean de La Fontaine", False, ("Jean", "de La Fontaine", None)),
    ("Dupont", False, (None, "Dupont", None)),
    ("Yamada Taro", True, ("Taro", "Yamada", None)),
    ("van der Berg Anna", True, ("Anna", "van der Berg", None)),
    ("  ", False, (None, None, None)),
])
def test_a_full_name_is_split_as_it_is_written(written, family_first, expected):
    assert split_full_name(written, family_first) == expected


@pytest.mark.parametrize(("mapping", "message"), [
    ("full_name: nom\n      first_name: prenom", "map it instead of 'first_name' and 'last_name'"),
    ("full_name: {column: nom, order: surname_first}", "'person.full_name' must be"),
])
def test_a_full_name_mapped_wrongly_is_an_error_naming_the_source(tmp_path, mapping, message):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: crm\n    channel: offline\n    format: csv\n    files: crm/*.csv\n"
                    f"    record_id: id\n    person:\n      {mapping}\n", encoding="utf-8")
    with pytest.raises(SourcesFileError, match=rf"source 'crm'.*{message}"):
        load_sources(path)


def test_a_full_name_may_say_its_order(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: crm\n    channel: offline\n    format: csv\n    files: crm/*.csv\n"
                    "    record_id: id\n    person:\n      full_name: {column: shimei, order: family_first}\n",
                    encoding="utf-8")
    (source,) = load_sources(path)
    assert (source.person, source.name_order, source.mapped_columns) == ({"full_name": "shimei"}, "family_first",
                                                                         ["id", "shimei"])


def _shop_line(i: int, name: str) -> str:
    return json.dumps({"id": f"S{i:02d}", "name": name, "mail": person(i)[2], "updated": day(-30)}, ensure_ascii=False)


def test_a_source_writing_full_names_is_split_linked_and_erased(tmp_path, cli_env):
    settings = project(tmp_path)
    yaml = SOURCES_YAML.format(shop="shop").replace("      first_name: given\n      last_name: family\n",
                                                    "      full_name: name\n")
    settings.sources_file.write_text(yaml + FORGET_YAML, encoding="utf-8")
    raw = tmp_path / "raw"
    write(raw, "crm", day(-2), "export.csv", ("\n".join([CRM_HEADER, *crm_rows()]) + "\n").encode("latin-1"))
    habits = {0: "Jean Martin", 1: "Mme BERNARD Claire", 2: "Dubois, Louis", 3: "Sophie THOMAS",
              16: "Adam Bertrand"}  # 16: a shop-only person
    write(raw, "shop", day(-2), "accounts.jsonl",
          ("\n".join(_shop_line(i, name) for i, name in habits.items()) + "\n").encode("utf-8"))
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        staged = {r[0]: r[1:] for r in con.execute(
            "SELECT source_record_id, first_name, last_name, civility FROM staging.person_records "
            "WHERE source = 'shop'").fetchall()}
        linked = {i: customer_of(con, "shop", f"S{i:02d}") == customer_of(con, "crm", f"C{i:02d}") for i in range(4)}
        shop_only = con.execute("SELECT first_name, last_name FROM marts.customer_360 WHERE customer_id = ?",
                                [customer_of(con, "shop", "S16")]).fetchone()
    assert staged == {"S00": ("Jean", "Martin", None), "S01": ("Claire", "Bernard", "Mme"),
                      "S02": ("Louis", "Dubois", None), "S03": ("Sophie", "Thomas", None),
                      "S16": ("Adam", "Bertrand", None)}
    assert linked == {0: True, 1: True, 2: True, 3: True}
    assert shop_only == ("Adam", "Bertrand")

    # Claire asks to be forgotten: her full name goes from the shop's raw rows as her split names go everywhere.
    write(raw, "forget", day(-1), "requests.csv",
          f"request_id,requested_at,email\nR1,{day(-1)},{person(1)[2]}\n".encode())
    _run(settings)
    assert values_left(settings, personal_values(1)) == {}


def _levels(left: tuple[str, str], right: tuple[str, str]) -> tuple[tuple[str, bool], tuple[str, bool]]:
    """(label, is a null level) of the first-name and surname comparisons' levels a pair of (first, last) reaches."""
    from pipeline.identity import model

    row = {"first_name_l": left[0], "last_name_l": left[1], "first_name_r": right[0], "last_name_r": right[1],
           "first_name_canonical_l": left[0], "first_name_canonical_r": right[0]}
    found = []
    with duckdb.connect() as con:
        con.execute("CREATE TABLE p AS SELECT " + ", ".join(f"?::VARCHAR AS {c}" for c in row), list(row.values()))
        for comparison in (model._name("first_name", "last_name", True, whole_names=True),
                           model._name("last_name", "first_name", False, whole_names=True)):
            for level in comparison.get_comparison("duckdb").comparison_levels:
                if level.sql_condition == "ELSE" or \
                        con.execute(f"SELECT ({level.sql_condition}) IS TRUE FROM p").fetchone()[0]:
                    found.append((level.label_for_charts, level.is_null_level))
                    break
    return found[0], found[1]


@pytest.mark.parametrize("left, right", [
    (("maria garcia", "lopez"), ("maria", "garcia lopez")),      # 'Maria Garcia Lopez' / 'García López, María'
    (("garcia lopez", "maria garcia"), ("lopez", "maria")),        # never: both cut the same words
    (("garcia lopez", "maria"), ("maria garcia", "lopez")),       # 'GARCIA LOPEZ MARIA' / 'Maria Garcia Lopez'
    (("martin de la fuente", "saenz"), ("martin", "de la fuente saenz"))])
def test_a_whole_name_split_at_another_word_is_one_name(left, right):
    """A Spanish double surname in one column is split after its first word ('Maria Garcia Lopez': 'maria garcia' /
    'lopez'), another system keeps it apart ('maria' / 'garcia lopez'): compared as two names, both differed and the
    pair of one person scored 0.6-0.77 (bench/iberian_set.py). The whole name in either order is one name: the
    first-name comparison counts it, the surname's stays neutral; other words are not."""
    from pipeline.identity.model import WHOLE_NAME_LABEL

    first, last = _levels(left, right)
    if left == ("garcia lopez", "maria garcia"):
        assert first[0] != WHOLE_NAME_LABEL and last[0] != WHOLE_NAME_LABEL
        return
    assert first == (WHOLE_NAME_LABEL, False) and last == (WHOLE_NAME_LABEL, True)
    other = _levels(left, ("maria", "garcia fernandez"))  # another double surname: no whole-name level
    assert WHOLE_NAME_LABEL not in (other[0][0], other[1][0])


def test_the_whole_name_level_is_in_the_model_only_where_two_records_can_reach_it():
    """A level no pair reaches still takes M_FLOOR of its comparison's m: the demo's scores moved for no evidence.
    The level is in the model where two records' whole names read the same cut at different words."""
    import pyarrow as pa

    from pipeline.identity import link, recipe

    def reached(names: list[tuple[str, str]]) -> bool:
        records = pa.table({"first_name": [f for f, _ in names], "last_name": [s for _, s in names]})
        with duckdb.connect() as con:
            engine = link.DuckDBEngine(con)
            engine.put(records, "linkage_input")
            return recipe.whole_names_reached(engine)

    french = [("jean", "martin"), ("martin", "jean"), ("jean", "martin"), ("claire", "dupont")]  # a swap: its own level
    assert not reached(french)
    assert reached([*french, ("maria garcia", "lopez"), ("maria", "garcia lopez")])
    assert reached([*french, ("garcia lopez", "maria"), ("maria garcia", "lopez")])
