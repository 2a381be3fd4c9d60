"""The officer's question, from the documented commands alone: what did this person consent to, on which channel and
point, when, from which source, and was it honoured in every audience since? `customer360 lookup` shows the consent
history and, from the audience log, each audience the customer was sent in with the consent then on that very point."""

from __future__ import annotations

import json

from assets.cli import main
from pipeline.config import Settings
from tests.conftest import materialise
from tests.test_personal_data import FILLERS, SOURCES, _account, _write


def _lookup(settings: Settings, capsys, query: str) -> str:
    assert main(["lookup", query, "--restricted", str(settings.restricted)]) == 0
    return capsys.readouterr().out.split("--- audiences sent")[-1]


def test_the_officer_sees_each_audience_a_customer_was_sent_in_and_whether_their_consent_allowed_it(tmp_path, capsys):
    raw = tmp_path / "raw"
    accounts = [_account(f"F{i}", g, f, f"1970-01-{i + 10}", f"{g[0]}.{f}@example.org".lower(), f"06 20 00 00 {i + 10}",
                         "2026-06-01", {"street": f"{i + 1} rue de la Paix", "zip": "44000", "city": "Nantes"})
                for i, (g, f) in enumerate(FILLERS)]
    _write(raw, "shop_accounts", "2026-11-20", "accounts.jsonl", "\n".join(json.dumps(a) for a in accounts) + "\n")
    _write(raw, "store_cards", "2026-11-20", "cards.csv", "carte;prenom;nom;naissance;tel;adhesion;points\n")
    # Alice opts in with a +tag spelling of her address; Bruno with his own.
    _write(raw, "newsletter", "2026-11-20", "events.csv", "event_id,email,channel,action,at\n"
           "N8,A.Moreau+news@example.org,email,opt_in,2026-06-01 10:00:00\n"
           "N9,b.garnier@example.org,email,opt_in,2026-06-02 10:00:00\n")
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    settings = Settings(raw_dir=raw, warehouse=tmp_path / "data" / "warehouse.duckdb",
                        sources_file=tmp_path / "sources.yaml", truth_file=None, as_of="2026-11-24")
    settings.decisions_dir.mkdir(parents=True)
    (settings.decisions_dir / "links.csv").write_text(
        "decision_id,decision,record_1,record_2,reason,decided_by,decided_at\n"
        "L1,must_link,shop_accounts:F0,newsletter:N8,same person,steward,2026-11-20\n"
        "L2,must_link,shop_accounts:F1,newsletter:N9,same person,steward,2026-11-20\n", encoding="utf-8")
    materialise(settings)
    out = tmp_path / "exports" / "newsletter.csv"
    assert main(["audience", "--channel", "email", "--out", str(out), "--restricted", str(settings.restricted),
                 "--warehouse", str(settings.warehouse)]) == 0
    log = settings.restricted.with_name("audience_log.csv")
    assert log.stat().st_mode & 0o077 == 0 and "@" not in log.read_text()  # ids and hashes only, owner-only
    sent = _lookup(settings, capsys, "a.moreau@example.org")
    assert "newsletter.csv" in sent and "opt_in" in sent and "N8" in sent and "True" in sent, sent

    # Alice's opt-out of 2026-11-01 reaches the warehouse late, after the audience was sent: the officer sees it.
    _write(raw, "newsletter", "2026-11-21", "events.csv", "event_id,email,channel,action,at\n"
           "N10,a.moreau@example.org,email,opt_out,2026-11-01 10:00:00\n")
    (settings.decisions_dir / "links.csv").write_text(
        (settings.decisions_dir / "links.csv").read_text()
        + "L3,must_link,shop_accounts:F0,newsletter:N10,same person,steward,2026-11-21\n", encoding="utf-8")
    materialise(settings)
    sent = _lookup(settings, capsys, "a.moreau@example.org")
    assert "opt_out" in sent and "N10" in sent and "False" in sent and "True" not in sent, sent
    bruno = _lookup(settings, capsys, "b.garnier@example.org")
    assert "N9" in bruno and "True" in bruno, bruno  # his was allowed, and still reads so
