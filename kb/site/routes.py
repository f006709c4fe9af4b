"""The site's URL scheme, and how links inside articles are turned into site URLs.

    /<locale>/                       home
    /<locale>/<category>/            category
    /<locale>/<category>/<id>/       article (every locale has every article: own version or fallback)
    /<locale>/search/?q=             search results
    /media/<path in content folder>  images and files articles link to
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from kb.content.article import Article
from kb.content.library import Library
from kb.content.sections import anchors

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_quote = lru_cache(maxsize=4096)(quote)  # category names: quoted again for every link otherwise
ASSET_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif", ".pdf"}


class Routes:
    """Paths (with the base URL's path prefix) and absolute URLs of every page."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        self.prefix = parts.path.rstrip("/")

    def path(self, rel: str) -> str:
        """'/de/orders/' -> '/help/de/orders/' when the site lives under /help."""
        return self.prefix + rel

    def home(self, locale: str) -> str:
        return self.path(f"/{locale}/")

    def category(self, locale: str, category: str) -> str:
        return self.path(f"/{locale}/{_quote(category)}/")

    def article(self, locale: str, category: str, article_id: str) -> str:
        return self.path(f"/{locale}/{_quote(category)}/{article_id}/")

    def search(self, locale: str) -> str:
        return self.path(f"/{locale}/search/")

    def absolute(self, path: str) -> str:
        return self.origin + path

    @staticmethod
    def file_for(rel: str) -> str:
        """Site path without prefix -> file in the output folder: '/de/' -> 'de/index.html'."""
        rel = rel.lstrip("/")
        return rel + "index.html" if rel == "" or rel.endswith("/") else rel


class Linker:
    """Rewrites the relative links of one library's articles to URLs of the built site."""

    def __init__(self, library: Library, routes: Routes, category_of: dict[str, str]) -> None:
        self.library = library
        self.routes = routes
        self.category_of = category_of
        self.root = library.root.resolve()
        self.by_path = {a.path.resolve(): a for a in library.articles}
        self.assets: dict[str, Path] = {}  # site path without prefix -> file to copy
        self._targets: dict[tuple[Path, str], Path] = {}  # (folder, relative path) -> resolved path
        self._anchors: dict[tuple[str, str], set[str]] = {}  # (article id, page locale) -> anchors shown

    def resolve(self, article: Article, page_locale: str, url: str) -> str | None:
        """The URL a link in `article`, shown on a `page_locale` page, points to; None: drop it."""
        url = url.strip()
        if not url or url.startswith("#"):
            return url or None
        if _SCHEME.match(url) or url.startswith("//") or url.startswith("/"):
            return url
        path_part, _, anchor = url.partition("#")
        path_part = path_part.split("?")[0]
        key = (article.path.parent, path_part)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = (article.path.parent / path_part).resolve()
        if path_part.endswith(".md"):
            found = self._article_at(target)
            if found is None:
                return None
            return self.article_url(found.id, page_locale, anchor)
        return self._asset(target)

    def article_url(self, article_id: str, page_locale: str, anchor: str = "") -> str | None:
        category = self.category_of.get(article_id)
        if category is None:
            return None
        url = self.routes.article(page_locale, category, article_id)
        if anchor and anchor in self._shown_anchors(article_id, page_locale):
            url += "#" + anchor
        return url

    def _shown_anchors(self, article_id: str, page_locale: str) -> set[str]:
        key = (article_id, page_locale)
        if key not in self._anchors:
            shown = self.library.resolve(article_id, page_locale)
            self._anchors[key] = anchors(shown[0].body) if shown is not None else set()
        return self._anchors[key]

    def _article_at(self, path: Path) -> Article | None:
        if path in self.by_path:
            return self.by_path[path]
        try:  # missing in this locale: the source-locale file of the same name stands in
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        if len(rel.parts) < 2:
            return None
        return self.by_path.get(self.root / self.library.source_locale / Path(*rel.parts[1:]))

    def _asset(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        if path.suffix.lower() not in ASSET_SUFFIXES or not path.is_file() or rel.parts[0].startswith("."):
            return None
        site_path = "/media/" + PurePosixPath(*rel.parts).as_posix()
        self.assets[site_path] = path
        return self.routes.path(quote(site_path))
