"""Each source in its own format: JSON lines, CSV with ',' or ';', UTF-8 or latin-1, French dates and decimals.

BROKEN rows, on purpose, per 2,000 persons (at least one each): a loyalty-card line missing a separator,
a loyalty card born on 31/02/1985, a truncated e-commerce JSON line, a consent event with action 'maybe',
a consent event without id. Unreadable lines and id-less rows get no truth row.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path

from pipeline.demo.records import Records

ISO = "%Y-%m-%dT%H:%M:%S"
COLLECTION_POINTS = ["newsletter_footer", "checkout", "store_tablet", "app_onboarding", "preference_center"]
CATEGORIES = ["question", "delivery", "return", "complaint"]


def _csv(rows: list[list], header: list[str], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


def _fr_date(d: date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else ""


def _fr_decimal(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def _write(raw_dir: Path, source: str, as_of: date, name: str, text: str, encoding: str = "utf-8") -> None:
    folder = raw_dir / source / as_of.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding, errors="replace"))


def write_all(records: Records, people, raw_dir: Path, truth_path: Path, as_of: date) -> dict:
    import numpy as np

    rng = np.random.default_rng(len(people))  # formatting choices only; content is fixed already
    broken = max(1, len(people) // 2000)
    P = records.persons
    no_truth: set[tuple[str, str]] = set()
    counts = {}

    lines = []
    for i, r in enumerate(P["ecommerce_accounts"]):
        v = r.values
        updated = r.at if rng.random() < 0.6 else min(datetime.combine(as_of, datetime.min.time()),
                                                       r.at + timedelta(days=int(rng.integers(1, 400))))
        obj = {"account_id": r.record_id, "created_at": r.at.strftime(ISO), "updated_at": max(updated, r.at).strftime(ISO),
               "email": v["email"], "first_name": v["first_name"], "last_name": v["last_name"],
               "birth_date": v["birth_date"].isoformat() if v["birth_date"] else None, "phone": v["phone"],
               "address": {"street": v["street"], "zip": v["postcode"], "city": v["city"], "country": "FR"}}
        line = json.dumps(obj, ensure_ascii=False)
        if i < broken:
            line, _ = line[: len(line) // 2], no_truth.add(("ecommerce_accounts", r.record_id))
        lines.append(line)
    _write(raw_dir, "ecommerce_accounts", as_of, "ecommerce_accounts.jsonl", "\n".join(lines) + "\n")
    counts["ecommerce_accounts"] = len(lines)

    header = ["num_carte", "civilite", "nom", "prenom", "date_naissance", "email", "telephone", "adresse", "code_postal", "ville", "magasin", "date_adhesion", "solde_points", "date_maj"]
    rows = []
    for r in P["loyalty_cards"]:
        v = r.values
        postcode = v["postcode"]
        if postcode.startswith("0") and rng.random() < 0.05:
            postcode = postcode[1:]  # the leading zero lost in a spreadsheet
        rows.append([r.record_id, "M." if r.person.sex == "M" else "Mme", v["last_name"], v["first_name"],
                     _fr_date(v["birth_date"]), v["email"], v["phone"], v["street"], postcode, v["city"],
                     f"MAG{rng.integers(1, 80):03d}", _fr_date(r.at.date()),
                     _fr_decimal(float(rng.integers(0, 60000)) / 100), _fr_date(r.at.date())])
    for row in rows[broken: 2 * broken]:
        row[4] = "31/02/1985"
    text = _csv(rows, header, ";")
    out = text.split("\n")
    for k in range(1, broken + 1):  # a separator lost: one field fewer on that line
        out[k] = out[k].replace(";", " ", 1)
        no_truth.add(("loyalty_cards", rows[k - 1][0]))
    _write(raw_dir, "loyalty_cards", as_of, "loyalty_cards.csv", "\n".join(out), "latin-1")
    counts["loyalty_cards"] = len(rows)

    rows = []
    for i, r in enumerate(P["consent_events"]):
        v = r.values
        event_id, action = r.record_id, v["action"]
        if i < broken:
            action = "maybe"
        elif i < 2 * broken:
            event_id = ""
            no_truth.add(("consent_events", r.record_id))
        rows.append([event_id, v["email"], v["mobile"], v["first_name"], v["channel"], action,
                     r.at.strftime("%Y-%m-%d %H:%M:%S"), COLLECTION_POINTS[rng.integers(len(COLLECTION_POINTS))]])
    _write(raw_dir, "consent_events", as_of, "consent_events.csv", _csv(rows, [
        "event_id", "email", "mobile", "first_name", "channel", "action", "event_at", "collection_point"]))
    counts["consent_events"] = len(rows)

    lines = []
    for r in P["cs_tickets"]:
        v = r.values
        open_ = rng.random() < 0.15
        category = CATEGORIES[rng.choice(4, p=[0.35, 0.25, 0.15, 0.25])]
        customer = {k: v[k] for k in ("first_name", "last_name", "email", "phone") if v[k] is not None}
        lines.append(json.dumps({"ticket_id": r.record_id, "opened_at": r.at.strftime(ISO),
                                 "closed_at": None if open_ else (r.at + timedelta(hours=float(rng.integers(1, 240)))).strftime(ISO),
                                 "status": "open" if open_ else "closed", "category": category,
                                 "customer": customer}, ensure_ascii=False))
    _write(raw_dir, "cs_tickets", as_of, "cs_tickets.jsonl", "\n".join(lines) + "\n")
    counts["cs_tickets"] = len(lines)

    rows = [[r.record_id, r.values["email"], r.values["first_name"], r.values["last_name"],
             f"SKU{rng.integers(10**5):05d}", int(rng.choice([1, 2, 3, 4, 5], p=[0.07, 0.06, 0.12, 0.3, 0.45])),
             r.at.date().isoformat()] for r in P["product_reviews"]]
    _write(raw_dir, "product_reviews", as_of, "product_reviews.csv", _csv(rows, [
        "review_id", "reviewer_email", "reviewer_first_name", "reviewer_last_name", "product_sku", "rating",
        "review_date"]))
    counts["product_reviews"] = len(rows)

    A = records.activities
    rows = [[f"W{i:09d}", o["account_id"], o["at"].strftime(ISO), f"{o['amount']:.2f}", o["items"], o["status"]]
            for i, o in enumerate(A["web_orders"], 1)]
    _write(raw_dir, "web_orders", as_of, "web_orders.csv", _csv(rows, [
        "order_id", "account_id", "order_date", "total_amount", "items_count", "status"]))
    counts["web_orders"] = len(rows)
    rows = [[f"TK{i:010d}", o["card"], o["store"], o["at"].strftime("%d/%m/%Y %H:%M"), _fr_decimal(o["amount"]),
             o["items"]] for i, o in enumerate(A["store_receipts"], 1)]
    _write(raw_dir, "store_receipts", as_of, "store_receipts.csv", _csv(rows, [
        "num_ticket", "num_carte", "magasin", "date_achat", "montant_ttc", "nb_articles"], ";"), "latin-1")
    counts["store_receipts"] = len(rows)
    lines = [json.dumps({"session_id": f"S{i:010d}", "device_id": s["device_id"], "account_id": s["account_id"],
                         "platform": s["platform"], "started_at": s["at"].strftime(ISO),
                         "duration_s": s["duration"], "page_views": s["pages"]})
             for i, s in enumerate(A["app_sessions"], 1)]
    _write(raw_dir, "app_sessions", as_of, "app_sessions.jsonl", "\n".join(lines) + "\n")
    counts["app_sessions"] = len(lines)

    # A few people ask to be forgotten (one per 2,000, at least one): their e-mail, or mobile if none.
    forget = [p for p in people if p.record_ids and (p.email or p.mobile)][::2000][:max(1, len(people) // 2000)]
    rows = [[f"ER{i:06d}", p.email or "", "" if p.email else p.mobile, "2026-11-20 09:00:00"]
            for i, p in enumerate(forget, 1)]
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    _write(raw_dir, "erasure_requests", as_of, "erasure_requests.csv",
           _csv(rows, ["request_id", "email", "phone", "requested_at"]))
    counts["erasure_requests"] = len(rows)
    with open(truth_path.with_name("truth_erasures.csv"), "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["person_id"], *[[p.person_id] for p in forget]])

    truth_path.parent.mkdir(parents=True, exist_ok=True)
    with open(truth_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["source", "source_record_id", "person_id"])
        truth = sorted((s, rid, p.person_id) for p in people for s, rid in p.record_ids if (s, rid) not in no_truth)
        writer.writerows(truth)
    with open(truth_path.with_name("truth_households.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["person_id", "household_id"])
        writer.writerows((p.person_id, p.household_id) for p in people)
    counts["truth_rows"] = len(truth)
    return counts
