"""Which locale a shopper speaks: the `lang` parameter; else Accept-Language (the shopper's own
statement, which decides whenever it names an enabled locale); else the query's language when it
is clear; else the source locale.

The query's language combines two kinds of evidence:
- py3langid's probabilities among the enabled languages (its model ships in its package), good
  for sentences and poor for one or two words;
- the help center's own vocabulary: a word that only one language's articles use ("zmiana",
  "nerede") votes for that language, a word all of them use (PayPal, BLIK) for none; a few
  greetings and thanks per language ("Hallo", "Merhaba") count as such words too.
Each vote multiplies the language's odds by VOTE_ODDS; the query's language is used from
MIN_DETECT_CONFIDENCE on. A header keeps its say even over a query in another language: a German
shopper typing "cancel my order" keeps the German pages.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any, Protocol

from kb.content.locales import UnknownLocale, negotiate, normalize_locale, parse_accept_language
from kb.errors import ParamError

MIN_DETECT_CONFIDENCE = 0.7
VOTE_ODDS = 20.0
_lock = threading.Lock()
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)

# Greetings and thanks people type on their own, which help articles rarely contain.
GREETINGS = {
    "en": "hello hi hey thanks thank you cheers",
    "de": "hallo moin servus grüezi danke dankeschön tschüss guten tag",
    "fr": "bonjour bonsoir salut merci coucou",
    "es": "hola gracias buenos buenas días",
    "it": "ciao buongiorno buonasera salve grazie",
    "pl": "cześć dzień dobry dziękuję dzięki witam",
    "tr": "merhaba selam teşekkürler teşekkür ederim günaydın",
    "nl": "hallo hoi dank bedankt goedemorgen",
    "pt": "olá oi obrigado obrigada bom dia",
}


class Vocabulary(Protocol):
    """The words of the help center's articles, per locale."""

    def known(self, word: str, locale: str) -> bool: ...


class BadLocale(ParamError):
    """The `lang` parameter names a locale the help center does not serve."""

    def __init__(self, message: str) -> None:
        super().__init__("lang", message)


@lru_cache(maxsize=16)
def _identifier(languages: tuple[str, ...]) -> Any:
    import py3langid.langid as langid

    ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    known = set(ident.nb_classes)
    usable = [lang for lang in languages if lang in known]
    if usable:
        ident.set_languages(usable)
    return ident


@lru_cache(maxsize=1)
def _greetings() -> dict[str, frozenset[str]]:
    return {lang: frozenset(words.split()) for lang, words in GREETINGS.items()}


def words_of(text: str) -> list[str]:
    """The words that can tell a language: letters only, two or more (no numbers, no 'x')."""
    return _WORD.findall(text.lower())


def language_odds(text: str, locales: list[str], vocabulary: Vocabulary | None = None) -> dict[str, float]:
    """Probability of each enabled language (primary subtag) for the text, all evidence combined."""
    langs = sorted({loc.split("-")[0] for loc in locales})
    with _lock:
        ranked = dict(_identifier(tuple(langs)).rank(text))
    probs = {lang: float(ranked.get(lang, 0.0)) for lang in langs}
    if sum(probs.values()) <= 0:
        probs = dict.fromkeys(langs, 1.0)
    by_lang: dict[str, list[str]] = {}
    for loc in locales:
        by_lang.setdefault(loc.split("-")[0], []).append(loc)
    greetings = _greetings()
    votes = dict.fromkeys(langs, 0.0)
    for word in words_of(text):
        speakers = [lang for lang in langs if word in greetings.get(lang, ()) or (
            vocabulary is not None and any(vocabulary.known(word, loc) for loc in by_lang[lang]))]
        if len(speakers) == 1:
            votes[speakers[0]] += 1.0
    odds = {lang: probs[lang] * VOTE_ODDS ** votes[lang] for lang in langs}
    total = sum(odds.values())
    return {lang: value / total for lang, value in odds.items()}


def detect_language(text: str, locales: list[str], vocabulary: Vocabulary | None = None,
                    threshold: float = MIN_DETECT_CONFIDENCE) -> tuple[str, float] | None:
    """(locale, probability) of the text among the enabled locales, or None if unsure."""
    if not words_of(text):
        return None
    odds = language_odds(text, locales, vocabulary)
    lang, prob = max(odds.items(), key=lambda kv: kv[1])
    if prob < threshold:
        return None
    match = negotiate([lang], locales)
    return (match, prob) if match else None


def choose_locale(query: str, lang: str | None, accept_language: str | None,
                  locales: list[str], source_locale: str,
                  vocabulary: Vocabulary | None = None) -> tuple[str, str]:
    """(locale, how) where how is 'lang', 'accept-language', 'detected' or 'default'."""
    if lang:
        try:
            code = normalize_locale(lang)
        except UnknownLocale as exc:
            raise BadLocale(str(exc)) from exc
        match = negotiate([code], locales)
        if match is None:
            raise BadLocale(f"{lang!r} is not served here; use one of {', '.join(locales)}")
        return match, "lang"
    if accept_language:
        match = negotiate(parse_accept_language(accept_language), locales)
        if match:
            return match, "accept-language"
    if query.strip():
        found = detect_language(query, locales, vocabulary)
        if found:
            return found[0], "detected"
    return source_locale, "default"
