"""Remove personal data from what shoppers type before anything is stored.

First `clean_text`: control characters (NUL included), format characters (zero-width, bidi) and
lone surrogates go, tabs and line breaks become spaces, and the text is NFKC-normalised (so a
fullwidth ＠ or ４ is a plain one). Then personal data becomes a placeholder without digits:

  <secret>   what follows a password, PIN or card-code word of the sample locales ("password:",
             "Passwort ist", "mot de passe", "contraseña", "hasło", "şifrem", "CVV"): after ':'
             or '=' always, after a verb ("is", "ist", "est", "to") unless an ordinary word
             ("wrong", "falsch"), with no marker when it holds a digit
  <email>    e-mail addresses, also "john.doe @ example.com", "jane(at)example.org", "[at]",
             "jane at example dot org", "arroba ... punto", "małpa ... kropka"; a bare
             "name at domain.tld" only for mail providers or a local part with '.', '_' or a digit
  <iban>     IBANs;  <order>  shop order numbers such as KM-12345678
  <card>     digits with any separators (spaces, dots, dashes, slashes, commas) holding a
             Luhn-valid stretch of 13–19 digits; such runs that fail Luhn become <number> when
             card-shaped (or 13+ digits with single spaces or dashes), else stay
  <id> <dob> <address> <name>  national ids by check digit, dates of birth, street addresses
             and names: see kb.analytics.scrub_identity
  <phone>    phone numbers;  <number>  any other run of 6 or more digits

Cards are found before the other numbers (an id or a date inside a card's digits must not split
it); digits glued to a placeholder by '.', ',', '/' or '-' go with it. Placeholders hold no digits,
so a replacement never joins two digit runs into a new one, and scrubbing scrubbed text changes
nothing. It runs on every logged search: each rule is a regular expression anchored on a rare
token or a callback on few matches (linear time), skipped when the text lacks the words or the
digits it needs; about 4 µs for a query without digits, 10–40 µs with some (tests/test_privacy.py).
"""

from __future__ import annotations

import re
import unicodedata

from kb.analytics import checksums as ck
from kb.analytics import pii_words as w
from kb.analytics import scrub_identity as who
from kb.analytics.checksums import luhn_valid

__all__ = ["clean_text", "scrub", "strip_controls"]

PLACEHOLDER = re.compile(r"<[a-z]+>")

# -- cleaning ---------------------------------------------------------------------------------------
SPACE_CONTROLS = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
DROPPED = frozenset(("Cc", "Cf", "Cs"))


def strip_controls(text: str) -> str:
    """`text` without control characters (NUL included), format characters (zero-width, bidi,
    soft hyphen) and lone surrogates; tabs and line breaks become spaces. PostgreSQL refuses
    NUL and surrogates in text, and a zero-width space would hide a card number from the rules."""
    if text.isprintable():
        return text
    return "".join(" " if ch in SPACE_CONTROLS else ch for ch in text
                   if ch in SPACE_CONTROLS or unicodedata.category(ch) not in DROPPED)


def clean_text(text: str) -> str:
    text = strip_controls(text)
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


# -- secrets ----------------------------------------------------------------------------------------
SECRET = re.compile(
    rf"(?<!\w)(?:(?P<word>{w.SECRET_WORDS})|(?P<weak>{w.SECRET_WEAK_WORDS}))"
    rf"(?P<marker>\s*[:=]\s*|\s+(?:{w.SECRET_VERBS})(?!\w)\s*[:=]?\s*|\s+)"
    r"""(?P<tok>"[^"]{1,64}"|'[^']{1,64}'|[„“«‹][^”“»›]{1,64}[”“»›]|[^\s"'„“«‹]\S{0,63})""", re.I)

SECRET_HINT = re.compile("|".join(map(re.escape, w.SECRET_STEMS)))  # on lowercase text: a quick test


def _secret(m: re.Match[str]) -> str:
    """The token after a password word becomes <secret> (trailing punctuation stays) when the
    marker before it says it is one."""
    tok = m["tok"]
    core = tok if tok[0] in "\"'„“«‹" else tok.rstrip(".,;:!?)]}")
    if not core or PLACEHOLDER.fullmatch(core):
        return m[0]
    marker = m["marker"]
    if ":" in marker or "=" in marker:
        secret = True
    elif marker.strip():  # a verb: "password is ...", Polish "hasło to ..." (not "password to remember")
        secret = (not m["weak"] and core.lower() not in w.SECRET_STOP
                  and (marker.strip().lower() != "to" or m["word"].lower().startswith("has")))
    else:
        secret = not m["weak"] and len(core) >= 3 and any(ch.isdecimal() for ch in core)
    if not secret:
        return m[0]
    return m[0][:m.start("tok") - m.start()] + "<secret>" + tok[len(core):]


# -- e-mail addresses -------------------------------------------------------------------------------
EMAIL_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)+")  # the local part is found walking left from the '@'
LOCAL_PUNCT = frozenset(".!#$%&'*+/=?^_`{|}~-")
OPEN, CLOSE = r"[(\[{<]", r"[)\]}>]"
_DOTS = "|".join(w.DOT_WORDS)
_DOTS_REVERSED = "|".join(word[::-1] for word in w.DOT_WORDS)
AT = re.compile(rf"\s*(?:@|{OPEN}\s*(?:at|ät|@)\s*{CLOSE})\s*|\s+(?P<word>{w.AT_WORDS})\s+", re.I)
DOT = rf"(?:\.|\s+\.\s+|\s*{OPEN}\s*(?:{_DOTS}|\.)\s*{CLOSE}\s*|\s+(?:{_DOTS})\s+)"
OBFUSCATED_DOMAIN = re.compile(rf"(?P<first>[\w-]{{1,63}})(?:{DOT}[\w-]{{1,63}}){{0,3}}{DOT}[^\W\d_]{{2,24}}(?![\w-])",
                               re.I)
# The local part, read backwards from the 'at' (so the search is anchored: linear time).
LOCAL_REVERSED = re.compile(
    rf"[\w+-]{{1,64}}(?:(?:\.|\s*{CLOSE}\s*(?:{_DOTS_REVERSED}|\.)\s*{OPEN}\s*|\s+(?:{_DOTS_REVERSED})\s+)[\w+-]{{1,64}}){{0,3}}",
    re.I)
AT_WORDS = w.letter_runs(w.AT_WORDS)
PLAIN_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")


def _emails(text: str) -> str:
    """Replace e-mail addresses in linear time (a regex with the local part in front is quadratic
    on long runs of letters), each '@' with a domain after it and local-part characters before it."""
    out: list[str] = []
    last = 0
    for match in EMAIL_DOMAIN.finditer(text):
        start = match.start()
        while start > last and (text[start - 1].isalnum() or text[start - 1] in LOCAL_PUNCT):
            start -= 1
        if start < match.start():
            out += [text[last:start], "<email>"]
            last = match.end()
    out.append(text[last:])
    return "".join(out)


def _obfuscated_emails(text: str) -> str:
    """'john.doe @ example.com', 'jane(at)example(dot)org', 'jan at example dot com': an 'at' with
    a domain after it and a local part before it. A bare 'x at y.com' only when the local part has
    '.', '_', '+' or a digit, or y is a mail provider ('bought it at shop.com' stays)."""
    out: list[str] = []
    last = 0
    backwards = ""
    for at in AT.finditer(text):
        if at.start() < last:
            continue
        domain = OBFUSCATED_DOMAIN.match(text, at.end())
        if domain is None:
            continue
        if text.endswith("<email>", 0, at.start()) or (out and out[-1] == "<email>" and last == at.start()):
            out += [text[last:at.start()]]  # 'a@b.c @ d.com': the second half of one address
            last = domain.end()
            continue
        backwards = backwards or text[::-1]
        local = LOCAL_REVERSED.match(backwards, len(text) - at.start())
        if local is None or len(text) - local.end() < last:
            continue
        start = len(text) - local.end()
        if at["word"]:
            local_text = text[start:at.start()]
            if not (not PLAIN_DOMAIN.fullmatch(domain[0]) or domain["first"].lower() in w.MAIL_PROVIDERS
                    or any(ch in "._+" or ch.isdecimal() for ch in local_text) or " " in local_text):
                continue
        out += [text[last:start], "<email>"]
        last = domain.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# -- IBANs and order numbers --------------------------------------------------------------------------
IBAN = re.compile(r"(?<![^\W_])[A-Za-z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?(?![^\W_])")
ORDER = re.compile(r"(?<![^\W_])KM[- ]?\d{6,}(?!\d)", re.IGNORECASE)


# -- cards, phones, long numbers --------------------------------------------------------------------
LOOSE_RUN = re.compile(r"\d+(?:(?:[ \t]{1,3}|[ ]?[.,/-][ ]?)\d+)+")  # digit groups, any card separators
DIGITS = re.compile(r"\d+")
DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,}")  # 13+ digits with single spaces or dashes between them
PHONE = re.compile(r"(?<![\w+])(?:\+|\b00)?\(?\d[\d ()./-]{0,24}\d(?!\w)")  # bounded: linear time
NUMBER = re.compile(r"\d{6,}")
NOT_DIGITS = re.compile(r"\D+")
FRAGMENT_BEFORE = re.compile(r"(?:\d+[.,/-])+(<(?:card|number|id|dob|phone|iban)>)")
FRAGMENT_AFTER = re.compile(r"(<(?:card|number|id|dob|phone|iban)>)(?:[.,/-]\d+)+")
DATE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")

CARD_MIN, CARD_MAX = 13, 19
TIGHT = frozenset((" ", "-"))
PHONE_MIN, PHONE_MAX = 7, 15


def has_card_number(digits: str) -> bool:
    """True when some stretch of 13–19 consecutive digits in `digits` passes the Luhn check."""
    return ck.has_luhn_stretch(digits, CARD_MIN, CARD_MAX)


def _card_shaped(sizes: list[int]) -> bool:
    """Groups as cards are printed: 4-4-4-4, 4-6-5, 4-4-4-4-3, 4-4-4-1 (first 4–6, middle 3–6)."""
    return (len(sizes) >= 2 and 4 <= sizes[0] <= 6 and all(3 <= s <= 6 for s in sizes[1:-1])
            and 1 <= sizes[-1] <= 6 and CARD_MIN <= sum(sizes) <= CARD_MAX)


def _loose_card(match: re.Match[str]) -> str:
    """Card numbers written with dots, slashes, commas or several spaces, mixed or not: a card-shaped
    window of groups that passes Luhn becomes <card>, with the groups joined to it by a
    single space or dash (a mistyped group). Runs of single spaces and dashes only are left to
    DIGIT_RUN's rule."""
    run = match[0]
    if len(run) < CARD_MIN:
        return run
    groups = [(g.start(), g.end()) for g in DIGITS.finditer(run)]
    sizes = [end - start for start, end in groups]
    seps = _separators(run, groups)
    if sum(sizes) < CARD_MIN or all(sep in TIGHT for sep in seps):
        return run
    digits = [run[start:end] for start, end in groups]
    spans: list[list[int]] = []
    for i, first in enumerate(sizes):
        if not 4 <= first <= 6:
            continue  # cards are printed from a group of 4–6
        total = first
        for j in range(i + 1, len(groups)):
            between = seps[i:j]
            if any(", " in sep for sep in between) and len(set(between)) > 1:
                break  # ", " among other separators lists things: "0049 171 1205 2063, 556 Main Street"
            total += sizes[j]
            if total > CARD_MAX:
                break
            if total >= CARD_MIN and sizes[j] <= 6 and luhn_valid("".join(digits[i:j + 1])):
                spans.append([i, j])
            if not 3 <= sizes[j] <= 6:
                break  # no middle group of a card
    if not spans:
        return "<number>" if _card_shaped(sizes) and len(set(seps)) == 1 else run
    merged: list[list[int]] = []
    for i, j in spans:
        while i > 0 and seps[i - 1] in TIGHT:
            i -= 1
        while j < len(groups) - 1 and seps[j] in TIGHT:
            j += 1
        if merged and i <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], j)
        else:
            merged.append([i, j])
    out, last = [], 0
    for i, j in merged:
        out += [run[last:groups[i][0]], "<card>"]
        last = groups[j][1]
    return "".join([*out, run[last:]])


def _separators(run: str, groups: list[tuple[int, int]]) -> list[str]:
    return [run[a[1]:b[0]] for a, b in zip(groups, groups[1:], strict=False)]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())


def _card(match: re.Match[str]) -> str:
    """A run of digits with single spaces or dashes holding a Luhn-valid stretch of 13–19 digits."""
    run = match.group(0)
    digits = _digits(run)
    if CARD_MIN <= len(digits) <= 4 * CARD_MAX and has_card_number(digits):
        return "<card>"
    return run


def _long_run(match: re.Match[str]) -> str:
    """What is left of 13 or more digits (a mistyped card, a long reference) is a <number>."""
    return "<number>" if sum(ch.isdecimal() for ch in match.group(0)) >= CARD_MIN else match.group(0)


def _iban(match: re.Match[str]) -> str:
    return "<iban>" if sum(ch.isdecimal() for ch in match.group(0)) >= 6 else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = _digits(text)
    if not PHONE_MIN <= len(digits) <= PHONE_MAX or DATE.match(text):
        return text
    international_or_trunk = text[0] in "+(" or text.startswith("0")
    if not international_or_trunk and (len(digits) < 9 or text.isdecimal()):
        return text  # '10 20 30 40' is a list of sizes; a bare '123456789' is left to <number>
    return "<phone>"


def scrub(text: str) -> str:
    """`text` cleaned (clean_text) with personal data replaced by placeholders; never raises on any string."""
    text = clean_text(text)
    low = text.lower()
    words = w.letter_runs(low)
    if "@" in text:  # addresses before secrets: "CVV =@shop.example" is an address after a card-code word
        text = _emails(text)
    if not AT_WORDS.isdisjoint(words) or any(ch in text for ch in "@([{<"):
        text = _obfuscated_emails(text)
    if SECRET_HINT.search(low):
        text = SECRET.sub(_secret, text)
    text = who.names(text, words)
    digits = len(NOT_DIGITS.sub("", text))  # each rule below needs at least so many
    if not digits:
        return text
    text = IBAN.sub(_iban, text)
    text = ORDER.sub("<order>", text)
    if digits >= CARD_MIN:
        text = who.NIR.sub(who.nir, text)  # before cards: its 15 digits are often spaced like a card's
        text = LOOSE_RUN.sub(_loose_card, text)  # cards before the other ids and dates, which could split one
        text = DIGIT_RUN.sub(_card, text)
    if digits >= 7:
        text = who.national_ids(text)
    text = who.dates_of_birth(text)
    text = who.addresses(text, words)
    if digits >= CARD_MIN:
        text = DIGIT_RUN.sub(_long_run, text)
    if digits >= PHONE_MIN:
        text = PHONE.sub(_phone, text)
    if digits >= 6:
        text = NUMBER.sub("<number>", text)
    if "<" not in text:
        return text
    # digits glued to a placeholder by '.', ',', '/' or '-' were part of what it replaced
    return FRAGMENT_AFTER.sub(r"\1", FRAGMENT_BEFORE.sub(r"\1", text))
