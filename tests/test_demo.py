"""The demo generator: deterministic, the documented formats, ground truth that covers every person record."""

import csv
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pipeline.demo import generate_demo

SOURCES = ["ecommerce_accounts", "loyalty_cards", "consent_events", "cs_tickets", "product_reviews",
           "web_orders", "store_receipts", "app_sessions"]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    summary = generate_demo(400, seed=3, raw_dir=root / "raw", truth_path=root / "truth.csv")
    return root, summary


def test_same_seed_same_bytes(demo, tmp_path):
    root, _ = demo
    generate_demo(400, seed=3, raw_dir=tmp_path / "raw", truth_path=tmp_path / "truth.csv")
    assert _digest(root / "raw") == _digest(tmp_path / "raw")
    assert (root / "truth.csv").read_bytes() == (tmp_path / "truth.csv").read_bytes()


def test_every_source_in_a_daily_drop(demo):
    root, summary = demo
    for source in SOURCES:
        files = list((root / "raw" / source).glob("2026-11-23/*"))
        assert len(files) == 1 and summary[source] > 0, source


def test_loyalty_cards_are_french_csv(demo):
    root, _ = demo
    text = next((root / "raw" / "loyalty_cards").rglob("*.csv")).read_bytes().decode("latin-1")
    header, first = text.splitlines()[:2]
    assert header == ("num_carte;civilite;nom;prenom;date_naissance;email;telephone;adresse;code_postal;ville;"
                      "magasin;date_adhesion;solde_points;date_maj")
    rows = list(csv.reader(text.splitlines()[1:], delimiter=";"))
    dates = [r[11] for r in rows if len(r) == 14]
    assert all(len(d) == 10 and d[2] == "/" for d in dates)
    assert all("," in r[12] for r in rows if len(r) == 14)


def test_truth_covers_1_to_6_records_per_person(demo):
    root, _ = demo
    with open(root / "truth.csv", encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    per_person = Counter(r["person_id"] for r in truth)
    assert len(per_person) >= 395 and max(per_person.values()) <= 6
    assert {r["source"] for r in truth} == set(SOURCES[:5])


def test_orders_point_to_existing_accounts_and_households_share_a_landline(demo):
    root, _ = demo
    accounts = {}
    for line in next((root / "raw" / "ecommerce_accounts").rglob("*.jsonl")).read_text().splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue  # the deliberately truncated line
        accounts[obj["account_id"]] = obj
    with open(next((root / "raw" / "web_orders").rglob("*.csv")), encoding="utf-8") as f:
        orders = list(csv.DictReader(f))
    broken = {"A00000001"}  # truncated on purpose: its orders still reference it
    assert all(o["account_id"] in accounts or o["account_id"] in broken for o in orders)
    with open(root / "truth_households.csv", encoding="utf-8") as f:
        sizes = Counter(r["household_id"] for r in csv.DictReader(f))
    assert sum(1 for n in sizes.values() if n >= 2) > 40


def test_app_sessions_browse_before_login_and_some_devices_are_shared_by_two_people(demo):
    root, _ = demo
    with open(root / "truth.csv", encoding="utf-8") as f:
        person = {r["source_record_id"]: r["person_id"] for r in csv.DictReader(f) if r["source"] == "ecommerce_accounts"}
    by_device = defaultdict(list)
    for line in next((root / "raw" / "app_sessions").rglob("*.jsonl")).read_text().splitlines():
        s = json.loads(line)
        by_device[s["device_id"]].append(s)
    pre_login = shared = never = 0
    for sessions in by_device.values():
        logins = [s for s in sessions if s["account_id"]]
        people = {person.get(s["account_id"]) for s in logins}
        if not logins:
            never += 1
        elif len(people) >= 2:
            shared += 1
        elif any(s["started_at"] < min(x["started_at"] for x in logins) for s in sessions if not s["account_id"]):
            pre_login += 1
    assert pre_login >= 20 and shared >= 3 and never >= 5
