"""The site's data files: per-locale search index, sitemaps and robots.txt."""

from __future__ import annotations

import json

from kb.content.sections import split_sections
from kb.site import seo
from kb.site.pages import Page, Site
from kb.site.render import plain_text

MAX_TEXT = 4000


def search_index(site: Site, locale: str) -> str:
    """`/<locale>/search-index.json`: what the browser searches when the API cannot be reached."""
    items = []
    for entry in site.entries(locale):
        article = entry.article
        text = plain_text(article.body)
        items.append({
            "id": entry.id, "title": article.title, "lang": article.locale,
            "url": site.routes.article(locale, entry.category, entry.id),
            "category": site.config.category_title(entry.category, locale), "category_key": entry.category,
            "sections": {s.anchor: s.heading for s in split_sections(article.body) if s.anchor},
            "questions": article.questions, "tags": article.meta.tags,
            "excerpt": text[:240], "text": text[:MAX_TEXT],
            "machine_translated": entry.machine, "fallback": entry.fallback, "stale": entry.stale,
        })
    return json.dumps({"locale": locale, "articles": items}, ensure_ascii=False, separators=(",", ":"))


def search_indexes(site: Site) -> dict[str, str]:
    return {f"{locale}/search-index.json": search_index(site, locale) for locale in site.config.locales}


def sitemap_url(site: Site, page: Page) -> seo.SitemapUrl | None:
    """The page's sitemap entry: only indexable pages at their own (canonical) URL have one."""
    data = page.data
    if data.get("robots"):
        return None
    if data.get("canonical") != site.routes.absolute(site.routes.path(page.rel)):
        return None  # fallback pages point elsewhere; only a page's own URL goes in
    lastmod = data["article"]["updated_iso"] if "article" in data else None
    return seo.SitemapUrl(data["canonical"], lastmod, data["alternates"])


def sitemap_files(site: Site, urls: list[tuple[str, seo.SitemapUrl | None]]) -> dict[str, str]:
    """Per-locale sitemaps, the sitemap index and robots.txt from each page's (path, sitemap entry)."""
    routes = site.routes
    locales = site.config.locales
    out: dict[str, str] = {}
    for locale in locales:
        prefix = f"/{locale}/"
        out[f"{locale}/sitemap.xml"] = seo.sitemap([url for rel, url in urls if url is not None and rel.startswith(prefix)])
    index_url = routes.absolute(routes.path("/sitemap.xml"))
    out["sitemap.xml"] = seo.sitemap_index([routes.absolute(routes.path(f"/{loc}/sitemap.xml")) for loc in locales])
    out["robots.txt"] = seo.robots(index_url, routes.prefix, locales)
    return out

