"""The ways out of a dead end: each locale's contact page, popular articles, and the strings the
search page needs to count its results.

The contact page (`/<locale>/contact-us/`) shows the locale's support channels and hours from
kb.toml's `[support.<locale>]` (falling back like every page's support box); "Still need help?"
and the search page's "no match" state lead to it. Popular articles are kb.toml's editor-chosen
`popular` list; the served site asks GET /v1/popular for the ones shoppers open most.
"""

from __future__ import annotations

from typing import Any

from kb.content.config import Config
from kb.site import i18n
from kb.site.routes import Routes

CONTACT_SLUG = "contact-us"
MAX_COUNTED = 50  # the search page asks for at most this many results


def result_counts(locale: str) -> list[str]:
    """'{count} results for “{query}”' for 0..MAX_COUNTED in `locale`'s plural forms (the browser
    script picks by index, so it needs no plural rules of its own)."""
    ngettext = i18n.translations(locale).ngettext
    # Translators: above the search results; {count} is how many, {query} what the visitor searched for
    return [ngettext("{count} result for “{query}”", "{count} results for “{query}”", n) for n in range(MAX_COUNTED + 1)]


class ContactPages:
    """The contact page and popular articles of kb.site.pages.Site (which provides the attributes)."""

    config: Config
    routes: Routes
    category_of: dict[str, str]

    def chrome(self, locale: str, title: str, switch: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def locale_switch(self, locale: str, url_for: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def listing(self, locale: str, article_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def contact_url(self, locale: str) -> str | None:
        """The locale's contact page, or None when kb.toml names no support contact at all."""
        if self.config.support_for(locale) is None:
            return None
        return self.routes.path(f"/{locale}/{CONTACT_SLUG}/")

    def popular(self, locale: str, count: int) -> list[dict[str, Any]]:
        """kb.toml's popular articles that exist, as listed on `locale` pages."""
        ids = [aid for aid in dict.fromkeys(self.config.popular) if aid in self.category_of]
        return [self.listing(locale, aid) for aid in ids[:count]]

    def popular_warnings(self) -> list[str]:
        return [f"kb.toml: popular lists {aid!r}, which is no article's id; left out"
                for aid in dict.fromkeys(self.config.popular) if aid not in self.category_of]

    def contact_data(self, locale: str) -> dict[str, Any]:
        """What the contact page of `locale` shows (its path: contact_url)."""
        _ = i18n.translations(locale).gettext
        routes = self.routes
        url = self.contact_url(locale)
        assert url is not None, "a contact page needs a support contact"
        data = self.chrome(locale, _("Contact us"),
                           self.locale_switch(locale, lambda code: self.contact_url(code) or routes.home(code)))
        data["breadcrumbs"] = [{"name": _("Home"), "url": routes.home(locale)}]
        data["canonical"] = routes.absolute(url)
        data["alternates"] = [{"hreflang": code, "href": routes.absolute(routes.path(f"/{code}/{CONTACT_SLUG}/"))}
                              for code in self.config.locales]
        data["description"] = _("Our customer service team is happy to help.")
        data["popular"] = self.popular(locale, 5)
        return data
