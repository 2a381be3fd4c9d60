"""Erasure as the data-protection officer must prove it, over several runs: whatever the identity layer did to the
person's customer before (a merge of two customer ids, a split), and whichever source holds their values (an activity
row pointing at their card), no value of theirs is left in any table of the warehouse or the copies, nor in any file
under the warehouse folder."""

from __future__ import annotations

import duckdb

from tests.hostile import (
    FORGET_YAML,
    SOURCES_YAML,
    crm_rows,
    customer_of,
    day,
    person,
    project,
    shop_lines,
    values_left,
    write,
)
from tests.test_hostile_runs import _run

HEADER = "id;prenom;nom;email;tel;cp"


def _crm(rows: list[str]) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("latin-1")


def _forgetting(root):
    settings = project(root, retention_days=36500)
    settings.sources_file.write_text(SOURCES_YAML.format(shop="shop") + FORGET_YAML, encoding="utf-8")
    return settings


def test_an_erasure_forgets_the_values_of_every_version_of_the_records_not_only_the_newest(tmp_path, cli_env):
    """Claire's CRM record first holds one e-mail, then the CRM sends it with a new one; she asks for erasure by the
    new one. The normalisation lookup forgot the values of the staged (newest) version only: the old e-mail, which she
    could equally have asked by, stayed in staging.normalised_values."""
    settings = _forgetting(tmp_path)
    raw = tmp_path / "raw"
    write(raw, "crm", day(-3), "export.csv", _crm(crm_rows()))
    write(raw, "shop", day(-3), "accounts.jsonl", ("\n".join(shop_lines(range(14, 17))) + "\n").encode())
    _run(settings)
    write(raw, "crm", day(-2), "export.csv", _crm([crm_rows(changed=1)[1]]))
    _run(settings)
    first, last, mail, tel, _ = person(1)
    new_mail = mail.replace("@", ".new@")
    write(raw, "forget", day(-1), "requests.csv", f"request_id,email,requested_at\nR1,{new_mail},{day(-1)}\n".encode())
    _run(settings)
    assert values_left(settings, (first.lower(), last.lower(), mail, new_mail, tel, "+33" + tel[1:])) == {}


def test_an_id_merged_into_a_customer_later_erased_keeps_no_value_in_the_history(tmp_path, cli_env):
    """Louis's shop account first holds another e-mail (two customers); a later export gives it his CRM e-mail and the
    two customers become one. The merged-away id's history versions (its old e-mail, his names) were not blanked when
    the survivor was erased."""
    settings = _forgetting(tmp_path)
    raw = tmp_path / "raw"
    first, last, mail, _, _ = person(2)
    old_mail = "louis.d.shopper@other.example"
    write(raw, "crm", day(-3), "export.csv", _crm(crm_rows()))
    shop = [line.replace(mail, old_mail) for line in shop_lines(range(2, 3))] + shop_lines(range(11, 17))
    write(raw, "shop", day(-3), "accounts.jsonl", ("\n".join(shop) + "\n").encode())
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        apart = customer_of(con, "crm", "C02"), customer_of(con, "shop", "S02")
    assert apart[0] != apart[1]
    write(raw, "shop", day(-2), "accounts.jsonl", (shop_lines(range(2, 3))[0] + "\n").encode())
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        survivor = customer_of(con, "crm", "C02")
        assert survivor == customer_of(con, "shop", "S02")
        assert con.execute("SELECT count(DISTINCT customer_id) FROM marts.customer_history WHERE customer_id IN (?, ?)"
                           "", list(apart)).fetchone()[0] == 2
    write(raw, "forget", day(-1), "requests.csv", f"request_id,email,requested_at\nR1,{mail},{day(-1)}\n".encode())
    _run(settings)
    assert values_left(settings, (first.lower(), last.lower(), mail, old_mail, "0612345602", "+33612345602")) == {}
