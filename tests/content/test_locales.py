"""Locale codes: normalization, fallback chains, Accept-Language parsing and negotiation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.content.locales import (
    UnknownLocale,
    fallback_chain,
    is_rtl,
    locale_name,
    negotiate,
    normalize_locale,
    parse_accept_language,
)
from kb.errors import KbError

# -- normalization -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de_AT", "de-AT"),
        ("de-at", "de-AT"),
        ("de-AT", "de-AT"),
        ("  de_at  ", "de-AT"),
        ("pt_br", "pt-BR"),
        ("zh_Hant_TW", "zh-Hant-TW"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr_Latn", "sr-Latn"),
    ],
)
def test_normalize_locale(code: str, expected: str) -> None:
    assert normalize_locale(code) == expected


@pytest.mark.parametrize("code", ["xx", "klingon", "", "  ", "x", "de--AT", "de AT", "12", "de_AT!", "en-", "-en"])
def test_unknown_locale_is_a_clear_error(code: str) -> None:
    with pytest.raises(UnknownLocale) as info:
        normalize_locale(code)
    assert isinstance(info.value, KbError)  # the CLI shows KbError as one line
    assert repr(code) in str(info.value)
    assert "pt-BR" in str(info.value)  # says what a valid code looks like


# -- fallback chains -----------------------------------------------------------------------


def test_fallback_chain_drops_subtags_then_source() -> None:
    assert fallback_chain("de-AT", "en") == ["de-AT", "de", "en"]
    assert fallback_chain("de_at", "en") == ["de-AT", "de", "en"]
    assert fallback_chain("zh_Hant_TW", "en") == ["zh-Hant-TW", "zh-Hant", "zh", "en"]


def test_fallback_chain_has_no_duplicates() -> None:
    assert fallback_chain("en", "en") == ["en"]
    assert fallback_chain("en-GB", "en") == ["en-GB", "en"]
    assert fallback_chain("de", "en") == ["de", "en"]


def test_fallback_chain_normalizes_source_and_rejects_unknown() -> None:
    assert fallback_chain("fr-CA", "de_AT") == ["fr-CA", "fr", "de-AT"]
    with pytest.raises(UnknownLocale):
        fallback_chain("xx", "en")


# -- Accept-Language -----------------------------------------------------------------------


def test_parse_accept_language_orders_by_q() -> None:
    header = "de;q=0.5, fr-CH, en;q=0.9, fr;q=0.9, *;q=0.1"
    assert parse_accept_language(header) == ["fr-CH", "en", "fr", "de"]


def test_parse_accept_language_skips_bad_and_zero_parts() -> None:
    assert parse_accept_language("it;q=0, es;q=abc, , ;q=1, pl") == ["pl"]
    assert parse_accept_language("") == []
    assert parse_accept_language("*") == []


def test_parse_accept_language_keeps_header_order_for_equal_q() -> None:
    assert parse_accept_language("tr, pl, es") == ["tr", "pl", "es"]
    assert parse_accept_language("tr;q=0.8, pl;q=0.8, es") == ["es", "tr", "pl"]


def test_negotiate_falls_back_to_language() -> None:
    available = ["en", "de", "fr"]
    assert negotiate(["fr-CH"], available) == "fr"
    assert negotiate(parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8"), available) == "fr"


def test_negotiate_regional_variant_when_only_that_exists() -> None:
    assert negotiate(["de"], ["en", "de-AT"]) == "de-AT"


def test_negotiate_exact_match_wins_and_returns_the_available_spelling() -> None:
    assert negotiate(["de-at"], ["en", "de", "de-AT"]) == "de-AT"
    assert negotiate(["pt_BR"], ["pt-BR", "en"]) == "pt-BR"


def test_negotiate_respects_preference_order() -> None:
    assert negotiate(["ja", "it", "en"], ["en", "it"]) == "it"
    assert negotiate(parse_accept_language("en;q=0.2, pl"), ["en", "pl"]) == "pl"


def test_negotiate_nothing_matching() -> None:
    assert negotiate(["ja", "ko"], ["en", "de"]) is None
    assert negotiate([], ["en"]) is None
    assert negotiate(["en"], []) is None
    assert negotiate(["not a locale", "xx"], ["en"]) is None


# -- names and direction -------------------------------------------------------------------


def test_locale_name() -> None:
    assert locale_name("de") == "Deutsch"
    assert locale_name("fr") == "Français"  # capitalized
    assert locale_name("de", "en") == "German"
    assert locale_name("de_AT") == "Deutsch (Österreich)"
    assert locale_name("pl") == "Polski"
    with pytest.raises(UnknownLocale):
        locale_name("xx")


@pytest.mark.parametrize(("code", "rtl"), [("ar", True), ("he", True), ("fa", True), ("en", False), ("de-AT", False), ("tr", False)])
def test_is_rtl(code: str, rtl: bool) -> None:
    assert is_rtl(code) is rtl


# -- properties ----------------------------------------------------------------------------

AVAILABLE = ["en", "de-AT", "fr", "pt-BR", "zh-Hant-TW"]

_tag = st.from_regex(r"\A[A-Za-z]{1,4}([-_][A-Za-z0-9]{1,8}){0,2}\Z")
_q = st.one_of(st.just(""), st.floats(allow_nan=True).map(lambda f: f";q={f}"), st.text(max_size=6).map(lambda t: f";q={t}"))
_header = st.one_of(
    st.text(),
    st.lists(st.tuples(_tag, _q).map("".join), max_size=6).map(", ".join),
)


@settings(max_examples=400, deadline=None, database=None)
@given(header=_header, available=st.lists(st.sampled_from(AVAILABLE), unique=True))
def test_accept_language_never_raises_and_negotiates_into_available(header: str, available: list[str]) -> None:
    tags = parse_accept_language(header)
    assert all(isinstance(t, str) and t and t != "*" for t in tags)
    chosen = negotiate(tags, available)
    assert chosen is None or chosen in available


@settings(max_examples=300, deadline=None, database=None)
@given(_tag)
def test_normalize_is_idempotent_or_refuses(code: str) -> None:
    try:
        norm = normalize_locale(code)
    except UnknownLocale:
        return
    assert normalize_locale(norm) == norm
    assert fallback_chain(norm, "en")[0] == norm
