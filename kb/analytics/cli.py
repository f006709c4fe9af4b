"""CLI of the analytics part: `kb analytics prune`, `kb gaps`, `kb report`, `kb admin-key`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kb.analytics.store import Store

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="kb's data folder (index, kb.sqlite).")]
ContentOpt = Annotated[Path, typer.Option("--content", "-c", help="Help-center folder holding kb.toml.")]

analytics_app = typer.Typer(name="analytics", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                            help="The query log and feedback: retention.")


def _bad(param: str, message: str) -> Exception:
    from kb.cli import click_exc

    return click_exc.BadParameter(message, param_hint=f"'{param}'")


def _duration(text: str, param: str) -> tuple[dt.timedelta, str]:
    from kb.analytics.retention import parse_duration

    try:
        return parse_duration(text), text
    except ValueError as exc:
        raise _bad(param, str(exc)) from None


def _format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise _bad("--format", f"use one of {', '.join(allowed)}")


def _log(data: Path) -> Store | None:
    """The analytics store, or None when there is none yet (none is created)."""
    import os

    from kb.analytics.store import DB_ENV, DB_FILE, open_store

    if not os.environ.get(DB_ENV) and not (data / DB_FILE).is_file():
        return None
    return open_store(data)


@analytics_app.command("prune")
def prune(older_than: Annotated[str | None, typer.Option("--older-than", help="Delete rows older than this: 12h, 90d, 4w (default: KB_RETENTION_DAYS, 90d).")] = None,
          data: DataOpt = Path(".kb")) -> None:
    """Delete logged queries and feedback older than the retention period."""
    from kb.analytics.retention import RETENTION_ENV, retention_days

    if older_than is not None:
        window, shown = _duration(older_than, "--older-than")
    else:
        days = retention_days()
        if days is None:
            typer.echo(f"kb: retention is off ({RETENTION_ENV}); nothing pruned")
            return
        window, shown = dt.timedelta(days=days), f"{days:g}d"
    store = _log(data)
    if store is None:
        typer.echo(f"kb: no query log in {data}; nothing to prune")
        return
    try:
        deleted = store.prune(window)
    finally:
        store.close()
    typer.echo(f"pruned rows older than {shown}: {deleted.get('queries', 0)} queries, "
               f"{deleted.get('feedback', 0)} feedback")


def gaps(locale: Annotated[str | None, typer.Option("--locale", "-l", help="Only queries in this locale.")] = None,
         since: Annotated[str, typer.Option("--since", help="Window: 12h, 30d, 4w.")] = "30d",
         fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
         limit: Annotated[int, typer.Option(min=1, help="How many clusters (largest first).")] = 20,
         embedder: Annotated[str | None, typer.Option("--embedder", "-e", help="Embedder for clustering (default use-multilingual).")] = None,
         data: DataOpt = Path(".kb")) -> None:
    """What shoppers asked and did not find, clustered by meaning across languages."""
    from kb.analytics.gaps import find_gaps, format_text, gaps_from_store
    from kb.content.locales import UnknownLocale, normalize_locale
    from kb.errors import KbError
    from kb.search.embedders import get_embedder

    _format(fmt, ("text", "json"))
    window, shown = _duration(since, "--since")
    try:
        code = normalize_locale(locale) if locale is not None else None
    except UnknownLocale as exc:
        raise _bad("--locale", str(exc)) from None
    engine = None
    try:
        from kb.search.engine import Engine

        engine = Engine(data)
    except KbError as exc:
        typer.echo(f"kb: no nearest articles: {exc}", err=True)
    store = _log(data)
    kwargs = {"embedder": get_embedder(embedder)} if embedder else {}
    if store is None:
        typer.echo(f"kb: no query log in {data} yet", err=True)
        report = find_gaps([], engine=engine, since=shown, locale=code, **kwargs)
    else:
        try:
            report = gaps_from_store(store, since=window, since_text=shown, locale=code, engine=engine,
                                     limit=limit, **kwargs)
        finally:
            store.close()
    typer.echo(report.model_dump_json(indent=2) if fmt == "json" else format_text(report))


def report(fmt: Annotated[str, typer.Option("--format", help="text, json or csv")] = "text",
           since: Annotated[str | None, typer.Option("--since", help="Only the last 12h, 30d, 4w … (default: the whole log).")] = None,
           content: ContentOpt = Path("content"), data: DataOpt = Path(".kb")) -> None:
    """Per article and locale: helpfulness, search impressions and coverage."""
    from kb.analytics.report import build_report, format_text, to_csv
    from kb.content.library import Library

    _format(fmt, ("text", "json", "csv"))
    start = None
    if since is not None:
        window, _ = _duration(since, "--since")
        start = dt.datetime.now(dt.UTC) - window
    library = Library.load(content)
    store = _log(data)
    try:
        queries = store.list_queries(since=start) if store else []
        feedback = [r for r in store.list_feedback() if start is None or r["ts"] >= start] if store else []
    finally:
        if store:
            store.close()
    result = build_report(library, queries, feedback, since=since)
    if fmt == "json":
        typer.echo(result.model_dump_json(indent=2))
    elif fmt == "csv":
        typer.echo(to_csv(result), nl=False)
    else:
        typer.echo(format_text(result))


def admin_key(data: DataOpt = Path(".kb"),
              file: Annotated[Path | None, typer.Option("--file", help="Where to store the hash (default <data>/admin_key).")] = None) -> None:
    """Make a new admin API key: printed once; only its scrypt hash is stored."""
    from kb.web.auth import KEY_FILE, new_key, write_key_file

    key = new_key()
    path = write_key_file(file or data / KEY_FILE, key)
    typer.echo(key)
    typer.echo(f"kb: stored only the key's hash in {path}; keep the key above, it is not shown again", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(analytics_app)
    app.command(name="gaps")(gaps)
    app.command(name="report")(report)
    app.command(name="admin-key")(admin_key)
