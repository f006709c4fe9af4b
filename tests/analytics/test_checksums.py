"""Check digits of card and national id numbers (kb.analytics.checksums).

The valid values below are made up and their check digits worked out by hand (the arithmetic is in
the comments); the properties check that every single-character typo of a valid number fails."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kb.analytics import checksums as ck

FAST = settings(max_examples=150, deadline=None, database=None)


# -- worked examples ------------------------------------------------------------------------------
def test_luhn() -> None:
    # 1234567812345670 from the right, every second digit doubled (digit sum if > 9):
    # 0 +(7→5) +6 +(5→1) +4 +(3→6) +2 +(1→2) +8 +(7→5) +6 +(5→1) +4 +(3→6) +2 +(1→2) = 60 ≡ 0
    assert ck.luhn_valid("1234567812345670")
    assert not ck.luhn_valid("1234567812345678")  # 60 - 0 + 8 = 68
    assert not ck.luhn_valid("1234567812345607")  # transposed last two digits
    assert not ck.luhn_valid("") and not ck.luhn_valid("1234 5678")
    assert ck.luhn_valid("١٢٣٤٥٦٧٨١٢٣٤٥٦٧٠")  # the same number in Arabic-Indic digits


def test_ssn_rules() -> None:
    assert ck.ssn_valid("123456789")
    for bad in ("000123456", "666123456", "912345678", "123004567", "123450000", "12345678", "12345678a"):
        assert not ck.ssn_valid(bad), bad


def test_steuer_id() -> None:
    # first ten 1234567891 (1 twice, 0 missing); MOD 11,10 with product p=10:
    # s=(d+p)%10 or 10, p=2s%11:  1→s1 p2, 2→s4 p8, 3→s1 p2, 4→s6 p1, 5→s6 p1, 6→s7 p3, 7→s10 p9,
    # 8→s7 p3, 9→s2 p4, 1→s5 p10;  check = 11-10 = 1
    assert ck.steuer_id_check("1234567891") == 1
    assert ck.steuer_id_valid("12345678911")
    assert not ck.steuer_id_valid("12345678912")  # wrong check digit
    assert not ck.steuer_id_valid("02345678911")  # leading zero
    assert not ck.steuer_id_valid("1234567890" + str(ck.steuer_id_check("1234567890")))  # no digit repeated
    assert not ck.steuer_id_valid("1112345678" + str(ck.steuer_id_check("1112345678")))  # three in a row
    assert not ck.steuer_id_valid("1122345678" + str(ck.steuer_id_check("1122345678")))  # two digits repeated


def test_pesel() -> None:
    # born 1985-05-12, serial 1234: weights 1 3 7 9 1 3 7 9 1 3 over 8505121234
    # 8+15+0+45+1+6+7+18+3+12 = 115 → check (10-5)%10 = 5
    assert ck.pesel_valid("85051212345")
    # born 2003-02-28 (month + 20 = 22), serial 5678: 0+9+14+18+2+24+35+54+7+24 = 187 → check 3
    assert ck.pesel_valid("03222856783")
    assert ck.pesel_birth_date("03222856783") == dt.date(2003, 2, 28)
    assert ck.pesel_birth_date("03022856787") == dt.date(1903, 2, 28)
    assert not ck.pesel_valid("85051212346")
    # month 13: 8+15+7+27+1+6+7+18+3+12 = 104 → check 6 is right, but there is no 13th month
    assert ck.pesel_check("8513121234") == 6 and not ck.pesel_valid("85131212346")
    # 30 February: 8+15+0+18+3+0+7+18+3+12 = 84 → check 6, still no date
    assert ck.pesel_check("8502301234") == 6 and not ck.pesel_valid("85023012346")
    assert not ck.pesel_valid("8505121234")


def test_tc_kimlik() -> None:
    # first nine 123456789: odd places 1+3+5+7+9 = 25, even 2+4+6+8 = 20
    # tenth = (7·25 − 20) mod 10 = 155 mod 10 = 5; eleventh = (45 + 5) mod 10 = 0
    assert ck.tc_kimlik_checks("123456789") == "50"
    assert ck.tc_kimlik_valid("12345678950")
    assert not ck.tc_kimlik_valid("12345678951")
    assert not ck.tc_kimlik_valid("02345678950")


def test_dni_and_nie() -> None:
    # 12345678 = 23·536768 + 14 → letter 14 of TRWAGMYFPDXBNJZSQVHLCKE = Z
    assert ck.dni_letter(12345678) == "Z"
    assert ck.dni_valid("12345678Z") and ck.dni_valid("12345678z")
    assert not ck.dni_valid("12345678A")
    # NIE X1234567: 1234567 = 23·53676 + 19 → L;  Y1234567: 11234567 = 23·488459 + 10 → X
    assert ck.dni_valid("X1234567L") and ck.dni_valid("Y1234567X")
    assert not ck.dni_valid("Z1234567L") and not ck.dni_valid("W1234567L")


def test_nir() -> None:
    # 1 85 05 78 006 084: 1850578006084 = 97·19078123774 + 6 → key 97 − 6 = 91
    assert 1850578006084 - 97 * 19078123774 == 6
    assert ck.nir_key("1850578006084") == 91
    assert ck.nir_valid("185057800608491")
    assert not ck.nir_valid("185057800608492")
    # Corsica: 2 90 12 2A 123 456 counts as 2901219123456 = 97·29909475499 + 53 → key 44
    assert 2901219123456 - 97 * 29909475499 == 53
    assert ck.nir_valid("290122A12345644") and ck.nir_valid("290122a12345644")
    assert not ck.nir_valid("290122B12345644")  # 2B counts as 18: another key
    assert not ck.nir_valid("590122A12345644")  # no such first digit
    assert not ck.nir_valid("29012XX12345644")


def test_codice_fiscale() -> None:
    # BNCLRA90E52F205: odd places B0 C5 R8 9→21 E9 2→5 2→5 5→13 = 66; even places N13 L11 A0 0 5 F5 0 = 34;
    # 100 mod 26 = 22 → W
    assert ck.codice_fiscale_check("BNCLRA90E52F205") == "W"
    assert ck.codice_fiscale_valid("BNCLRA90E52F205W") and ck.codice_fiscale_valid("bnclra90e52f205w")
    assert not ck.codice_fiscale_valid("BNCLRA90E52F205X")
    assert not ck.codice_fiscale_valid("BNCLRA90E52F205")
    assert not ck.codice_fiscale_valid("BNCLRA90E52F20-W")


# -- every single-character typo is caught --------------------------------------------------------
def _typos(value: str, alphabet: str) -> list[str]:
    return [value[:i] + ch + value[i + 1:] for i in range(len(value)) for ch in alphabet if ch != value[i]]


DIGITS = "0123456789"


@FAST
@given(st.text(DIGITS, min_size=12, max_size=18))
def test_luhn_catches_every_single_digit_typo(body: str) -> None:
    number = next(body + d for d in DIGITS if ck.luhn_valid(body + d))
    assert [t for t in _typos(number, DIGITS) if ck.luhn_valid(t)] == []


@st.composite
def steuer_ids(draw: st.DrawFn) -> str:
    """Ten digits with one digit twice and one missing, no leading 0, plus the check digit."""
    distinct = draw(st.permutations(DIGITS))[:9]
    first10 = "".join(draw(st.permutations([*distinct, draw(st.sampled_from(distinct))])))
    assume(first10[0] != "0")
    return first10 + str(ck.steuer_id_check(first10))


@FAST
@given(st.text(DIGITS, max_size=40), st.integers(2, 8), st.integers(0, 12))
def test_luhn_stretch_search_agrees_with_checking_each_stretch(digits: str, shortest: int, extra: int) -> None:
    longest = shortest + extra
    each = any(ck.luhn_valid(digits[i:i + size]) for size in range(shortest, longest + 1)
               for i in range(len(digits) - size + 1))
    assert ck.has_luhn_stretch(digits, shortest, longest) == each


@FAST
@given(steuer_ids())
def test_steuer_id_catches_every_single_digit_typo(number: str) -> None:
    assert ck.steuer_id_valid(number)
    assert [t for t in _typos(number, DIGITS) if ck.steuer_id_valid(t)] == []


@st.composite
def pesels(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
    month = born.month + (20 if born.year >= 2000 else 0)
    first10 = f"{born.year % 100:02d}{month:02d}{born.day:02d}" + draw(st.text(DIGITS, min_size=4, max_size=4))
    return first10 + str(ck.pesel_check(first10))


@FAST
@given(pesels())
def test_pesel_catches_every_single_digit_typo(number: str) -> None:
    assert ck.pesel_valid(number)
    assert [t for t in _typos(number, DIGITS) if ck.pesel_valid(t)] == []


@FAST
@given(st.text(DIGITS, min_size=9, max_size=9).filter(lambda s: s[0] != "0"))
def test_tc_kimlik_catches_every_single_digit_typo(first9: str) -> None:
    number = first9 + ck.tc_kimlik_checks(first9)
    assert ck.tc_kimlik_valid(number)
    assert [t for t in _typos(number, DIGITS) if ck.tc_kimlik_valid(t)] == []


@FAST
@given(st.integers(0, 99_999_999))
def test_dni_catches_every_single_digit_typo(number: int) -> None:
    dni = f"{number:08d}{ck.dni_letter(number)}"
    assert ck.dni_valid(dni)
    assert [t for t in _typos(dni[:8], DIGITS) if ck.dni_valid(t + dni[8])] == []
    assert [t for t in _typos(dni[8], ck.DNI_LETTERS) if ck.dni_valid(dni[:8] + t)] == []


@FAST
@given(st.sampled_from("12"), st.text(DIGITS, min_size=4, max_size=4), st.sampled_from(["75", "2A", "2B", "13"]),
       st.text(DIGITS, min_size=6, max_size=6))
def test_nir_catches_every_single_digit_typo(sex: str, born: str, department: str, rest: str) -> None:
    first13 = sex + born + department + rest
    number = first13 + f"{ck.nir_key(first13):02d}"
    assert ck.nir_valid(number)
    digit_places = [i for i, ch in enumerate(number) if ch.isdigit() and i not in (5, 6)]
    typos = [number[:i] + d + number[i + 1:] for i in digit_places for d in DIGITS if d != number[i]]
    assert [t for t in typos if ck.nir_valid(t)] == []


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@FAST
@given(st.text(LETTERS, min_size=6, max_size=6), st.text(DIGITS, min_size=2, max_size=2), st.sampled_from("ABCDEHLMPRST"),
       st.text(DIGITS, min_size=2, max_size=2), st.sampled_from(LETTERS), st.text(DIGITS, min_size=3, max_size=3))
def test_codice_fiscale_catches_every_single_character_typo(names: str, year: str, month: str, day: str, town: str,
                                                           number: str) -> None:
    first15 = names + year + month + day + town + number
    code = first15 + ck.codice_fiscale_check(first15)
    assert ck.codice_fiscale_valid(code)
    typos = [code[:i] + ch + code[i + 1:] for i, old in enumerate(code)
             for ch in (DIGITS if old.isdigit() else LETTERS) if ch != old]
    assert [t for t in typos if ck.codice_fiscale_valid(t)] == []


@pytest.mark.parametrize("check", [ck.luhn_valid, ck.ssn_valid, ck.steuer_id_valid, ck.pesel_valid, ck.tc_kimlik_valid,
                                   ck.dni_valid, ck.nir_valid, ck.codice_fiscale_valid])
@pytest.mark.parametrize("value", ["", "x", "٠١٢٣٤٥٦٧٨٩٠", "12345678901234567890", "  ", "ABCDEFGHIJKLMNOP"])
def test_checks_never_raise(check: object, value: str) -> None:
    assert check(value) in (True, False)  # type: ignore[operator]
