"""A Spanish / Italian / Portuguese retailer's three exports, with the truth, for bench/public_benchmarks.py (`iberia`).

Written from the README alone, as such a retailer would map them (hand-made name lists, no generator of the
project's own): an ERP in Windows-1252 with `;` and decimal commas (`NOMBRE`, `APELLIDO1`, `APELLIDO2`, the national
id typed with spaces, dashes or in lower case, `C/ Mayor 5, 3º 2ª`, Spanish postcodes that lost their leading zero,
`%d/%m/%Y`); a web shop with the whole name in one column written three ways (`Maria Garcia Lopez`, `García López,
María`, `GARCIA LOPEZ Maria`), e-mails, mobiles as `0034 612...`, `12-mar-1980` or `1980/03/12`; a loyalty scheme
whose till drops accents and keeps the first surname only (`Maria` / `Garcia`), two-digit years (`12/03/80`),
Portuguese postcodes `1000-001`. National ids: Spanish DNI / NIE with their check letter, Italian codice fiscale,
Portuguese NIF with its check digit, mapped as one identifier. Households that must stay apart: couples sharing
address and landline, Spanish children carrying a parent's first surname (a son often named after his father), twins
sharing a birth date; namesakes (`María García López` in two towns).

Deterministic for a seed: `write(root)` writes `raw/`, `sources.yaml` and `truth.csv`; `splink_frames(root)` reads the
files back into the columns plain Splink is given (what a user would do first: the whole name split on its last
space, dates as written).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

ES_F = ["María", "Carmen", "Ana María", "María José", "Lucía", "Pilar", "Begoña", "Nuria", "Inés", "Raquel",
        "Montserrat", "Mª Ángeles", "Rocío", "Concepción", "Elena", "Sofía"]
ES_M = ["José Luis", "Juan Carlos", "Jesús", "Álvaro", "Ángel", "Íñigo", "Sergio", "Rubén", "Javier", "Andrés",
        "Joaquín", "José María", "Francisco Javier", "Manuel", "Óscar", "Martín"]
ES_SURNAMES = ["García", "López", "Fernández", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz",
               "Hernández", "Díaz", "Muñoz", "Álvarez", "Romero", "Núñez", "Peña", "Ibáñez", "Castaño",
               "de la Fuente", "del Río", "Ortiz", "Ordóñez", "Sáenz", "Cañete", "Gutiérrez"]
IT_F = ["Giulia", "Francesca", "Chiara", "Maria Grazia", "Anna", "Lucia", "Federica", "Elisa", "Rosaria"]
IT_M = ["Giuseppe", "Niccolò", "Luca", "Marco", "Gian Luca", "Nicola", "Salvatore", "Andrea", "Pierpaolo"]
IT_SURNAMES = ["Rossi", "Russo", "Bianchi", "De Luca", "Dell'Acqua", "D'Angelo", "Esposito", "Colombo", "Ricci",
               "Di Stefano", "Lo Russo", "Dall'Olio", "Mancini", "Fabbri", "Galli", "Conti", "De Santis", "Sant'Angelo"]
PT_F = ["Maria", "Ana", "Inês", "Conceição", "Joana", "Beatriz", "Maria João", "Sílvia"]
PT_M = ["João", "José", "António", "Gonçalo", "Luís", "Tiago", "João Pedro", "Sérgio"]
PT_SURNAMES = ["da Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "da Costa", "Rodrigues", "Martins",
               "de Sousa", "Gonçalves", "Lopes", "Marques", "dos Santos", "Fernandes"]
TOWNS = {"ES": [("08001", "Barcelona"), ("28013", "Madrid"), ("03001", "Alicante"), ("41001", "Sevilla"),
                ("07001", "Palma"), ("46001", "València"), ("01001", "Vitoria-Gasteiz")],
         "IT": [("00184", "Roma"), ("20121", "Milano"), ("80138", "Napoli"), ("10121", "Torino"), ("09124", "Cagliari")],
         "PT": [("1000-001", "Lisboa"), ("4000-322", "Porto"), ("3000-150", "Coimbra"), ("8000-078", "Faro")]}
STREETS = {"ES": ["C/ Mayor", "Calle de Alcalá", "Avda. de la Constitución", "Pº de Gràcia", "C/ Nuñez de Balboa",
                  "Plaza de España", "C/ Sant Joan"],
           "IT": ["Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele", "Piazza Dell'Unità", "Viale dei Mille"],
           "PT": ["Rua Augusta", "Avenida da Liberdade", "Rua de Santa Catarina", "Travessa do Carmo"]}
COUNTRY_NAMES = {"ES": ["España", "ESPAÑA", "ES", "Spain"], "IT": ["Italia", "IT", "ITALIA"],
                 "PT": ["Portugal", "PT"]}
MONTHS_ES = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"]
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


@dataclass
class Person:
    pid: int
    country: str
    given: str
    surnames: list[str]
    born: date
    national_id: str
    street: str
    postcode: str
    city: str
    landline: str | None
    mobile: str
    email: str
    extra: dict = field(default_factory=dict)


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).replace("ª", "a")


def _dni(rng: random.Random) -> str:
    if rng.random() < 0.15:  # NIE: X/Y/Z + 7 digits, the letter counting X=0, Y=1, Z=2
        head = rng.choice("XYZ")
        digits = rng.randrange(10**7)
        return f"{head}{digits:07d}{DNI_LETTERS[int('XYZ'.index(head) * 10**7 + digits) % 23]}"
    n = rng.randrange(10**7, 10**8)
    return f"{n}{DNI_LETTERS[n % 23]}"


def _nif_pt(rng: random.Random) -> str:
    body = [rng.choice("12")] + [str(rng.randrange(10)) for _ in range(7)]
    check = 11 - sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True)) % 11
    return "".join(body) + str(0 if check >= 10 else check)


def _codice_fiscale(given: str, surname: str, born: date, female: bool, rng: random.Random) -> str:
    def consonants(text: str) -> str:
        letters = [c for c in _plain(text).upper() if c.isalpha()]
        cons = [c for c in letters if c not in "AEIOU"] + [c for c in letters if c in "AEIOU"] + ["X"] * 3
        return "".join(cons[:3])
    day = born.day + (40 if female else 0)
    return (consonants(surname) + consonants(given) + f"{born.year % 100:02d}" + "ABCDEHLMPRST"[born.month - 1]
            + f"{day:02d}" + rng.choice("HFGL") + f"{rng.randrange(1000):03d}" + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _mobile(country: str, rng: random.Random) -> str:
    first = {"ES": "6", "IT": "3", "PT": "9"}[country]
    length = {"ES": 9, "IT": 10, "PT": 9}[country]
    if country == "PT":
        return "9" + rng.choice("1236") + "".join(str(rng.randrange(10)) for _ in range(length - 2))
    if country == "IT":
        return "3" + rng.choice("234") + "".join(str(rng.randrange(10)) for _ in range(length - 2))
    return first + "".join(str(rng.randrange(10)) for _ in range(length - 1))


def _landline(country: str, rng: random.Random) -> str:
    return {"ES": "91", "IT": "06", "PT": "21"}[country] + "".join(str(rng.randrange(10)) for _ in range(7))


def _names(country: str, female: bool, rng: random.Random) -> tuple[str, list[str]]:
    if country == "ES":
        return rng.choice(ES_F if female else ES_M), rng.sample(ES_SURNAMES, 2)
    if country == "IT":
        return rng.choice(IT_F if female else IT_M), [rng.choice(IT_SURNAMES)]
    return rng.choice(PT_F if female else PT_M), rng.sample(PT_SURNAMES, 2)


def _email(given: str, surnames: list[str], born: date, rng: random.Random) -> str:
    first = _plain(given).lower().split()[0]
    last = _plain(surnames[0]).lower().replace(" ", "").replace("'", "")
    return f"{first}.{last}{born.year % 100:02d}{rng.randrange(100)}@" + rng.choice(
        ["gmail.com", "hotmail.es", "libero.it", "sapo.pt", "yahoo.es", "telefonica.net"])


def people(n: int = 300, seed: int = 14) -> list[Person]:
    """`n` persons or a few more: couples sharing address and landline, a child carrying a parent's first surname,
    twins, namesakes in other towns."""
    rng = random.Random(seed)
    out: list[Person] = []

    def new(country: str, female: bool, given=None, surnames=None, born=None, home=None) -> Person:
        g, s = _names(country, female, rng)
        given, surnames = given or g, surnames or s
        born = born or date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
        postcode, city = home[1:3] if home else rng.choice(TOWNS[country])
        street = home[0] if home else f"{rng.choice(STREETS[country])} {rng.randrange(1, 120)}"
        if country == "ES" and not home and rng.random() < 0.6:
            street += f", {rng.randrange(1, 9)}º {rng.randrange(1, 5)}ª"
        nid = _dni(rng) if country == "ES" else _nif_pt(rng) if country == "PT" else \
            _codice_fiscale(given, surnames[0], born, female, rng)
        landline = home[3] if home else (_landline(country, rng) if rng.random() < 0.4 else None)
        p = Person(len(out), country, given, surnames, born, nid, street, postcode, city, landline,
                   _mobile(country, rng), _email(given, surnames, born, rng))
        out.append(p)
        return p

    while len(out) < n:
        country = rng.choices(["ES", "IT", "PT"], [0.5, 0.25, 0.25])[0]
        female = rng.random() < 0.55
        p = new(country, female)
        r = rng.random()
        home = (p.street, p.postcode, p.city, p.landline or _landline(country, rng))
        p.landline = home[3] if r < 0.35 else p.landline
        if r < 0.2:    # a couple; in Spain and Portugal each keeps their surnames
            new(country, not female, home=home)
        elif r < 0.3:  # a parent and a child: the child's first surname is the parent's first (a son named after his father)
            child = [p.surnames[0]] + ([rng.choice(ES_SURNAMES)] if country == "ES" else
                                       [p.surnames[-1]] if country == "PT" else [])
            born = p.born + timedelta(days=365 * rng.randrange(22, 40))
            given = p.given if not female and rng.random() < 0.5 else None
            new(country, female if given else rng.random() < 0.5, given=given, surnames=child,
                born=min(born, date(2006, 1, 1)), home=home)
        elif r < 0.35:  # twins
            new(country, rng.random() < 0.5, surnames=p.surnames, born=p.born, home=home)
        elif r < 0.42:  # a namesake elsewhere (same given name and surnames, another birth date and town)
            new(country, female, given=p.given, surnames=p.surnames)
    return out


def _typed_id(nid: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.25:
        return nid.lower()
    if r < 0.4:
        return nid[:-1] + "-" + nid[-1]
    if r < 0.5:
        return " ".join(nid[i:i + 3] for i in range(0, len(nid), 3))
    if r < 0.55:  # one digit mistyped
        i = rng.randrange(1, len(nid) - 1)
        return nid[:i] + str((int(nid[i]) + 1) % 10 if nid[i].isdigit() else nid[i]) + nid[i + 1:]
    return nid


def _phone(p: Person, rng: random.Random, plus: bool) -> str:
    code = {"ES": "34", "IT": "39", "PT": "351"}[p.country]
    number = p.mobile
    if plus and rng.random() < 0.5:
        return rng.choice([f"+{code} {number[:3]} {number[3:6]} {number[6:]}", f"00{code}{number}"])
    return f"{number[:3]} {number[3:5]} {number[5:7]} {number[7:]}" if p.country == "ES" else number


def _date(d: date, style: str, rng: random.Random) -> str:
    if style == "erp":
        return d.strftime("%d/%m/%Y")
    if style == "web":
        return f"{d.day:02d}-{MONTHS_ES[d.month - 1]}-{d.year}" if rng.random() < 0.5 else d.strftime("%Y/%m/%d")
    return d.strftime("%d/%m/%y")


def _full_name(p: Person, rng: random.Random) -> str:
    given, surnames = p.given, " ".join(p.surnames)
    r = rng.random()
    if r < 0.35:
        return _plain(f"{given} {surnames}")
    if r < 0.65:
        return f"{surnames}, {given}"
    if r < 0.85:
        return f"{surnames.upper()} {given}"
    return _plain(f"{surnames} {given}").upper()


def write(root: Path, n: int = 300, seed: int = 14) -> None:
    """raw/<source>/2026-11-20/*.csv, sources.yaml and truth.csv under `root`."""
    rng = random.Random(seed + 1)
    persons = people(n, seed)
    erp, web, loyalty, truth = [], [], [], []
    for p in persons:
        present = [rng.random() < 0.75, rng.random() < 0.55, rng.random() < 0.55]
        if not any(present):
            present[rng.randrange(3)] = True
        copies = [int(x) + (1 if x and rng.random() < 0.06 else 0) for x in present]  # a few within-source duplicates
        for _ in range(copies[0]):
            rid = f"C{len(erp) + 1:05d}"
            upper = rng.random() < 0.2
            s1, s2 = (p.surnames + [""])[:2]
            street = p.street if p.country != "ES" or rng.random() < 0.5 else p.street.replace("C/ ", "Calle ")
            erp.append({"COD_CLIENTE": rid, "NIF": _typed_id(p.national_id, rng) if rng.random() < 0.9 else "",
                        "NOMBRE": p.given.upper() if upper else p.given, "APELLIDO1": s1.upper() if upper else s1,
                        "APELLIDO2": s2.upper() if upper else s2, "F_NACIMIENTO": _date(p.born, "erp", rng),
                        "TELEFONO": p.landline if p.landline and rng.random() < 0.5 else _phone(p, rng, True),
                        "DIRECCION": street, "CP": p.postcode.lstrip("0") if p.country == "ES" else p.postcode,
                        "POBLACION": p.city, "PAIS": rng.choice(COUNTRY_NAMES[p.country]),
                        "SALDO": f"{rng.randrange(0, 5000)},{rng.randrange(100):02d}"})
            truth.append(("erp", rid, p.pid))
        for _ in range(copies[1]):
            rid = f"W-{len(web) + 1:06d}"
            web.append({"id_cliente": rid, "nombre_completo": _full_name(p, rng), "email": p.email,
                        "movil": _phone(p, rng, True), "documento": _typed_id(p.national_id, rng)
                        if rng.random() < 0.5 else "", "fecha_nac": _date(p.born, "web", rng)
                        if rng.random() < 0.7 else "", "direccion": p.street, "cp": p.postcode, "ciudad": p.city,
                        "pais": rng.choice(COUNTRY_NAMES[p.country])})
            truth.append(("web", rid, p.pid))
        for _ in range(copies[2]):
            rid = f"{700000 + len(loyalty)}"
            surname = p.surnames[0] if p.country == "ES" else (" ".join(p.surnames) if rng.random() < 0.5
                                                                else p.surnames[-1])
            loyalty.append({"tessera": rid, "nome": _plain(p.given), "cognome": _plain(surname),
                            "data_nascita": _date(p.born, "loyalty", rng), "telefono": _phone(p, rng, False),
                            "email": p.email if rng.random() < 0.4 else "",
                            "indirizzo": _plain(p.street), "cap": p.postcode, "citta": _plain(p.city),
                            "paese": p.country, "codice_fiscale": _typed_id(p.national_id, rng)
                            if rng.random() < 0.6 else "", "punti": f"{rng.randrange(0, 900)},{rng.randrange(10)}"})
            truth.append(("fidelidade", rid, p.pid))
    raw = root / "raw"
    for source, rows, encoding, delimiter in (("erp", erp, "cp1252", ";"), ("web", web, "utf-8", ","),
                                              ("fidelidade", loyalty, "cp1252", ";")):
        folder = raw / source / "2026-11-20"
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / f"{source}.csv", sep=delimiter, index=False, encoding=encoding)
    pd.DataFrame(truth, columns=["source", "source_record_id", "person_id"]).to_csv(root / "truth.csv", index=False)
    (root / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8")


SOURCES_YAML = """\
defaults:
  format: csv
  channel: offline
  country: ES
sources:
  - name: erp
    files: erp/**/*.csv
    encoding: cp1252
    delimiter: ";"
    decimal: ","
    record_id: COD_CLIENTE
    date_formats: ["%d/%m/%Y"]
    person:
      first_name: NOMBRE
      last_name: [APELLIDO1, APELLIDO2]
      birth_date: F_NACIMIENTO
      phone: TELEFONO
      street: DIRECCION
      postcode: CP
      city: POBLACION
      country: PAIS
    identifiers:
      national_id: NIF
  - name: web
    channel: online
    files: web/**/*.csv
    record_id: id_cliente
    date_formats: ["%d-%b-%Y", "%Y/%m/%d"]
    person:
      full_name: nombre_completo
      email: email
      phone: movil
      birth_date: fecha_nac
      street: direccion
      postcode: cp
      city: ciudad
      country: pais
    identifiers:
      national_id: documento
  - name: fidelidade
    files: fidelidade/**/*.csv
    encoding: cp1252
    delimiter: ";"
    decimal: ","
    record_id: tessera
    date_formats: ["%d/%m/%y"]
    person:
      first_name: nome
      last_name: cognome
      birth_date: data_nascita
      phone: telefono
      email: email
      street: indirizzo
      postcode: cap
      city: citta
      country: paese
    identifiers:
      national_id: codice_fiscale
"""


def splink_frames(root: Path) -> dict[str, pd.DataFrame]:
    """The three files in the columns plain Splink is given (given_name, surname, date_of_birth as yyyymmdd when the
    file's first format reads it, postcode, address_1), read as a user would before any cleaning of their own."""
    raw = root / "raw"
    erp = pd.read_csv(next((raw / "erp").rglob("*.csv")), sep=";", encoding="cp1252", dtype=str)
    web = pd.read_csv(next((raw / "web").rglob("*.csv")), dtype=str)
    loyalty = pd.read_csv(next((raw / "fidelidade").rglob("*.csv")), sep=";", encoding="cp1252", dtype=str)

    def dates(values: pd.Series, fmt: str) -> pd.Series:
        return pd.to_datetime(values, format=fmt, errors="coerce").dt.strftime("%Y%m%d")

    full = web["nombre_completo"].fillna("").str.replace(",", "")
    frames = {
        "erp": pd.DataFrame({"rec_id": erp["COD_CLIENTE"], "given_name": erp["NOMBRE"],
                             "surname": (erp["APELLIDO1"].fillna("") + " " + erp["APELLIDO2"].fillna("")).str.strip(),
                             "date_of_birth": dates(erp["F_NACIMIENTO"], "%d/%m/%Y"), "postcode": erp["CP"],
                             "address_1": erp["DIRECCION"]}),
        "web": pd.DataFrame({"rec_id": web["id_cliente"], "given_name": full.str.rsplit(" ", n=1).str[0],
                             "surname": full.str.rsplit(" ", n=1).str[-1],
                             "date_of_birth": dates(web["fecha_nac"], "%Y/%m/%d"), "postcode": web["cp"],
                             "address_1": web["direccion"]}),
        "fidelidade": pd.DataFrame({"rec_id": loyalty["tessera"], "given_name": loyalty["nome"],
                                    "surname": loyalty["cognome"],
                                    "date_of_birth": dates(loyalty["data_nascita"], "%d/%m/%y"),
                                    "postcode": loyalty["cap"], "address_1": loyalty["indirizzo"]}),
    }
    return {src: f.astype("string") for src, f in frames.items()}
