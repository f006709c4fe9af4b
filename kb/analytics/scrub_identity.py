"""The scrubber's rules for who a shopper is (kb.analytics.scrub runs them); each takes text and
returns it with the data replaced by a placeholder without digits:

  <id>       national ids by format and check digit (kb.analytics.checksums): US SSN, Spanish
             DNI/NIE, Italian codice fiscale, French NIR, and 11-digit German Steuer-ID, Polish
             PESEL, Turkish TC kimlik; never a piece of a longer run of digit groups
  <dob>      dates next to a birth word (born, geboren, né, nacido, nato, urodzony, doğum, ...),
             numeric or written ("12. März 1985", "March 12, 1985"), a bare year too; numeric
             dates whose year is 16 or more years back; other dates (a delivery date) stay
  <address>  a house number with a street word of the sample locales (12 Baker Street,
             Hauptstraße 5, 12 rue de la Paix, Calle Mayor 5, Via Roma 10, ul. Długa 5,
             Gül Sokak No: 5), with the postcode and city that follow; street words that are
             also ordinary words ('via DHL 2 days', '2 place orders') need more evidence
  <name>     capitalised words after "my name is"-like phrases or a title (Herr, Mme, Pan), or
             just before an address ("Anna Kowalska, <address>")
"""

from __future__ import annotations

import datetime as dt
import re

from kb.analytics import checksums as ck
from kb.analytics import pii_words as w

UP = w.UPPER
WORD = r"[^\W\d_][\w'’.-]*"
CAP_WORD = rf"[{UP}][\w'’-]*"

# -- national ids ---------------------------------------------------------------------------------------
# An id or a date is never a piece of a longer run of digit groups (a card written '4000 001 01 0001 006').
SOLO_START, SOLO_END = r"(?<!\d[ .,/-])", r"(?![ .,/-]\d)"
SSN = re.compile(rf"(?<![\w-]){SOLO_START}(\d{{3}})([- .])(\d{{2}})\2(\d{{4}})(?![\w-]){SOLO_END}")
DNI = re.compile(r"(?<![\w.-])(?:\d{8}|\d{2}\.\d{3}\.\d{3}|[XYZxyz][ -]?\d{7})(?P<sep>[ -]?)(?P<letter>[A-Za-z])(?!\w)")
CODICE_FISCALE = re.compile(r"(?<!\w)[a-z]{6}[\dl-np-v]{2}[abcdehlmprst][\dl-np-v]{2}[a-z][\dl-np-v]{3}[a-z](?!\w)",
                            re.I | re.A)
NIR = re.compile(rf"(?<![\w+]){SOLO_START}[12](?P<s>[ .]?)\d{{2}}(?P=s)\d{{2}}(?P=s)(?:\d{{2}}|2[ABab])(?P=s)\d{{3}}"
                 rf"(?P=s)\d{{3}}(?P=s)\d{{2}}(?!\w){SOLO_END}")
ELEVEN = re.compile(rf"(?<![\d+]){SOLO_START}(?:\d{{11}}|\d{{2}}(?P<s>[ ./-])\d{{3}}(?P=s)\d{{3}}(?P=s)\d{{3}})(?!\w){SOLO_END}")


def _compact(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def nir(m: re.Match[str]) -> str:
    return "<id>" if ck.nir_valid(_compact(m[0])) else m[0]


def national_ids(text: str) -> str:
    text = SSN.sub(lambda m: "<id>" if ck.ssn_valid(m[1] + m[3] + m[4]) else m[0], text)
    text = DNI.sub(lambda m: "<id>" if ck.dni_valid(_compact(m[0])) and not (m["sep"] == " " and m["letter"].islower())
                   else m[0], text)
    text = CODICE_FISCALE.sub(lambda m: "<id>" if ck.codice_fiscale_valid(m[0]) else m[0], text)
    return ELEVEN.sub(lambda m: "<id>" if any(check(_compact(m[0])) for check in (
        ck.steuer_id_valid, ck.pesel_valid, ck.tc_kimlik_valid)) else m[0], text)


# -- dates of birth -----------------------------------------------------------------------------------
BIRTH = re.compile(rf"(?<!\w)(?:{w.BIRTH_WORDS})", re.I)
NUMERIC_DATE = re.compile(r"(?<![\w.,/-])(?:(?P<a>\d{1,2})(?P<s>[./-])\s?(?P<b>\d{1,2})(?P=s)\s?(?P<c>\d{4}|\d{2})"
                          r"|(?P<y>\d{4})(?P<t>[./-])(?P<m>\d{1,2})(?P=t)(?P<d>\d{1,2}))(?![\w/-]|[.,]\d)")
WRITTEN_DATE = re.compile(
    rf"(?<!\w)(?:\d{{1,2}}(?:st|nd|rd|th|er|\.|º|°)?\s*(?:of\s+|de\s+)?(?:{w.MONTHS})\.?(?:,?\s*(?:de\s+|of\s+)?\d{{4}})?"
    rf"|(?:{w.MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)(?!\w)", re.I)
YEAR = re.compile(r"(?<![\w.,/-])(?<!\d )(?:19|20)\d{2}(?!\w|[ .,/-]\d)")
BIRTH_BEFORE, BIRTH_AFTER = 40, 25  # characters between a birth word and a date it marks
ADULT_YEARS = 16


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _numeric_date(m: re.Match[str]) -> tuple[dt.date | None, bool]:
    """The date a numeric match stands for (day or month first) and whether its year has 4 digits."""
    if m["y"]:
        return _date(int(m["y"]), int(m["m"]), int(m["d"])), True
    year = int(m["c"])
    if len(m["c"]) == 2:
        year += 2000 if year <= dt.date.today().year % 100 else 1900
    return (_date(year, int(m["b"]), int(m["a"])) or _date(year, int(m["a"]), int(m["b"]))), len(m["c"]) == 4


def dates_of_birth(text: str) -> str:
    births = [m.span() for m in BIRTH.finditer(text)]
    adult = dt.date.today().year - ADULT_YEARS

    def near_birth(m: re.Match[str]) -> bool:
        return any(0 <= m.start() - end <= BIRTH_BEFORE or 0 <= start - m.end() <= BIRTH_AFTER for start, end in births)

    def numeric(m: re.Match[str]) -> str:
        date, full_year = _numeric_date(m)
        if date and (near_birth(m) or (full_year and 1900 <= date.year <= adult)):
            return "<dob>"
        return m[0]

    text = NUMERIC_DATE.sub(numeric, text)
    if births:
        for pattern in (WRITTEN_DATE, YEAR):
            births = [m.span() for m in BIRTH.finditer(text)]
            text = pattern.sub(lambda m: "<dob>" if near_birth(m) else m[0], text)
    return text


# -- street addresses and names ---------------------------------------------------------------------
HOUSE = r"\d{1,4}[a-gA-G]?(?:\s?[/-]\s?\d{1,4}[a-gA-G]?)?(?!\w)"
FLAT = r"(?:,?\s*(?i:m\.|lok\.|apt\.?|app\.?|daire|d:|piso|int\.|whg\.)\s*\d{1,4}[a-gA-G]?(?!\w))?"
UNIT_AFTER = re.compile(rf"\s*(?i:{w.UNITS})(?!\w)|\s?[%€$£₺]")  # 'via DHL 2 days', 'via app 5 €'
POSTCODE = (rf"(?:,?\s+(?:(?:\d{{2}}-\d{{3}}|\d{{5}})(?!\w)(?:\s+{CAP_WORD})?|\d{{4}}\s+{CAP_WORD}"
            rf"|(?:{CAP_WORD},?\s+)?[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}}(?!\w)))?")  # ', London NW1 6XE' too
NUMBER_WORD = r"(?:(?i:n[º°o]\.?|nr\.?|no\.?|n\.|num\.|número|numero|numara)\s*:?\s*)?"
ADDRESS_DE = re.compile(
    rf"(?<!\w)(?:{CAP_WORD}er\s)?(?:[\w-]*(?i:{w.STREET_SUFFIXES_DE})|[{UP}][a-zäöüß]{{2,}}(?:{w.STREET_SUFFIXES_DE_SHORT}))"
    rf"\s*,?\s*{NUMBER_WORD}{HOUSE}{FLAT}{POSTCODE}")  # Hauptstraße 5, Berliner Str. 12a, Lindenweg 7
ADDRESS_BEFORE = re.compile(
    rf"(?<!\w)(?P<kw>(?i:{w.STREET_BEFORE})\s+|(?i:{w.STREET_BEFORE_ABBR})\s*)(?P<name>(?:{WORD}\s+){{0,3}}?{WORD})"
    rf"\s*,?\s*{NUMBER_WORD}{HOUSE}{FLAT}{POSTCODE}")  # Calle Mayor 5, Via Roma 10, ul. Długa 5 m. 3
ADDRESS_EN = re.compile(
    rf"(?<![\w.,/-]){HOUSE},?\s+(?P<name>(?:{WORD}\s+){{1,3}}?)(?P<kw>(?i:{w.STREET_AFTER_EN}))(?!\w)"
    rf"{FLAT}{POSTCODE}")  # 221B Baker Street
ADDRESS_FR = re.compile(
    rf"(?<![\w.,/-]){HOUSE}(?:\s*(?i:bis|ter))?\s*,?\s*(?P<kw>(?i:{w.STREET_AFTER_NUMBER_FR}))\s+"
    rf"(?P<name>(?:(?i:{w.FR_ARTICLES})[\s'’-]*)*{WORD}(?:[\s-]+{CAP_WORD}){{0,3}}){POSTCODE}")  # 12 bis, rue de la Paix
ADDRESS_TR = re.compile(
    rf"(?<!\w)(?:{WORD}\s+){{1,2}}(?:(?i:{w.STREET_TR})\s*,?\s*{NUMBER_WORD}|(?i:{w.AREA_TR})\s*,?\s*(?i:no|numara)\s*[:.]?\s*)"
    rf"{HOUSE}{FLAT}{POSTCODE}")  # Gül Sokak No: 5
DE_ENDINGS = tuple(w.letter_runs(f"{w.STREET_SUFFIXES_DE} {w.STREET_SUFFIXES_DE_SHORT}".replace("|", " ")))
BEFORE_WORDS = w.letter_runs(f"{w.STREET_BEFORE} {w.STREET_BEFORE_ABBR}")
EN_WORDS = w.letter_runs(w.STREET_AFTER_EN)
FR_WORDS = w.letter_runs(w.STREET_AFTER_NUMBER_FR)
# Each pattern with a quick test on the text's letter runs: can its street word be there at all?
ADDRESSES = (
    (ADDRESS_DE, lambda words: any(word.endswith(DE_ENDINGS) for word in words)),
    (ADDRESS_BEFORE, lambda words: not BEFORE_WORDS.isdisjoint(words)),
    (ADDRESS_EN, lambda words: not EN_WORDS.isdisjoint(words)),
    (ADDRESS_FR, lambda words: not FR_WORDS.isdisjoint(words)),
    (ADDRESS_TR, lambda words: any(word.startswith(w.STREET_TR_STEMS) for word in words)),  # mah, mh: AREA_TR
)
NAME_INTRO = re.compile(rf"(?<!\w)(?P<intro>(?i:{w.NAME_INTROS})\s*:?\s+){CAP_WORD}"
                        rf"(?:\s+(?!(?i:{w.NAME_INTROS})\s){CAP_WORD}){{0,2}}")  # a name ends where another intro starts
NAME_TITLE = re.compile(rf"(?<!\w)(?P<intro>(?:{w.NAME_TITLES})\.?\s+){CAP_WORD}(?:\s+{CAP_WORD})?")
NAME_BEFORE_ADDRESS = re.compile(rf"(?<!\w){CAP_WORD}(?:\s+{CAP_WORD}){{1,2}}(?P<sep>,?\s+)(?=<address>)")


def _address(m: re.Match[str]) -> str:
    kw = (m.groupdict().get("kw") or "").strip().lower()
    name = (m.groupdict().get("name") or "").split()
    lowercase = bool(name) and any(part[0].islower() for part in name)
    if m.re is ADDRESS_BEFORE and kw in w.STREET_AMBIGUOUS:
        if name[0][0].islower() and (len(name) > 2 or any(part.lower() in w.STREET_STOP_EN for part in name)):
            return m[0]  # 'via chat 24/7', but 'via roma 10'
        measured = UNIT_AFTER.match(m.string, m.end())
        if measured and (m["kw"][0].islower() or name[0][0].islower() or any(p.isupper() for p in name)):
            return m[0]  # 'shipped via DHL 2 days', but 'Via Roma 10 %'

    if m.re is ADDRESS_EN and lowercase and (kw not in w.STREET_EN_PLAIN or len(name) > 2
                                               or any(part.lower() in w.STREET_STOP_EN for part in name)):
        return m[0]  # '3 weeks on the road'
    if m.re is ADDRESS_FR and kw in w.STREET_AMBIGUOUS_FR and name[0][0].islower() \
            and not re.match(rf"(?i:{w.FR_ARTICLES})", name[0]):
        return m[0]  # '2 place orders'
    return "<address>"


def addresses(text: str, words: frozenset[str]) -> str:
    for pattern, may_match in ADDRESSES:
        if may_match(words):
            text = pattern.sub(_address, text)
    if "<address>" in text:
        text = NAME_BEFORE_ADDRESS.sub(lambda m: "<name>" + m["sep"], text)
    return text


def names(text: str, words: frozenset[str]) -> str:
    if not w.NAME_INTRO_KEYS.isdisjoint(words):
        text = NAME_INTRO.sub(lambda m: m["intro"] + "<name>", text)
    return NAME_TITLE.sub(lambda m: m["intro"] + "<name>", text)
