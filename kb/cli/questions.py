"""`kb questions list|accept|reject|auto|write-back`: questions learned from resolved searches.

Suggestions come from the analytics store (kb/analytics/questions.py: the rule); decisions go to
`<content>/learned-questions.toml` (kb/content/learned.py), from where `kb index` indexes the
accepted ones with their article. `write-back` moves accepted ones into the articles' front matter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kb.cli.options import DEFAULT_CONTENT, DEFAULT_DATA, ContentOpt, DataOpt, FormatOpt, bad_parameter, check_format

if TYPE_CHECKING:
    from kb.analytics.questions import Suggestion

questions_app = typer.Typer(name="questions", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                            help="Suggested questions learned from resolved searches: list, accept, reject, write back.")

QEmbedderOpt = Annotated[str | None, typer.Option("--embedder", "-e", help=(
    "Embedder that groups queries by meaning (default: the one the live index was built with)."))]
SinceOpt = Annotated[str, typer.Option("--since", help="Searches of this window count: 30d, 12w.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who decides (default: KB_REVIEWER, git user.name, login).")]


def _embedder_name(data: Path, given: str | None) -> str:
    if given:
        return given
    from kb.search.index import current_generation
    from kb.search.index.manifest import read_manifest
    from kb.search.names import DEFAULT

    gen = current_generation(data)
    if gen is None:
        return DEFAULT
    manifest, _ = read_manifest(gen)
    return str(manifest.get("embedder") or DEFAULT)


def _suggestions(content: Path, data: Path, embedder: str | None, since: str) -> tuple[list[Suggestion], list[Suggestion]]:
    """(the suggestions, those the automatic rule accepts)."""
    import datetime as dt
    import os

    from kb.analytics.questions import auto, suggest
    from kb.analytics.retention import parse_duration
    from kb.analytics.store import DB_ENV, DB_FILE, open_store
    from kb.content.learned import load_learned
    from kb.content.library import Library
    from kb.search.embedders import get_embedder

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise bad_parameter("--since", str(exc)) from None
    library = Library.load(content)
    settings = library.config.questions
    decided = load_learned(content)
    if not os.environ.get(DB_ENV) and not (data / DB_FILE).is_file():
        return [], []  # no query log yet (none is created here)
    store = open_store(data)
    try:
        resolved = store.resolved_searches(dt.timedelta(seconds=settings.window_seconds),
                                           since=dt.datetime.now(dt.UTC) - window)
    finally:
        store.close()
    if not resolved:
        return [], []
    model = get_embedder(_embedder_name(data, embedder))
    found = suggest(resolved, library, model.encode_queries, settings, decided)
    return found, auto(found, settings, decided)


def _by(by: str | None) -> str:
    from kb.translate.review import default_reviewer

    name = " ".join((by or default_reviewer()).split())
    if not name:
        raise bad_parameter("--by", "say who decides")
    return name


@questions_app.command("list")
def list_(content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA, fmt: FormatOpt = "text",
          embedder: QEmbedderOpt = None, since: SinceOpt = "90d") -> None:
    """Suggested questions not yet decided, most clients first; '*' marks those `kb questions auto` accepts."""
    import json

    check_format(fmt)
    found, accepted = _suggestions(content, data, embedder, since)
    chosen = {s.id for s in accepted}
    if fmt == "json":
        typer.echo(json.dumps([{**s.as_dict(), "auto": s.id in chosen} for s in found], ensure_ascii=False, indent=1))
        return
    if not found:
        typer.echo("no suggested questions: no query was resolved on one article by enough clients")
        return
    typer.echo(f"{'id':8}  {'':1} {'clients':>7} {'conf':>5}  article (locale): question")
    for s in found:
        typer.echo(f"{s.id:8}  {'*' if s.id in chosen else ' '} {s.clients:>7} {s.confidence:>5.2f}  "
                   f"{s.article} ({s.locale}): {s.question}")


def _decide(ids: list[str], status: str, content: Path, data: Path, by: str | None, embedder: str | None,
            since: str) -> None:
    from kb.analytics.questions import decide

    found, _ = _suggestions(content, data, embedder, since)
    by_id = {s.id: s for s in found}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise bad_parameter("IDS", f"no open suggestion {unknown[0]!r}; see 'kb questions list'")
    new = decide(content, [by_id[i] for i in dict.fromkeys(ids)], status, _by(by))  # type: ignore[arg-type]
    for e in new:
        typer.echo(f"{status}: {e.article} ({e.locale}): {e.question}")
    if status == "accepted":
        typer.echo("run 'kb index' to search with them")


@questions_app.command("accept")
def accept(ids: Annotated[list[str], typer.Argument(help="Suggestion ids from 'kb questions list'.")],
           content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA, by: ByOpt = None,
           embedder: QEmbedderOpt = None, since: SinceOpt = "90d") -> None:
    """Accept suggestions: they are indexed with their article (after 'kb index')."""
    _decide(ids, "accepted", content, data, by, embedder, since)


@questions_app.command("reject")
def reject(ids: Annotated[list[str], typer.Argument(help="Suggestion ids from 'kb questions list'.")],
           content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA, by: ByOpt = None,
           embedder: QEmbedderOpt = None, since: SinceOpt = "90d") -> None:
    """Reject suggestions: they (and questions of the same meaning) are not suggested again."""
    _decide(ids, "rejected", content, data, by, embedder, since)


@questions_app.command("auto")
def auto_(content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA, embedder: QEmbedderOpt = None,
          since: SinceOpt = "90d") -> None:
    """Accept what kb.toml's [questions] rule accepts without an editor (accept_clients, accept_confidence)."""
    from kb.analytics.questions import decide

    _, chosen = _suggestions(content, data, embedder, since)
    new = decide(content, chosen, "accepted", "auto")
    for e in new:
        typer.echo(f"accepted: {e.article} ({e.locale}): {e.question}  [{e.clients} clients, {e.confidence:.2f}]")
    typer.echo(f"{len(new)} accepted automatically" + ("; run 'kb index' to search with them" if new else ""))


@questions_app.command("write-back")
def write_back(content: ContentOpt = DEFAULT_CONTENT,
               article: Annotated[str | None, typer.Option("--article", help="Only this article id.")] = None) -> None:
    """Move accepted questions into their articles' front matter `questions:` (and out of learned-questions.toml)."""
    from kb.content.learned import write_back as move
    from kb.content.library import Library

    library = Library.load(content)
    if article is not None and not library.group(article):
        raise bad_parameter("--article", f"no article with id {article!r} in {content}")
    done = move(library.articles, content, article_id=article)
    for d in done:
        typer.echo(f"{d.path}: {len(d.questions)} question(s) added")
    typer.echo(f"{len(done)} file(s) written" if done else "nothing to write back")
