"""Each person's copies in the source systems (1 to 6 person records) and their activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from pipeline.demo import noise
from pipeline.demo.people import Address, Person
from pipeline.demo.pools import Pools

PERSON_SOURCES = ("ecommerce_accounts", "loyalty_cards", "consent_events", "cs_tickets", "product_reviews")
WINDOW_DAYS = 5 * 365


@dataclass
class Record:
    source: str
    person: Person
    at: datetime                       # when the source captured it
    values: dict = field(default_factory=dict)
    record_id: str = ""


@dataclass
class Records:
    persons: dict[str, list[Record]]   # source -> person records
    activities: dict[str, list[dict]]  # source -> rows referring to a person record (or anonymous)


class _Maker:
    def __init__(self, rng: np.random.Generator, pools: Pools, as_of: date):
        self.rng, self.pools = rng, pools
        self.end = datetime.combine(as_of, datetime.min.time()) + timedelta(hours=20)
        self.start = self.end - timedelta(days=WINDOW_DAYS)

    def moment(self, person: Person, after: datetime | None = None) -> datetime:
        start = max(after or self.start, self.start)
        end = self.end - timedelta(days=3 * 365 + 30) if person.inactive else self.end
        if end <= start:
            end = start + timedelta(days=1)
        span = (end - start).total_seconds()
        return start + timedelta(seconds=float(self.rng.random() * span))

    def identity_at(self, p: Person, at: datetime) -> tuple[str, str, Address]:
        last = p.maiden_name if p.married_on and at.date() < p.married_on else p.last_name
        home = p.old_address if p.moved_on and at.date() < p.moved_on else p.address
        return p.first_name, last, home

    def names(self, p: Person, at: datetime, upper_last: float = 0.1, no_accents: float = 0.1,
              keyed_by_staff: bool = False):
        """People rarely mistype their own name online; cashiers and call-centre agents do, and swap fields."""
        rng = self.rng
        typo, swap = (0.07, 0.03) if keyed_by_staff else (0.02, 0.01)
        first, last, _ = self.identity_at(p, at)
        if rng.random() < 0.06:
            first = noise.nickname(first, self.pools.nicknames, rng)
        if rng.random() < typo:
            first = noise.typo(first, rng)
        if rng.random() < typo * 0.7:
            last = noise.typo(last, rng)
        first = noise.case_and_accents(first, rng, upper=0.05, no_accents=no_accents)
        last = noise.case_and_accents(last, rng, upper=upper_last, no_accents=no_accents)
        if rng.random() < swap:
            first, last = last, first
        return first, last

    def birth(self, p: Person) -> date:
        """Keying errors: day and month swapped, one digit mistyped, two adjacent digits transposed."""
        born = p.birth_date
        r = self.rng.random()
        if r < 0.01 and born.day <= 12 and born.day != born.month:
            return date(born.year, born.day, born.month)
        if r < 0.025:
            digits = list(born.strftime("%Y%m%d"))
            i = int(self.rng.integers(2, 8))
            if r < 0.018:
                digits[i] = str(self.rng.integers(10))
            elif i < 7:
                digits[i], digits[i + 1] = digits[i + 1], digits[i]
            try:
                return date(int("".join(digits[:4])), int("".join(digits[4:6])), int("".join(digits[6:])))
            except ValueError:
                return born
        return born

    def email(self, p: Person) -> str | None:
        choice = p.email
        if p.family_email and (choice is None or self.rng.random() < 0.3):
            choice = p.family_email
        if choice and self.rng.random() < 0.004:  # typed into the wrong box, or refused
            return ["pas d'email", choice.replace("@", ""), "aucun", choice.split("@")[0] + "@"][self.rng.integers(4)]
        return noise.email_variant(choice, self.rng) if choice else None

    def phone(self, p: Person, mobile_first: float = 0.7) -> str | None:
        options = [x for x in (p.mobile, p.landline) if x]
        if not options:
            return None
        pick = options[0] if len(options) == 1 or self.rng.random() < mobile_first else options[1]
        if self.rng.random() < 0.005:  # placeholder or truncated numbers, as tills and forms let through
            return ["0000000000", "n/a", pick[:6], "0123456789"][self.rng.integers(4)]
        return noise.phone_format(pick, self.rng)

    def maybe(self, rate: float, value):
        return value if self.rng.random() < rate else None


def _person_record(m: _Maker, source: str, p: Person, at: datetime) -> Record:
    rng = m.rng
    _, _, home = m.identity_at(p, at)
    street = noise.street_variant(home.street, m.pools.abbreviations, rng)
    if source == "ecommerce_accounts":
        first, last = m.names(p, at)
        email = m.email(p) or noise.email_variant(f"client{rng.integers(10**7)}@gmail.com", rng)
        p.account_email = p.account_email or email
        v = dict(first_name=first, last_name=last, birth_date=m.maybe(0.65, m.birth(p)), email=email,
                 phone=m.maybe(0.7, m.phone(p, 0.85)), street=street, postcode=home.postcode, city=home.city)
    elif source == "loyalty_cards":
        first, last = m.names(p, at, upper_last=0.7, no_accents=0.3, keyed_by_staff=True)
        v = dict(first_name=first, last_name=last, birth_date=m.maybe(0.9, m.birth(p)),
                 email=m.maybe(0.6, m.email(p)), phone=m.maybe(0.85, m.phone(p, 0.8)), street=street,
                 postcode=home.postcode, city=noise.case_and_accents(home.city, rng, upper=0.6))
    elif source == "consent_events":
        first, _ = m.names(p, at)
        channel = "sms" if p.mobile and (not (p.email or p.family_email) or rng.random() < 0.3) else "email"
        mobile = noise.phone_format(p.mobile, rng) if p.mobile else None
        v = dict(first_name=m.maybe(0.5, first), channel=channel,
                 email=m.email(p) if channel == "email" else m.maybe(0.3, m.email(p)),
                 mobile=mobile if channel == "sms" else m.maybe(0.2, mobile))
    elif source == "cs_tickets":
        # The customer wrote or called: the ticket keeps that e-mail or phone, sometimes both.
        first, last = m.names(p, at, no_accents=0.3, keyed_by_staff=True)
        email, phone = m.email(p), m.phone(p)
        by_mail = email is not None and (phone is None or rng.random() < 0.6)
        v = dict(first_name=m.maybe(0.9, first), last_name=m.maybe(0.85, last),
                 email=email if by_mail else m.maybe(0.3, email), phone=phone if not by_mail else m.maybe(0.3, phone))
    else:  # product_reviews: posted from the customer's web account
        first, last = m.names(p, at)
        v = dict(first_name=m.maybe(0.9, first), last_name=m.maybe(0.5, last),
                 email=p.account_email or m.email(p) or f"avis{rng.integers(10**7)}@gmail.com")
    return Record(source, p, at, v)


def _plan(m: _Maker) -> list[str]:
    """Which person records a person has: 1 to 6 across the five person sources."""
    rng = m.rng
    plan = []
    if rng.random() < 0.65:
        plan += ["ecommerce_accounts"] * (2 if rng.random() < 0.08 else 1)
    if rng.random() < 0.55:
        plan += ["loyalty_cards"] * (2 if rng.random() < 0.05 else 1)
    plan += ["consent_events"] * int(rng.choice([0, 0, 1, 1, 2]))
    plan += ["cs_tickets"] * int(rng.choice([0, 0, 0, 1, 2]))
    plan += ["product_reviews"] * int(rng.choice([0, 0, 0, 0, 1, 2]))
    if not plan:
        plan = ["ecommerce_accounts" if rng.random() < 0.6 else "loyalty_cards"]
    return plan[:6]


def make_records(people: list[Person], rng: np.random.Generator, pools: Pools, as_of: date,
                 session_rng: np.random.Generator | None = None,
                 consent_rng: np.random.Generator | None = None) -> Records:
    """`session_rng` draws what only app sessions need (pre-login browsing, shared devices, anonymous visitors),
    and `consent_rng` which consents are to calls or post, so that adding them left every other source's rows
    as they were."""
    m = _Maker(rng, pools, as_of)
    persons: dict[str, list[Record]] = {s: [] for s in PERSON_SOURCES}
    for p in people:
        consent_done = 0
        for source in _plan(m):
            at = m.moment(p)
            if source == "consent_events" and not (p.email or p.family_email or p.mobile):
                source = "cs_tickets"
            persons[source].append(_person_record(m, source, p, at))
            consent_done += source == "consent_events"
        # A person's first consent event is an opt-in; a second one, later, opts out of the same channel.
        events = sorted(persons["consent_events"][-consent_done:], key=lambda r: r.at) if consent_done else []
        for i, r in enumerate(events):
            r.values["action"] = "opt_in" if i == 0 else "opt_out"
            if i:
                r.values["channel"] = events[0].values["channel"]
                r.values["email"] = r.values["email"] or events[0].values["email"]
                r.values["mobile"] = r.values["mobile"] or events[0].values["mobile"]
        if events and consent_rng is not None:  # some consent to calls (on the mobile given) or to post
            draw = consent_rng.random()
            if draw < 0.12 and all(r.values["mobile"] for r in events):
                for r in events:
                    r.values["channel"] = "phone"
            elif draw < 0.22:
                for r in events:
                    r.values["channel"] = "post"
    for source, recs in persons.items():
        order = rng.permutation(len(recs))
        persons[source] = [recs[i] for i in order]
        prefix = {"ecommerce_accounts": "A", "loyalty_cards": "29", "consent_events": "CE", "cs_tickets": "T",
                  "product_reviews": "R"}[source]
        width = 11 if source == "loyalty_cards" else 8
        for i, r in enumerate(persons[source], 1):
            r.record_id = f"{prefix}{i:0{width}d}"
            r.person.record_ids.append((source, r.record_id))
    srng = session_rng if session_rng is not None else np.random.default_rng(0)
    return Records(persons=persons, activities=_activities(m, persons, people, srng))


def _anonymous_session(srng: np.random.Generator, device: str, at: datetime, platform: str) -> dict:
    return dict(device_id=device, account_id=None, at=at, platform=platform,
                duration=int(srng.integers(20, 1800)), pages=int(srng.integers(1, 30)))


def _activities(m: _Maker, persons: dict[str, list[Record]], people: list[Person],
                srng: np.random.Generator) -> dict[str, list[dict]]:
    rng = m.rng
    orders, receipts, sessions = [], [], []
    propensity = {p.person_id: float(rng.lognormal(0, 0.8)) for p in people}
    household_devices: dict[str, str] = {}
    for acc in persons["ecommerce_accounts"]:
        p = acc.person
        for _ in range(int(rng.poisson(2.0 * propensity[p.person_id]))):
            orders.append(dict(account_id=acc.record_id, at=m.moment(p, acc.at),
                               amount=round(float(rng.lognormal(3.9, 0.6)), 2), items=int(rng.integers(1, 6)),
                               status=str(rng.choice(["delivered"] * 8 + ["cancelled", "returned"]))))
        device = f"D{rng.integers(16**10):010x}"
        if p.household_id in household_devices and (rng.random() < 0.1 or srng.random() < 0.2):
            device = household_devices[p.household_id]  # a tablet shared in the household
        household_devices.setdefault(p.household_id, device)
        n = int(rng.poisson(3.0 * propensity[p.person_id]))
        mine = []
        for k in range(n):
            at = m.moment(p, acc.at)
            mine.append(dict(device_id=device, account_id=None if k == 0 and rng.random() < 0.5 else acc.record_id,
                             at=at, platform=str(rng.choice(["ios", "android", "web"])),
                             duration=int(rng.integers(20, 1800)), pages=int(rng.integers(1, 30))))
        logins = [s["at"] for s in mine if s["account_id"]]
        if logins and srng.random() < 0.4:  # browsed anonymously on that device in the weeks before logging in
            first_login = min(logins)
            for _ in range(int(srng.integers(1, 4))):
                mine.append(_anonymous_session(srng, device, first_login - timedelta(
                    seconds=float(srng.uniform(600, 30 * 86400))), mine[0]["platform"]))
        sessions += mine
    for _ in range(len(persons["ecommerce_accounts"]) // 20):  # visitors who never logged in
        device = f"V{srng.integers(16**10):010x}"
        first = m.start + timedelta(seconds=float(srng.random() * (m.end - m.start).total_seconds()))
        for _ in range(int(srng.integers(1, 4))):
            sessions.append(_anonymous_session(srng, device, min(m.end, first + timedelta(
                days=float(srng.uniform(0, 60)))), str(srng.choice(["ios", "android", "web"]))))
    for card in persons["loyalty_cards"]:
        p = card.person
        for _ in range(int(rng.poisson(3.0 * propensity[p.person_id]))):
            receipts.append(dict(card=card.record_id, at=m.moment(p, card.at), store=f"MAG{rng.integers(1, 80):03d}",
                                 amount=round(float(rng.lognormal(3.6, 0.7)), 2), items=int(rng.integers(1, 12))))
    for _ in range(int(len(receipts) * 0.43)):  # anonymous purchases: no card shown
        at = m.start + timedelta(seconds=float(rng.random() * (m.end - m.start).total_seconds()))
        receipts.append(dict(card=None, at=at, store=f"MAG{rng.integers(1, 80):03d}",
                             amount=round(float(rng.lognormal(3.4, 0.7)), 2), items=int(rng.integers(1, 8))))
    for rows in (orders, receipts, sessions):
        rows.sort(key=lambda r: r["at"])
    return {"web_orders": orders, "store_receipts": receipts, "app_sessions": sessions}
