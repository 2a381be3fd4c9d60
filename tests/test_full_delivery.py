"""A full delivery (`delivery: full`: each drop day's files hold every live record of the source) through real runs:
a record the newest export omits was deleted at the source, and leaves identity, the golden record and both
published copies; an export that holds no record (a failed one) retires nothing; the record delivered again comes
back; the rows reconcile, counted apart as deleted; a full restage sets the same rows apart. Before the key, a CRM
that deletes by omitting a record from its nightly export kept that person published for ever."""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pytest

from pipeline.config import SourcesFileError, load_sources
from pipeline.staging import ABSENT_REASON
from tests.hostile import (
    CRM_HEADER,
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


def _full_crm_project(root):
    settings = project(root)
    text = SOURCES_YAML.format(shop="shop").replace("    record_id: id\n", "    record_id: id\n    delivery: full\n", 1)
    settings.sources_file.write_text(text, encoding="utf-8")
    assert [s.delivery for s in load_sources(settings.sources_file)] == ["full", "delta"]
    return settings


def _export(rows: list[str]) -> bytes:
    return ("\n".join([CRM_HEADER, *rows]) + "\n").encode("latin-1")


def _staging_summary(results) -> str:
    """What the staging step's metadata says of the CRM (changes_by_source)."""
    return next(e.materialization.metadata["changes_by_source"].value["crm"] for r in results
                for e in r.get_asset_materialization_events() if e.asset_key.path[-1] == "person_records")


def _crm_quality(con) -> tuple:
    return con.execute("SELECT raw_rows, quarantined_rows, superseded_rows, deleted_rows, quarantine_share "
                       "FROM marts.data_quality WHERE source = 'crm' ORDER BY measured_at DESC LIMIT 1").fetchone()


def test_a_record_the_newest_full_export_omits_is_retired_and_comes_back_when_delivered_again(tmp_path, cli_env):
    settings = _full_crm_project(tmp_path)
    raw = tmp_path / "raw"
    rows = crm_rows()
    write(raw, "crm", day(-5), "export.csv", _export(rows))
    write(raw, "shop", day(-5), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        before = {r: customer_of(con, "crm", r) for r in ("C00", "C05", "C11")}
    assert len(set(before.values())) == 3 and set(before.values()) <= published_ids(settings)

    # Day -4: the nightly export without C00 (a CRM-only person) and C11 (whose person also holds shop account S11).
    write(raw, "crm", day(-4), "export.csv", _export([r for r in rows if r[:3] not in ("C00", "C11")]))
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.person_records WHERE source = 'crm' AND source_record_id "
                           "IN ('C00', 'C11')").fetchone()[0] == 0
        mart = {r[0]: r[1:] for r in con.execute("SELECT customer_id, first_name, email, phone FROM marts.customer_360"
                                                 ).fetchall()}
        kept = customer_of(con, "shop", "S11")
        same = customer_of(con, "crm", "C05")
        # 26 rows (14 + 12): the 12 re-sent records' day -5 versions superseded, C00 and C11's last versions retired.
        assert _crm_quality(con) == (26, 14, 12, 2, 0.0)
        reasons = con.execute("SELECT source_record_id FROM staging.quarantine WHERE reason = ? ORDER BY 1",
                              [ABSENT_REASON]).fetchall()
    assert reasons == [("C00",), ("C11",)]
    assert before["C00"] not in mart and before["C00"] not in published_ids(settings)
    # The customer who also holds a live shop account stays, with that record's values only (the CRM phone is gone).
    first, _, mail, _, _ = person(11)
    assert kept == before["C11"] and mart[kept] == (first, mail, None) and kept in published_ids(settings)
    assert same == before["C05"]
    balanced(settings)

    # Day -3: a failed export (the header alone) is no deletion of every record; nor is one cut short (5 of 12).
    write(raw, "crm", day(-3), "export.csv", _export([]))
    write(raw, "crm", day(-3), "export_2.csv", _export([r for r in rows if r[:3] not in ("C00", "C11")][:5]))
    summary = _staging_summary(_run(settings))
    assert f"its full export of {day(-3)} holds 5 records against 12 in the one of {day(-4)}" in summary
    assert "read as incomplete" in summary
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert _crm_quality(con)[3] == 2
        assert customer_of(con, "crm", "C05") == before["C05"]
    # Day -2: cut short again (6 records): measured against the last export believed (12), not the one before it.
    write(raw, "crm", day(-2), "export.csv", _export([r for r in rows if r[:3] not in ("C00", "C11")][:6]))
    assert f"holds 6 records against 12 in the one of {day(-4)}" in _staging_summary(_run(settings))
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert _crm_quality(con)[3] == 2

    # Day -1: C00 is in the export again and comes back under the id it held (returning.py); C11 stays away.
    write(raw, "crm", day(-1), "export.csv", _export([r for r in rows if r[:3] != "C11"]))
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        back = customer_of(con, "crm", "C00")
        assert _crm_quality(con)[3] == 1  # C00's retired version is now a superseded one
        assert not customer_of(con, "crm", "C11") and customer_of(con, "crm", "C05") == before["C05"]
        incremental = con.execute(QUARANTINED).fetchall()
    assert back == before["C00"] and back in published_ids(settings)
    balanced(settings)
    # A full restage sets the same rows apart, for the same reasons.
    _run(settings, full_refresh=True)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute(QUARANTINED).fetchall() == incremental
        assert customer_of(con, "crm", "C00") == back and not customer_of(con, "crm", "C11")

    # Day 0: the CRM really deleted five records (8 of 13 left): doubted, until the operator lets it through once.
    write(raw, "crm", day(0), "export.csv", _export([r for r in rows if r[:3] != "C11"][:8]))
    assert "holds 8 records against 13" in _staging_summary(_run(settings))
    _run(replace(settings, max_shrink=1.0))
    assert "read as incomplete" not in _staging_summary(_run(settings))  # believed for good
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert _crm_quality(con)[3] == 6
        assert customer_of(con, "crm", "C07") and not customer_of(con, "crm", "C08")
    balanced(settings)


@pytest.mark.parametrize(("spec", "message"), [
    ("delivery: snapshot", "delivery must be one of"),
    ("delivery: full\n    purpose: erasure", "an erasure source cannot be a full delivery"),
])
def test_a_bad_delivery_key_names_the_source(tmp_path, spec, message):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES_YAML.format(shop="shop").replace("    record_id: id\n", f"    record_id: id\n    {spec}\n", 1),
                    encoding="utf-8")
    with pytest.raises(SourcesFileError, match=f"source 'crm': {message}"):
        load_sources(path)


def test_an_erasure_after_a_full_export_omitted_a_record_leaves_none_of_its_values(tmp_path, cli_env):
    """Théo has a CRM record and a shop account (same e-mail); Louis has a CRM record only. The CRM's full export of day
    -2 omits both records; on day -1 both ask for erasure by their e-mail. A retired record belongs to no customer, so
    only the data minimisation of retired records (golden/purge.py) reaches its values in raw.crm, staging.quarantine and
    the normalisation lookup, and Louis's history: none is left, and a full restage keeps both records retired."""
    settings = _full_crm_project(tmp_path)
    settings.sources_file.write_text(settings.sources_file.read_text(encoding="utf-8") + FORGET_YAML,
                                     encoding="utf-8")
    raw, rows = tmp_path / "raw", crm_rows()
    write(raw, "crm", day(-3), "export.csv", _export(rows))
    write(raw, "shop", day(-3), "accounts.jsonl", ("\n".join(shop_lines(range(11, 17))) + "\n").encode())
    _run(settings)
    theirs = tuple(v for i in (12, 2) for v in personal_values(i))
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        customer = customer_of(con, "crm", "C12")
        assert customer and customer == customer_of(con, "shop", "S12")

    write(raw, "crm", day(-2), "export.csv", _export([r for r in rows if r[:3] not in ("C02", "C12")]))
    _run(settings)
    write(raw, "forget", day(-1), "requests.csv", f"request_id,email,requested_at\nR1,{person(12)[2]},{day(-1)}\n"
          f"R2,{person(2)[2]},{day(-1)}\n".encode())
    _run(settings)
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT reason FROM golden.excluded_customers WHERE customer_id = ?",
                           [customer]).fetchall() == [("erased",)]
        assert con.execute("SELECT source_record_id FROM staging.quarantine WHERE reason = ? ORDER BY 1",
                           [ABSENT_REASON]).fetchall() == [("C02",), ("C12",)]  # counted as they were, not as purged
        assert _crm_quality(con)[3] == 2
    balanced(settings)

    # A full restage and re-link read the scrubbed rows: both records stay retired, nothing comes back.
    _run(settings, full_refresh=True)
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert not customer_of(con, "crm", "C12") and not customer_of(con, "crm", "C02")
        assert _crm_quality(con)[3] == 2
    balanced(settings)
