"""Identity resolution through real Splink and Dagster on a small generated demo plus hand-made people.

The hand-made household shares address, landline and surname: father, mother, and twins born the same
day. Each person has two records in different sources; the parents' loyalty cards carry their family e-mail, and a
ticket carries that e-mail alone (it matches both parents, who can never be one person: it links to neither).
Marie Martin's two records share nothing strong; a later ticket carrying both her e-mail and her mobile bridges
them (a merge). Ivan Ivanov's web account is written in Cyrillic, his loyalty card in Latin letters: only the
transliterated name and the birth date join them. Household-resolved attachment: a ticket with a first name and the
family e-mail only the parents' cards hold joins the one member of that name (a twin); in the Fabre household father
and son share their first name, so a ticket with that name and their family e-mail joins neither; a ticket whose
e-mail nobody else holds stays alone."""

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.config import BUNDLED_SOURCES, Settings
from pipeline.demo import generate_demo
from tests.conftest import materialise

DAY1, DAY2 = "2026-11-24", "2026-11-25"
HOME = {"street": "14 rue des Lilas", "zip": "69003", "city": "Lyon", "country": "FR"}
FAMILY = [  # (key, first, last, born, e-mail, mobile)
    ("father", "Bernard", "Quesnel", "1956-04-12", "bernard.quesnel@orange.fr", "0611223344"),
    ("mother", "Monique", "Quesnel", "1958-09-30", "monique.quesnel@free.fr", "0622334455"),
    ("twin1", "Lucas", "Quesnel", "2001-06-15", "lucas.quesnel@gmail.com", "0633445566"),
    ("twin2", "Louis", "Quesnel", "2001-06-15", "louis.quesnel@gmail.com", "0644556677"),
]
LANDLINE = "04 78 12 34 56"
FAMILY_EMAIL = "famille.quesnel@orange.fr"  # on the parents' cards, and alone on a ticket
NAMESAKES = [  # father and son of one name in one household, their family e-mail on both cards
    ("father", "Gérard", "Fabre", "1950-03-08", "g.fabre@wanadoo.fr", "0655443322"),
    ("son", "Gérard", "Fabre", "1979-11-21", "gerard.fabre79@gmail.com", "0666554433"),
]
FABRE_HOME = {"street": "5 rue Sala", "zip": "69002", "city": "Lyon", "country": "FR"}
FABRE_EMAIL = "fabre.famille@wanadoo.fr"


def _append(raw: Path, source: str, day: str, name: str, text: str, encoding: str = "utf-8") -> None:
    folder = raw / source / day
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "a", encoding=encoding) as f:
        f.write(text)


def _write_family(raw: Path) -> None:
    accounts, cards = [], ["num_carte;civilite;nom;prenom;date_naissance;email;telephone;adresse;code_postal;"
                           "ville;magasin;date_adhesion;solde_points;date_maj"]
    for key, people, family_email, home, landline in (("FAM", FAMILY, FAMILY_EMAIL, HOME, LANDLINE),
                                                      ("FAB", NAMESAKES, FABRE_EMAIL, FABRE_HOME, "04 72 00 11 22")):
        for i, (_, first, last, born, mail, mobile) in enumerate(people, 1):
            accounts.append(json.dumps({"account_id": f"A{key}{i}", "created_at": f"2025-01-0{i}T10:00:00",
                                        "updated_at": f"2025-01-0{i}T10:00:00", "email": mail, "first_name": first,
                                        "last_name": last, "birth_date": born, "phone": landline, "address": home}))
            d, shared = born.split("-"), family_email if i <= 2 else ""
            cards.append(f"29{key}{i};M.;{last.upper()};{first};{d[2]}/{d[1]}/{d[0]};{shared};{mobile};"
                         f"{home['street']};{home['zip']};{home['city'].upper()};MAG001;01/02/2025;10,00;01/02/2025")
    # Marie Martin: a web account with her e-mail only, a loyalty card with her mobile and an older address.
    accounts.append(json.dumps({"account_id": "AMM1", "created_at": "2024-03-01T10:00:00",
                                "updated_at": "2024-03-01T10:00:00", "email": "mm.reveuse@laposte.net",
                                "first_name": "Marie", "last_name": "Martin", "birth_date": None, "phone": None,
                                "address": {"street": "3 place Bellecour", "zip": "69002", "city": "Lyon"}}))
    # (within the retention period: a card unseen for 3 years would be purged, nothing left to bridge)
    cards.append("29MM1;Mme;MARTIN;Marie;07/07/1977;;06 55 66 77 88;8 av. Jean Jaurès;33000;BORDEAUX;MAG002;"
                 "01/02/2024;5,00;01/02/2024")
    # Ivan Ivanov: a web account written in Cyrillic, a loyalty card in Latin letters; they share only the birth date.
    accounts.append(json.dumps({"account_id": "AIV1", "created_at": "2025-03-01T10:00:00",
                                "updated_at": "2025-03-01T10:00:00", "email": "ivan.i@example.ru",
                                "first_name": "Иван", "last_name": "Иванов", "birth_date": "1983-05-17", "phone": None,
                                "address": {"street": "ул. Тверская, 7", "zip": "125009", "city": "Москва",
                                            "country": "RU"}}, ensure_ascii=False))
    cards.append("29IV1;M.;IVANOV;Ivan;17/05/1983;;06 77 88 99 00;2 rue Oberkampf;75011;PARIS;MAG001;"
                 "01/02/2025;0,00;01/02/2025")
    _append(raw, "ecommerce_accounts", DAY1, "extra.jsonl", "\n".join(accounts) + "\n")
    _append(raw, "loyalty_cards", DAY1, "extra.csv", "\n".join(cards) + "\n", "latin-1")
    tickets = {"TKFAM": {"email": FAMILY_EMAIL}, "TKLUC": {"first_name": "Lucas", "email": FAMILY_EMAIL},
               "TKGER": {"first_name": "Gérard", "email": FABRE_EMAIL},
               "TKSOLO": {"first_name": "Bernard", "email": "b.solitaire@example.org"}}
    _append(raw, "cs_tickets", DAY1, "extra.jsonl", "".join(json.dumps({
        "ticket_id": ticket, "opened_at": "2025-02-03T09:00:00", "status": "closed", "category": "question",
        "customer": customer}) + "\n" for ticket, customer in tickets.items()))


def _customers(settings: Settings) -> dict[str, str]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return {f"{s}:{r}": c for s, r, c in con.execute(
            "SELECT source, source_record_id, customer_id FROM marts.customer_xref").fetchall()}


@pytest.fixture(scope="module")
def project_run(tmp_path_factory):
    """(settings, the run's result) of the demo with the hand-made people."""
    root = tmp_path_factory.mktemp("identity")
    generate_demo(600, seed=11, raw_dir=root / "raw", truth_path=root / "truth.csv")
    _write_family(root / "raw")
    settings = Settings(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                        truth_file=root / "truth.csv")
    return settings, materialise(settings)


@pytest.fixture(scope="module")
def project(project_run) -> Settings:
    return project_run[0]


def test_each_persons_records_merge_across_sources(project):
    ids = _customers(project)
    for i, (who, *_rest) in enumerate(FAMILY, 1):
        assert ids[f"ecommerce_accounts:AFAM{i}"] == ids[f"loyalty_cards:29FAM{i}"], who


def test_a_name_written_in_cyrillic_links_to_the_same_name_in_latin_letters(project):
    ids = _customers(project)
    assert ids["ecommerce_accounts:AIV1"] == ids["loyalty_cards:29IV1"]
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        assert con.execute("SELECT first_name, last_name FROM staging.person_records WHERE source_record_id = 'AIV1'"
                           ).fetchall() == [("Иван", "Иванов")]  # people read the name as it was written


def test_household_members_and_twins_stay_apart(project):
    ids = _customers(project)
    family_ids = [ids[f"ecommerce_accounts:AFAM{i}"] for i in range(1, len(FAMILY) + 1)]
    assert len(set(family_ids)) == len(FAMILY)


def test_a_record_matching_both_parents_through_their_family_email_links_to_neither(project_run):
    project, run = project_run
    ids = _customers(project)
    father, mother, ticket = (ids["loyalty_cards:29FAM1"], ids["loyalty_cards:29FAM2"], ids["cs_tickets:TKFAM"])
    assert len({father, mother, ticket}) == 3
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        scores = [p for (p,) in con.execute("""SELECT match_probability FROM identity.pairwise_predictions
            WHERE 'cs_tickets:TKFAM' IN (unique_id_l, unique_id_r) AND NOT contrary_evidence
              AND 'loyalty_cards:29FAM1' IN (unique_id_l, unique_id_r)
               OR 'cs_tickets:TKFAM' IN (unique_id_l, unique_id_r) AND NOT contrary_evidence
              AND 'loyalty_cards:29FAM2' IN (unique_id_l, unique_id_r)""").fetchall()]
    assert len(scores) == 2 and min(scores) >= project.linkage.threshold  # the score alone would link it
    clusters = next(e.event_specific_data.materialization.metadata for e in run.get_asset_materialization_events()
                    if e.asset_key.path == ["identity", "clusters"])
    assert clusters["pairs_outweighed_by_rivals"].value >= 2  # what the operator sees of it


def test_the_pairs_an_exclusive_alternative_outweighs_reach_the_stewards(project):
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        queued = {frozenset(p) for p in con.execute("""SELECT unique_id_l, unique_id_r FROM identity.review_queue
            WHERE item = 'outweighed_pair'""").fetchall()}
        outweighed = {frozenset(p) for p in con.execute("SELECT * FROM identity.outweighed_pairs").fetchall()}
    parents = {frozenset(("cs_tickets:TKFAM", f"loyalty_cards:29FAM{i}")) for i in (1, 2)}
    assert parents <= outweighed and parents <= queued


def test_a_fragment_with_a_first_name_and_the_family_email_joins_the_one_member_of_that_name(project_run):
    project, run = project_run
    ids = _customers(project)
    assert ids["cs_tickets:TKLUC"] == ids["ecommerce_accounts:AFAM3"]  # Lucas, though only his parents hold the e-mail
    assert ids["cs_tickets:TKLUC"] != ids["ecommerce_accounts:AFAM4"]  # not his twin Louis
    clusters = next(e.event_specific_data.materialization.metadata for e in run.get_asset_materialization_events()
                    if e.asset_key.path == ["identity", "clusters"])
    assert clusters["household_fragments_attached"].value >= 1
    assert clusters["household_evidence_precision"].value >= project.linkage.threshold


def test_namesakes_of_one_household_and_a_fragment_without_household_are_not_attached(project_run):
    project, run = project_run
    ids = _customers(project)
    father, son = ids["ecommerce_accounts:AFAB1"], ids["ecommerce_accounts:AFAB2"]
    assert father == ids["loyalty_cards:29FAB1"] and son == ids["loyalty_cards:29FAB2"] and father != son
    assert ids["cs_tickets:TKGER"] not in {father, son}  # both are Gérard: the first name cannot choose
    assert sum(c == ids["cs_tickets:TKSOLO"] for c in ids.values()) == 1  # no household: alone
    clusters = next(e.event_specific_data.materialization.metadata for e in run.get_asset_materialization_events()
                    if e.asset_key.path == ["identity", "clusters"])
    assert clusters["household_fragments_ambiguous"].value >= 1


def test_generated_demo_is_resolved_well(project):
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        precision, recall = con.execute("SELECT pairwise_precision, pairwise_recall FROM identity.linkage_quality "
                                        "ORDER BY measured_at DESC LIMIT 1").fetchall()[0]
    # Small data trains a rougher model than the 20k demo (README); these are floors, not targets.
    assert precision >= 0.97 and recall >= 0.85


def test_a_new_record_joins_and_a_bridge_merges_keeping_an_old_id(project):
    # (an unchanged re-run keeps every id and logs no id event: test_operations, on the shared demo)
    before = _customers(project)
    assert before["ecommerce_accounts:AMM1"] != before["loyalty_cards:29MM1"]  # nothing links them yet

    ticket = lambda tid, first, mail, phone: json.dumps({  # noqa: E731
        "ticket_id": tid, "opened_at": "2026-11-25T09:00:00", "closed_at": None, "status": "open",
        "category": "complaint", "customer": {"first_name": first, "last_name": "Quesnel" if first != "Marie"
                                              else "Martin", "email": mail, "phone": phone}})
    _append(project.raw_dir, "cs_tickets", DAY2, "new.jsonl", "\n".join([
        ticket("TNEW1", "Bernard", "bernard.quesnel@orange.fr", None),
        ticket("TNEW2", "Marie", "MM.Reveuse@laposte.net", "+33655667788")]) + "\n")
    materialise(project)
    after = _customers(project)
    assert after["cs_tickets:TNEW1"] == before["ecommerce_accounts:AFAM1"]  # joins the father
    assert after["cs_tickets:TKLUC"] == before["cs_tickets:TKLUC"] == after["ecommerce_accounts:AFAM3"]  # still attached
    merged = after["cs_tickets:TNEW2"]
    assert after["ecommerce_accounts:AMM1"] == after["loyalty_cards:29MM1"] == merged
    assert merged in {before["ecommerce_accounts:AMM1"], before["loyalty_cards:29MM1"]}  # an old id survives
    unchanged = [k for k in before if before[k] != after[k] and not k.endswith(("AMM1", "29MM1"))]
    assert len(unchanged) <= len(before) // 100, f"{len(unchanged)} other records changed customer"
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        merges = con.execute("SELECT old_ids, new_id FROM identity.id_events WHERE event = 'merge' AND new_id = ?",
                             [merged]).fetchall()
    assert merges and sorted(merges[0][0]) == sorted({before["ecommerce_accounts:AMM1"], before["loyalty_cards:29MM1"]})


def test_explain_writes_the_waterfall_chart_of_a_customer(project, tmp_path):
    from assets.cli import main

    customer = _customers(project)["ecommerce_accounts:AFAM1"]
    out = tmp_path / "why.html"
    # the id as an agent types it from a call (in lower case: "found 0 records" until 2026-11-29)
    assert main(["explain", f" {customer.lower()}", "--warehouse", str(project.warehouse), "--out", str(out)]) == 0
    html = out.read_text()
    assert "vega" in html.lower() and "cdn.jsdelivr" not in html and "first_name" in html  # offline chart
    assert main(["explain", "--pair", "ecommerce_accounts:AFAM3", "ecommerce_accounts:AFAM4",
                 "--warehouse", str(project.warehouse), "--out", str(tmp_path / "twins.html")]) == 0


def test_threshold_sweep_measures_the_pipelines_own_clustering(project):
    """bench/threshold_sweep.py at the run's threshold finds the run's own clusters (exclusive alternatives, learned
    vetoes, household attachment included), measured against the truth file."""
    import importlib.util
    from collections import Counter

    path = Path(__file__).resolve().parent.parent / "bench" / "threshold_sweep.py"
    spec = importlib.util.spec_from_file_location("threshold_sweep", path)
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    # The sweep reads the warehouse as it is now: after the first run's purge scrubbed the customers retention excludes,
    # whose records the first run's clustering still read (three ticket fragments attach differently at this seed). A
    # rerun clusters that same state, so the test does not depend on an earlier test having run the pipeline again.
    materialise(project)
    (row,) = sweep.sweep(str(project.warehouse), str(project.truth_file), [project.linkage.threshold])
    with duckdb.connect(str(project.warehouse), read_only=True) as con:
        clusters = dict(con.execute("SELECT unique_id, cluster_key FROM identity.clusters").fetchall())
    person = dict(pd.read_csv(project.truth_file, dtype=str).pipe(
        lambda t: zip(t["source"] + ":" + t["source_record_id"], t["person_id"], strict=True)))
    scored = [u for u in clusters if u in person]
    tp = sweep.pair_count(Counter((clusters[u], person[u]) for u in scored))
    assert row["precision"] == round(tp / sweep.pair_count(Counter(clusters[u] for u in scored)), 4)
    assert row["recall"] == round(tp / sweep.pair_count(Counter(person[u] for u in scored)), 4)
