"""Identity reads a record's further e-mails and phones (`more_contacts`, staging.person_contacts): a web-shop account
opened with the CRM card's work e-mail, or a loyalty card on its office mobile, each under a mistyped name, is the
card's person; a household member's card on the family landline the CRM card holds as a second phone stays apart
(the first names differ: the veto a shared own landline meets). On `main` only the pairs the names and the own
contacts link were found: 40 of the 120 true pairs."""

from __future__ import annotations

import itertools
import json

import duckdb

from assets.identity import PREDICTIONS
from pipeline.config import Settings
from pipeline.identity import link
from tests.conftest import materialise
from tests.further_contacts_data import SOURCES, write_base


def test_duplicates_sharing_only_a_further_contact_are_linked_and_a_household_landline_merges_no_one(tmp_path):
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=tmp_path / "raw", warehouse=tmp_path / "data" / "warehouse.duckdb",
                        sources_file=tmp_path / "sources.yaml", truth_file=None, retention_days=36500)
    truth = write_base(settings.raw_dir)
    materialise(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        customer = {f"{s}:{r}": c for s, r, c in con.execute(
            "SELECT source, source_record_id, customer_id FROM marts.customer_xref").fetchall()}
    pairs = list(itertools.combinations(sorted(truth), 2))
    true_pairs = {(a, b) for a, b in pairs if truth[a] == truth[b]}
    linked = {(a, b) for a, b in pairs if customer[a] == customer[b]}
    assert len(true_pairs) == 120
    assert linked - true_pairs == set()  # precision: no two people made one (the household cards among them)
    assert true_pairs - linked == set()  # recall: the work e-mail and the office mobile found their cards
    households = [uid for uid in truth if uid.startswith("loyalty:H")]
    assert households and all(sum(c == customer[h] for c in customer.values()) == 1 for h in households)

    # The next day a second account opens under a CRM card's work e-mail: the incremental run finds the card through
    # the exploded contact keys (link.blocked_with_sql), scoring it with the saved model.
    work = next(line.split(";")[5] for line in (settings.raw_dir / "crm" / "2026-11-25" / "crm.csv").read_text(
        encoding="utf-8").splitlines()[1:] if line.split(";")[5])
    card = next(line.split(";")[0] for line in (settings.raw_dir / "crm" / "2026-11-25" / "crm.csv").read_text(
        encoding="utf-8").splitlines()[1:] if line.split(";")[5] == work)
    (settings.raw_dir / "shop" / "2026-11-26").mkdir()
    (settings.raw_dir / "shop" / "2026-11-26" / "shop.csv").write_text(
        f"account,first_name,last_name,email\nS999,,,{work.upper()}\n", encoding="utf-8")
    result = materialise(settings)
    assert next(m.event_specific_data.materialization.metadata["linkage_mode"].value
                for m in result.get_asset_materialization_events() if m.asset_key == PREDICTIONS) == "incremental"
    with duckdb.connect(str(settings.warehouse)) as con:
        # the saved model's exploded rule read as a join on the keys: the card among the few records the new one
        # could pair with, not every record of the base
        rules = link._prediction_rules(json.loads(settings.model_path.read_text()))
        con.execute("CREATE TEMP TABLE changed_records AS SELECT * FROM identity.linkage_input "
                    "WHERE unique_id = 'shop:S999'")
        others = {r[0] for r in con.execute(
            f"SELECT unique_id FROM ({link.blocked_with_sql(rules, 'identity.linkage_input', 'changed_records')})"
        ).fetchall()}
        assert f"crm:{card}" in others and len(others) < 5
        new, old = (con.execute("SELECT customer_id FROM marts.customer_xref WHERE source = ? AND source_record_id = ?",
                                key).fetchone()[0] for key in (["shop", "S999"], ["crm", card]))
    assert new == old


def test_a_further_contact_on_every_record_is_over_the_blocking_budget(tmp_path):
    """A placeholder further value held by every record (a switchboard number) would pair them all: the exploded rule
    is left out as a single field over the budget is, and said."""
    import pyarrow as pa
    from splink import DuckDBAPI

    from pipeline.identity import blocking

    n = 400
    records = pa.table({"unique_id": [f"r{i}" for i in range(n)], "email": [f"p{i}@x.example" for i in range(n)],
                        "contact_keys": [["+33140000000"]] * n})
    with duckdb.connect() as con:
        con.register("records", records)
        plan = blocking.plan_blocking(DuckDBAPI(con), "records", records)
    assert "a further contact shared" not in plan.labels
    assert [o["field"] for o in plan.over_budget] == ["further contacts"]
