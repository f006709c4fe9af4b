"""Locale codes: normalization, fallback chains and Accept-Language negotiation (via Babel)."""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale, UnknownLocaleError

from kb.errors import KbError

_SHAPE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")


class UnknownLocale(KbError):
    pass


@lru_cache(maxsize=512)
def normalize_locale(code: str) -> str:
    """Return the BCP 47 form of a locale code: 'de_AT', 'de-at' -> 'de-AT'.

    Raises UnknownLocale for anything Babel does not know.
    """
    raw = str(code).strip()
    if not _SHAPE.match(raw):
        raise UnknownLocale(f"unknown locale {code!r}: use a code such as 'de', 'pt-BR' or 'de-AT'")
    try:
        loc = Locale.parse(raw.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise UnknownLocale(f"unknown locale {code!r}: use a code such as 'de', 'pt-BR' or 'de-AT'") from exc
    parts = [loc.language]
    if loc.script:
        parts.append(loc.script)
    if loc.territory:
        parts.append(loc.territory)
    return "-".join(parts)


def fallback_chain(locale: str, source_locale: str) -> list[str]:
    """'de-AT' -> ['de-AT', 'de', <source>]: each step drops the last subtag, then the source."""
    chain: list[str] = []
    parts = normalize_locale(locale).split("-")
    while parts:
        code = "-".join(parts)
        if code not in chain:
            chain.append(code)
        parts.pop()
    src = normalize_locale(source_locale)
    if src not in chain:
        chain.append(src)
    return chain


def locale_name(locale: str, in_locale: str | None = None) -> str:
    """The locale's name in its own language (or in `in_locale`): 'de' -> 'Deutsch'."""
    loc = Locale.parse(normalize_locale(locale).replace("-", "_"))
    shown = loc if in_locale is None else Locale.parse(normalize_locale(in_locale).replace("-", "_"))
    name = loc.get_display_name(shown) or locale
    return name[:1].upper() + name[1:]


def is_rtl(locale: str) -> bool:
    return Locale.parse(normalize_locale(locale).replace("-", "_")).character_order == "right-to-left"


def parse_accept_language(header: str) -> list[str]:
    """Accept-Language header -> locale tags ordered by q (highest first); bad parts are skipped."""
    tags: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in bits[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            tags.append((-q, index, tag))
    return [tag for _, _, tag in sorted(tags)]


def negotiate(preferred: list[str], available: list[str]) -> str | None:
    """First available locale matching the preferences: exact tag, then its language, then a
    regional variant of the same language ('de' matches 'de-AT' when only that exists)."""
    avail = {a.lower(): a for a in available}
    for tag in preferred:
        try:
            code = normalize_locale(tag)
        except UnknownLocale:
            continue
        for candidate in fallback_chain(code, code):
            if candidate.lower() in avail:
                return avail[candidate.lower()]
        lang = code.split("-")[0].lower()
        for low, original in avail.items():
            if low.split("-")[0] == lang:
                return original
    return None
