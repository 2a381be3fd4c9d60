"""Erasure as the data-protection officer must prove it, over several runs: whatever the identity layer did to the
person's customer before (a merge of two customer ids, a split), and whichever source holds their values (an activity
row pointing at their card), no value of theirs is left in any table of the warehouse or the copies, nor in any file
under the warehouse folder."""

from __future__ import annotations

import duckdb

from tests.hostile import (
    CRM_HEADER,
    FORGET_YAML,
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


def _crm(rows: list[str]) -> bytes:
    return ("\n".join([CRM_HEADER, *rows]) + "\n").encode("latin-1")


def _forgetting(root):
    return project(root, more_sources=FORGET_YAML, retention_days=36500)


def test_an_id_merged_into_a_customer_later_erased_keeps_no_value_in_the_history(tmp_path, cli_env):
    """Louis's shop account first holds another e-mail (two customers); a later export gives it his CRM e-mail and the
    two customers become one. The merged-away id's history versions (its old e-mail, his names) were not blanked when
    the survivor was erased; and the normalisation lookup forgot the staged version's values only, so the account's
    old e-mail stayed in staging.normalised_values."""
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


RECEIPTS_YAML = """
  - name: receipts
    channel: offline
    format: csv
    files: receipts/**/*.csv
    delimiter: ";"
    decimal: ","
    record_id: ticket
    date_formats: ["%d/%m/%Y"]
    person_ref: {source: crm, column: carte}
    activity:
      type: store_purchase
      occurred_at: date_achat
      amount: montant
"""


def test_receipts_pointing_at_an_erased_card_typed_with_spaces_keep_no_value_of_the_holder(tmp_path, cli_env):
    """Hugo's CRM export writes his card number ' C08 ' and till receipts name it ' C08 ' too, with columns the
    sources file does not map (the holder's name, a cashier's note with his phone). Staging trims record ids and
    references, so the receipts count for his customer; the purge compared the raw values as written and left his
    CRM row and those receipts whole after his erasure, and receipts sent after it too."""
    settings = project(tmp_path, more_sources=RECEIPTS_YAML + FORGET_YAML, retention_days=36500)
    raw = tmp_path / "raw"
    first, last, mail, tel, _ = person(8)
    rows = crm_rows()
    rows[8] = " " + rows[8].replace(";", " ;", 1)
    write(raw, "crm", day(-3), "export.csv", _crm(rows))
    header = "ticket;carte;date_achat;montant;porteur;note"
    receipts = [f"T{i};C{i:02d};01/11/2026;10,50;{person(i)[0]} {person(i)[1]};" for i in range(10) if i != 8]
    receipts += [f"T20; C08 ;02/11/2026;11,00;{first} {last};rappeler au {tel}", f"T21;C08;03/11/2026;12,50;{first};",
                 f"T21;C08;03/11/2026;12,00;{last};",  # a corrected receipt: the first version is quarantined
                 f";C08;03/11/2026;9,00;{first} {last};"]  # no ticket number: quarantined
    write(raw, "receipts", day(-3), "r.csv", ("\n".join([header, *receipts]) + "\n").encode())
    _run(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        card = customer_of(con, "crm", "C08")
        assert card and con.execute("SELECT count(*) FROM staging.activities a JOIN marts.customer_xref x ON "
                                    "x.source = a.person_source AND x.source_record_id = a.person_record_id "
                                    "WHERE x.customer_id = ?", [card]).fetchone()[0] == 2
    write(raw, "forget", day(-2), "requests.csv", f"request_id,email,requested_at\nR1,{mail},{day(-2)}\n".encode())
    _run(settings)
    theirs = (first.lower(), last.lower(), mail, tel, "+33" + tel[1:])
    assert values_left(settings, theirs) == {}
    write(raw, "receipts", day(-1), "r.csv", f"{header}\nT30; C08;04/11/2026;1,00;{first} {last};\n".encode())
    _run(settings)
    assert values_left(settings, theirs) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:  # the receipts themselves stay, as counted
        assert con.execute("SELECT ticket, montant, porteur FROM raw.receipts WHERE ticket IN ('T20', 'T30') "
                           "ORDER BY 1").fetchall() == [("T20", "11,00", None), ("T30", "1,00", None)]


def test_an_erased_persons_rows_that_belong_to_no_customer_of_theirs_are_scrubbed_too(tmp_path, cli_env):
    """Hugo's CRM row came without its id: quarantined, he is no customer. Léa's shop account S09 is handed over to
    Zoé (a new e-mail and name): its first version, Léa's, is quarantined as superseded and the account is Zoé's
    customer now. Both ask for erasure by their e-mail: the purge, which finds rows through the erased customers'
    records, never reached these rows, and their raw and quarantined values stayed."""
    settings = _forgetting(tmp_path)
    raw = tmp_path / "raw"
    rows = crm_rows()
    rows[8] = rows[8].replace("C08", "")
    write(raw, "crm", day(-3), "export.csv", _crm(rows))
    write(raw, "shop", day(-3), "accounts.jsonl", ("\n".join(shop_lines(range(9, 10)) + shop_lines(range(14, 17)))
                                                   + "\n").encode())
    _run(settings)
    hugo, lea = person(8), person(9)
    zoe = shop_lines(range(9, 10))[0].replace(lea[2], "zoe.roux.2@other.example").replace("Léa", "Zoé") \
        .replace("Moreau", "Roux")
    write(raw, "shop", day(-2), "accounts.jsonl", (zoe + "\n").encode())
    _run(settings)
    write(raw, "forget", day(-1), "requests.csv",
          f"request_id,email,requested_at\nR1,{hugo[2]},{day(-1)}\nR2,{lea[2].upper()},{day(-1)}\n".encode())
    _run(settings)
    assert values_left(settings, (*personal_values(8), lea[2], lea[3], "moreau")) == {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        zoes = customer_of(con, "shop", "S09")
        assert zoes in published_ids(settings)  # the account stays Zoé's, with her values
        assert con.execute("SELECT first_name, email FROM marts.customer_360 WHERE customer_id = ?",
                           [zoes]).fetchone() == ("Zoé", "zoe.roux.2@other.example")
    balanced(settings)
