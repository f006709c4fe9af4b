"""The site's interface language: which catalog a page uses, loading it, and `_()` in templates.

The strings live in gettext catalogs, `locales/<locale>/LC_MESSAGES/messages.po` (the folder
named as gettext names locales: `de`, `pt_BR`); the English text is the message id, so English needs no catalog and any message a catalog lacks shows in
English. A catalog is compiled to its `.mo` file on first use when the `.mo` is missing or older
than the `.po` (`python -m kb.site.catalogs compile` does it ahead of time, and `check` and
`update` serve translators; see kb/site/catalogs.py).

Placeholders are `{name}` fields (gettext's python-brace-format): `{language}` is filled with the
language's name in the page's language as Babel spells it in running text, `{date}` and `{query}`
with a date and a search query. The browser script fills the ones in the strings it is given.
"""

from __future__ import annotations

import io
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context

from kb.content.locales import normalize_locale
from kb.site.atomic import write_atomic

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LOCALE = "en"  # the language of the message ids


def N_(message: str) -> str:  # gettext's usual name for "mark for extraction, translate later"
    """Mark `message` for the catalogs where it is defined; it is translated where it is shown."""
    return message


def po_file(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=1)
def catalog_locales() -> tuple[str, ...]:
    """The locales that have a catalog, sorted."""
    return tuple(sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


@lru_cache(maxsize=1024)
def ui_locale(locale: str) -> str:
    """The interface language for pages in `locale`: its catalog ('pt_BR'), its language's, else English."""
    code = normalize_locale(locale)
    for candidate in (code.replace("-", "_"), code.split("-")[0]):
        if candidate == SOURCE_LOCALE or candidate in catalog_locales():
            return candidate
    return SOURCE_LOCALE


@lru_cache(maxsize=64)
def translations(locale: str) -> NullTranslations:
    """The interface strings for pages in `locale` (`.gettext`, `.ngettext`), from its compiled catalog."""
    code = ui_locale(locale)
    if code == SOURCE_LOCALE:
        return NullTranslations()
    try:
        compile_catalog(code)
        with po_file(code).with_suffix(".mo").open("rb") as fh:
            return Translations(fh, domain=DOMAIN)
    except OSError:  # the package folder is read-only and has no fresh .mo: compile in memory
        return Translations(io.BytesIO(mo_bytes(code)), domain=DOMAIN)


def mo_bytes(code: str) -> bytes:
    """Catalog `code` compiled (fuzzy and untranslated messages left out: they show in English)."""
    with po_file(code).open("rb") as fh:
        catalog = read_po(fh, locale=code, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_catalog(code: str, force: bool = False) -> Path | None:
    """Write `code`'s `.mo` next to its `.po` if missing or older (or `force`); return it if written.

    Written to a temporary file and renamed, so concurrent processes never read half a file."""
    po = po_file(code)
    mo = po.with_suffix(".mo")
    if not force and mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        return None
    data = mo_bytes(code)
    write_atomic(mo, data, suffix=".mo")
    return mo


def compile_catalogs(force: bool = False) -> list[Path]:
    """Compile every catalog whose `.mo` is missing or stale; the `.mo` files written."""
    return [mo for code in catalog_locales() if (mo := compile_catalog(code, force)) is not None]


def refresh() -> None:
    """Forget the loaded catalogs, so catalogs edited since are read again (each site build starts so)."""
    for cached in (catalog_locales, ui_locale, translations, language_in):
        cached.cache_clear()


@lru_cache(maxsize=1024)
def language_in(language: str, page_locale: str) -> str:
    shown = Locale.parse(ui_locale(page_locale))
    return Locale.parse(normalize_locale(language).replace("-", "_")).get_display_name(shown) or language


# -- templates ---------------------------------------------------------------------------------
@pass_context
def _page_gettext(context: Any, message: str) -> str:
    return translations(context["lang"]).gettext(message)


@pass_context
def _page_ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return translations(context["lang"]).ngettext(singular, plural, n)


def install(env: Environment) -> None:
    """Give `env`'s templates `_()`, `gettext()` and `ngettext()` in the language of the page being
    rendered (its `lang`). Old-style gettext: the result is a plain string, escaped like any other
    value (new-style would mark translations safe HTML and leave their apostrophes unescaped)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=_page_gettext, ngettext=_page_ngettext, newstyle=False)  # type: ignore[attr-defined]

