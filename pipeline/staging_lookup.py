"""Normalise a value once: a persisted lookup (kind, source region, raw value) -> normalised result.

Sources repeat the same phones, e-mails, names and streets day after day, and libphonenumber and
email-validator cost ~0.5 ms a value. `staging.normalised_values` keeps every result: a value seen on an
earlier day (in any source of the same region) is read back, never normalised again. Each row carries the
version of the code and libraries that produced it, so changing either recomputes instead of reusing.

What SQL can decide is decided in DuckDB, in bulk: an e-mail of plain ASCII letters, digits and `._+-`, with
no dot at either end or twice in a row and a dotted domain of letters, digits and inner hyphens, is valid as
written lower-cased (email-validator agrees; tests/test_staging_lookup.py checks it on every value of the demo
and the hostile files). A valid phone of the common shapes (`+33 6...`, `06...` with spaces, dots or dashes) is
decided in SQL written from libphonenumber's own metadata (staging_rules.py); the other phones are parsed once
per digit string. The rest goes to the libraries. A street of printable ASCII and accented Latin letters is
normalised in SQL (`_streets_sql`: no capitalisation, only word rules; 1.34 -> 0.63 CPU s for the 59,412 distinct
streets of the 100k person-only delivery when only ASCII ones were). A value normalised for one source of a run is
reused by the next source of the same run. Names and cities stay in Python, once per distinct
value: the same rules in SQL (per-character lambdas for the capitalisation) cost as much CPU as the Python
functions, measured (0.39 vs 0.30 CPU s for 25,000 names), so they bought nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import unicodedata
from collections.abc import Callable
from importlib.metadata import version

import duckdb
import numpy as np
import pandas as pd
from email_validator import SPECIAL_USE_DOMAIN_NAMES

from pipeline import staging_rules as rules
from pipeline.config import SEEDS_DIR
from pipeline.normalise import address, email, names, phone
from pipeline.sql import literal
from pipeline.warehouse import registered, scratch

TABLE = "staging.normalised_values"
# The results SQL decided in this transaction, as the lookup's JSON, kept on the connection until `save` (a round trip
# through pandas cost ~0.25 us a value each way: six values a result).
PENDING = "_normalised_pending"
# Valid as written (lower-cased): dot-atoms of [a-z0-9_+-] with a dotted domain ending in 2+ letters.
EMAIL_SQL = r"^[a-z0-9_+\-]+(\.[a-z0-9_+\-]+)*@([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,}$"
PHONE_SQL = r"^\+?[0-9][0-9 .\-]*$"  # digits with separators only: separators do not change the parse


# The accented Latin-1 letters SQL reads as Python does: a word character there, an ASCII letter and accents in
# Unicode's decomposition (to_ascii drops the accents, as DuckDB's strip_accents does), lower() kept in the set.
# 'ß', 'æ', 'ø' (no decomposition) and every other script stay with Python.
ACCENTED = "".join(c for c in map(chr, range(0xC0, 0x100)) if c.isalpha() and len(c.lower()) == 1
                   and (d := unicodedata.normalize("NFKD", c))[0].isascii() and len(d) > 1
                   and all(unicodedata.combining(m) for m in d[1:]))
STREET_SQL = f"^[ -~{ACCENTED}]*$"  # printable ASCII and accented letters: the streets SQL normalises (_streets_sql)


def _code_version() -> str:
    """Changes with the normalisation code or the libraries' versions (their metadata decide validity, anyascii's
    tables the match form of names, cities and streets in other scripts)."""
    # nicknames.csv: staging writes each record's formal first name from it (a row added restages every source).
    seeds = [(SEEDS_DIR / f).read_text(encoding="utf-8")
             for f in ("street_types.csv", "street_languages.csv", "nicknames.csv", "letter_spellings.csv")]
    text = "|".join([inspect.getsource(m) for m in (phone, email, names, address, rules)] + seeds
                    + [version("phonenumbers"), version("email-validator"), version("anyascii"), version("pycountry"),
                       EMAIL_SQL, PHONE_SQL])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


VERSION = _code_version()


def _name(value: str, context: str) -> tuple:
    """`context`: the casing rules of the record's country (names.casing), and GIVEN for a first name."""
    words = context.split()
    why = names.implausible(value)
    return (why, None, None) if why else (None, names.display_form(value, "dotted" if "dotted" in words else "",
                                                                   GIVEN in words), names.match_form(value))


def _city(value: str, rules: str) -> tuple:
    return names.display_form(value, rules), address.normalise_city(value)


def _street(value: str, region: str) -> tuple:
    return (address.normalise_street(value, address.street_types(region)),)


# kind -> fn(raw, region) -> tuple (JSON-safe values only)
KINDS: dict[str, Callable[[str, str], tuple]] = {
    "phone": lambda v, region: phone.normalise_phone(v, region),
    "email": lambda v, _: email.normalise_email(v),
    # a name is looked up in its context: its country's casing ('' almost everywhere), GIVEN for a first name
    "name": _name,
    "city": _city,
    "street": _street,  # abbreviations read in the language of the record's country
}


GIVEN = "given"  # a first name's part: displayed without a surname's 'Mc' prefix
WIDTHS = {"phone": 4, "email": 3, "name": 3, "city": 2, "street": 1}  # parts of each kind's result


def spread(results: np.ndarray, width: int, present: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
    """Tuples of `width` parts, one per distinct value, as `width` object arrays over the rows: row i gets part k of
    results[codes[j]] where it is the j-th row with `present`, None elsewhere (and where a result is not a tuple).
    Each part is one take over the rows from its distinct values and a trailing None (the rows without a value)."""
    rows = np.full(len(present), len(results), dtype=np.int64)
    rows[present] = codes
    split = list(zip(*(t if isinstance(t, tuple) else (None,) * width for t in results), strict=True)) \
        if len(results) else [()] * width
    parts = []
    for column in split:
        distinct = np.empty(len(column) + 1, dtype=object)  # the last one stays None
        distinct[:-1] = column
        parts.append(distinct[rows])
    return parts


class NormalisedValues:
    """The lookup for one staging transaction: reads known results from the warehouse (none without one),
    computes the others, and writes them back with `save`."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None):
        self.con = con
        self.new: dict[str, dict[tuple[str, str], tuple]] = {}  # kind -> (raw, region) -> result, this transaction
        self.unsaved: dict[str, dict[tuple[str, str], tuple]] = {}  # the part of `new` decided in Python (not PENDING)
        self.computed = 0
        self.reused = 0
        self.prefetched: dict[str, tuple[set, dict]] = {}  # kind -> (keys asked, known results): see prefetch
        self.factorised: list[tuple] = []  # (values, region, distinct_pairs of them): the columns prefetch factorised
        self.empty = con is None  # nothing to read back: a first day, a full refresh (see _known)
        if con is not None:
            con.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                kind VARCHAR, region VARCHAR, raw VARCHAR, version VARCHAR, result VARCHAR)""")
            self.empty = not con.execute(f"SELECT count(*) FROM (FROM {TABLE} WHERE version = ? LIMIT 1)",
                                         [VERSION]).fetchall()[0][0]
            # One lookup per connection at a time (one per staging transaction): what an unsaved one left goes.
            con.execute(f"CREATE OR REPLACE TEMP TABLE {PENDING} (kind VARCHAR, region VARCHAR, raw VARCHAR, result VARCHAR)")

    def prefetch(self, wanted: dict[str, list[tuple[pd.Series, pd.Series | str]]]) -> None:
        """Read back in one query the known results of the values `map` is about to be asked for (kind -> [(values,
        region)]): a join of the lookup costs ~13 ms at 100k source records, growing with it, and a source's person
        columns took six."""
        if self.con is None:
            return
        factorised = [(kind, values, region, distinct_pairs(values, region))
                      for kind, columns in wanted.items() for values, region in columns]
        self.factorised = [(values, region, pairs) for _, values, region, pairs in factorised]
        if self.empty:  # nothing to read back: _known answers without a query
            return
        keys = pd.concat([pairs[2].assign(kind=kind) for kind, _, _, pairs in factorised]).drop_duplicates()
        with registered(self.con, _lookup_keys=keys):
            rows = self.con.execute(f"""SELECT k.kind, k.raw, k.region, n.result FROM _lookup_keys k
                JOIN {TABLE} n ON n.kind = k.kind AND n.version = ? AND n.raw = k.raw AND n.region = k.region""",
                                    [VERSION]).fetchall()
        self.prefetched = {kind: (set(zip(group["raw"], group["region"], strict=True)), {})
                           for kind, group in keys.groupby("kind")}
        for kind, raw, region, result in rows:
            self.prefetched[kind][1][(raw, region)] = tuple(json.loads(result))

    def map(self, kind: str, values: pd.Series, region: pd.Series | str = "") -> pd.Series:
        """The normalised result (a tuple) of each value, None where the value is None."""
        present, pair_codes, by_pair = self._by_pair(kind, values, region)
        out = np.full(len(values), None, dtype=object)
        out[present] = by_pair[pair_codes]
        return pd.Series(out, index=values.index, dtype=object)

    def columns(self, kind: str, values: pd.Series, region: pd.Series | str = "") -> list[pd.Series]:
        """`map`'s results as one column per part of the tuple (None where the value is None): split once per
        distinct value, not per row (a million rows of tuples cost seconds)."""
        present, pair_codes, by_pair = self._by_pair(kind, values, region)
        return [pd.Series(part, index=values.index, dtype=object)
                for part in spread(by_pair, WIDTHS[kind], present, pair_codes)]

    def _by_pair(self, kind: str, values: pd.Series, region: pd.Series | str) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
        """Which rows hold a value, each such row's code, and the result of each distinct (value, region)."""
        present, pair_codes, distinct = next(
            (pairs for v, g, pairs in self.factorised if v is values and (g is region or (
                isinstance(g, str) and g == region))), None) or distinct_pairs(values, region)
        known, pending = self._known(kind, distinct), self.new.setdefault(kind, {})
        keys = list(zip(distinct["raw"], distinct["region"], strict=True))
        by_pair = np.empty(len(keys), dtype=object)
        todo = []
        for i, key in enumerate(keys):  # read back, or normalised already in this transaction (by another source)
            result = known.get(key) or pending.get(key)
            if result is None:
                todo.append(i)
            else:
                by_pair[i] = result
        self.reused += len(keys) - len(todo)
        decided, rest = self._compute(kind, distinct.iloc[todo])
        fresh = decided | rest
        self.computed += len(fresh)
        pending.update(fresh)
        self.unsaved.setdefault(kind, {}).update(rest)
        for i in todo:
            by_pair[i] = fresh[keys[i]]
        return present, pair_codes, by_pair

    def _known(self, kind: str, distinct: pd.DataFrame) -> dict[tuple[str, str], tuple]:
        if self.empty or distinct.empty:
            return {}
        asked, known = self.prefetched.get(kind, (set(), {}))
        wanted = list(zip(distinct["raw"], distinct["region"], strict=True))
        if all(key in asked for key in wanted):
            return {key: known[key] for key in wanted if key in known}
        with registered(self.con, _lookup_keys=distinct):
            rows = self.con.execute(f"""SELECT k.raw, k.region, n.result FROM _lookup_keys k
                JOIN {TABLE} n ON n.kind = ? AND n.version = ? AND n.raw = k.raw AND n.region = k.region""",
                                    [kind, VERSION]).fetchall()
        return {(r, g): tuple(json.loads(v)) for r, g, v in rows}

    def _compute(self, kind: str, todo: pd.DataFrame) -> tuple[dict, dict]:
        """The results of `todo`: those decided in SQL (kept in PENDING with a warehouse), and the others."""
        if todo.empty:
            return {}, {}
        fn = KINDS[kind]
        if kind == "email":
            return _emails(self.con, todo)
        if kind == "phone":
            return _phones(self.con, todo, fn)
        if kind == "street":
            return _streets(self.con, todo)
        return {}, {(r, g): fn(r, g) for r, g in zip(todo["raw"], todo["region"], strict=False)}

    def save(self) -> None:
        """Add the results computed in this transaction to the lookup."""
        if self.con is None:
            return
        self.con.execute(f"INSERT INTO {TABLE} SELECT kind, region, raw, ?, result FROM {PENDING}", [VERSION])
        self.con.execute(f"DELETE FROM {PENDING}")
        for kind, fresh in self.unsaved.items():  # results as JSON arrays written by DuckDB (json.dumps per value cost more)
            if not fresh:
                continue
            parts = [f"p{i}" for i in range(WIDTHS[kind])]
            frame = pd.DataFrame([(r, g, *v) for (r, g), v in fresh.items()], columns=["raw", "region", *parts],
                                 dtype=object)
            with registered(self.con, _lookup_new=frame):
                self.con.execute(f"INSERT INTO {TABLE} SELECT ?, region, raw, ?, json_array({', '.join(parts)})::VARCHAR "
                                 "FROM _lookup_new", [kind, VERSION])
        self.empty = self.empty and not self.computed
        self.new, self.unsaved = {}, {}


def distinct_pairs(values: pd.Series, region: pd.Series | str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Each distinct (value, region) once, by integer codes (a million rows of Python tuples cost seconds): which rows
    hold a value, the code of each such row's pair, and the pairs (raw, region)."""
    value_codes, value_uniques = pd.factorize(values.astype(object))
    if isinstance(region, pd.Series):
        region_codes, region_uniques = pd.factorize(region.fillna("").astype(object))
    else:  # one region for every row: no column of it to factorise (~0.15 CPU s a column at a million rows)
        region_codes, region_uniques = np.zeros(len(values), dtype=np.int64), np.array([region], dtype=object)
    present = value_codes >= 0
    width = len(region_uniques) + 1
    pair_codes, pairs = pd.factorize(value_codes[present].astype(np.int64) * width + region_codes[present])
    distinct = pd.DataFrame({"raw": np.asarray(value_uniques, dtype=object)[pairs // width],
                             "region": np.asarray(region_uniques, dtype=object)[pairs % width]}, dtype=object)
    return present, pair_codes, distinct


def _bulk(con: duckdb.DuckDBPyConnection | None, todo: pd.DataFrame, select: str, params: dict | None = None,
          keep: tuple[str, str] | None = None) -> list[tuple]:
    """Run `select` over the values to normalise (table _todo: raw, region): on the warehouse's connection, or an
    in-memory DuckDB without one. `keep` (kind, the lookup's JSON result over the select's columns, NULL where
    Python decides): with a warehouse, the results SQL decided also go to PENDING, for `save`."""
    if con is None:
        with scratch() as memory:
            return _bulk(memory, todo, select, params)
    with registered(con, _todo=todo):
        if keep is None:
            return con.execute(select, params or {}).fetchall()
        con.execute(f"CREATE OR REPLACE TEMP TABLE _bulk_rows AS {select}", params or {})
    kind, result = keep
    con.execute(f"INSERT INTO {PENDING} SELECT ?, region, raw, r FROM (SELECT *, {result} AS r FROM _bulk_rows) "
                "WHERE r IS NOT NULL", [kind])
    rows = con.execute("SELECT * FROM _bulk_rows").fetchall()
    con.execute("DROP TABLE _bulk_rows")
    return rows


def _emails(con: duckdb.DuckDBPyConnection | None, todo: pd.DataFrame) -> tuple[dict, dict]:
    # A special-use domain (.local, .test...) read by one regex: a lambda per listed name cost 3.9 of 6.3 CPU s
    # for the 533,786 distinct e-mails of the 1M person-only delivery.
    special = literal(r"(^|\.)(" + "|".join(re.escape(s) for s in SPECIAL_USE_DOMAIN_NAMES) + ")$")
    rows = _bulk(con, todo, f"""
        WITH lowered AS (SELECT raw, region, lower(trim(raw)) AS text FROM _todo),
        parts AS (SELECT *, split_part(text, '@', 1) AS local, split_part(text, '@', 2) AS domain FROM lowered)
        SELECT raw, region, text,
          regexp_full_match(text, '{EMAIL_SQL}') AND length(text) <= 254 AND length(local) <= 64
          AND NOT contains(domain, '--')  -- IDNA labels (xn--): the library decides
          AND NOT regexp_matches(domain, {special})
          AND list_bool_and(list_transform(string_split(domain, '.'), lambda l: length(l) <= 63)) AS plain
        FROM parts""", keep=("email", "CASE WHEN plain THEN json_array(text, true, NULL)::VARCHAR END"))
    return ({(raw, region): (text, True, None) for raw, region, text, plain in rows if plain},
            {(raw, region): email.normalise_email(raw) for raw, region, _, plain in rows if not plain})


def _phones(con: duckdb.DuckDBPyConnection | None, todo: pd.DataFrame, fn: Callable) -> tuple[dict, dict]:
    """Valid numbers of the common shapes decided in SQL from libphonenumber's metadata (staging_rules.py); the
    others parsed by the library once per digit string."""
    regions = [(r, sql) for r in sorted(todo["region"].unique()) if (sql := rules.phone_rules(r))]
    by_region = lambda part: "CASE region " + " ".join(  # noqa: E731
        f"WHEN {literal(r)} THEN {part(sql)}" for r, sql in regions) + " END" if regions else "NULL"
    rows = _bulk(con, todo, f"""
        WITH cleaned AS (
            SELECT raw, region, CASE WHEN regexp_full_match(trim(raw), '{PHONE_SQL}')
                THEN regexp_replace(trim(raw), '[ .\\-]', '', 'g') ELSE raw END AS digits FROM _todo),
        shaped AS (SELECT *, CASE WHEN starts_with(digits, '00') THEN '+' || substr(digits, 3) ELSE digits END AS d
                   FROM cleaned),
        split AS (SELECT raw, region, digits, {by_region(lambda sql: sql.nsn)} AS n FROM shaped),
        typed AS (SELECT raw, region, digits, n, {by_region(lambda sql: sql.kind)} AS kind FROM split)
        SELECT raw, region, digits, '+' || {by_region(lambda sql: literal(sql.code))} || n AS e164, kind FROM typed""",
                 keep=("phone", "CASE WHEN kind IS NOT NULL THEN json_array(e164, true, kind, NULL)::VARCHAR END"))
    parsed: dict[tuple[str, str], tuple] = {}
    decided, rest = {}, {}
    for raw, region, digits, e164, kind in rows:
        if kind is not None:
            decided[(raw, region)] = (e164, True, kind, None)
            continue
        key = (digits, region)
        if key not in parsed:
            parsed[key] = fn(digits, region)
        rest[(raw, region)] = parsed[key]
    return decided, rest


def _streets(con: duckdb.DuckDBPyConnection | None, todo: pd.DataFrame) -> tuple[dict, dict]:
    """normalise_street of each (street, country): in SQL per country (`_streets_sql`), or in Python for a country
    whose languages glue abbreviations to the name."""
    decided: dict[tuple[str, str], tuple] = {}
    rest: dict[tuple[str, str], tuple] = {}
    for region, group in todo.groupby("region", sort=False):  # abbreviations are read per country's languages
        types = address.street_types(region)
        if types.endings:  # abbreviations glued to the name ('Hauptstr.'): Python reads them
            rest.update({(raw, region): _street(raw, region) for raw in group["raw"]})
        else:
            in_sql, in_python = _streets_sql(con, group, types.words)
            decided.update(in_sql)
            rest.update(in_python)
    return decided, rest


def _streets_sql(con: duckdb.DuckDBPyConnection | None, todo: pd.DataFrame,
                 types: dict[str, str]) -> tuple[dict, dict]:
    """normalise_street in SQL for streets of printable ASCII and accented Latin letters (STREET_SQL: where Python's
    \\w, \\s, \\b and lower() are RE2's and DuckDB's once the accented letters count as word characters): whitespace
    collapsed, '12 bis' joined, punctuation to spaces, house numbers lower-cased (accents dropped), other words in match form (accents
    dropped) with the country's street types (`types`) spelled out. The others (other scripts, other spaces, 'bis'
    glued to an accented letter, where RE2's ASCII \\b is not Python's) go to Python: 75,705 of the 562,714
    distinct streets of the 1M person-only delivery went there before accented letters were read in SQL."""
    rows = _bulk(con, todo, f"""
        WITH cleaned AS (
            SELECT raw, region, regexp_full_match(raw, '{STREET_SQL}')
                                AND NOT regexp_matches(raw, '(?i:bis|ter)[{ACCENTED}]') AS plain,
                   regexp_replace(regexp_replace(trim(regexp_replace(raw, ' +', ' ', 'g')),
                       '([0-9]) *((?i:bis|ter))\\b', '\\1\\2', 'g'), '[^A-Za-z0-9_ {ACCENTED}]', ' ', 'g') AS text
            FROM _todo)
        SELECT raw, region, plain, nullif(array_to_string(flatten(list_transform(
            list_filter(string_split(text, ' '), lambda w: w <> ''),
            lambda w: CASE WHEN regexp_matches(w, '[0-9]') THEN [strip_accents(lower(w))]
                           ELSE list_transform(list_filter(string_split(strip_accents(lower(w)), '_'),
                                                           lambda x: x <> ''),
                                               lambda x: coalesce(map_extract_value(map($abbreviations, $types), x), x))
                      END)), ' '), '') AS street
        FROM cleaned""", {"abbreviations": list(types), "types": list(types.values())},
                 keep=("street", "CASE WHEN plain THEN json_array(street)::VARCHAR END"))
    return ({(raw, region): (street,) for raw, region, plain, street in rows if plain},
            {(raw, region): _street(raw, region) for raw, region, plain, _ in rows if not plain})
