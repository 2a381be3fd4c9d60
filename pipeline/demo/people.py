"""The real persons behind the records: households (shared address, landline, surname, sometimes
e-mail), twins, namesakes, people who moved and women who married."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import phonenumbers

from pipeline.demo.pools import EMAIL_DOMAINS, EMAIL_WEIGHTS, Pools, Skewed
from pipeline.normalise.names import match_form


@dataclass
class Address:
    street: str
    postcode: str
    city: str


@dataclass
class Person:
    person_id: str
    household_id: str
    sex: str
    first_name: str
    last_name: str
    birth_date: date
    address: Address
    email: str | None = None
    family_email: str | None = None
    mobile: str | None = None
    landline: str | None = None
    maiden_name: str | None = None      # before `married_on`, records carry this surname
    married_on: date | None = None
    old_address: Address | None = None  # before `moved_on`, records carry this address
    moved_on: date | None = None
    inactive: bool = False              # all activity older than 3 years
    account_email: str | None = None    # the login of their first web account (reviews are posted with it)
    record_ids: list = field(default_factory=list)


class _Factory:
    def __init__(self, rng: np.random.Generator, pools: Pools, as_of: date):
        self.rng, self.pools, self.as_of = rng, pools, as_of
        # Flat skews: the commonest French first name is ~2% of people, the commonest surname under 1%.
        self.male = Skewed(pools.male, rng, 0.6, pools.french["male"])
        self.female = Skewed(pools.female, rng, 0.6, pools.french["female"])
        self.last = Skewed(pools.last, rng, 0.55, pools.french["last"])
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def address(self) -> Address:
        rng = self.rng
        postcode, city = self.pools.cities[rng.integers(len(self.pools.cities))]
        number = int(rng.integers(1, 180))
        suffix = " bis" if rng.random() < 0.03 else ""
        street = self.pools.streets[rng.integers(len(self.pools.streets))]
        return Address(f"{number}{suffix} {street}", postcode, city)

    def phone(self, prefixes: list[str]) -> str:
        while True:
            number = prefixes[self.rng.integers(len(prefixes))] + "".join(
                str(d) for d in self.rng.integers(0, 10, 8))
            # only numbers in assigned French ranges (07 0x-07 2x are unassigned, 0694/0696... are overseas)
            if number not in self.phones and phonenumbers.is_valid_number(phonenumbers.parse(number, "FR")):
                self.phones.add(number)
                return number

    def email(self, first: str, last: str) -> str:
        f, s = match_form(first).replace(" ", ""), match_form(last).replace(" ", "")
        domain = EMAIL_DOMAINS[self.rng.choice(len(EMAIL_DOMAINS), p=EMAIL_WEIGHTS)]
        pattern = self.rng.integers(5)
        local = [f"{f}.{s}", f"{f}{s}", f"{f[0]}.{s}", f"{f}.{s}{self.rng.integers(1, 99)}",
                 f"{s}.{f}"][pattern]
        address, n = f"{local}@{domain}", 1
        while address in self.emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.emails.add(address)
        return address

    def born(self, low_age: int, high_age: int) -> date:
        days = int(self.rng.integers(low_age * 365, high_age * 365))
        return self.as_of - timedelta(days=days)

    def person(self, pid: str, hid: str, sex: str, last: str, born: date, address: Address) -> Person:
        first = (self.male if sex == "M" else self.female).draw(self.rng)
        p = Person(pid, hid, sex, first, last, born, address)
        if self.rng.random() < 0.96:
            p.email = self.email(first, last)
        if self.rng.random() < 0.75:
            p.mobile = self.phone(["06", "07"])
        return p


def make_people(n: int, rng: np.random.Generator, pools: Pools, as_of: date) -> list[Person]:
    f = _Factory(rng, pools, as_of)
    people: list[Person] = []
    household = 0
    while len(people) < n:
        household += 1
        hid = f"H{household:07d}"
        home = f.address()
        surname = f.last.draw(rng)
        if rng.random() < 0.03:  # double-barrelled surname
            surname = f"{surname}-{f.last.draw(rng)}"
        kind = rng.random()

        def add(sex: str, last: str, born: date) -> Person:
            p = f.person(f"P{len(people) + 1:07d}", hid, sex, last, born, home)  # noqa: B023 - called within this iteration
            people.append(p)
            return p

        if kind < 0.55:
            add("M" if rng.random() < 0.47 else "F", surname, f.born(18, 90))
            members = people[-1:]
        else:
            husband = add("M", surname, f.born(25, 85))
            wife_born = husband.birth_date + timedelta(days=int(rng.integers(-8 * 365, 5 * 365)))
            wife = add("F", surname, min(wife_born, as_of - timedelta(days=19 * 365)))
            if rng.random() < 0.2:  # kept her own name
                wife.last_name = f.last.draw(rng)
            elif rng.random() < 0.25:  # married within the record window: older records carry the maiden name
                wife.maiden_name = f.last.draw(rng)
                wife.married_on = as_of - timedelta(days=int(rng.integers(60, 4 * 365)))
            members = [husband, wife]
            if kind >= 0.80:  # adult children, sometimes twins
                youngest_parent = max(husband.birth_date, wife.birth_date)
                for _ in range(int(rng.integers(1, 4))):
                    kid_born = youngest_parent + timedelta(days=int(rng.integers(20 * 365, 40 * 365)))
                    if kid_born > as_of - timedelta(days=18 * 365):
                        continue
                    kid = add("M" if rng.random() < 0.5 else "F", surname, kid_born)
                    members.append(kid)
                    if rng.random() < 0.06:
                        members.append(add("M" if rng.random() < 0.5 else "F", surname, kid_born))
            if kind >= 0.97:  # a grandparent lives with them
                members.append(add("F" if rng.random() < 0.6 else "M", surname,
                                   husband.birth_date - timedelta(days=int(rng.integers(22 * 365, 35 * 365)))))
        if len(members) > 1 or rng.random() < 0.3:
            landline = f.phone(["01", "02", "03", "04", "05", "09"])
            for m in members:
                m.landline = landline
        if len(members) > 1 and rng.random() < 0.15:
            shared = f.email(members[0].last_name, "famille")
            for m in members[:2]:
                m.family_email = shared
        if rng.random() < 0.12:  # the whole household moved
            old = f.address()
            moved_on = as_of - timedelta(days=int(rng.integers(90, 4 * 365)))
            for m in members:
                m.old_address, m.moved_on = old, moved_on
        if rng.random() < 0.15:
            for m in members:
                m.inactive = True
    people = people[:n]
    _namesakes(people, rng)
    return people


def _namesakes(people: list[Person], rng: np.random.Generator) -> None:
    """Unrelated people with the same first and last name in the same city (beyond chance ones)."""
    for _ in range(max(1, len(people) // 400)):
        a, b = people[rng.integers(len(people))], people[rng.integers(len(people))]
        if a.household_id != b.household_id and a.sex == b.sex:
            b.first_name, b.last_name = a.first_name, a.last_name
            b.address = Address(b.address.street, a.address.postcode, a.address.city)
