"""Remove personal data from what shoppers type before anything is stored.

Replaced, in this order, by placeholders: e-mail addresses (<email>), IBANs (<iban>), shop order
numbers such as KM-12345678 (<order>), card numbers (<card>: any run of 13 or more digits,
single spaces or dashes allowed between them, that holds a Luhn-valid stretch of 13–19 digits;
other such runs become <number>), phone numbers (<phone>) and any other run of 6 or more digits
(<number>).

Placeholders hold no digits, so a replacement never joins two digit runs into a new one.
"""

from __future__ import annotations

import re

EMAIL_DOMAIN = re.compile(r"@[\w-]+(?:\.[\w-]+)+")  # the local part is found walking left from the '@'
LOCAL_PUNCT = frozenset(".!#$%&'*+/=?^_`{|}~-")
IBAN = re.compile(r"(?<![^\W_])[A-Za-z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?(?![^\W_])")
ORDER = re.compile(r"(?<![^\W_])KM[- ]?\d{6,}(?!\d)", re.IGNORECASE)
DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")  # digits with single spaces or dashes between them
PHONE = re.compile(r"(?<![\w+])(?:\+|\b00)?\(?\d[\d ()./-]{0,24}\d(?!\w)")  # bounded: linear time
NUMBER = re.compile(r"\d{6,}")
DATE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")

CARD_MIN, CARD_MAX = 13, 19
PHONE_MIN, PHONE_MAX = 7, 15


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def has_card_number(digits: str) -> bool:
    """True when some stretch of 13–19 consecutive digits in `digits` passes the Luhn check."""
    for size in range(CARD_MIN, min(CARD_MAX, len(digits)) + 1):
        for start in range(len(digits) - size + 1):
            if luhn_valid(digits[start:start + size]):
                return True
    return False


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


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())


def _card(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = _digits(run)
    if len(digits) < CARD_MIN:
        return run
    if len(digits) > 4 * CARD_MAX:
        return "<number>"  # far too long for a card: skip the Luhn scan, it goes either way
    return "<card>" if has_card_number(digits) else "<number>"


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
    """`text` with personal data replaced by placeholders; never raises on any string."""
    text = _emails(text)
    text = IBAN.sub(_iban, text)
    text = ORDER.sub("<order>", text)
    text = DIGIT_RUN.sub(_card, text)
    text = PHONE.sub(_phone, text)
    return NUMBER.sub("<number>", text)
