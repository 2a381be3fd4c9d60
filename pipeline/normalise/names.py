"""Person names: a display form for people, a match form for linkage, nickname canonicalisation."""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from anyascii import anyascii

from pipeline.config import SEEDS_DIR
from pipeline.normalise import DIRECTION_MARKS, missing

_NON_LETTERS = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")


def to_ascii(text: str) -> str:
    """ASCII with the case kept: accents dropped, other scripts transliterated ('Lévêque' -> 'Leveque',
    'Strauß' -> 'Strauss', 'Иванов' -> 'Ivanov', 'Παπαδόπουλος' -> 'Papadopoulos', '王小明' -> 'WangXiaoMing')."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)
    if _GREEK.search(text):
        text = _GREEK_DIGRAPHS.sub(_greek_digraph, unicodedata.normalize("NFC", unicodedata.normalize("NFD", text)
                                                                       .replace("\u0301", "")))
    return "".join(_ascii_char(c) for c in text)


# Greek digraphs as ELOT 743 (the Greek passport's romanisation) spells them; letter by letter, 'Παπαδοπούλου' was
# 'papadopoyloy' and 'Ευάγγελος' 'eyaggelos', never equal to the same person's Latin-script record ('Papadopoulou',
# 'Evangelos'). The acute accent is dropped first; a diaeresis (ϊ, ϋ) marks two vowels, no digraph, so it stays.
_GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")
_GREEK_DIGRAPHS = re.compile(r"(?i)(ου)|([αεη])υ(?=([αεηιουωβγδζλμνρ])?)|(γ[γξχ])|(^|(?<=\s))μπ|μπ(?=\s|$)")


def _greek_digraph(match: re.Match) -> str:
    text = match[0]
    if match[1]:
        latin = "ou"
    elif match[2]:  # av/ev/iv before a vowel or a voiced consonant, af/ef/if before a voiceless one or at the end
        latin = {"α": "a", "ε": "e", "η": "i"}[match[2].lower()] + ("v" if match[3] else "f")
    elif match[4]:
        latin = {"γγ": "ng", "γξ": "nx", "γχ": "nch"}[text.lower()]
    else:
        latin = "b"
    if text.isupper() and len(text) > 1:
        return latin.upper()
    return latin.capitalize() if text[0].isupper() else latin


@lru_cache(maxsize=4096)
def _ascii_char(char: str) -> str:
    # Unicode's compatibility decomposition first: it is what Latin text has always folded by ('é' -> 'e',
    # 'ﬁ' -> 'fi'). A letter it leaves non-ASCII (ß, ø, Cyrillic, Greek, Arabic, CJK...) is transliterated by
    # anyascii, which spells those Latin letters as the project's table did (ß -> ss, ø -> o, þ -> th, ŋ -> ng).
    # Symbols are not: anyascii would turn an emoji into a word (':grinning:'), a name no one has.
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if decomposed.isascii() or unicodedata.category(char)[0] not in "LMN":
        return decomposed
    # A letter anyascii spells as an apostrophe (Cyrillic's soft and hard signs, Arabic's ayn and hamza) is part of
    # its word: kept, the match form cut 'Ольга' into 'ol ga', never the 'olga' of a Latin-script record.
    latin = anyascii(char)
    return latin.replace("'", "").replace("`", "") if unicodedata.category(char) in ("Lu", "Ll", "Lo") else latin


def clean(value: object) -> str | None:
    """Trimmed text with inner whitespace collapsed, or None for empty values."""
    # The usual case without the regex: printable ASCII (no whitespace but ' '), no space at either end or twice in
    # a row, is clean as it is (the 1M demo's ~300k distinct streets).
    if type(value) is str and value and value.isascii() and value.isprintable() and "  " not in value \
            and value[0] != " " and value[-1] != " ":
        return value
    if missing(value):
        return None
    text = _SPACES.sub(" ", str(value).translate(_NO_MARKS)).strip()
    return text or None


_NO_MARKS = dict.fromkeys(map(ord, DIRECTION_MARKS))  # inside a name too: '‏דוד כהן‏' (normalise.DIRECTION_MARKS)


def match_form(value: object) -> str | None:
    """Lower-case ASCII letters and single spaces: 'Jean-Pierre  LÉVÊQUE' -> 'jean pierre leveque',
    'Иванов' -> 'ivanov'. Linkage compares these; people read display_form, in the script they wrote."""
    text = clean(value)
    if text is None:
        return None
    text = _NON_LETTERS.sub(" ", to_ascii(text).lower())
    return _SPACES.sub(" ", text).strip() or None


# A word: a letter, then letters and the combining marks written after them (a decomposed 'ễ' is 'e' and two marks).
_WORD = re.compile(r"[^\W\d_][^\W\d_\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*")


def _capitalised(match: re.Match, dotted: bool = False, given: bool = False) -> str:
    # Turkish capital İ lowers to 'i' and a combining dot in Python ('İSMAİL' was 'İSmai̇L': the dot ended the
    # word); dotted, it is the 'i' of the same name written in lower case. A capital first letter is kept as written.
    # `dotted`: the record's language cases i with a dot and ı without (DOTLESS_I_COUNTRIES): 'IŞIK' is 'Işık'.
    word = match[0]
    if word.lower() in ("ii", "iii", "iv"):  # a generational suffix ('James Brown III' displayed 'Brown Iii')
        return word.upper()
    # 'MCCARTHY', 'mcdonald' (a CRM in capitals) were 'Mccarthy'; a given name is not a patronymic ('MCIHAEL', a
    # typed Michael, was 'McIhael'; 'MCKENZIE' is 'Mckenzie' as a first name)
    if not given and len(word) > 3 and word[:2].lower() == "mc":
        return "Mc" + _capitalised(re.match(r".+", word[2:]), dotted)
    head = word[0] if word[0].isupper() else "İ" if dotted and word[0] == "i" else word[0].capitalize()
    return head + (word[1:].replace("I", "ı") if dotted else word[1:]).replace("İ", "i").lower()


# Countries whose language cases i with a dot and ı without (Turkish, Azerbaijani): their capital I lowers to ı and
# their i capitalises to İ. Python's casing follows no language: a Turkish CRM's 'IŞIK' was displayed 'Işik' and a
# lower-case 'istanbul' 'Istanbul', another word there (sixteenth session).
DOTLESS_I_COUNTRIES = frozenset({"TR", "AZ"})


def casing(country: object) -> str:
    """The casing rules of a record's country for display_form: 'dotted' where i and ı are two letters, else ''."""
    return "dotted" if country in DOTLESS_I_COUNTRIES else ""


def display_form(value: object, rules: str = "", given: bool = False) -> str | None:
    """Capitalised words with accents kept: 'DUPONT' -> 'Dupont', 'jean-pierre' -> 'Jean-Pierre', 'İSMAİL' ->
    'İsmail'; under `rules` 'dotted' (casing: a Turkish or Azerbaijani record) 'IŞIK' -> 'Işık', 'istanbul' ->
    'İstanbul'; `given` for a first name (no 'Mc' prefix read in it). Composed (NFC): a name typed on a system that decomposes accents ('NguyễN', two marks ending the word,
    until 2026-11-28) reads and compares as the same name typed elsewhere."""
    text = clean(value)
    if text is None:
        return None
    text = unicodedata.normalize("NFC", text)
    dotted = rules == "dotted"
    if text.lower() != text != text.upper():  # written in both cases: the writer's capitals say something
        return _WORD.sub(lambda m: _capitalised_as_written(m, dotted, given), text)
    return _WORD.sub(lambda m: _capitalised(m, dotted, given), text)


# The small words of a place's name ('Frankfurt am Main', 'Boulogne-sur-Mer': displayed 'Am', 'Sur' until then).
_PLACE_LINKS = {"am", "im", "ob", "bei", "auf", "sur", "sous", "lès", "les", "upon"}


def _capitalised_as_written(match: re.Match, dotted: bool = False, given: bool = False) -> str:
    # A name its system wrote in both cases keeps a particle in lower case and capitals inside a word ('von Bülow',
    # 'McDonald', 'DiCaprio': displayed 'Von Bülow', 'Mcdonald' until the fourteenth session); a word in capitals or
    # in lower case alone ('Jean DUPONT', 'müller') is capitalised as any other, and so is a word whose capital comes
    # after a small letter at its start ('eJan', 'uArel': a typo's swapped letters, no Mc or Di).
    word = match[0]
    if word in _PARTICLES or f"{word}'" in _PARTICLES or word in _TRAILING_PARTICLES or word in _PLACE_LINKS or (
            word[0].isupper() and any(a.islower() and b.isupper() for a, b in zip(word, word[1:], strict=False))):
        return word
    return _capitalised(match, dotted, given)


@lru_cache(maxsize=4)
def letter_spellings(path: Path = SEEDS_DIR / "letter_spellings.csv") -> dict[str, str]:
    """letter -> its ASCII spelling in its language, lower and upper case ('ü' -> 'ue', 'Ü' -> 'Ue'), from
    seeds/letter_spellings.csv: what a system without the letter writes instead of dropping its marks (`Mueller`)."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = [(r["letter"].strip(), r["spelling"].strip()) for r in csv.DictReader(handle)]
    return {k: v for letter, spelling in rows
            for k, v in ((letter.lower(), spelling.lower()), (letter.upper(), spelling.capitalize()))}


def spelled(text: str, letters: dict[str, str]) -> str:
    """`text` with each listed letter written as its spelling ('Müller' -> 'Mueller')."""
    return "".join(letters.get(c, c) for c in text)


@lru_cache(maxsize=4)
def nickname_table(path: Path = SEEDS_DIR / "nicknames.csv") -> dict[str, str]:
    """variant -> canonical first name (both in match form), from seeds/nicknames.csv."""
    table: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name, variant = match_form(row["name"]), match_form(row["variant"])
            if name and variant:
                table.setdefault(variant, name)
    return table


@lru_cache(maxsize=4)
def nickname_groups(path: Path = SEEDS_DIR / "nicknames.csv") -> dict[str, frozenset[str]]:
    """name or variant -> every formal name it can stand for ('tony' -> {anthony, antoine})."""
    groups: dict[str, set[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name, variant = match_form(row["name"]), match_form(row["variant"])
            if name and variant:
                groups.setdefault(variant, set()).add(name)
                groups.setdefault(name, set()).add(name)
    return {k: frozenset(v) for k, v in groups.items()}


def canonical_first_name(match_name: str | None, nicknames: dict[str, str]) -> str | None:
    """The formal first name behind a short form: 'alex' -> 'alexandre'; others unchanged. A middle initial after
    the name is not part of it ('william h' -> 'william', as 'bill' is: an American first-name field holds 'William
    H.', and the nickname level never met it)."""
    if missing(match_name):
        return None
    words = match_name.split(" ")
    while len(words) > 1 and len(words[-1]) == 1 and len(words[0]) > 1:  # initials alone stay as they are
        words.pop()
    name = " ".join(words)
    return nicknames.get(name, name)


_NOT_IN_NAMES = re.compile(r"[\d\x00-\x1f\x7f-\x9f@=<>{}\[\]|\\/#$%^*+;:!?_\"]")  # C0 and C1 controls too


# Words that join two people's names or titles ('Mr & Mrs', 'David and Susan', 'M. et Mme', 'Herr und Frau'); never
# a word of one person's name. Not Spanish 'y' nor Portuguese 'e': they join a person's two surnames.
_JOINERS = {"&", "and", "et", "und"}
_TITLE_JOINERS = _JOINERS | {"y", "e"}  # between two titles they join two people: 'Sr. y Sra. García'
COUPLE = "two people's names (a couple's record?): not one person's"


def implausible(value: object) -> str | None:
    """Why a value cannot be a person's name ('007', 'J3an', a NUL byte, '=cmd', a couple's 'David & Susan'), or
    None. Such a name is left out of staging (kept raw, listed in field_issues): it must not reach the golden record
    ('David and Susan' was a first name, published, and linked the couple's record to the husband)."""
    text = clean(value)
    if text is None:
        return None
    if _NOT_IN_NAMES.search(text) or not any(ch.isalpha() for ch in text):
        return "not a name (digits, control characters or symbols)"
    if _JOINERS & {w.lower() for w in text.split()}:
        return COUPLE
    return None


# A title as its own language writes it: French usage for French titles ('Mademoiselle' is no longer used in
# administration), and the others kept in theirs. Every title was read as 'M.' or 'Mme' until the fifteenth session: a
# British customer's letter was addressed 'M. David Brown', and a 'Dr' or 'Prof' title was dropped.
_CIVILITIES = {"m": "M.", "monsieur": "M.", "mme": "Mme", "madame": "Mme", "mlle": "Mme", "mademoiselle": "Mme",
               "mr": "Mr", "mrs": "Mrs", "ms": "Ms", "miss": "Miss", "mx": "Mx", "dr": "Dr", "prof": "Prof",
               "rev": "Rev", "sir": "Sir", "dame": "Dame",
               "herr": "Herr", "frau": "Frau", "sr": "Sr.", "sra": "Sra.", "señor": "Sr.", "señora": "Sra.",
               "sig": "Sig.", "signor": "Sig.", "signora": "Sig.ra", "dhr": "Dhr.", "mevr": "Mevr."}


def civility(value: object) -> str | None:
    """A title as its language writes it ('mr' -> 'Mr', 'MADAME' -> 'Mme'), None if unknown."""
    text = clean(value)
    return _CIVILITIES.get(text.lower().rstrip(".")) if text else None


# Titles a full name may open with that say nothing of the person's sex (the civilities above are titles too).
_TITLES = {"dr", "prof", "mx", "me", "maitre", "maître", "pr"}


def _is_title(word: str) -> bool:
    return word.lower().rstrip(".") in _TITLES
# Words that open a surname rather than end a given name: 'Ludwig van Beethoven', 'Jean de La Fontaine'.
_PARTICLES = {"de", "del", "della", "der", "den", "des", "di", "du", "da", "dos", "das", "do", "van", "von", "vom",
              "zu", "ten", "ter", "le", "la", "bin", "ibn", "al", "el", "ben", "af", "av", "d'", "l'"}


# Particles a Dutch or German surname opens with, which an alphabetical list writes after it ('Berg, van der',
# 'Vries de', 'Berg, Jan van der'): the Dutch telephone-book and CRM habit.
_TRAILING_PARTICLES = {"van", "der", "den", "de", "het", "'t", "ten", "ter", "te", "von", "vom", "zu", "zur"}
# Generational suffixes that end an English name ('John Smith Jr.', 'James Brown III'): part of the surname as a
# web shop's last-name field holds it ('Smith Jr.'), never a surname alone.
_SUFFIXES = {"jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "2nd", "3rd", "4th"}


def _suffix(word: str) -> bool:
    return word.lower().rstrip(".,") in _SUFFIXES


def particles_first(value: object) -> str | None:
    """A surname as it is said, its particles first, from the alphabetical order lists write it in: 'Berg, van der'
    and 'Berg van der' -> 'van der Berg', 'Vries de' -> 'de Vries' (they were another surname than the web shop's
    'van der Berg' to identity). Only particles move, and only from the end: 'Dupont, Martin' stays."""
    text = clean(value)
    if text is None:
        return None
    head, comma, tail = text.partition(",")
    words = (head + " " + tail).split() if comma else text.split()
    cut = len(words)
    while cut > 1 and words[cut - 1].lower() in _TRAILING_PARTICLES:
        cut -= 1
    if cut == len(words) or words[0].lower() in _TRAILING_PARTICLES or (comma and cut != len(head.split())):
        return text
    return " ".join(words[cut:] + words[:cut])


def _written_in_capitals(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


@lru_cache(maxsize=1 << 16)  # staging asks for each distinct full name three times: given names, surname, civility
def split_full_name(value: object, family_first: bool = False) -> tuple[str | None, str | None, str | None]:
    """(given names, surname, civility) of a name written in one column. Read as people write it, never guessed
    beyond that: a title first is the civility ('M. Jean Dupont', 'Frau Anna Weber'); 'Dupont, Jean' is surname,
    given; a surname in capitals beside a given name that is not is the surname wherever it stands ('DUPONT Jean
    Pierre', the French administrative habit); otherwise the source's order decides, the surname being the last
    word (the first when `family_first`) with the particles that open it ('Ludwig van Beethoven'). One word alone
    is a surname. Identity compares first and last names crosswise as well, so a name split the wrong way round
    still links."""
    text = clean(value)
    if text is None:
        return None, None, None
    words = text.split(" ")
    title, joint = None, False
    # A one-letter word is a title only with its dot ('M. Dupont'): 'M Dupont' may be an initial.
    while len(words) > 1 and (len(words[0]) > 1 or words[0].endswith(".")) and (
            (found := civility(words[0])) or _is_title(words[0])):
        title = title or found
        words = words[1:]
        # a couple's titles ('Mr & Mrs David Brown', 'Mr and Mrs Taylor'): no one person's civility, and the joining
        # word no given name ('& Mrs David', 'And Mrs' were first names)
        if len(words) > 2 and words[0].lower() in _TITLE_JOINERS and (civility(words[1]) or _is_title(words[1])):
            joint, words = True, words[1:]
    title = None if joint else title
    # A generational suffix at the end stays with the surname, whatever the order ('Robert Smith Jr.': the
    # surname was 'Jr.', the given names 'Robert Smith').
    suffix = words.pop() if len(words) > 2 and _suffix(words[-1]) else None
    text = " ".join(words)
    if "," in text:
        family, _, given = (part.strip() for part in text.partition(","))
        words = given.split()
        if words and _suffix(words[-1]) and len(words) > 1:  # 'Smith, John Jr.'
            suffix = words.pop()
        cut = len(words)
        while cut > 1 and words[cut - 1].lower() in _TRAILING_PARTICLES:  # 'Berg, Jan van der'
            cut -= 1
        family = " ".join([*words[cut:], particles_first(family) or ""]).strip()
        given = " ".join(words[:cut])
        return given or None, _with(family, suffix) or None, title
    given, family, title = _split_words(words, text, title, family_first)
    return given, _with(family, suffix), title


def _with(family: str | None, suffix: str | None) -> str | None:
    return family if suffix is None else f"{family} {suffix}" if family else suffix


def _split_words(words: list[str], text: str, title: str | None,
                 family_first: bool) -> tuple[str | None, str | None, str | None]:
    capitals = [_written_in_capitals(w) for w in words]
    if any(capitals) and not all(capitals):
        cut = capitals.index(False) if capitals[0] else capitals.index(True)
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        if capitals[0] and not any(capitals[cut:]):
            return tail, head, title
        if not capitals[0] and all(capitals[cut:]):
            return head, tail, title
    if len(words) == 1:
        return None, text, title
    if family_first:
        cut = 1
        while cut < len(words) - 1 and words[cut - 1].lower() in _PARTICLES:
            cut += 1
        return " ".join(words[cut:]), " ".join(words[:cut]), title
    cut = len(words) - 1
    while cut > 1 and words[cut - 1].lower() in _PARTICLES:
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:]), title
