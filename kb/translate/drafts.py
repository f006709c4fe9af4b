"""Machine drafts: translate missing articles into new files, refresh stale machine drafts.

A draft is an ordinary article file in `content/<locale>/<category>/<id>.md` with
`review: machine`, `source_locale` and `source_hash` (the source's content hash when it was
translated). Files are written atomically and only ever these: a new draft never replaces an
existing file, and a refresh replaces a file only while it is still a machine draft. Articles
whose review is `human` or `reviewed` are never written; when stale they are only reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from kb.content.article import Article, FrontMatter
from kb.content.frontmatter import FrontMatterError, parse, render
from kb.content.library import Library
from kb.content.locales import UnknownLocale, fallback_chain, normalize_locale
from kb.errors import KbError
from kb.translate.errors import TranslationError
from kb.translate.sources import SourceStore, text_hash, write_atomic

Progress = Callable[[int, int, str], None]
Action = Literal["drafted", "refreshed", "stale", "skipped", "failed"]


class DraftTranslator(Protocol):
    def available(self, src: str, dst: str) -> bool: ...

    def translate(self, texts: list[str], src: str, dst: str) -> list[str]: ...

    def translate_markdown(self, body: str, src: str, dst: str) -> str: ...


@dataclass
class Outcome:
    """What happened to one article in one locale."""

    id: str
    locale: str
    path: Path
    action: Action
    review: str = "machine"
    message: str = ""


@dataclass
class DraftReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def of(self, action: Action) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == action]

    def counts(self) -> dict[str, int]:
        out = {"drafted": 0, "refreshed": 0, "stale": 0, "skipped": 0, "failed": 0}
        for o in self.outcomes:
            out[o.action] += 1
        return out


def target_locales(library: Library, locales: Iterable[str] | None) -> list[str]:
    """The locales to draft into: the given ones (validated), else every enabled one but the source."""
    enabled = library.config.locales
    if not locales:
        return [code for code in enabled if code != library.source_locale]
    out: list[str] = []
    for raw in locales:
        try:
            code = normalize_locale(raw)
        except UnknownLocale as exc:
            raise KbError(str(exc)) from exc
        if code not in enabled:
            raise KbError(f"locale {code!r} is not enabled in kb.toml (enabled: {', '.join(enabled)})")
        if code == library.source_locale:
            raise KbError(f"{code} is the source locale: there is nothing to translate into it")
        if code not in out:
            out.append(code)
    return out


def locale_dir(root: Path, locale: str) -> Path:
    """The folder of `locale` in the help center: an existing one spelled differently (de_AT) wins."""
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if child.is_dir() and not child.name.startswith("."):
            try:
                if normalize_locale(child.name) == locale:
                    return child
            except UnknownLocale:
                continue
    return root / locale


def draft_text(source: Article, locale: str, translator: DraftTranslator, today: dt.date) -> str:
    """A machine draft of `source` in `locale`: translated title, questions, tags and body."""
    src, meta = source.locale, source.meta
    short = translator.translate([meta.title, *meta.questions, *meta.tags], src, locale)
    title = short[0].strip() or meta.title
    questions = [q.strip() for q in short[1 : 1 + len(meta.questions)] if q.strip()]
    tags = list(dict.fromkeys(t.strip() for t in short[1 + len(meta.questions) :] if t.strip()))
    body = translator.translate_markdown(source.body, src, locale)
    fields: dict[str, Any] = {
        "id": meta.id, "title": title, "category": meta.category, "tags": tags or None,
        "questions": questions or None, "updated": today, "source_locale": src,
        "source_hash": source.hash, "review": "machine",
    }
    text = render(fields, body)
    _validate(text)
    return text


def _validate(text: str) -> None:
    """The draft must load as an article (the checks `kb check` makes on a single file)."""
    try:
        parsed = parse(text)
        FrontMatter.model_validate(parsed.meta)
    except (FrontMatterError, ValidationError) as exc:
        raise TranslationError(f"the machine translation is not a valid article: {exc}") from exc
    if not parsed.body.strip():
        raise TranslationError("the machine translation of the body is empty")


def _parent_has(library: Library, aid: str, locale: str) -> bool:
    """A regional locale (de-AT, en-GB) without the article serves its language's version (de, en)."""
    return any(library.get(aid, code) is not None for code in fallback_chain(locale, locale)[1:])


def _unavailable(translator: DraftTranslator, src: str, dst: str) -> str | None:
    """None when src → dst can be translated, else the message saying what to install."""
    if translator.available(src, dst):
        return None
    try:
        translator.translate(["Help"], src, dst)  # raises TranslationUnavailable with the hint
    except TranslationError as exc:
        return str(exc)
    return f"no translation model for {src} → {dst}"


def draft_missing(library: Library, translator: DraftTranslator, locales: Iterable[str] | None = None,
                  progress: Progress | None = None, *, sources: SourceStore | None = None,
                  today: dt.date | None = None) -> DraftReport:
    """Write a machine draft for every source article that has no version in each locale (a regional
    locale such as de-AT only gets drafts of articles its language, de, lacks too)."""
    today = today or dt.date.today()
    report = DraftReport()
    jobs: list[tuple[Article, str, Path]] = []
    for locale in target_locales(library, locales):
        folder = locale_dir(library.root, locale)
        for aid in library.missing(locale):
            source = library.source(aid)
            if source is not None and not _parent_has(library, aid, locale):
                jobs.append((source, locale, folder / source.category / f"{aid}.md"))
    blocked: dict[tuple[str, str], str | None] = {}
    for done, (source, locale, path) in enumerate(jobs, start=1):
        pair = (source.locale, locale)
        if pair not in blocked:
            blocked[pair] = _unavailable(translator, *pair)
        if blocked[pair] is not None:
            report.outcomes.append(Outcome(source.id, locale, path, "failed", message=str(blocked[pair])))
        elif path.exists():
            report.outcomes.append(Outcome(source.id, locale, path, "skipped",
                                           message="a file that does not load as this article is in the way; see 'kb check'"))
        else:
            report.outcomes.append(_write_draft(source, locale, path, translator, today, sources, create=True))
        if progress is not None:
            progress(done, len(jobs), f"{locale}/{source.id}")
    return report


def refresh_stale(library: Library, translator: DraftTranslator, locales: Iterable[str] | None = None,
                  progress: Progress | None = None, *, sources: SourceStore | None = None,
                  today: dt.date | None = None) -> DraftReport:
    """Translate stale machine drafts again, in place; report stale human and reviewed ones."""
    today = today or dt.date.today()
    report = DraftReport()
    jobs: list[tuple[Article, Article]] = []
    for locale in target_locales(library, locales):
        for article in sorted(library.in_locale(locale), key=lambda a: a.id):
            source = library.source(article.id)
            if source is None or not library.is_stale(article):
                continue
            if article.is_machine:
                jobs.append((article, source))
            else:
                report.outcomes.append(Outcome(article.id, locale, article.path, "stale", review=article.review,
                    message=f"the source changed; a person must update it (see 'kb review diff {article.id} "
                            f"--locale {locale}'), then 'kb review approve {article.id} --locale {locale}'"))
    for done, (article, source) in enumerate(jobs, start=1):
        report.outcomes.append(_refresh(article, source, translator, today, sources, library.root))
        if progress is not None:
            progress(done, len(jobs), f"{article.locale}/{article.id}")
    return report


def _refresh(article: Article, source: Article, translator: DraftTranslator, today: dt.date,
             sources: SourceStore | None, root: Path) -> Outcome:
    locale, path = article.locale, article.path
    problem = _unavailable(translator, source.locale, locale)
    if problem is not None:
        return Outcome(article.id, locale, path, "failed", message=problem)
    if not _still_machine(path, article.hash):
        return Outcome(article.id, locale, path, "skipped",
                       message="the file changed since it was read (or is no longer a machine draft)")
    if source.category == article.category:
        return _write_draft(source, locale, path, translator, today, sources, create=False, action="refreshed")
    # the source moved to another category: the draft follows it
    moved = locale_dir(root, locale) / source.category / path.name
    outcome = _write_draft(source, locale, moved, translator, today, sources, create=True, action="refreshed")
    if outcome.action == "refreshed":
        path.unlink(missing_ok=True)
        outcome.message = f"moved from {path.parent.name}/ with its source's category"
    return outcome


def _still_machine(path: Path, expected_hash: str) -> bool:
    try:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        meta = parse(text).meta
    except (OSError, UnicodeDecodeError, FrontMatterError):
        return False
    return meta.get("review") == "machine" and text_hash(text) == expected_hash


def _write_draft(source: Article, locale: str, path: Path, translator: DraftTranslator, today: dt.date,
                 sources: SourceStore | None, *, create: bool, action: Action = "drafted") -> Outcome:
    try:
        text = draft_text(source, locale, translator, today)
    except KbError as exc:
        return Outcome(source.id, locale, path, "failed", message=str(exc))
    except Exception as exc:  # the model failed on this text (e.g. CTranslate2's RuntimeError)
        return Outcome(source.id, locale, path, "failed", message=f"machine translation failed: {exc}")
    if not write_atomic(path, text, create_only=create):
        return Outcome(source.id, locale, path, "skipped", message="a file appeared there meanwhile; left as it is")
    if sources is not None:
        sources.save(source)
    return Outcome(source.id, locale, path, action)
