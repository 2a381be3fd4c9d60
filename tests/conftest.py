"""Shared fixtures: tiny hand-written source drops and a Settings pointing at a temporary warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Settings

SOURCES_YAML = """
sources:
  - name: shop_accounts
    channel: online
    format: jsonl
    files: shop_accounts/**/*.jsonl
    trust_rank: 1
    record_id: id
    updated_at: updated
    date_formats: ["%Y-%m-%d"]
    person:
      first_name: given
      last_name: family
      birth_date: born
      email: mail
      phone: tel
      street: address.street
      postcode: address.zip
      city: address.city
  - name: store_cards
    channel: offline
    format: csv
    files: store_cards/**/*.csv
    encoding: latin-1
    delimiter: ";"
    decimal: ","
    trust_rank: 2
    record_id: carte
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      phone: tel
    activity:
      type: loyalty_enrolment
      occurred_at: adhesion
      amount: points
  - name: newsletter
    channel: online
    format: csv
    files: newsletter/**/*.csv
    record_id: event_id
    date_formats: ["%Y-%m-%d %H:%M:%S"]
    person:
      email: email
    activity:
      type: consent
      occurred_at: at
      consent_channel: channel
      consent_action: action
"""


def write_drop(raw: Path, day: str = "2026-11-20") -> None:
    accounts = [
        {"id": "A1", "given": "Élodie", "family": "DURAND", "born": "1985-03-04", "mail": "Elodie.Durand@Gmail.com",
         "tel": "06 12 34 56 78", "updated": "2026-01-02",
         "address": {"street": "12 bd Haussmann", "zip": "75009", "city": "Paris"}},
        {"id": "A2", "given": "Marc", "family": "Petit", "born": "1979-02-31", "mail": "not-an-email",
         "tel": "12", "address": {"street": "3 av. Foch", "zip": "1000", "city": "Bourg"}},
    ]
    lines = [json.dumps(a, ensure_ascii=False) for a in accounts] + ['{"id": "A3", "given": "Trunc']
    (raw / "shop_accounts" / day).mkdir(parents=True)
    (raw / "shop_accounts" / day / "accounts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cards = ("carte;prenom;nom;naissance;tel;adhesion;points\n"
             "C1;Élodie;DURAND;04/03/1985;0612345678;01/06/2020;125,50\n"
             "C2;François;LEFÈVRE;31/02/1990;01 42 68 53 00;02/06/2020;3,00\n"
             "C3;Paul;MARTIN;01/01/1970\n"
             ";Anne;NOIR;01/01/1980;;03/06/2020;0\n")
    (raw / "store_cards" / day).mkdir(parents=True)
    (raw / "store_cards" / day / "cards.csv").write_bytes(cards.encode("latin-1"))
    news = ("event_id,email,channel,action,at\n"
            "N1,elodie.durand@gmail.com,email,opt_in,2024-01-01 10:00:00\n"
            "N2,elodie.durand@gmail.com,email,opt_out,2025-01-01 10:00:00\n"
            "N3,x@y.fr,email,maybe,2025-01-01 10:00:00\n")
    (raw / "newsletter" / day).mkdir(parents=True)
    (raw / "newsletter" / day / "events.csv").write_text(news, encoding="utf-8")


@pytest.fixture
def small_project(tmp_path: Path) -> Settings:
    raw = tmp_path / "raw"
    write_drop(raw)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    return Settings(raw_dir=raw, warehouse=tmp_path / "warehouse.duckdb", sources_file=sources, truth_file=None)


def materialise(settings: Settings, **options):
    """Load the changed drop days and refresh everything, as `customer360 run` does; fail the test on any
    failure. Returns the final run's result."""
    from pipeline import runner

    results = runner.run(settings, **options)
    for result in results:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return results[-1]


def demo_settings(root: Path, persons: int, seed: int, **overrides) -> Settings:
    """Generate a small demo under root and return Settings for it (bundled sources file, no truth)."""
    from pipeline.config import BUNDLED_SOURCES
    from pipeline.demo import generate_demo

    generate_demo(persons, seed=seed, raw_dir=root / "raw", truth_path=root / "truth.csv")
    options = dict(raw_dir=root / "raw", warehouse=root / "warehouse.duckdb", sources_file=BUNDLED_SOURCES,
                   truth_file=None)
    return Settings(**{**options, **overrides})
