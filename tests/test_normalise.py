"""Normalisation of single values: phones, e-mails, names and accents, addresses, dates, decimals."""

import unicodedata
from datetime import date, datetime

import pytest

from pipeline.normalise import address, email, names, phone, values


@pytest.mark.parametrize("raw", ["06 12 34 56 78", "0612345678", "+33612345678", "0033 6 12 34 56 78",
                                 "06.12.34.56.78", "+33 (0)6 12 34 56 78"])
def test_french_mobile_formats_give_one_e164(raw):
    assert phone.normalise_phone(raw) == ("+33612345678", True, "mobile", None)


def test_landline_and_garbage_phone():
    assert phone.normalise_phone("01 42 68 53 00")[:3] == ("+33142685300", True, "landline")
    e164, valid, kind, reason = phone.normalise_phone("12345")
    assert (e164, valid) == (None, False) and reason
    assert phone.normalise_phone("  ") == (None, False, None, None)


def test_email_normalised_and_match_key():
    addr, valid, _ = email.normalise_email("  Jean.Dupont+Promo@GMAIL.com ")
    assert (addr, valid) == ("jean.dupont+promo@gmail.com", True)
    assert email.email_match_key(addr) == "jeandupont@gmail.com"
    assert email.email_match_key("marie.curie+x@orange.fr") == "marie.curie@orange.fr"
    bad, valid, reason = email.normalise_email("jean.dupont@@gmail")
    assert not valid and reason


def test_names_accents_case_and_display():
    assert names.match_form("  Jean-Pierre   LÉVÊQUE ") == "jean pierre leveque"
    assert names.display_form("DUPONT") == "Dupont"
    assert names.display_form("jean-pierre") == "Jean-Pierre"
    assert names.display_form("ÉLODIE") == "Élodie"
    assert names.match_form("   ") is None
    # Letters Unicode does not decompose are spelt out, not dropped (German, Scandinavian, Polish names).
    assert names.match_form("Strauß") == "strauss" and names.match_form("Hauptstraße") == "hauptstrasse"
    assert names.match_form("Søren Łukasz") == "soren lukasz" and names.match_form("Œuvray") == "oeuvray"
    assert names.match_form("Ærøskøbing Đorđević Þórsson") == "aeroskobing dordevic thorsson"
    assert names.match_form("FAßBINDER") == names.match_form("Fassbinder") == "fassbinder"
    assert names.match_form("Gaŀla Ħal Ŧom") == "galla hal tom"  # Catalan l·l, Maltese, Sami: one word each
    assert names.match_form("GROẞ Ðóra Işık Ŋŋ") == "gross dora isik ngng"


def test_names_in_other_scripts_are_transliterated_for_matching_and_displayed_as_written():
    assert names.match_form("Иванов") == names.match_form("IVANOV") == "ivanov"
    assert names.match_form("Иван Петрович") == "ivan petrovich"
    assert names.match_form("Παπαδόπουλος") == "papadopoulos" and names.match_form("Ελένη") == "eleni"
    assert names.match_form("محمد") == "mhmd" and names.match_form("כהן") == "khhn"
    assert names.match_form("王小明") == "wangxiaoming" and names.match_form("김민준") == "gimminjun"
    assert names.display_form("ИВАНОВ") == "Иванов" and names.display_form("παπαδόπουλος") == "Παπαδόπουλος"
    assert names.match_form("Le\u0301a") == names.match_form("Léa") == "lea"  # decomposed accents: the same
    # Symbols are not letters: anyascii would spell an emoji or a sign as a word (':grinning:', '(C)').
    assert names.match_form("Jean 😀") == "jean" and names.match_form("©") is None
    assert address.normalise_city("Москва") == "moskva" and address.normalise_city("Αθήνα") == "athina"
    assert address.normalise_street("ул. Тверская, 7", address.street_types()) == "ul tverskaya 7"


def test_nickname_resolves_to_formal_name():
    table = names.nickname_table()
    assert names.canonical_first_name("alex", table) == "alexandre"
    assert names.canonical_first_name("jean", table) == "jean"


def test_street_types_expanded_and_postcode_zero_restored():
    types = address.street_types()
    assert address.normalise_street("12, bd Haussmann", types) == "12 boulevard haussmann"
    assert address.normalise_street("3 bis Av. de la République", types) == "3bis avenue de la republique"
    assert address.normalise_postcode("1000") == ("01000", True)
    assert address.normalise_postcode("75 008") == ("75008", True)
    assert address.normalise_postcode("ABCDE") == (None, False)
    assert address.normalise_city("ST-DENIS") == "saint denis"
    assert address.normalise_street("12 Hauptstraße", types) == address.normalise_street("12 Hauptstrasse", types) \
        == "12 hauptstrasse"
    assert address.normalise_city("Gießen") == "giessen" and address.normalise_city("Tromsø") == "tromso"


def test_german_street_abbreviations_are_read_in_german_addresses_only():
    """seeds/street_types.csv holds a table per language, seeds/street_languages.csv each country's: 'Str.' and a
    glued 'Hauptstr.' are read as Straße in a German address, 'Pl.' as Platz there and as place in a French one."""
    de, fr, ch = address.street_types("DE"), address.street_types("FR"), address.street_types("CH")
    street = address.normalise_street
    assert street("Hauptstr. 5", de) == street("Hauptstraße 5", de) == street("HAUPTSTRASSE 5", de) == "hauptstrasse 5"
    assert street("Berliner Str. 12", de) == street("Berliner Straße 12", de) == "berliner strasse 12"
    assert street("Marktpl. 1", de) == "marktplatz 1" and street("Pl. der Republik 3", de) == "platz der republik 3"
    assert street("Pl. de la Gare 3", fr) == "place de la gare 3" and street("Hauptstr. 5", fr) == "hauptstr 5"
    assert street("Pl. de la Gare 3", ch) == "place de la gare 3" and street("Bahnhofstr. 7", ch) == "bahnhofstrasse 7"
    assert street("Strasse 4", de) == "strasse 4" and street("Str 4", de) == "strasse 4"
    assert address.street_types("AU") == address.street_types(None) == fr  # a country listed nowhere reads French


def test_street_forms_outside_german_speaking_countries_are_unchanged():
    """The tables per language changed no form an address of a country without German had (the French table alone,
    as every address was read before): every abbreviation of the French table, in every position, and glued forms."""
    fr = address.street_types("FR")
    old = {r["abbreviation"]: r["street_type"] for r in address._rows(address.SEEDS_DIR / "street_types.csv")
           if r["language"] == "fr"}
    assert fr.words == old and not fr.endings
    for abbreviation in old:  # each word read as the one table read it, none glued to a longer word
        for word in (abbreviation, f"hauptstr{abbreviation}", f"x{abbreviation}", "str", "hauptstr", "marktpl"):
            assert fr.expand(word) == old.get(word, word)
    assert address.normalise_street("12 bis, Av. du Général de Gaulle", fr) == "12bis avenue du general de gaulle"


def test_dates_in_source_formats_and_impossible_dates():
    assert values.parse_datetime("05/03/1984", ("%d/%m/%Y",)) == (datetime(1984, 3, 5), None)
    assert values.parse_datetime("2024-01-02T10:11:12", ("%Y-%m-%d",))[0] == datetime(2024, 1, 2, 10, 11, 12)
    born, reason = values.parse_birth_date("31/02/1985", ("%d/%m/%Y",), date(2026, 1, 1))
    assert born is None and "31/02/1985" in reason
    born, reason = values.parse_birth_date("1850-01-01", ("%Y-%m-%d",), date(2026, 1, 1))
    assert born is None and "implausible" in reason


def test_spanish_italian_and_portuguese_streets_are_read_in_their_language():
    """A Spanish ERP's 'C/ Mayor 5, 3º 2ª' and its till's 'Calle Mayor 5, 3o 2a' were two streets to identity (the
    French table read ES addresses, and the ordinal marks stayed): one form now, in each country's language."""
    es, it, pt = (address.street_types(c) for c in ("ES", "IT", "PT"))
    assert address.normalise_street("C/ Mayor 5, 3º 2ª", es) == address.normalise_street("Calle Mayor 5, 3o 2a", es) \
        == "calle mayor 5 3o 2a"
    assert address.normalise_street("Avda. de la Constitución 12", es) == "avenida de la constitucion 12"
    assert address.normalise_street("Pº de Gràcia 105", es) == "paseo de gracia 105"
    assert address.normalise_street("Vle dei Mille 3", it) == "viale dei mille 3"
    assert address.normalise_street("Av. da Liberdade 3", pt) == "avenida da liberdade 3"
    assert address.normalise_street("R. Augusta 12", pt) == "rua augusta 12"
    # abbreviated inside the word: 'V.le' was 'v le' (via, then a stray 'le'); initials stay initials
    assert address.normalise_street("V.le dei Mille 3", it) == "viale dei mille 3"
    assert address.normalise_street("P.za Garibaldi 1", it) == address.normalise_street("Piazza Garibaldi 1", it)
    assert address.normalise_street("Av.da da Liberdade 3", pt) == "avenida da liberdade 3"
    assert address.normalise_street("Via G.B. Vico 4", it) == "via g b vico 4"


def test_a_birth_date_with_a_two_digit_year_is_in_the_past():
    today, till = date(2026, 11, 20), ("%d/%m/%y",)  # a loyalty till's 12/03/55: strptime reads 2055
    assert values.parse_birth_dates(["12/03/55", "12/03/80", "01/02/04", "29/02/56"], till, today) == [
        (date(1955, 3, 12), None), (date(1980, 3, 12), None), (date(2004, 2, 1), None), (date(1956, 2, 29), None)]
    born, reason = values.parse_birth_date("12/03/2055", ("%d/%m/%Y",), today)  # four digits: as written
    assert born is None and "implausible" in reason


def test_a_date_two_declared_formats_read_as_two_dates_is_not_read():
    both = ("%d/%m/%Y", "%m/%d/%Y")  # a source mixing day first and month first
    today = date(2026, 1, 1)
    values_ = ["03/04/1980", "13/04/1980", "04/13/1980", "05/05/1980", "1980-04-03"]
    bulk = values.parse_birth_dates(values_, both, today)  # DuckDB decides most values in bulk: it must agree
    assert bulk == [values.parse_birth_date(v, both, today) for v in values_]
    assert [born for born, _ in bulk] == [None, date(1980, 4, 13), date(1980, 4, 13), date(1980, 5, 5),
                                          date(1980, 4, 3)]
    assert bulk[0][1] == ("'03/04/1980' is ambiguous: 1980-04-03 (%d/%m/%Y) or 1980-03-04 (%m/%d/%Y) under the "
                          "declared formats ['%d/%m/%Y', '%m/%d/%Y']")
    assert values.parse_birth_dates(["03/04/1980"], both[:1], today) == [(date(1980, 4, 3), None)]  # one: no doubt
    # %Y reading a two-digit year (year 80) does not count against %y's full one
    assert values.parse_datetime("03/04/80", ("%d/%m/%Y", "%d/%m/%y")) == (datetime(1980, 4, 3), None)


def test_french_decimal_comma():
    assert values.parse_decimal("125,50", ",") == (125.5, None)
    assert values.parse_decimal("1 234,50", ",") == (1234.5, None)
    assert values.parse_decimal("1,234.50", ".") == (1234.5, None)
    assert values.parse_decimal("douze", ",")[0] is None


def test_a_mark_groups_thousands_only_by_three_digits():
    # Read with the other mark dropped, each of these was a hundred or a thousand times too large, silently.
    for text, declared, number in [("12,50", ".", 12.5), ("12.5", ",", 12.5), ("1.234,56", ".", 1234.56),
                                   ("1.234", ",", 1234.0), ("1.234", ".", 1.234), ("1,234,567.5", ".", 1234567.5),
                                   ("1.234.567", ".", 1234567.0), ("1'234.50", ".", 1234.5)]:
        assert values.parse_decimal(text, declared) == (number, None), text
    for text in ("1,23,456", "1.2.3", "12,5,6", "inf", "nan", "1.23,4"):
        assert values.parse_decimal(text, ".")[0] is None, text


def test_currency_codes_and_accounting_negatives_are_read():
    # Each was a field issue, its amount left out of the customer's revenue (an ERP's refund `12,00-` among them).
    for text, declared, number in [("CHF 12.50", ".", 12.5), ("12,50 EUR", ",", 12.5), ("USD1,234.50", ".", 1234.5),
                                   ("(12,00)", ",", -12.0), ("1.234,56-", ",", -1234.56), ("(CHF 3.20)", ".", -3.2),
                                   ("¥1,200", ".", 1200.0), ("-5", ".", -5.0)]:
        assert values.parse_decimal(text, declared) == (number, None), text
    for text in ("(-12)", "-12-", "EUR", "(12", "12eur50", "eur", "12 apples", "3 cup", "12 app"):
        assert values.parse_decimal(text, ".")[0] is None, text


def test_currencies_written_in_words_or_lower_case_are_read_and_other_words_are_not():
    # Each was a field issue, the amount left out of the revenue; a word that is no currency (`12 apples`, `3 cup`:
    # Cuba's peso and a unit) stays one, never an amount.
    for text, declared, number in [("12 euros", ",", 12.0), ("12,50 €", ",", 12.5), ("12.50 eur", ".", 12.5),
                                   ("chf 3", ".", 3.0), ("12 EURO", ".", 12.0), ("(eur 3,20)", ",", -3.2),
                                   ("1.234,56 Euros", ",", 1234.56), ("-12 usd", ".", -12.0), ("250 kr", ",", 250.0)]:
        assert values.parse_decimal(text, declared) == (number, None), text


def test_month_names_of_other_languages_read_under_b_and_B():
    # Python's and DuckDB's %B read English only: `12 mars 1980` was a field issue under '%d %B %Y'.
    for text, fmt, when in [("12 mars 1980", "%d %B %Y", date(1980, 3, 12)), ("3. März 1975", "%d. %B %Y", date(1975, 3, 3)),
                            ("3 Dezember 1975", "%d %B %Y", date(1975, 12, 3)), ("3 déc. 1975", "%d %b %Y", date(1975, 12, 3)),
                            ("1 août 2001", "%d %B %Y", date(2001, 8, 1)), ("12-okt-2020", "%d-%b-%Y", date(2020, 10, 12)),
                            ("5 de mayo de 1990", "%d de %B de %Y", date(1990, 5, 5)), ("12 Mar 1980", "%d %b %Y", date(1980, 3, 12))]:
        assert values.parse_birth_date(text, (fmt,), date(2026, 11, 28)) == (when, None), text
    assert values.parse_datetime("12 foo 1980", ("%d %B %Y",)) == (
        None, "'12 foo 1980' matches none of the formats ['%d %B %Y'] (or is an impossible date)")
    # A spreadsheet's serial day number is not guessed as a date, but the reason says what it likely is.
    assert values.parse_datetime("29221", ("%Y-%m-%d",))[1].endswith(
        "a spreadsheet's day number? 29221 is 1980-01-01: declare 'excel' in date_formats, or export the column as a date")


def test_spreadsheet_serial_days_are_read_where_declared_only():
    # Excel's 1900 system: day 1 is 1900-01-01, day 60 its 1900-02-29 (a day that never was), a fraction the time.
    for text, when in [("1", datetime(1900, 1, 1)), ("59", datetime(1900, 2, 28)), ("61", datetime(1900, 3, 1)),
                       ("29221", datetime(1980, 1, 1)), ("44927", datetime(2023, 1, 1)), ("45232", datetime(2023, 11, 2)),
                       ("45232.5", datetime(2023, 11, 2, 12)), ("45232,75", datetime(2023, 11, 2, 18)),
                       ("45232.4375", datetime(2023, 11, 2, 10, 30)), ("2958465", datetime(9999, 12, 31))]:
        assert values.parse_datetime(text, ("excel",)) == (when, None), text
    assert values.parse_birth_date("29221", ("%d/%m/%Y", "excel"), date(2026, 11, 29)) == (date(1980, 1, 1), None)
    assert values.parse_datetime("60", ("excel",))[1].endswith("60 is Excel's 1900-02-29, a day that never was "
                                                              "(its 1900 leap-year bug)")
    for text in ("0", "-5", "2958466", "4.5e4", "45 232", "45232.5.1"):
        assert values.parse_datetime(text, ("excel",))[0] is None, text
    # Never guessed: undeclared it is a field issue; beside epoch seconds, two readings of one number are ambiguous.
    assert values.parse_datetime("45232", ("%d/%m/%Y",))[0] is None
    assert "is ambiguous" in values.parse_datetime("45232", ("excel", "epoch"))[1]
    assert values.parse_datetime("20240102", ("%Y%m%d", "excel")) == (datetime(2024, 1, 2), None)


def test_greek_digraphs_are_spelled_as_the_greek_passport_does():
    # Letter by letter, 'Παπαδοπούλου' was 'papadopoyloy' and 'Ευάγγελος' 'eyaggelos': never the match form of the same
    # person's Latin-script record in another system.
    for greek, latin in [("Παπαδοπούλου", "Papadopoulou"), ("ΚΩΝΣΤΑΝΤΙΝΟΥ", "KONSTANTINOU"), ("Ευάγγελος", "Evangelos"),
                         ("Ευθύμιος", "Efthymios"), ("Μαυρίδης", "Mavridis"), ("Αγγελική", "Angeliki"),
                         ("Μπενάκη", "Benaki"), ("Λαΐς", "Lais"), ("Γεώργιος", "Georgios")]:
        assert names.to_ascii(greek) == latin and names.match_form(greek) == names.match_form(latin), greek


def test_a_letter_spelled_as_an_apostrophe_does_not_cut_its_word():
    # anyascii spells Cyrillic's soft sign and Arabic's ayn as ' and `: 'Ольга' was 'ol ga' (two words), never the
    # 'olga' of the same person's Latin-script record; a modifier apostrophe (Oʼ) still separates as ' does.
    for written, latin in [("Ольга", "olga"), ("Дарья", "darya"), ("Васильев", "vasilev"), ("Игорь", "igor"),
                           ("العلي", "lly"), ("Oʼbrien", "o brien")]:
        assert names.match_form(written) == latin, written


def test_country_names_in_other_languages_are_read_as_their_codes():
    # Their first two letters were the code: Polska PO, Việt Nam VI (US Virgin Islands), Germany GE (Georgia).
    cases = {"Polska": "PL", "Türkiye": "TR", "Turkey": "TR", "Việt Nam": "VN", "Viet Nam": "VN", "日本": "JP",
             "ベトナム": "VN", "Germany": "DE", "Niemcy": "DE", "france": "FR", "BE": "BE", "fra": "FR",
             # names newer than libphonenumber's, in pycountry's translations (none of them read before the
             # sixteenth session): Czechia in Czech, German and Polish, Slovakia, Serbia, Montenegro, Poland's
             "Česko": "CZ", "Tschechien": "CZ", "Czechy": "CZ", "Slovensko": "SK", "Srbija": "RS", "Crna Gora": "ME",
             "Rzeczpospolita Polska": "PL",
             # and a translation never takes a name another table reads: one locale's 'Mexico' is another country
             "Mexico": "MX", "Niger": "NE", "Samoa": "WS"}
    assert {v: address.country_code(v) for v in cases} == cases
    assert address.country_code("Europe") is None and address.country_code("") is None
    assert address.normalise_country("Absurdistan", "PL") == "PL" and address.normalise_country("Neverland", "FR") == "FR"


def test_countries_as_british_american_and_dutch_systems_write_them():
    # Each was a field issue read as the source's country (a British CRM's 'UK', 'USA', 'England', 'Holland'), so a
    # US customer's phone and ZIP code were read as British and invalid (thirteenth session).
    cases = {"UK": "GB", "U.K.": "GB", "USA": "US", "U.S.A.": "US", "United States of America": "US",
             "England": "GB", "Scotland": "GB", "Wales": "GB", "Northern Ireland": "GB", "Great Britain": "GB",
             "Holland": "NL", "The Netherlands": "NL", "NLD": "NL", "GBR": "GB", "DEU": "DE"}
    assert {v: address.country_code(v) for v in cases} == cases


def test_countries_and_postcodes_as_german_austrian_and_swiss_tills_write_them():
    # A till's `LAND` column holds vehicle signs: `A` was read as the source's DE (an Austrian customer made German,
    # his national phone and postcode invalid), and `A-1010` / `D-80331`, the old European postal prefix, were no
    # postcode (fourteenth session).
    cases = {"D": "DE", "A": "AT", "CH": "CH", "FL": "LI", "I": "IT", "F": "FR", "SLO": "SI", "Österreich": "AT"}
    assert {v: address.country_code(v) for v in cases} == cases
    assert address.normalise_postcode("A-1010", "AT") == address.normalise_postcode("1010", "AT") == ("1010", True)
    assert address.normalise_postcode("D-80331", "DE") == ("80331", True)
    assert address.normalise_postcode("FL-9490", "LI") == ("9490", True)
    assert address.normalise_postcode("D-80331", "AT") == (None, False)  # another country's sign is no prefix


def test_a_name_written_in_both_cases_keeps_its_particles_and_inner_capitals():
    # 'von Bülow' was displayed 'Von Bülow', 'McDonald' 'Mcdonald', 'Frankfurt am Main' 'Frankfurt Am Main'.
    cases = {"von Bülow": "von Bülow", "zu Guttenberg": "zu Guttenberg", "McDonald": "McDonald",
             "de La Fontaine": "de La Fontaine", "d'Artagnan": "d'Artagnan", "Frankfurt am Main": "Frankfurt am Main",
             "Jean DUPONT": "Jean Dupont", "MÜller": "Müller", "VON BÜLOW": "Von Bülow", "jean-pierre": "Jean-Pierre",
             "eJan Bouchetot": "Ejan Bouchetot", "Thérèse eBttin": "Thérèse Ebttin"}  # swapped letters: no Mc
    assert {v: names.display_form(v) for v in cases} == cases


def test_decomposed_accents_and_turkish_capitals_display_as_one_word():
    assert names.display_form(unicodedata.normalize("NFD", "NGUYỄN Thị Hồng")) == "Nguyễn Thị Hồng"  # NguyễN, HồNg
    assert names.display_form("İSMAİL") == names.display_form("İsmail") == "İsmail"  # İSmai̇L
    assert names.display_form("İSTANBUL") == "İstanbul" and names.display_form("ŁUKASZ") == "Łukasz"


def test_a_turkish_capital_i_in_an_e_mail_is_the_same_mailbox():
    upper, _, _ = email.normalise_email("İSMAİL.YILDIRIM@ORNEK.COM.TR")
    assert upper == "ismail.yildirim@ornek.com.tr" == email.normalise_email("ismail.yildirim@ornek.com.tr")[0]


def test_full_width_digits_in_a_date_are_read():
    assert values.parse_datetime("１９６９年１月２日", ("%Y年%m月%d日",)) == (datetime(1969, 1, 2), None)


@pytest.mark.parametrize("raw,region,e164", [
    ("+48 22 123 45 67 wew. 12", "PL", "+48221234567"), ("0216 333 22 11 dahili 45", "TR", "+902163332211"),
    ("06-6123-4567 内線 203", "JP", "+81661234567"), ("+33 1 23 45 67 89 poste 12", "FR", "+33123456789"),
    ("０３－１２３４－５６７８", "JP", "+81312345678")])
def test_an_extension_written_as_a_word_in_any_language_leaves_the_number_read(raw, region, e164):
    assert phone.normalise_phone(raw, region)[:2] == (e164, True)
    assert phone.normalise_phone("garbage 12", "FR")[1] is False


def test_a_postcode_outside_france_drops_full_width_forms_and_postal_marks():
    assert address.normalise_postcode("〒100-0001", "JP") == address.normalise_postcode("１００－０００１", "JP") \
        == ("100-0001", True)  # '〒100-0001' never equal to the same address's '100-0001'
    assert address.normalise_postcode("sw1a 1aa", "GB") == ("SW1A 1AA", True)
    assert address.normalise_postcode("〒", "JP") == (None, False)


@pytest.mark.parametrize(("written", "country", "expected"), [
    ("SW1A1AA", "GB", "SW1A 1AA"), ("m11ae", "GB", "M1 1AE"),  # one form however it was spaced: compared equal
    ("1012ab", "NL", "1012 AB"), ("k1a0b1", "CA", "K1A 0B1"), ("1000001", "JP", "100-0001"),
    ("123 45", "SE", "12345"), ("00950", "PL", "00-950"), ("01310100", "BR", "01310-100"),
    ("123456789", "US", "12345-6789"), ("2134", "US", "02134"),  # a ZIP code read as a number lost its zero
    ("CH-8001", "CH", "8001"), ("1073", "LV", "LV-1073"), ("999077", "HK", "999077"),  # no pattern on record
    # the old postal prefix as a three-letter or retired sign (Finland's `SF` until 1993): no postcode until 2026-11-29
    ("FIN-00100", "FI", "00100"), ("SF-00100", "FI", "00100"), ("EST-10111", "EE", "10111"),
    ("RUS-101000", "RU", "101000"), ("FIN-00100", "SE", None),
    ("N/A", "GB", None), ("unknown", "DE", None), ("123", "DE", None),  # not a postcode there: a field issue
])
def test_a_postcode_outside_france_is_read_by_its_country_s_pattern(written, country, expected):
    assert address.normalise_postcode(written, country) == (expected, expected is not None)


@pytest.mark.parametrize(("written", "expected", "further"), [
    ("Jean Dupont <Jean@X.fr>", "jean@x.fr", []), ("mailto:jean@x.fr", "jean@x.fr", []),
    ('"jean@x.fr"', "jean@x.fr", []), ("jean@x.fr.", "jean@x.fr", []), ("jean @ x.fr", "jean@x.fr", []),
    ("jean@x.fr; jd@y.fr", "jean@x.fr", ["jd@y.fr"]),
    ("Dupont <jean@x.fr>, Marie <marie@y.fr>", "jean@x.fr", ["marie@y.fr"]),
    ("jean(at)x.fr", None, []), ("jean@x", None, []), ("a@@b.fr", None, []),  # still not addresses
])
def test_an_address_inside_a_cell_as_exports_write_it_is_read(written, expected, further):
    address, valid, why = email.normalise_email(written)
    assert (address if valid else None, why is None or not valid) == (expected, True)
    assert email.further_addresses(written.lower()) == further


@pytest.mark.parametrize(("written", "expected", "further"), [
    ("06 12 34 56 78 (domicile)", "+33612345678", []), ("06 12 34 56 78 dom.", "+33612345678", []),
    ("0612345678 / 0145678901", "+33612345678", ["0145678901"]),
    ("+33 6 12 34 56 78 ; +33 1 45 67 89 01", "+33612345678", ["+33 1 45 67 89 01"]),
    ("12 rue de la paix", None, []), ("garbage 12", None, []),
])
def test_a_number_beside_a_label_or_a_second_number_is_read(written, expected, further):
    assert phone.normalise_phone(written, "FR")[:2] == (expected, expected is not None)
    assert phone.further_numbers(written, "FR") == further


@pytest.mark.parametrize("written", ["0612345678 9", "2024-01-15 0612345678"])
def test_a_number_is_not_read_out_of_a_cell_with_other_digits(written):
    assert phone.normalise_phone(written, "FR")[:2] == (None, False)
