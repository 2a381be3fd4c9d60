"""A source's tombstone rows (its `deleted` key) through real runs: the record's newest version being a tombstone
retires the record from identity, the golden record and both published copies; the rows reconcile, counted apart;
a record delivered alive again comes back. Before the key existed, a tombstone holding values was staged as a live
record and one without values was quarantined as bad data, and the deleted customer stayed published."""

from __future__ import annotations

import duckdb
import pytest

from pipeline.config import SourcesFileError, load_sources
from pipeline.staging import DELETED_REASON
from tests.conftest import checks
from tests.hostile import (
    FORGET_YAML,
    QUARANTINED,
    SOURCES_YAML,
    balanced,
    crm_rows,
    customer_of,
    day,
    person,
    personal_values,
    project,
    published_ids,
    shop_lines,
    values_left,
    write,
)
from tests.test_hostile_runs import _run

HEADER = "id;prenom;nom;email;tel;cp;statut"
DELETED = "    deleted: {column: statut, values: [Supprimé, closed]}\n"


def _crm(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("latin-1")


def _tombstone_project(root):
    settings = project(root)
    text = SOURCES_YAML.format(shop="shop").replace("      postcode: cp\n", "      postcode: cp\n" + DELETED) \
        + "    deleted: {column: closed_at}\n"  # the shop: any date there is a deletion
    settings.sources_file.write_text(text, encoding="utf-8")
    return settings


def test_a_tombstone_retires_its_record_and_a_later_live_version_brings_it_back(tmp_path, cli_env):
    settings = _tombstone_project(tmp_path)
    raw = tmp_path / "raw"
    write(raw, "crm", day(-2), "export.csv", _crm([f"{r};actif" for r in crm_rows()]))
    write(raw, "shop", day(-2), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    results = _run(settings)
    assert all(c.passed for r in results for c in checks(r).values())  # live lines lack the shop's closed_at: fine
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        before = {r: customer_of(con, "crm", r) for r in ("C00", "C01", "C11", "C05")}
        shop_only = customer_of(con, "shop", "S16")
    assert len(set(before.values())) == 4 and set(before.values()) <= set(published_ids(settings))

    # Day -1, a delta export: C00 deleted with its values, C01 as a bare tombstone, C11 (whose person also holds the
    # shop account S11) closed; C05 changed, alive.
    rows = crm_rows(changed=5)
    write(raw, "crm", day(-1), "delta.csv", _crm([f"{rows[0]};SUPPRIMÉ ", "C01;;;;;;Supprimé",
                                                  f"{rows[11]};closed", f"{rows[5]};actif"]))
    # A JSON-lines delta of tombstones only: no person key on any line, and no renamed-key warning for it.
    write(raw, "shop", day(-1), "closed.jsonl", b'{"id": "S16", "closed_at": "2026-11-01"}\n')
    results = _run(settings)
    assert all(c.passed for r in results for c in checks(r).values())
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'crm' AND source_record_id "
                           "IN ('C00', 'C01', 'C11')").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM identity.linkage_input WHERE unique_id LIKE 'crm%' AND "
                           "(unique_id LIKE '%C00' OR unique_id LIKE '%C01' OR unique_id LIKE '%C11')"
                           ).fetchone()[0] == 0
        mart = {r[0]: r[1:] for r in con.execute("SELECT customer_id, first_name, email, phone FROM marts.customer_360"
                                                 ).fetchall()}
        retired = {r[0] for r in con.execute("SELECT unnest(old_ids) FROM identity.id_events WHERE event = 'retire'"
                                             ).fetchall()}
        kept = customer_of(con, "shop", "S11")
        crm = con.execute("SELECT raw_rows, quarantined_rows, superseded_rows, deleted_rows, quarantine_share "
                          "FROM marts.data_quality WHERE source = 'crm' ORDER BY measured_at DESC LIMIT 1").fetchone()
        reasons = con.execute("SELECT source_record_id, reason FROM staging.quarantine ORDER BY ALL").fetchall()
    gone = {before["C00"], before["C01"], shop_only}
    assert gone <= retired and not gone & set(mart) and not gone & set(published_ids(settings))
    # The customer who also holds a live shop account stays, with that record's values only (the CRM phone is gone).
    assert kept == before["C11"] and kept in published_ids(settings)
    first, _, mail, _, _ = person(11)
    assert mart[kept] == (first, mail, None)
    assert customer_of(duckdb.connect(str(settings.warehouse), read_only=True), "crm", "C05") == before["C05"]
    # 18 rows: 14 + 4; four older versions superseded, three tombstones counted apart; nothing is bad data.
    assert crm == (18, 7, 4, 3, 0.0), crm
    assert [r for r, why in reasons if why == DELETED_REASON] == ["C00", "C01", "C11", "S16"]
    balanced(settings)

    # Day 0: C00 delivered alive again comes back under the id it held (a new id broke every system that stored the
    # old one); the registry lists it active again and the run says so.
    write(raw, "crm", day(0), "again.csv", _crm([f"{rows[0]};actif"]))
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        back = customer_of(con, "crm", "C00")
        deleted_rows = con.execute("SELECT deleted_rows FROM marts.data_quality WHERE source = 'crm' "
                                   "ORDER BY measured_at DESC LIMIT 1").fetchone()[0]
        incremental = con.execute(QUARANTINED).fetchall()
        status = con.execute("SELECT status FROM identity.id_registry WHERE customer_id = ?", [back]).fetchone()
        reinstated = con.execute("SELECT old_ids FROM identity.id_events WHERE event = 'reinstate'").fetchall()
        history = con.execute("SELECT change, first_name FROM marts.customer_history WHERE customer_id = ? "
                              "ORDER BY version", [back]).fetchall()
    assert back == before["C00"] and back in published_ids(settings)
    assert status == ("active",) and reinstated == [([back],)]
    # Its history: the first version, the retirement (values blanked), then the values it came back with.
    assert [c for c, _ in history] == ["new", "retired", "update"] and history[1][1] is None and history[2][1]
    assert deleted_rows == 2  # C00's tombstone is now a superseded version
    balanced(settings)
    # A full restage sets the same rows apart, for the same reasons (an old version superseded on day -1 names the
    # version kept then, as incremental staging always did; a full restage names the newest).
    _run(settings, full_refresh=True)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute(QUARANTINED).fetchall() == incremental
        assert customer_of(con, "crm", "C00") and not customer_of(con, "crm", "C01")


@pytest.mark.parametrize(("spec", "message"), [
    ("deleted: statut", "'deleted' needs a 'column'"),
    ("deleted: {column: statut, values: deleted}", "'deleted.values' must be a list"),
    ("deleted: {column: statut, value: [x]}", "'deleted' needs a 'column'"),
    ("deleted: {column: email}", "'deleted.column' 'email' is a person field's column"),
])
def test_a_bad_deleted_key_names_the_source_and_key(tmp_path, spec, message):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES_YAML.format(shop="shop").replace("      postcode: cp\n", f"      postcode: cp\n    {spec}\n"),
                    encoding="utf-8")
    with pytest.raises(SourcesFileError, match=f"source 'crm': {message}"):
        load_sources(path)


def test_an_erasure_after_a_tombstone_scrubs_the_retired_record_too_and_a_full_restage_keeps_it_retired(tmp_path,
                                                                                                     cli_env):
    """Théo has a CRM record (name, e-mail, phone, postcode) and a shop account (same e-mail); Louis has a CRM record
    only. The CRM deletes both their records on day -2; on day -1 both ask for erasure by their e-mail. A retired record
    belongs to no customer, so the erasure, which finds what to scrub through customers' records, left its values in
    raw.crm, staging.quarantine and the normalisation lookup, and Louis's customer, who left with his record, kept
    them in marts.customer_history (both copies): a source's deletion is scrubbed as data minimisation, the tombstone
    and its flag kept."""
    settings = _tombstone_project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text(encoding="utf-8") + FORGET_YAML,
                                     encoding="utf-8")
    raw = tmp_path / "raw"
    write(raw, "crm", day(-3), "export.csv", _crm([f"{r};actif" for r in crm_rows()]))
    write(raw, "shop", day(-3), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    _run(settings)
    theirs = tuple(v for i in (12, 2) for v in personal_values(i))
    mail, louis_mail = person(12)[2], person(2)[2]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        customer = customer_of(con, "crm", "C12")
        assert customer and customer == customer_of(con, "shop", "S12")

    write(raw, "crm", day(-2), "delta.csv", _crm(["C12;;;;;;closed", "C02;;;;;;closed"]))
    _run(settings)
    write(raw, "forget", day(-1), "requests.csv", f"request_id,email,requested_at\nR1,{mail.upper()},{day(-1)}\n"
          f"R2,{louis_mail},{day(-1)}\n".encode())
    results = _run(settings)
    assert all(c.passed for r in results for c in checks(r).values())
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT reason FROM golden.excluded_customers WHERE customer_id = ?",
                           [customer]).fetchall() == [("erased",)]
        # The tombstone and the record id stay: what proves the record was deleted, and what a restage reads.
        assert con.execute("SELECT id, statut FROM raw.crm WHERE id = 'C12' ORDER BY _file").fetchall() == [
            ("C12", "actif"), ("C12", "closed")]
        kinds = con.execute("SELECT split_part(reason, ';', 1) FROM staging.quarantine WHERE source_record_id = "
                            "'C12' ORDER BY _file").fetchall()
        assert kinds == [("duplicate record id",), (DELETED_REASON,)]  # counted as they were, not as purged
        assert con.execute("SELECT deleted_rows FROM marts.data_quality WHERE source = 'crm' "
                           "ORDER BY measured_at DESC LIMIT 1").fetchone()[0] == 2
    balanced(settings)

    # A full restage and re-link read the scrubbed rows: the record stays retired, nothing comes back.
    results = _run(settings, full_refresh=True)
    assert all(c.passed for r in results for c in checks(r).values())
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert not customer_of(con, "crm", "C12")
        assert con.execute("SELECT split_part(reason, ';', 1) FROM staging.quarantine WHERE source_record_id = "
                           "'C12' ORDER BY _file").fetchall() == kinds
    balanced(settings)

    # A day later the CRM sends the record alive again: it is back, and erased at once by the registered e-mail.
    write(raw, "crm", day(0), "again.csv", _crm([f"{crm_rows()[12]};actif"]))
    _run(settings)
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        back = customer_of(con, "crm", "C12")
        assert back and con.execute("SELECT reason FROM golden.excluded_customers WHERE customer_id = ?",
                                    [back]).fetchall() == [("erased",)]
    assert back not in published_ids(settings)
    balanced(settings)
