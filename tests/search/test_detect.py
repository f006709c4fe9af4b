"""The shopper's language without `lang`: Accept-Language when it names an enabled locale, else
the query's own language (py3langid and the help center's vocabulary). The vocabulary is the
sample help center's (content/), through the same BM25 models the engine searches (no embedder
needed)."""

from __future__ import annotations

import pytest
from helpers import ROOT

from kb.content.library import Library
from kb.search.detect import choose_locale, detect_language
from kb.search.lexical import Lexical
from kb.search.passages import passages


@pytest.fixture(scope="module")
def sample() -> tuple[Lexical, list[str]]:
    library = Library.load(ROOT / "content")
    found = [p for a in library.articles for p in passages(a)]
    return Lexical.build([p.embed_text for p in found], [p.locale for p in found]), list(library.config.locales)


@pytest.mark.parametrize(("query", "locale"), [
    ("Kargom nerede?", "tr"), ("zmiana", "pl"), ("Hallo", "de"), ("Merhaba", "tr"), ("Rechnung", "de"),
    ("jak zwrucic towar", "pl"), ("Wie kann ich meine B", "de"),
])
def test_short_questions_without_lang_are_answered_in_their_language(
        sample: tuple[Lexical, list[str]], query: str, locale: str) -> None:
    vocabulary, locales = sample
    assert choose_locale(query, None, None, locales, "en", vocabulary) == (locale, "detected")


def test_the_help_centers_vocabulary_is_what_decides_short_questions(sample: tuple[Lexical, list[str]]) -> None:
    vocabulary, locales = sample
    # py3langid alone is unsure of one or two words: these fell back to English before
    assert detect_language("zmiana", locales) is None
    assert detect_language("Kargom nerede?", locales) is None
    assert detect_language("zmiana", locales, vocabulary) is not None
    assert vocabulary.known("nerede", "tr") and not vocabulary.known("nerede", "de")


@pytest.mark.parametrize("query", ["PayPal", "BLIK", "xyzzy", "asdfgh qwerty", "12345", "?!"])
def test_words_every_language_shares_or_none_has_are_not_guessed(sample: tuple[Lexical, list[str]],
                                                                  query: str) -> None:
    vocabulary, locales = sample
    assert choose_locale(query, None, None, locales, "en", vocabulary) == ("en", "default")
    assert choose_locale(query, None, "pl-PL,pl;q=0.9", locales, "en", vocabulary) == ("pl", "accept-language")


def test_accept_language_decides_when_it_names_an_enabled_locale(sample: tuple[Lexical, list[str]]) -> None:
    vocabulary, locales = sample
    german = "de-DE,de;q=0.9,en;q=0.8"
    for query in ("cancel", "zmiana", "Kargom nerede?", "Hallo", "cancel my order"):
        assert choose_locale(query, None, german, locales, "en", vocabulary) == ("de", "accept-language")
    # a header naming no enabled locale leaves it to the query
    assert choose_locale("Kargom nerede?", None, "ja, ko;q=0.5", locales, "en", vocabulary) == ("tr", "detected")
    # and `lang` wins over everything
    assert choose_locale("Kargom nerede?", "fr", german, locales, "en", vocabulary) == ("fr", "lang")
