"""A hostile French / German person set, in FEBRL's columns, for bench/public_benchmarks.py.

FEBRL is Australian and household-free. This set is what it lacks, written from hand-made lists (no generator
of the project's own is used): accents and umlauts typed or not (Hélène / Helene, Müller / Mueller / Muller,
Strauß / Strauss), compound given names shortened or unhyphenated (Jean-Pierre / Jean Pierre / Jean), surname
particles kept, glued or dropped (de la Fontaine / Delafontaine / Fontaine, von Weizsäcker / Weizsaecker),
upper-case clerks, one-letter typos, a day/month swap; and households that must stay apart: couples sharing
surname, street and postcode, twins sharing also the birth date, namesakes in the same town.

Records are 'rec-<person>-org' and 'rec-<person>-dup-<k>', as in FEBRL, so the same sources YAML and plain
Splink set-up read them. Deterministic for a seed.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta

import pandas as pd

GIVEN_F = ["Hélène", "Françoise", "Marie-Thérèse", "Anne-Sophie", "Cécile", "Élodie", "Geneviève", "Margot",
           "Jeanne", "Chloé", "Zoé", "Inès", "Jürgen", "Gudrun", "Bärbel", "Sabine", "Käthe", "Anneliese",
           "Mélanie", "Agnès", "Solène", "Maëlle", "Ursula", "Jörg", "Brigitte", "Marie", "Anne", "Léa"]
GIVEN_M = ["Jean-Pierre", "Jean-François", "François", "Jérôme", "Stéphane", "Loïc", "Gaëtan", "Benoît",
           "Hervé", "Noël", "Joël", "Jean", "Pierre", "Günter", "Jürgen", "Björn", "Uwe", "Dieter", "Klaus-Peter",
           "Hans-Jürgen", "Jörg", "Matthäus", "Sébastien", "Rémi", "Louis", "Lucas", "Théo", "Karl-Heinz"]
SURNAMES = ["Müller", "Schröder", "Großmann", "Strauß", "Köhler", "Böhm", "Weiß", "Schäfer", "Krüger",
            "de la Fontaine", "de Saint-Exupéry", "Le Goff", "Lefèvre", "Lévêque", "Dupré", "Gauthier",
            "von Weizsäcker", "van der Berg", "d'Artagnan", "Martin", "Bernard", "Dubois", "Müller-Lüdenscheidt",
            "Schmidt", "Fischer", "Meyer", "Bœuf", "Hoëdic", "Noël", "Chevrolet", "Renée", "Faßbinder",
            "Lemaître", "Boulanger", "Moreau", "Girard", "Roux", "Fournier", "Rousseau", "Blanc"]
STREETS = ["rue de la Paix", "avenue Jean-Jaurès", "boulevard Saint-Michel", "place du Marché", "Hauptstraße",
           "Bahnhofstraße", "Schloßallee", "Lindenstraße", "Kirchweg", "rue Émile Zola", "chemin des Écoliers",
           "Goethestraße", "rue du Général de Gaulle", "allée des Tilleuls", "Mühlenweg"]
TOWNS = [("75011", "Paris"), ("69003", "Lyon"), ("13005", "Marseille"), ("67000", "Strasbourg"),
         ("10115", "Berlin"), ("80331", "München"), ("50667", "Köln"), ("20095", "Hamburg"),
         ("31000", "Toulouse"), ("44000", "Nantes"), ("70173", "Stuttgart"), ("01067", "Dresden")]
UMLAUT = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "œ": "oe", "Œ": "Oe"}


def _plain(text: str) -> str:
    """Accents dropped as a keyboard without them would: é -> e, ü -> u, ß -> ss."""
    text = text.replace("ß", "ss").replace("œ", "oe").replace("Œ", "Oe")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _transliterated(text: str) -> str:
    """The German way: ü -> ue, ß -> ss; French accents dropped."""
    return _plain("".join(UMLAUT.get(c, c) for c in text))


def _given_variant(name: str, rng: random.Random) -> str:
    if "-" in name:
        return rng.choice([name.replace("-", " "), name.split("-")[0], name.replace("-", "")])
    return rng.choice([_plain(name), _transliterated(name), name.upper()])


def _surname_variant(name: str, rng: random.Random) -> str:
    words = name.replace("'", " ").split()
    if len(words) > 1 and words[0].lower() in ("de", "von", "van", "le", "d"):
        return rng.choice(["".join(words), " ".join(words[-1:]), _transliterated(name), name.upper()])
    return rng.choice([_plain(name), _transliterated(name), name.upper(), name.replace("-", " ")])


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _dup(row: dict, rng: random.Random) -> dict:
    """A second record of the same person, with one or two of the variants a clerk or a form produces."""
    out = dict(row)
    for change in rng.sample(["given", "surname", "typo", "dob", "street", "upper"], rng.choice([1, 1, 2])):
        if change == "given":
            out["given_name"] = _given_variant(out["given_name"], rng)
        elif change == "surname":
            out["surname"] = _surname_variant(out["surname"], rng)
        elif change == "typo":
            field = rng.choice(["given_name", "surname"])
            out[field] = _typo(out[field], rng)
        elif change == "dob" and out["date_of_birth"]:
            d = out["date_of_birth"]
            out["date_of_birth"] = d[:4] + d[6:8] + d[4:6] if int(d[6:8]) <= 12 else None
        elif change == "street":
            out["address_1"] = _transliterated(out["address_1"]).replace("straße", "str.").replace("strasse", "str.")
        else:
            out["given_name"], out["surname"] = out["given_name"].upper(), out["surname"].upper()
    return out


def hostile_frame(persons: int = 1500, seed: int = 3) -> pd.DataFrame:
    """FEBRL-shaped rows (rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode,
    state, date_of_birth, soc_sec_id), every value a string or missing."""
    rng = random.Random(seed)
    people: list[dict] = []
    while len(people) < persons:
        surname = rng.choice(SURNAMES)
        postcode, town = rng.choice(TOWNS)
        home = {"surname": surname, "street_number": str(rng.randrange(1, 120)), "address_1": rng.choice(STREETS),
                "postcode": postcode, "suburb": town}
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(22_000))
        kind = rng.random()
        members = [(rng.choice(GIVEN_F + GIVEN_M), born)]
        other = rng.choice([g for g in GIVEN_F + GIVEN_M if g != members[0][0]])
        if kind < 0.35:  # a couple: same surname and address, another given name and birth date
            members.append((other, born + timedelta(days=rng.randrange(-3000, 3000))))
        elif kind < 0.42:  # twins: the birth date too
            members.append((other, born))
        elif kind < 0.50:  # a namesake in the same town, another street and birth date
            members.append((members[0][0], born + timedelta(days=rng.randrange(400, 9000))))
        for i, (given, b) in enumerate(members):
            row = {**home, "given_name": given, "date_of_birth": b.strftime("%Y%m%d")}
            if kind >= 0.42 and i == 1:
                row.update(street_number=str(rng.randrange(1, 120)), address_1=rng.choice(STREETS))
            people.append(row)
    rows = []
    for p, person in enumerate(people[:persons]):
        rows.append({"rec_id": f"rec-{p}-org", **person})
        for k in range(rng.choice([0, 1, 1, 2])):
            rows.append({"rec_id": f"rec-{p}-dup-{k}", **_dup(person, rng)})
    frame = pd.DataFrame(rows).assign(address_2=None, state=None, soc_sec_id=None)
    return frame[["rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                  "postcode", "state", "date_of_birth", "soc_sec_id"]].astype("string")
