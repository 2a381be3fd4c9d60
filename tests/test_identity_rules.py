"""The identity layer's own rules, called directly: the veto, constrained clustering, stable ids."""

from pipeline.identity.clustering import constrained_clusters
from pipeline.identity.evidence import PersonKey, conflict
from pipeline.identity.ids import assign_ids


def key(first, last="dupont", born=None, canonical=None):
    return PersonKey(first, canonical or first, last, born)


def test_typos_nicknames_swaps_and_date_typos_are_not_contrary_evidence():
    assert not conflict(key("sophie", born="1980-03-04"), key("sophei", born="1980-03-04"))
    assert not conflict(key("alex", canonical="alexandre"), key("alexandre"))
    assert not conflict(key("jean", "dupont"), key("dupont", "jean"))
    assert not conflict(key("jean"), key("jean pierre"))
    assert not conflict(key("jaen"), key("jean pierre")) and not conflict(key("jena pierre"), key("jean"))  # + typo
    assert not conflict(key("marie", born="1980-03-04"), key("marie", born="1980-04-03"))  # day/month swap
    assert not conflict(key("marie", born="1980-03-04"), key("marie", born="1981-03-04"))  # one digit
    assert not conflict(key("marie", born="1980-03-04"), key(None, born=None))  # nothing to contradict


def test_household_members_and_twins_conflict():
    assert conflict(key("pierre", born="1955-01-01"), key("monique", born="1957-06-12"))
    assert conflict(key("lucas", born="2001-05-05"), key("louis", born="2001-05-05"))  # twins
    assert conflict(key("jean", born="1950-02-10"), key("jean", born="1978-11-23"))  # father and son
    assert conflict(key("jean"), key("anne marie")) and conflict(key("jean paul"), key("jean pierre"))


def test_clustering_does_not_chain_through_a_shared_household_record():
    records = {"a": key("pierre", born="1955-01-01"), "b": key(None), "c": key("monique", born="1957-06-12")}
    clusters, refused = constrained_clusters(records, [("a", "b", 12.0), ("b", "c", 10.0)])
    assert clusters["a"] == clusters["b"] != clusters["c"] and refused == 1


def test_cannot_link_and_size_guard():
    records = {u: key("paul") for u in "abcd"}
    edges = [("a", "b", 9.0), ("c", "d", 9.0), ("b", "c", 8.0)]
    clusters, _ = constrained_clusters(records, edges, must_separate={frozenset(("a", "d"))})
    assert len({clusters["a"], clusters["c"]}) == 2
    clusters, refused = constrained_clusters(records, edges, max_size=2)
    assert len(set(clusters.values())) == 2 and refused == 1


def test_ids_are_stable_merges_and_splits_are_events():
    first = assign_ids({"r1": "x", "r2": "x", "r3": "y"}, previous={}, known_ids=set())
    assert {e["event"] for e in first.events} == {"new"} and len(first.new_ids) == 2
    again = assign_ids({"r1": "k1", "r2": "k1", "r3": "k2"}, previous=first.record_ids, known_ids=set(first.new_ids))
    assert again.record_ids == first.record_ids and again.events == []
    merged = assign_ids({"r1": "m", "r2": "m", "r3": "m"}, previous=first.record_ids, known_ids=set(first.new_ids))
    assert merged.record_ids["r3"] == first.record_ids["r1"]  # the majority's id survives
    kinds = sorted(e["event"] for e in merged.events)
    assert kinds == ["merge", "retire"]
    split = assign_ids({"r1": "s1", "r2": "s2", "r3": "y"}, previous=first.record_ids, known_ids=set(first.new_ids))
    assert sorted(e["event"] for e in split.events) == ["split", "split"] and len(split.new_ids) == 1
    assert first.record_ids["r1"] in {split.record_ids["r1"], split.record_ids["r2"]}


def test_short_name_typos_one_sided_swaps_and_shared_nicknames_are_not_contrary_evidence():
    assert not conflict(key("luc"), key("lzc"))
    assert not conflict(key("ana"), key("aa")) and not conflict(key("la"), key("lea"))  # a three-letter name, one dropped
    assert conflict(key("al"), key("ed"))  # two letters each: two names
    assert not conflict(key("enzo"), key("ewzo"))
    assert not conflict(PersonKey("cafarchia", "cafarchia", None, None), PersonKey("christian", "christian", "cafarchia", None))
    assert not conflict(key("tony", canonical="anthony"), key("antoine"))


def test_gender_variants_stay_two_people():
    assert conflict(key("louis"), key("louise"))
    assert conflict(key("daniel"), key("danielle"))
    assert conflict(key("jean"), key("jeanne"))


def test_ids_kept_or_issued_in_sql_are_those_assign_ids_gives_over_every_cluster(tmp_path):
    """Unchanged clusters keep their id and clusters no earlier id votes for get a new one in SQL; what is written
    (ids, events in their order) is what assign_ids gives over every cluster, also when a new id is taken already."""
    import random

    import duckdb
    import pandas as pd

    from pipeline.identity.ids import new_customer_id
    from pipeline.identity.resolve import save_ids, stable_ids
    from pipeline.warehouse import registered

    rng = random.Random(5)
    day_one = {f"r{i}": f"k{i // 3}" for i in range(300)}  # 100 clusters of three records
    # day two: most clusters unchanged, some merged, some split, records removed and added
    day_two = {u: k for u, k in day_one.items() if rng.random() > 0.03}
    for u in rng.sample(sorted(day_two), 20):
        day_two[u] = rng.choice(["k7", "k8", f"new-{u}"])
    day_two.update({f"n{i}": rng.choice(["k1", "k2", f"n{i}"]) for i in range(15)})
    for u in ("r150", "r151", "r152"):  # a customer whose records are all gone
        day_two.pop(u, None)
    # day three: two new clusters, the first one's new id already issued (the registry holds it): it is salted
    day_three = {**day_two, "z1": "z1", "z2": "z2", "z3": "z2"}
    # day four: a record split off its customer gets a new id in Python, whose first choice the registry holds: salted
    day_four = {**day_three, "r299": "s299"}
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA identity")
    results = []
    for clusters in (day_one, day_two, day_three, day_four):
        run = f"run{len(results)}"
        frame = pd.DataFrame({"unique_id": list(clusters), "cluster_key": list(clusters.values())})
        with registered(con, _clusters=frame):
            con.execute("CREATE OR REPLACE TABLE identity.clusters AS SELECT * FROM _clusters")
        if clusters is day_three:
            con.execute("INSERT INTO identity.id_registry VALUES (?, 'retired', 'old', now(), 'old', now())",
                        [new_customer_id("z1", set())])
        if clusters is day_four:
            con.execute("INSERT INTO identity.id_registry VALUES (?, 'retired', 'old', now(), 'old', now())",
                        [new_customer_id("r299", set())])
        previous = dict(con.execute("SELECT * FROM identity.record_customer").fetchall()) if results else {}
        known = {r[0] for r in con.execute("SELECT customer_id FROM identity.id_registry").fetchall()} if results else set()
        age = {c: i for i, (c,) in enumerate(con.execute(
            "SELECT customer_id FROM identity.id_registry ORDER BY created_at, customer_id").fetchall())} if results else {}
        everything = assign_ids(clusters, previous, known, age)  # every cluster through Python
        assignment = stable_ids(con)
        counts = save_ids(con, assignment, run_id=run)
        assert dict(con.execute("SELECT * FROM identity.record_customer").fetchall()) == everything.record_ids
        written = con.execute("SELECT event, old_ids, new_id FROM identity.id_events WHERE run_id = ?", [run]).fetchall()
        assert written == [(e["event"], e["old_ids"], e["new_id"]) for e in everything.events]
        assert counts["new_ids"] == len(everything.new_ids)
        results.append(assignment)
    assert results[0].record_ids == {}  # a first run: every id issued in SQL
    assert 0 < len(results[1].record_ids) < len(day_two) / 2  # most clusters kept or issued their id without Python
    assert {r[0] for r in con.execute("SELECT event FROM identity.id_events WHERE run_id = 'run1'").fetchall()} == {
        "new", "merge", "split", "retire"}
    assert new_customer_id("z1", set()) not in results[2].record_ids.values()  # salted, in Python
    assert set(results[2].record_ids) >= {"z1", "z2", "z3"}
    assert results[3].record_ids["r299"] in results[3].new_ids  # a new id, issued in Python
    assert new_customer_id("r299", set()) not in results[3].record_ids.values()  # salted, in Python


def test_evidence_shared_between_exclusive_alternatives():
    """A record without a first name matches two spouses equally (a family e-mail): neither link stays above the
    threshold. A match without a rival keeps it, and so does one whose rival is far weaker."""
    from pipeline.identity.clustering import outweighed_by_rivals

    records = {"x": key(None), "a": key("anne", born="1980-01-01"), "b": key("paul", born="1978-05-05"),
               "c": key("anne", born="1980-01-01"), "d": key("zoe"), "e": key(None)}
    edges = [("x", "a", 20.0), ("x", "b", 20.0), ("a", "c", 20.0), ("d", "e", 20.0)]
    # x is anne or paul: the evidence cannot tell; c may be x's person too, and d-e has no alternative.
    assert outweighed_by_rivals(edges, records, 0.8) == [True, True, False, False]
    assert outweighed_by_rivals([("x", "a", 20.0), ("x", "b", 5.0)], records, 0.8) == [False, True]  # a far likelier
    assert outweighed_by_rivals([("x", "a", 20.0), ("x", "b", 19.0)], records, 0.6) == [False, True]


def _names_read(rows: list[tuple]) -> dict[str, tuple]:
    """unique_id -> (first name, canonical, surname) the linkage input reads from staged (id, first name, surname,
    e-mail key) rows."""
    import duckdb

    from pipeline.identity.features import linkage_input_sql

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA staging")
        con.execute("""CREATE TABLE staging.person_records (source VARCHAR, source_record_id VARCHAR,
            first_name_norm VARCHAR, first_name_canonical VARCHAR, last_name_norm VARCHAR, birth_date DATE,
            email_key VARCHAR, phone VARCHAR, phone_kind VARCHAR, street_norm VARCHAR, postcode VARCHAR, city_norm VARCHAR)""")
        con.executemany("INSERT INTO staging.person_records (source, source_record_id, first_name_norm, "
                        "first_name_canonical, last_name_norm, email_key) VALUES ('s', ?, ?, ?, ?, ?)",
                        [(i, f, f, ln, m) for i, f, ln, m in rows])
        return {u: (f, c, ln) for u, f, c, ln in con.execute(
            f"SELECT unique_id, first_name, first_name_canonical, last_name FROM ({linkage_input_sql(placeholders=False)})"
        ).fetchall()}


def test_a_lone_name_the_data_use_as_a_surname_is_read_as_one():
    """'descamps' alone in the first-name field of a ticket is a surname there (the data hold it as a last name
    more often than as a first name): read so, it no longer contradicts the person's first name; a lone first name
    stays a first name, and a name given in both fields is never moved."""
    rows = [("1", "noemi", "descamps"), ("2", "noemi", "descamps"), ("3", "descamps", None), ("4", "noemi", None),
            ("6", "paul", "descamps"),
            ("5", "descamps", "noemi")]
    read = _names_read([(i, f, ln, None) for i, f, ln in rows])
    assert read["s:3"] == (None, None, "descamps")
    assert read["s:4"] == ("noemi", "noemi", None) and read["s:5"] == ("descamps", "descamps", "noemi")
    assert not conflict(key(*read["s:3"][::2]), key("noemi", "descamps"))


def test_a_mailbox_that_spells_a_name_gives_a_record_the_names_it_lacks():
    """A consent event with a first name and 'jean.dupont@...' is read as Jean Dupont: the mailbox's other word is the
    surname when the record's own first name (or its initial) explains one word, or, without a first name, when the
    data hold one word as a first name and the other as a surname (a one-word mailbox: its one cut so read). A household's
    'dupont.famille@', or another member's 'jean.dupont@', gives a member's record the household's surname (exactly one
    word the data hold as a surname); typed names are never replaced, and a word the data hold as a first name is no
    surname."""
    rows = [("1", "jean", "dupont", "jean.dupont@x.fr"), ("2", "marie", "dupont", None), ("3", "paul", "martin", None),
            ("4", "jean", None, "jean.dupont@x.fr"), ("5", "jean", None, "dupont.jean12@x.fr"),
            ("6", "jean", None, "j.dupont@x.fr"), ("7", "jean", None, "jeandupont@gmail.com"),
            ("8", "jean", None, "jdupont@x.fr"), ("9", None, None, "jean.dupont@x.fr"),
            ("10", "marie", None, "dupont.famille@x.fr"), ("11", None, None, "dupont.famille@x.fr"),
            ("12", "jean", None, "jean.marie@x.fr"), ("13", "jean", "durand", "jean.dupont@x.fr"),
            ("14", "marie", None, "jean.dupont@x.fr"), ("15", None, None, "paul.marie@x.fr"),
            ("16", None, None, "jeandupont@gmail.com"), ("17", None, None, "paulmarie@x.fr"),
            ("18", None, None, "jeanpierre@x.fr"), ("19", "marie", None, "martin.dupont@x.fr")]
    read = _names_read(rows)
    assert all(read[f"s:{i}"] == ("jean", "jean", "dupont") for i in (4, 5, 6, 7, 8, 9))
    assert read["s:10"] == ("marie", "marie", "dupont") and read["s:11"] == (None, None, None)  # a household's e-mail
    assert read["s:12"] == ("jean", "jean", None)  # 'marie' is a first name here, not a surname
    assert read["s:13"] == ("jean", "jean", "durand")  # a typed surname stays
    assert read["s:14"] == ("marie", "marie", "dupont")  # another member's mailbox: the household's surname
    assert read["s:19"] == ("marie", "marie", None)  # two words the data hold as surnames: which one is hers is unknown
    assert read["s:15"] == (None, None, None)  # two first names: no surname
    assert read["s:16"] == ("jean", "jean", "dupont")  # one word, no names typed: cut into a first name and a surname
    assert read["s:17"] == (None, None, None) and read["s:18"] == (None, None, None)  # no cut: no surname


def test_household_attachment_joins_the_one_member_of_that_first_name_and_learns_its_evidence(tmp_path):
    import duckdb
    import pandas as pd

    from pipeline.identity.household_attach import attach_household_fragments

    # (id, cluster, first name, surname, born, e-mail, street): two households sharing a family e-mail and an address
    rows = [("f1", "F", "bernard", "quesnel", "1956-04-12", "fam.q", "lilas"),
            ("f2", "F", "bernard", "quesnel", "1956-04-12", "bq", None),
            ("m1", "M", "monique", "quesnel", "1958-09-30", "fam.q", "lilas"),
            ("m2", "M", "monique", "quesnel", "1958-09-30", "mq", None),
            ("l1", "L", "lucas", "quesnel", "2001-06-15", "lq", "lilas"),
            ("t1", "T", "lucas", None, None, "fam.q", None),       # a family e-mail fragment: Lucas
            ("g1", "G1", "gerard", "fabre", "1950-03-08", "fam.f", "sala"),
            ("g2", "G1", "gerard", "fabre", "1950-03-08", "gf", None),
            ("h1", "G2", "gerard", "fabre", "1979-11-21", "fam.f", "sala"),
            ("h2", "G2", "gerard", "fabre", "1979-11-21", "gf79", None),
            ("t2", "T2", "gerard", None, None, "fam.f", None),      # father and son are both Gérard
            ("t3", "T3", "bernard", None, None, "solo", None)]      # an e-mail no one else holds: no household
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA identity")
        con.execute("""CREATE TABLE identity.linkage_input (unique_id VARCHAR, first_name VARCHAR,
            first_name_canonical VARCHAR, last_name VARCHAR, birth_date VARCHAR, email VARCHAR, mobile VARCHAR,
            landline VARCHAR, street VARCHAR, postcode VARCHAR)""")
        con.executemany("INSERT INTO identity.linkage_input VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                        [(u, f, f, s, b, e, st, "69003" if st else None) for u, _, f, s, b, e, st in rows])
        frame = pd.DataFrame({"unique_id": [r[0] for r in rows], "cluster_key": [r[1] for r in rows]})
        done = attach_household_fragments(con, frame, threshold=0.8, max_size=25)
        blocked = attach_household_fragments(con, frame, threshold=0.8, max_size=25, kept_apart={"t1"})
    moved = dict(zip(*done.frame.select(["unique_id", "cluster_key"]).to_pydict().values(), strict=True))
    # the evidence: the linked records holding a shared e-mail (f1, m1, g1, h1) read as fragments; the Fabres' name
    # picks two members (ambiguous), the Quesnel parents' picks their own cluster
    assert done.evidence == (2, 0, 2) and not done.unused
    assert moved["t1"] == "L" and moved["t2"] == "T2" and moved["t3"] == "T3"
    assert (done.attached, done.records, done.ambiguous) == (1, 1, 1)
    assert blocked.attached == 0  # a steward's cannot-link on the fragment: left alone
    assert "gerard" not in str(done.metadata()) and "fam." not in str(done.metadata())  # counts only


def test_a_record_its_source_deleted_comes_back_under_its_id_unless_it_joins_a_live_customer(tmp_path):
    """Day two retires customer A (both its records deleted at the source) and one record of B (B lives on); day
    three brings A's first record back alone (A's id again, a `reinstate` event), A's second into C (C's id), and B's
    record alone (a new id: B's id is still held)."""
    import duckdb
    import pandas as pd

    from pipeline.identity.resolve import save_ids, stable_ids
    from pipeline.staging import DELETED_REASON
    from pipeline.warehouse import registered

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA identity; CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.quarantine (source VARCHAR, source_record_id VARCHAR, reason VARCHAR)")

    def run(name: str, clusters: dict[str, str]) -> dict[str, str]:
        with registered(con, _clusters=pd.DataFrame({"unique_id": list(clusters), "cluster_key": list(clusters.values())})):
            con.execute("CREATE OR REPLACE TABLE identity.clusters AS SELECT * FROM _clusters")
        save_ids(con, stable_ids(con), run_id=name)
        return dict(con.execute("SELECT * FROM identity.record_customer").fetchall())

    first = run("one", {"crm:a1": "a", "crm:a2": "a", "crm:b1": "b", "crm:b2": "b", "crm:c1": "c"})
    con.executemany("INSERT INTO staging.quarantine VALUES ('crm', ?, ?)", [[r, DELETED_REASON] for r in ("a1", "a2", "b2")])
    run("two", {"crm:b1": "b", "crm:c1": "c"})
    assert con.execute("SELECT status FROM identity.id_registry WHERE customer_id = ?", [first["crm:a1"]]).fetchone() \
        == ("retired",)
    con.execute("DELETE FROM staging.quarantine")
    third = run("three", {"crm:a1": "a1", "crm:a2": "c", "crm:b1": "b", "crm:b2": "b2", "crm:c1": "c"})
    assert third["crm:a1"] == first["crm:a1"] and third["crm:a2"] == third["crm:c1"] == first["crm:c1"]
    assert third["crm:b1"] == first["crm:b1"] and third["crm:b2"] not in first.values()
    assert con.execute("SELECT event, old_ids FROM identity.id_events WHERE run_id = 'three' ORDER BY event").fetchall() \
        == [("new", []), ("reinstate", [first["crm:a1"]])]
    assert con.execute("SELECT status FROM identity.id_registry WHERE customer_id = ?", [first["crm:a1"]]).fetchone() \
        == ("active",)
    assert con.execute("SELECT count(*) FROM identity.departed_records").fetchone() == (0,)
