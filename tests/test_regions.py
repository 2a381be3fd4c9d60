"""A customer's region is read from its postcode in its own country, and marketing's summary splits by country.

Until 2026-11-29 regions were French départements only and `marts.segment_summary` had no country: a brand selling
in France and Germany saw its German customers as one 'unknown' region among the French ones, their revenue mixed
into every French segment's row."""

from __future__ import annotations

import duckdb

from pipeline.config import Settings
from tests.conftest import materialise

SOURCES = """
sources:
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    record_id: id
    person: {first_name: prenom, last_name: nom, email: email, street: rue, postcode: cp, city: ville, country: pays}
"""
PEOPLE = [("C1", "Anne", "Moreau", "anne.moreau@example.fr", "12 rue Oberkampf", "75011", "Paris", "France"),
          ("C2", "Paul", "Hoarau", "paul.hoarau@example.fr", "3 rue de Paris", "97411", "Saint-Paul", "FR"),
          # Leipzig's 04109 is no Alpes-de-Haute-Provence, nor Karlsruhe's 75015 Paris
          ("C3", "Jonas", "Weber", "jonas.weber@example.de", "Markt 1", "04109", "Leipzig", "Deutschland"),
          ("C4", "Lena", "Fischer", "lena.fischer@example.de", "Kaiserstr. 5", "75015", "Bretten", "DE")]


def test_a_region_comes_from_the_postcode_in_the_customers_own_country_and_the_summary_splits_by_country(tmp_path):
    raw = tmp_path / "raw"
    (raw / "crm" / "2026-10-05").mkdir(parents=True)
    (raw / "crm" / "2026-10-05" / "c.csv").write_text("id,prenom,nom,email,rue,cp,ville,pays\n" + "".join(
        ",".join(p) + "\n" for p in PEOPLE), encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=raw, warehouse=tmp_path / "warehouse.duckdb", sources_file=tmp_path / "sources.yaml",
                        truth_file=None, as_of="2026-11-01", retention_days=36500)
    materialise(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        regions = dict(con.execute("SELECT email, region FROM marts.customer_360").fetchall())
    with duckdb.connect(str(settings.published), read_only=True) as con:  # what marketing reads
        summary = con.execute("SELECT country, region, sum(customers) FROM marts.segment_summary "
                              "GROUP BY ALL ORDER BY ALL").fetchall()
    assert regions == {"anne.moreau@example.fr": "Île-de-France", "paul.hoarau@example.fr": "Outre-mer",
                       "jonas.weber@example.de": None, "lena.fischer@example.de": None}
    assert summary == [("DE", "unknown", 2), ("FR", "Outre-mer", 1), ("FR", "Île-de-France", 1)]
