"""The whole help center in memory: articles joined into translation groups by id."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kb.content.article import Article
from kb.content.changes import Stat, is_racy, locale_folders, markdown_files, stat_key
from kb.content.config import Config, load_config
from kb.content.learned import attach_learned
from kb.content.locales import fallback_chain, normalize_locale
from kb.content.parsecache import ParseCache
from kb.content.problems import Problem
from kb.content.reader import load_article


@dataclass
class Library:
    root: Path
    config: Config
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # files that could not be loaded
    # the stat of each article file as it was read, when loaded through a parse cache and not
    # modified within the last seconds (see kb/content/parsecache.py): `kb index` records it
    stats: dict[Path, Stat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_key: dict[tuple[str, str], Article] = {}
        self._hashes: dict[int, tuple[Article, str]] = {}  # id(article) -> (article, content hash)
        self._groups: dict[str, dict[str, Article]] = defaultdict(dict)
        for article in self.articles:
            self._by_key.setdefault((article.id, article.locale), article)
            self._groups[article.id].setdefault(article.locale, article)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, root: Path | str, cache_dir: Path | None = None) -> Library:
        """Load `root/kb.toml` and every `root/<locale>/**/*.md` (by the rules of
        kb/content/changes.py); bad files become problems.

        With `cache_dir`, a file whose stat matches the parse cache there is taken from it instead
        of being read and parsed again (see kb/content/parsecache.py); the cache is updated."""
        root = Path(root)
        config = load_config(root)
        articles: list[Article] = []
        problems: list[Problem] = []
        hashes: list[tuple[Article, str]] = []
        stats: dict[Path, Stat] = {}
        for folder in locale_folders(root, config):
            files = markdown_files(folder.path)
            if folder.error:
                problems += [folder.problem(path) for path in files]
                continue
            if cache_dir is None:
                for path in files:
                    article = load_article(path, folder.locale, root, problems)
                    if article is not None:
                        articles.append(article)
                continue
            _load_cached(files, folder.path, folder.locale, root, ParseCache(cache_dir, root, folder.path.name),
                         articles, problems, hashes, stats)
        problems += attach_learned(articles, root)
        library = cls(root=root, config=config, articles=articles, problems=problems, stats=stats)
        for article, digest in hashes:
            library._hashes[id(article)] = (article, digest)
        return library

    # -- lookup ----------------------------------------------------------------------------
    @property
    def source_locale(self) -> str:
        return self.config.source_locale

    def ids(self) -> list[str]:
        return sorted(self._groups)

    def get(self, article_id: str, locale: str) -> Article | None:
        return self._by_key.get((article_id, locale))

    def group(self, article_id: str) -> dict[str, Article]:
        return dict(self._groups.get(article_id, {}))

    def source(self, article_id: str) -> Article | None:
        """The article a translation group is translated from (the source-locale version)."""
        group = self._groups.get(article_id, {})
        if self.source_locale in group:
            return group[self.source_locale]
        originals = [a for a in group.values() if not a.is_translation]
        return originals[0] if originals else None

    def resolve(self, article_id: str, locale: str) -> tuple[Article, bool] | None:
        """The version to show a shopper in `locale`: (article, is_fallback) along the chain."""
        group = self._groups.get(article_id)
        if not group:
            return None
        wanted = normalize_locale(locale)  # 'de_AT' asks for 'de-AT': not a fallback when that exists
        for code in fallback_chain(wanted, self.source_locale):
            if code in group:
                return group[code], code != wanted
        source = self.source(article_id)
        return (source, True) if source else None

    def hash_of(self, article: Article) -> str:
        """`article.hash`, computed once per article of this library."""
        found = self._hashes.get(id(article))
        if found is not None and found[0] is article:
            return found[1]
        value = article.hash
        self._hashes[id(article)] = (article, value)
        return value

    def is_stale(self, article: Article) -> bool:
        """A translation is stale when its source changed since it was translated."""
        if not article.is_translation:
            return False
        source = self.source(article.id)
        if source is None or source is article:
            return False
        return article.meta.source_hash != self.hash_of(source)

    def missing(self, locale: str) -> list[str]:
        """Ids of source articles with no version in `locale`."""
        return [i for i in self.ids() if self.source(i) is not None and locale not in self._groups[i]]

    def coverage(self) -> dict[str, dict[str, int]]:
        total = sum(1 for i in self.ids() if self.source(i) is not None)
        out: dict[str, dict[str, int]] = {}
        for locale in self.config.locales:
            versions = [g[locale] for g in self._groups.values() if locale in g]
            out[locale] = {
                "total": total,
                "present": len(versions),
                "human": sum(1 for a in versions if a.review == "human"),
                "reviewed": sum(1 for a in versions if a.review == "reviewed"),
                "machine": sum(1 for a in versions if a.review == "machine"),
                "stale": sum(1 for a in versions if self.is_stale(a)),
                "missing": len(self.missing(locale)),
            }
        return out

    def in_locale(self, locale: str) -> list[Article]:
        return [a for a in self.articles if a.locale == locale]


def _load_cached(files: list[Path], locale_dir: Path, locale: str, root: Path, cache: ParseCache,
                 articles: list[Article], problems: list[Problem], hashes: list[tuple[Article, str]],
                 stats: dict[Path, Stat]) -> None:
    """Load the files of one locale folder through its parse cache, then save the cache."""
    now = time.time_ns()
    prefix = len(str(locale_dir)) + 1
    for path in files:
        rel = str(path)[prefix:]  # relative to locale_dir, which every path starts with
        try:
            key = stat_key(path.stat())  # before reading: a later change gives another stat
        except OSError:
            key = None
        hit = cache.get(rel, key, path, locale) if key is not None else None
        if hit is not None and key is not None:
            articles.append(hit[0])
            hashes.append(hit)
            stats[path] = key
            continue
        article = load_article(path, locale, root, problems)
        if article is None:
            continue
        articles.append(article)
        digest = article.hash
        hashes.append((article, digest))
        if key is not None:
            cache.put(rel, key, article, digest, now)
            if not is_racy(key, now):
                stats[path] = key
    cache.save()
