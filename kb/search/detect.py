"""Which locale a shopper speaks: `lang` parameter, then Accept-Language, then the query's
language (py3langid, whose model ships in its package), then the source locale."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from kb.content.locales import UnknownLocale, negotiate, normalize_locale, parse_accept_language
from kb.errors import ParamError

MIN_DETECT_CONFIDENCE = 0.7
_lock = threading.Lock()


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


def detect_language(text: str, locales: list[str]) -> tuple[str, float] | None:
    """(locale, probability) of the text among the enabled locales, or None if unsure."""
    langs = tuple(sorted({loc.split("-")[0] for loc in locales}))
    with _lock:
        lang, prob = _identifier(langs).classify(text)
    if prob < MIN_DETECT_CONFIDENCE:
        return None
    match = negotiate([lang], locales)
    return (match, float(prob)) if match else None


def choose_locale(query: str, lang: str | None, accept_language: str | None,
                  locales: list[str], source_locale: str) -> tuple[str, str]:
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
        found = detect_language(query, locales)
        if found:
            return found[0], "detected"
    return source_locale, "default"
