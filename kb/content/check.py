"""`kb check`: lint a help center and report every problem with file, line and a fix hint."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from kb.content.article import Article
from kb.content.library import Library
from kb.content.mojibake import repair_line
from kb.content.problems import Problem
from kb.content.promises import chat_promises
from kb.content.reader import display_path
from kb.content.sections import anchors

_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def check(library: Library) -> list[Problem]:
    """All problems in the library, loader problems included, sorted by file and line."""
    problems = list(library.problems)
    root = library.root
    seen: dict[tuple[str, str], Article] = {}
    for article in library.articles:
        rel = display_path(article.path, root)
        key = (article.id, article.locale)
        if key in seen:
            problems.append(Problem("error", "duplicate-id", rel, article.line_of("id"),
                f"id {article.id!r} is already used in locale {article.locale} by {display_path(seen[key].path, root)}",
                "give one of the two articles a different id"))
        else:
            seen[key] = article
        problems.extend(_check_article(library, article, rel))  # a duplicate's own problems count too
    problems.extend(_missing(library))
    return sorted(problems, key=lambda p: (p.path, p.line, p.kind))


def _check_article(library: Library, article: Article, rel: str) -> list[Problem]:
    out: list[Problem] = []
    cfg = library.config
    if article.category not in cfg.categories:
        out.append(Problem("error", "unknown-category", rel, article.line_of("category"),
            f"category {article.category!r} is not defined in kb.toml",
            "use one of: " + ", ".join(cfg.categories)))
    elif article.path.parent.name != article.category:
        out.append(Problem("warning", "category-folder", rel, article.line_of("category"),
            f"category is {article.category!r} but the file is in folder {article.path.parent.name!r}",
            f"move the file to {article.locale}/{article.category}/"))
    if article.path.stem != article.id:
        out.append(Problem("warning", "id-filename", rel, article.line_of("id"),
            f"id {article.id!r} differs from the file name {article.path.stem!r}",
            f"rename the file to {article.id}.md so links and translations line up"))
    if not article.body.strip():
        out.append(Problem("error", "empty-body", rel, article.body_line,
            "the article has no text after its front matter", "write the answer below the closing '---'"))
    out.extend(_check_mojibake(article, rel))
    out.extend(_check_translation(library, article, rel))
    out.extend(_check_links(library, article, rel))
    out.extend(chat_promises(cfg, article, rel))
    return out


def _check_mojibake(article: Article, rel: str) -> list[Problem]:
    out = []
    try:
        lines = article.path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return out
    for number, line in enumerate(lines, start=1):
        fixed = repair_line(line, article.locale)
        if fixed is not None:
            out.append(Problem("error", "mojibake", rel, number,
                "garbled characters: UTF-8 text that was read in another encoding and saved again",
                "replace the line with the repaired text (and check your editor's encoding)", fixed=fixed))
    return out


def _check_translation(library: Library, article: Article, rel: str) -> list[Problem]:
    out: list[Problem] = []
    meta = article.meta
    src_locale = library.source_locale
    if article.is_translation:
        if meta.source_locale == article.locale:
            out.append(Problem("error", "bad-field", rel, article.line_of("source_locale"),
                "source_locale is the article's own locale", "remove source_locale from an original article"))
            return out
        for name in ("source_hash", "review"):
            if getattr(meta, name) is None:
                out.append(Problem("error", "missing-field", rel, article.line_of("source_locale"),
                    f"a translation needs the field {name!r}",
                    "set source_hash to the hash 'kb check' shows for the source, and review to human, machine or reviewed"))
        source = library.get(article.id, meta.source_locale or src_locale)
        if source is None:
            out.append(Problem("error", "orphan-translation", rel, article.line_of("id"),
                f"translation of {article.id!r} but there is no {meta.source_locale} article with that id",
                "fix the id so it matches its source article, or add the source article"))
        elif meta.source_hash is not None and meta.source_hash != source.hash:
            what = "refresh it with 'kb translate --stale'" if article.is_machine else (
                f"update the text, then run 'kb review approve {article.id} --locale {article.locale}'")
            out.append(Problem("warning", "stale", rel, article.line_of("source_hash"),
                f"the source {display_path(source.path, library.root)} changed since this translation was made "
                f"(source_hash {meta.source_hash}, source now {source.hash})",
                f"see 'kb review diff {article.id} --locale {article.locale}', {what}"))
    elif article.locale != src_locale and library.get(article.id, src_locale) is not None:
        out.append(Problem("error", "missing-field", rel, article.line_of("id"),
            f"a {src_locale} article with id {article.id!r} exists, so this is a translation, but it has no source_locale",
            f"add source_locale: {src_locale}, source_hash: {library.get(article.id, src_locale).hash} (the source's hash now) and review: human"))  # type: ignore[union-attr]
    return out


def _check_links(library: Library, article: Article, rel: str) -> list[Problem]:
    out: list[Problem] = []
    in_fence = False
    for offset, line in enumerate(article.body.split("\n")):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in _LINK.finditer(_CODE_SPAN.sub("", line)):
            target = match.group(2)
            if _SCHEME.match(target) or target.startswith("//"):
                continue
            problem = _link_problem(library, article, target)
            if problem:
                out.append(Problem("error", "broken-link", rel, article.body_line + offset,
                                   f"link to {target!r}: {problem[0]}", problem[1]))
    return out


def _link_problem(library: Library, article: Article, target: str) -> tuple[str, str] | None:
    path_part, _, anchor = target.partition("#")
    if not path_part:
        if anchor and anchor not in anchors(article.body):
            return f"no heading with anchor #{anchor} in this article", "use an anchor of one of the article's headings"
        return None
    if not path_part.endswith(".md"):
        return ("internal links must point to an article's .md file",
                "link like [text](../returns/start-a-return.md)")
    resolved = (article.path.parent / path_part).resolve()
    target_article = _find(library, resolved, article.locale)
    if target_article is None:
        return ("no such article in this locale or the source locale",
                "check the category folder and file name; 'kb stats' lists every article id")
    if anchor and anchor not in anchors(target_article.body):
        return (f"the target has no heading with anchor #{anchor}",
                "use an anchor of one of the target's headings, or drop the #part")
    return None


def _find(library: Library, resolved: Path, locale: str) -> Article | None:
    root = library.root.resolve()
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        return None
    parts = rel.parts
    if len(parts) < 2:
        return None
    by_path = {a.path.resolve(): a for a in library.articles}
    if resolved in by_path:
        return by_path[resolved]
    # the target is missing in this locale: the source-locale version is served in its place
    fallback = root / library.source_locale / Path(*parts[1:])
    return by_path.get(fallback)


def _missing(library: Library) -> list[Problem]:
    out: list[Problem] = []
    by_locale: dict[str, list[str]] = defaultdict(list)
    for locale in library.config.locales:
        if locale != library.source_locale:
            by_locale[locale] = library.missing(locale)
    for locale, ids in by_locale.items():
        if ids:
            out.append(Problem("info", "missing-translation", display_path(library.root / locale, library.root), 1,
                f"{len(ids)} article(s) not yet in {locale}: {', '.join(ids)}",
                f"write them, or draft them with 'kb translate --missing --locale {locale}'"))
    return out


def summary(problems: list[Problem]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for p in problems:
        counts[p.severity] += 1
    return counts
