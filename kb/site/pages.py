"""Every page of the site as plain data: what a template shows, except the article body.

A page's data is JSON-able, so its hash (plus the body and its resolved links) says exactly
whether the page must be rendered again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from babel.dates import format_date, get_timezone, get_timezone_name

from kb import API_PREFIX
from kb.content.article import Article
from kb.content.library import Library
from kb.content.locales import is_rtl as _is_rtl
from kb.content.locales import locale_name as _locale_name
from kb.content.sections import Section, split_sections
from kb.errors import KbError
from kb.site import i18n, seo
from kb.site.contact import CONTACT_SLUG, ContactPages, result_counts
from kb.site.i18n import N_
from kb.site.render import link_targets, plain_text
from kb.site.routes import Linker, Routes
from kb.site.strings import BROWSER_STRINGS

API_BASE = API_PREFIX
INDEXABLE = ("human", "reviewed")
RESERVED = {"search", "static", "media", CONTACT_SLUG}  # names the site uses for its own pages and files
locale_name = lru_cache(maxsize=256)(_locale_name)
is_rtl = lru_cache(maxsize=256)(_is_rtl)

# Translators: on the site's first page, beside each language's name and in that language
_CHOOSE = N_("Choose your language")


@dataclass
class Page:
    rel: str  # site path without the base URL's prefix: '/de/orders/cancel-order/'
    template: str
    data: dict[str, Any]
    article: Article | None = None  # whose body goes into the page
    links: dict[str, str | None] = field(default_factory=dict)  # the body's links, resolved

    @property
    def file(self) -> str:
        return Routes.file_for(self.rel)


class PageSpec(NamedTuple):
    """Which page: kind ('root', 'not_found', 'home', 'search', 'contact', 'category', 'article'), locale, and the
    category key or article id. Cheap to list; `Site.page` makes the page itself."""

    kind: str
    locale: str = ""
    name: str = ""


@dataclass
class Entry:
    """One article as listed in `locale`: the version shown there and its flags."""

    id: str
    category: str
    article: Article
    fallback: bool  # shown in another language than the page's
    machine: bool
    stale: bool


class Site(ContactPages):
    def __init__(self, library: Library, base_url: str, assets: dict[str, str]) -> None:
        self.library = library
        self.config = library.config
        self.routes = Routes(base_url)
        self.assets = assets  # 'site.css' -> '/static/site.css?v=…'
        self.category_of = {aid: self._category(aid) for aid in library.ids()}
        self.linker = Linker(library, self.routes, self.category_of)
        self._entries: dict[str, list[Entry]] = {}
        self._categories: dict[str, list[tuple[str, list[Entry]]]] = {}
        self._entry_by_id: dict[str, dict[str, Entry]] = {}
        self._chrome: dict[str, dict[str, Any]] = {}  # per locale: what every page of it shares
        self._listings: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (locale, category) -> listings
        reserved = RESERVED & set(self.category_of.values())
        if reserved:
            raise KbError(f"category {sorted(reserved)[0]!r}: the name is used by the site itself; rename it in kb.toml")

    # -- the library as seen from one locale ------------------------------------------------
    def _category(self, article_id: str) -> str:
        source = self.library.source(article_id)
        if source is not None:
            return source.category
        return next(iter(self.library.group(article_id).values())).category

    def entry(self, article_id: str, locale: str) -> Entry:
        resolved = self.library.resolve(article_id, locale)
        article = resolved[0] if resolved else next(iter(self.library.group(article_id).values()))
        return Entry(article_id, self.category_of[article_id], article,
                     fallback=_lang(article.locale) != _lang(locale), machine=article.is_machine,
                     stale=self.library.is_stale(article))

    def entries(self, locale: str) -> list[Entry]:
        if locale not in self._entries:
            out = [self.entry(aid, locale) for aid in self.library.ids()]
            self._entries[locale] = sorted(out, key=lambda e: (e.article.title.casefold(), e.id))
        return self._entries[locale]

    def categories(self, locale: str) -> list[tuple[str, list[Entry]]]:
        """Categories in kb.toml order (unknown ones last) with their articles; empty ones left out."""
        if locale not in self._categories:
            by_key: dict[str, list[Entry]] = {}
            for entry in self.entries(locale):
                by_key.setdefault(entry.category, []).append(entry)
            keys = list(self.config.categories) + sorted(set(by_key) - set(self.config.categories))
            self._categories[locale] = [(key, by_key[key]) for key in keys if key in by_key]
        return self._categories[locale]

    # -- pages -------------------------------------------------------------------------------
    def pages(self) -> list[Page]:
        """Every page, each at its own path."""
        return [self.page(spec) for spec in self.plan()]

    def plan(self) -> list[PageSpec]:
        """Every page, in build order, not made yet."""
        specs = [PageSpec("root"), PageSpec("not_found")]
        for locale in self.config.locales:
            specs += [PageSpec("home", locale), PageSpec("search", locale)]
            specs.append(PageSpec("not_found", locale))  # kb serve answers /<locale>/… misses with it
            if self.contact_url(locale) is not None:
                specs.append(PageSpec("contact", locale))
            specs += [PageSpec("category", locale, key) for key, _items in self.categories(locale)]
            specs += [PageSpec("article", locale, entry.id) for entry in self.entries(locale)]
        return specs

    def page(self, spec: PageSpec) -> Page:
        kind, locale, name = spec
        if kind == "article":
            return self.article_page(locale, self._entry(locale, name))
        if kind == "category":
            return self.category_page(locale, name, self._category_entries(locale, name))
        if kind == "home":
            return self.home_page(locale, self.categories(locale))
        if kind == "search":
            return self.search_page(locale, self.categories(locale))
        if kind == "contact":
            return Page(f"/{locale}/{CONTACT_SLUG}/", "contact.html", self.contact_data(locale))
        if kind == "root":
            return self.root_page()
        if kind == "not_found":
            return self.not_found_page(locale)
        raise ValueError(f"unknown page kind {kind!r}")

    def _entry(self, locale: str, article_id: str) -> Entry:
        if locale not in self._entry_by_id:
            self._entry_by_id[locale] = {entry.id: entry for entry in self.entries(locale)}
        return self._entry_by_id[locale][article_id]

    def listing(self, locale: str, article_id: str) -> dict[str, Any]:
        """Article `article_id` as listed on `locale` pages."""
        return self._listing(self._entry(locale, article_id), locale)

    def chrome(self, locale: str, title: str, switch: list[dict[str, Any]]) -> dict[str, Any]:
        """What every page of a locale shows: strings, direction, search box, support, switcher.

        The values shared by every page of the locale are computed once and shared (read-only)."""
        shared = self._chrome.get(locale)
        if shared is None:
            shared = self._chrome[locale] = self._locale_chrome(locale)
        return {**shared, "title": title, "switch": switch, "robots": None, "canonical": None, "alternates": [],
                "jsonld": None, "description": "", "breadcrumbs": []}

    def _locale_chrome(self, locale: str) -> dict[str, Any]:
        _ = i18n.translations(locale).gettext
        support = self.config.support_for(locale)
        langs = {code: i18n.language_in(code, locale) for code in self.config.locales}
        return {
            "lang": locale, "dir": "rtl" if is_rtl(locale) else "ltr",
            "site_name": self.config.name, "home_url": self.routes.home(locale),
            "search_url": self.routes.search(locale), "assets": self.assets, "contact_url": self.contact_url(locale),
            "support": None if support is None else {
                "channels": support.channels, "hours": support.hours,
                "timezone": _timezone(support.timezone, locale)},
            "js": {"locale": locale, "api": API_BASE, "index": self.routes.path(f"/{locale}/search-index.json"),
                   "root": self.routes.prefix, "strings": {k: _(m) for k, m in BROWSER_STRINGS.items()}, "langs": langs,
                   "source": self.library.source_locale, "contact": self.contact_url(locale),
                   "cookie_path": self.routes.prefix + "/"},
        }

    def locale_switch(self, locale: str, url_for: Any) -> list[dict[str, Any]]:
        return [{"code": code, "name": locale_name(code), "url": url_for(code), "current": code == locale,
                 "machine": False, "shown_in": None} for code in self.config.locales]

    def _home_alternates(self, url_for: Any) -> list[dict[str, str]]:
        alts = [{"hreflang": code, "href": self.routes.absolute(url_for(code))} for code in self.config.locales]
        alts.append({"hreflang": "x-default", "href": self.routes.absolute(url_for(self.library.source_locale))})
        return alts

    def root_page(self) -> Page:
        source = self.library.source_locale
        data = self.chrome(source, self.config.name, self.locale_switch(source, self.routes.home))
        data["choices"] = [{"code": c, "name": locale_name(c), "url": self.routes.home(c),
                            "prompt": i18n.translations(c).gettext(_CHOOSE)} for c in self.config.locales]
        data["alternates"] = self._home_alternates(self.routes.home)
        data["canonical"] = self.routes.absolute(self.routes.path("/"))
        return Page("/", "root.html", data)

    def not_found_page(self, locale: str = "") -> Page:
        """The 404 page of `locale` at /<locale>/404.html; without one, the source locale's at /404.html."""
        shown = locale or self.library.source_locale
        _ = i18n.translations(shown).gettext
        data = self.chrome(shown, _("Page not found"), self.locale_switch(shown, self.routes.home))
        data["robots"] = "noindex"
        return Page(f"/{locale}/404.html" if locale else "/404.html", "not_found.html", data)

    def home_page(self, locale: str, categories: list[tuple[str, list[Entry]]]) -> Page:
        _ = i18n.translations(locale).gettext
        data = self.chrome(locale, self.config.name, self.locale_switch(locale, self.routes.home))
        data["categories"] = [{"title": self.config.category_title(key, locale),
                               "url": self.routes.category(locale, key),
                               "articles": self.listings(locale, key)[:6],
                               "count": len(items)} for key, items in categories]
        data["popular"] = self.popular(locale, 5)
        data["canonical"] = self.routes.absolute(self.routes.home(locale))
        data["alternates"] = self._home_alternates(self.routes.home)
        data["description"] = _("Search our articles or browse a topic below.")
        data["jsonld"] = seo.website_jsonld(self.config.name, data["canonical"], locale,
                                            self.routes.absolute(self.routes.search(locale)))
        return Page(f"/{locale}/", "home.html", data)

    def search_page(self, locale: str, categories: list[tuple[str, list[Entry]]]) -> Page:
        _ = i18n.translations(locale).gettext
        data = self.chrome(locale, _("Search results"), self.locale_switch(locale, self.routes.search))
        data["robots"] = "noindex"
        data["categories"] = [{"title": self.config.category_title(key, locale),
                               "url": self.routes.category(locale, key),
                               "articles": self.listings(locale, key)} for key, _items in categories]
        data["breadcrumbs"] = [{"name": _("Home"), "url": self.routes.home(locale)}]
        data["popular"] = self.popular(locale, 3)
        data["js"] = {**data["js"], "counts": result_counts(locale),
                      "categories": {key: self.config.category_title(key, locale) for key, _items in categories}}
        return Page(f"/{locale}/search/", "search.html", data)

    def category_page(self, locale: str, key: str, items: list[Entry]) -> Page:
        _ = i18n.translations(locale).gettext
        title = self.config.category_title(key, locale)
        switch = self.locale_switch(locale, lambda c: self.routes.category(c, key))
        data = self.chrome(locale, title, switch)
        data["category"] = {"title": title, "articles": self.listings(locale, key)}
        data["breadcrumbs"] = [{"name": _("Home"), "url": self.routes.home(locale)}]
        data["canonical"] = self.routes.absolute(self.routes.category(locale, key))
        data["alternates"] = self._home_alternates(lambda c: self.routes.category(c, key))
        return Page(f"/{locale}/{key}/", "category.html", data)

    def listings(self, locale: str, category: str) -> list[dict[str, Any]]:
        """The category's articles as listed on `locale` pages (shared by every page: read-only)."""
        key = (locale, category)
        if key not in self._listings:
            self._listings[key] = [self._listing(e, locale) for e in self._category_entries(locale, category)]
        return self._listings[key]

    def _related(self, locale: str, category: str, article_id: str, count: int = 6) -> list[dict[str, Any]]:
        """The first `count` other articles of the category, as listed on `locale` pages."""
        pairs = zip(self._category_entries(locale, category), self.listings(locale, category), strict=True)
        return list(islice((item for entry, item in pairs if entry.id != article_id), count))

    def _category_entries(self, locale: str, category: str) -> list[Entry]:
        for key, items in self.categories(locale):
            if key == category:
                return items
        return []

    def _listing(self, entry: Entry, locale: str) -> dict[str, Any]:
        """An article in a list: a short language badge stands for the 'only available in' label."""
        badge = None
        if entry.fallback:
            text = _only_in(entry.article.locale, locale)
            badge = {"code": entry.article.locale.upper(), "text": text}
        return {"title": entry.article.title, "url": self.routes.article(locale, entry.category, entry.id),
                "lang": entry.article.locale, "badge": badge, "labels": self._labels(entry, locale, fallback=False)}

    def _labels(self, entry: Entry, locale: str, fallback: bool = True) -> list[str]:
        _ = i18n.translations(locale).gettext
        labels = []
        if entry.fallback and fallback:
            labels.append(_only_in(entry.article.locale, locale))
        if entry.machine:
            labels.append(_(BROWSER_STRINGS["machine_label"]))
        if entry.stale:
            labels.append(_(BROWSER_STRINGS["stale_label"]))
        return labels

    def article_page(self, locale: str, entry: Entry) -> Page:
        article, aid, routes = entry.article, entry.id, self.routes
        _ = i18n.translations(locale).gettext
        group = self.library.group(aid)
        source = self.library.source(aid)
        own = not entry.fallback and article.locale == locale
        indexable = own and article.review in INDEXABLE
        url = routes.article(locale, entry.category, aid)
        switch = [self._version(code, entry, locale) for code in self.config.locales]
        data = self.chrome(locale, article.title, switch)
        original = None
        if source is not None and source is not article:
            original = {"url": routes.article(source.locale, entry.category, aid), "lang": source.locale,
                        "name": locale_name(source.locale)}
        sections = split_sections(article.body)
        lead = _lead(sections)
        data["article"] = {
            "id": aid, "title": article.title, "lang": article.locale, "dir": "rtl" if is_rtl(article.locale) else "ltr",
            "updated": _long_date(article.meta.updated, i18n.ui_locale(locale)),
            "updated_iso": article.meta.updated.isoformat(), "fallback": entry.fallback, "machine": entry.machine,
            "stale": entry.stale, "original": original,
            # Translators: {language} is the article's language, named in the page's language
            "fallback_text": _("This article is not yet available in your language. You are reading the {language} "
                               "version.").format(language=i18n.language_in(article.locale, locale)),
            "related": self._related(locale, entry.category, aid),
        }
        data["category"] = {"title": self.config.category_title(entry.category, locale),
                            "url": routes.category(locale, entry.category)}
        data["breadcrumbs"] = [{"name": _("Home"), "url": routes.home(locale)},
                               {"name": data["category"]["title"], "url": data["category"]["url"]}]
        data["description"] = lead[:160]
        if entry.machine:
            data["robots"] = "noindex"
        elif indexable:
            data["canonical"] = routes.absolute(url)
            data["alternates"] = [{"hreflang": code, "href": routes.absolute(routes.article(code, entry.category, aid))}
                                  for code in self.config.locales if code in group and group[code].review in INDEXABLE]
            if source is not None and source.review in INDEXABLE:
                data["alternates"].append({"hreflang": "x-default", "href": routes.absolute(
                    routes.article(source.locale, entry.category, aid))})
        else:  # another locale's version stands in: its own page is the canonical one
            data["canonical"] = routes.absolute(routes.article(article.locale, entry.category, aid))
        data["jsonld"] = seo.article_jsonld(article, data["canonical"] or routes.absolute(url), self.config.name, lead,
                                            sections)
        links = {target: self.linker.resolve(article, locale, target) for target in link_targets(article.body)}
        return Page(f"/{locale}/{entry.category}/{aid}/", "article.html", data, article=article, links=links)


    def _version(self, code: str, entry: Entry, page_locale: str) -> dict[str, Any]:
        """Article `entry` in the language menu of a `page_locale` page: every enabled locale has
        its page; one without its own version names the language shown there instead."""
        served = self._entry(code, entry.id)
        shown_in = i18n.language_in(served.article.locale, page_locale) if served.fallback else None
        return {"code": code, "name": locale_name(code), "url": self.routes.article(code, entry.category, entry.id),
                "current": code == page_locale, "machine": served.machine, "shown_in": shown_in}


def _only_in(language: str, locale: str) -> str:
    """'Only available in {language}', shown on `locale` pages."""
    return i18n.translations(locale).gettext(BROWSER_STRINGS["fallback_label"]).format(
        language=i18n.language_in(language, locale))


def _lang(locale: str) -> str:
    return locale.split("-")[0]


def _lead(sections: list[Section]) -> str:
    return plain_text(sections[0].text) if sections else ""


@lru_cache(maxsize=4096)
def _long_date(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=locale)


@lru_cache(maxsize=256)
def _timezone(name: str, locale: str) -> str:
    try:
        return get_timezone_name(get_timezone(name), locale=i18n.ui_locale(locale))
    except (LookupError, ValueError):
        return name
