"""Check digits of the numbers the scrubber looks for (kb.analytics.scrub).

A run of digits that passes one of these checks is very likely a real card or identity number,
so it can be removed without eating look-alikes (an order number fails the Luhn check nine times
in ten). Each function takes the characters of the number only (no separators) and never raises.
"""

from __future__ import annotations

import datetime as dt
from itertools import accumulate


def _all_digits(text: str, size: int) -> bool:
    return len(text) == size and text.isascii() and text.isdigit()


LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit sum of 2·d


def luhn_valid(digits: str) -> bool:
    """Payment cards (ISO/IEC 7812): every second digit from the right doubled, sum ≡ 0 mod 10.
    Any decimal digits count (a card typed in Arabic-Indic digits is still a card)."""
    if not digits.isdecimal():
        return False
    backwards = digits[::-1]
    return (sum(map(int, backwards[0::2])) + sum(LUHN_DOUBLED[int(ch)] for ch in backwards[1::2])) % 10 == 0


def has_luhn_stretch(digits: str, shortest: int, longest: int) -> bool:
    """True when some stretch of `shortest`–`longest` consecutive digits passes the Luhn check:
    prefix sums for both parities of the last digit make each stretch one subtraction."""
    if not digits.isdecimal() or len(digits) < shortest:
        return False
    values = [int(ch) for ch in digits]
    sums = []
    for last_parity in (0, 1):  # a digit counts plainly when it is an even distance from the last
        sums.append(list(accumulate((v if i % 2 == last_parity else LUHN_DOUBLED[v] for i, v in enumerate(values)),
                                    initial=0)))
    for size in range(shortest, min(longest, len(digits)) + 1):
        for start in range(len(digits) - size + 1):
            end = start + size
            prefix = sums[(end - 1) % 2]
            if (prefix[end] - prefix[start]) % 10 == 0:
                return True
    return False


def ssn_valid(digits: str) -> bool:
    """US Social Security number (no check digit): area 001–899 but not 666, group and serial not zero."""
    if not _all_digits(digits, 9):
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return 0 < area < 900 and area != 666 and group > 0 and serial > 0


def steuer_id_check(first10: str) -> int:
    """The German tax id's check digit: ISO 7064 MOD 11,10 over the first ten digits."""
    product = 10
    for ch in first10:
        total = (int(ch) + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10


def steuer_id_valid(digits: str) -> bool:
    """German Steuer-ID: 11 digits, no leading 0; in the first ten one digit appears two or three
    times (never three in a row), every other digit at most once; the last is the check digit."""
    if not _all_digits(digits, 11) or digits[0] == "0":
        return False
    body = digits[:10]
    counts = sorted((body.count(d) for d in set(body)), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    if any(body[i] == body[i + 1] == body[i + 2] for i in range(8)):
        return False
    return steuer_id_check(body) == int(digits[10])


PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pesel_check(first10: str) -> int:
    return (10 - sum(w * int(d) for w, d in zip(PESEL_WEIGHTS, first10, strict=True)) % 10) % 10


def pesel_birth_date(digits: str) -> dt.date | None:
    """The date of birth a PESEL encodes (months +20 for 2000–2099), None when it is no date."""
    year, month, day = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    century = {0: 1900, 1: 2000}.get(month // 20)
    if century is None:  # 1800s and 2100s+: nobody who shops today
        return None
    try:
        return dt.date(century + year, month % 20, day)
    except ValueError:
        return None


def pesel_valid(digits: str) -> bool:
    """Polish PESEL: 11 digits, YYMMDD a real date, weighted check digit."""
    return (_all_digits(digits, 11) and pesel_birth_date(digits) is not None
            and pesel_check(digits[:10]) == int(digits[10]))


def tc_kimlik_checks(first9: str) -> str:
    """The two check digits of a Turkish identity number from its first nine digits."""
    d = [int(ch) for ch in first9]
    tenth = (7 * sum(d[0:9:2]) - sum(d[1:8:2])) % 10
    return f"{tenth}{(sum(d) + tenth) % 10}"


def tc_kimlik_valid(digits: str) -> bool:
    """Turkish T.C. Kimlik No: 11 digits, no leading 0, digits 10 and 11 are checks."""
    return _all_digits(digits, 11) and digits[0] != "0" and tc_kimlik_checks(digits[:9]) == digits[9:]


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_letter(number: int) -> str:
    return DNI_LETTERS[number % 23]


def dni_valid(text: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X, Y or Z + 7 digits + letter): the letter is
    the number mod 23 looked up in DNI_LETTERS, X/Y/Z counting as 0/1/2."""
    text = text.upper()
    if len(text) != 9 or not text.isascii():
        return False
    head, body, letter = text[0], text[1:8], text[8]
    if head in "XYZ":
        head = str("XYZ".index(head))
    number = head + body
    return number.isdigit() and dni_letter(int(number)) == letter


def nir_key(first13: str) -> int:
    """The French NIR key: 97 - (number mod 97), Corsica's 2A and 2B counted as 19 and 18."""
    number = first13.upper()
    if number[5:7] == "2A":
        number = number[:5] + "19" + number[7:]
    elif number[5:7] == "2B":
        number = number[:5] + "18" + number[7:]
    return 97 - int(number) % 97


def nir_valid(text: str) -> bool:
    """French social security number (NIR): sex digit, YYMM, department (2A/2B for Corsica),
    commune, order number, two-digit key."""
    text = text.upper()
    if len(text) != 15 or not text.isascii() or text[0] not in "123478":
        return False
    department, rest = text[5:7], text[:5] + text[7:]
    if not rest.isdigit() or not (department.isdigit() or department in ("2A", "2B")):
        return False
    return nir_key(text[:13]) == int(text[13:])


CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                  (1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
                   1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
                  strict=True))


def codice_fiscale_check(first15: str) -> str:
    """The Italian codice fiscale's check letter: characters in odd places (1st, 3rd, ...) count
    by the CF_ODD table, in even places by their value (digits 0–9, letters A=0 … Z=25); sum mod 26."""
    total = 0
    for i, ch in enumerate(first15.upper()):
        if i % 2 == 0:
            total += CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - ord("A")
    return chr(ord("A") + total % 26)


def codice_fiscale_valid(text: str) -> bool:
    text = text.upper()
    if len(text) != 16 or not text.isascii() or not text.isalnum():
        return False
    return codice_fiscale_check(text[:15]) == text[15]
