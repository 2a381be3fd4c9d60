"""A small three-source base with its truth where some duplicates share only a further contact (features.py's
FURTHER_CONTACTS): a CRM card holding a personal and a work e-mail, a mobile, a family landline and an office mobile;
web-shop accounts and loyalty cards of the same people, some under a mistyped name and reachable only by the
CRM's work e-mail or office mobile; and household members whose only tie to a CRM card is the family landline
it holds as a second phone (two people: never one customer)."""

from __future__ import annotations

import random
from pathlib import Path

SOURCES = """
sources:
  - name: crm
    channel: offline
    format: csv
    files: crm/**/*.csv
    delimiter: ";"
    trust_rank: 1
    record_id: id
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: prenom
      last_name: nom
      birth_date: naissance
      email: email_perso
      phone: mobile
      postcode: cp
    more_contacts:
      email: email_pro
      phone: [tel_fixe, tel_bureau]
  - name: shop
    channel: online
    format: csv
    files: shop/**/*.csv
    trust_rank: 2
    record_id: account
    person:
      first_name: first_name
      last_name: last_name
      email: email
  - name: loyalty
    channel: offline
    format: csv
    files: loyalty/**/*.csv
    trust_rank: 3
    record_id: card
    person:
      first_name: first_name
      last_name: last_name
      phone: phone
      postcode: postcode
"""
FIRST = ["jean", "marie", "pierre", "sophie", "louis", "claire", "hugo", "emma", "paul", "julie", "marc", "lea",
         "henri", "alice", "victor", "camille", "olivier", "manon", "thomas", "chloe", "antoine", "ines", "nicolas",
         "sarah", "gabriel", "lucie", "arthur", "agathe", "bruno", "celine", "damien", "elise", "fabien", "helene"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy", "moreau",
        "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux", "vincent", "fournier",
        "morel", "girard", "andre", "mercier", "dupont", "lambert", "bonnet", "francois", "martinez", "legrand",
        "garnier", "faure", "rousseau", "blanc", "guerin", "muller", "henry", "roussel", "nicolas", "perrin"]


def _typo(word: str, rng: random.Random) -> str:
    """One letter of `word` (past its first) replaced: a mistyped name."""
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice([c for c in "aeiourstnl" if c != word[i]]) + word[i + 1:]


def _noisy(first: str, last: str, rng: random.Random) -> str:
    """The name with a typo in the first name or in the surname."""
    return f"{_typo(first, rng)},{last}" if rng.random() < 0.5 else f"{first},{_typo(last, rng)}"


def write_base(raw: Path, persons: int = 160, seed: int = 5) -> dict[str, str]:
    """Write the three sources under `raw` (one drop day); returns the truth: unique_id ('source:id') -> person."""
    rng = random.Random(seed)
    truth, crm, shop, loyalty = {}, [], [], []
    names = rng.sample([(f, la) for f in FIRST for la in LAST], persons)  # no namesakes: the test is about contacts
    for p, (first, last) in enumerate(names):
        born = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2000)}"
        personal = f"{first}.{last}{p}@mail.example"
        work = f"{first[0]}{last}@corp{p % 17}.example"
        mobile, office = f"06 {p // 100:02d} {p % 100:02d} 11 {rng.randint(10, 99)}", f"07 8{p // 100} {p % 100:02d} 22 33"
        landline = f"01 {p // 100:02d} {p % 100:02d} 44 55"
        postcode = f"75{p % 20 + 1:03d}"
        shape = p % 8
        crm.append(f"C{p};{first};{last};{born};{personal};{work if shape in (1, 2, 3) else ''};{mobile};"
                   f"{landline if shape in (4, 5, 6) else ''};{office if shape in (2, 7) else ''};{postcode}")
        truth[f"crm:C{p}"] = f"P{p}"
        if shape == 0:    # an account under the personal e-mail, the name as typed in the CRM: linked by both
            shop.append(f"S{p},{first},{last},{personal}")
            truth[f"shop:S{p}"] = f"P{p}"
        elif shape in (1, 3):  # an account under the work e-mail, the name mistyped: only the further e-mail ties it
            shop.append(f"S{p},{_noisy(first, last, rng)},{work}")
            truth[f"shop:S{p}"] = f"P{p}"
        if shape in (2, 7):  # a loyalty card under the office mobile, the name mistyped
            loyalty.append(f"L{p},{_noisy(first, last, rng)},{office},{postcode}")
            truth[f"loyalty:L{p}"] = f"P{p}"
        elif shape == 5:  # a card of the mobile, the name as typed: linked by both
            loyalty.append(f"L{p},{first},{last},{mobile},{postcode}")
            truth[f"loyalty:L{p}"] = f"P{p}"
        if shape in (4, 6):  # a household member's card on the family landline the CRM card holds as a second phone
            other = rng.choice([f for f in FIRST if f[0] != first[0]])
            loyalty.append(f"H{p},{other},{last},{landline},{postcode}")
            truth[f"loyalty:H{p}"] = f"H{p}"
    for source, header, rows in (
            ("crm", "id;prenom;nom;naissance;email_perso;email_pro;mobile;tel_fixe;tel_bureau;cp", crm),
            ("shop", "account,first_name,last_name,email", shop),
            ("loyalty", "card,first_name,last_name,phone,postcode", loyalty)):
        (raw / source / "2026-11-25").mkdir(parents=True, exist_ok=True)
        (raw / source / "2026-11-25" / f"{source}.csv").write_text(header + "\n" + "\n".join(rows) + "\n",
                                                                   encoding="utf-8")
    return truth
