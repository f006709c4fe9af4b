"""CLI commands of the search part: index, search, eval, serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from kb.search.names import DEFAULT, NAMES

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="Data folder for the index (default .kb).")]
ContentOpt = Annotated[Path, typer.Option("--content", "-c", help="Help-center folder holding kb.toml.")]
EmbedderOpt = Annotated[str, typer.Option("--embedder", "-e", help=f"One of {', '.join(NAMES)}.")]


def index(content: ContentOpt = Path("content"), data: DataOpt = Path(".kb"),
          embedder: EmbedderOpt = DEFAULT,
          device: Annotated[Literal["auto", "cpu", "cuda"] | None, typer.Option(help="Where torch models embed: auto takes CUDA when torch sees it (default: KB_DEVICE, else auto).")] = None,
          ann_threshold: Annotated[int, typer.Option(min=1, help="Passages above which an approximate (IVF) index replaces exact search.")] = 200_000) -> None:
    """Embed the articles and write the search index (only changed articles are embedded again)."""
    from kb.search.embedders import get_embedder
    from kb.search.progress import EmbedProgress
    from kb.search.update import update_index

    model = get_embedder(embedder, device)
    progress = EmbedProgress()  # a bar with passages/s and time left on a terminal, then a summary line

    # only files changed since the last run are read when few changed; else all (parsed once)
    update = update_index(content, data, model, progress=progress, ann_threshold=ann_threshold)
    for problem in update.problems:
        typer.echo(f"skipped: {problem}", err=True)
    report = update.report
    read = f"read {update.read} changed or related files" if update.quick else f"read all {update.read} articles"
    kind = f"{report.index_type}, a delta over {report.delta_over}" if report.delta_over else report.index_type
    typer.echo(f"indexed {report.articles} articles ({report.passages} passages) with {model.name} in "
               f"{update.seconds:.1f}s ({read}): {report.embedded} embedded, {report.reused} reused, "
               f"{report.removed} removed; index {kind}, generation {report.generation}")


def search(query: Annotated[str, typer.Argument(help="What the shopper asks.")],
           lang: Annotated[str | None, typer.Option(help="Shopper's locale (else detected).")] = None,
           k: Annotated[int, typer.Option(help="How many articles.")] = 5,
           category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
           data: DataOpt = Path(".kb")) -> None:
    """Search the help center as a shopper would."""
    from kb.search.engine import Engine
    from kb.translate.live import live_translator

    engine = Engine(data, translator=live_translator(data))
    result = engine.search(query, lang=lang, k=k, category=category)
    if as_json:
        payload = {"query": result.query, "locale": result.locale, "locale_from": result.locale_from,
                   "decision": result.decision, "confidence": result.confidence,
                   "hits": [h.to_dict() for h in result.hits], "support": result.support}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    typer.echo(f"locale {result.locale} ({result.locale_from}); decision {result.decision}, "
               f"confidence {result.confidence:.2f}; {result.took_ms:.0f} ms")
    for n, hit in enumerate(result.hits, start=1):
        flags = [f for f, on in (("machine-translated", hit.machine_translated), ("fallback", hit.fallback),
                                 ("stale", hit.stale)) if on]
        typer.echo(f"{n}. [{hit.locale}] {hit.title}  ({hit.score:.3f}){'  ' + ', '.join(flags) if flags else ''}")
        typer.echo(f"   {hit.url}")
        typer.echo(f"   {hit.snippet[:160]}")
    if result.support:
        typer.echo("Nothing fits well. Reach a person: " + "; ".join(result.support["channels"])
                   + f" ({result.support['hours']})")




def eval_(dataset: Annotated[Path, typer.Argument(help="Folder with corpus.jsonl and queries.jsonl.")],
          embedder: EmbedderOpt = DEFAULT,
          mode: Annotated[str, typer.Option(help="hybrid (default), dense or lexical.")] = "hybrid",
          limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
          data: Annotated[Path | None, typer.Option("--data", "-d", help="Index folder (default .kb/eval/<set>-<embedder>).")] = None) -> None:
    """Measure retrieval quality of the engine on a set in the shared eval format."""
    from kb.search.engine import MODES
    from kb.search.evaluate import evaluate, format_table

    if mode not in MODES:
        from kb.cli import click_exc

        raise click_exc.BadParameter(f"use one of {', '.join(MODES)}", param_hint="'--mode'")
    safe = embedder.replace(":", "_").replace("/", "_")
    data_dir = data or Path(".kb") / "eval" / f"{dataset.resolve().name}-{safe}"

    def progress(done: int, total: int) -> None:
        typer.echo(f"{done}/{total} queries", err=True)

    report = evaluate(dataset, data_dir, embedder, mode=mode, limit=limit, progress=None if as_json else progress)
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))


def serve(data: DataOpt = Path(".kb"), content: ContentOpt = Path("content"),
          site: Annotated[Path, typer.Option(help="Built static site to serve at / (skipped when missing).")] = Path("site"),
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          access_log: Annotated[bool, typer.Option(help="Log each request (with the client address).")] = False,
          watch: Annotated[bool, typer.Option("--watch", help="Rebuild the index and the site when the content changes.")] = False) -> None:
    """Serve the search API (OpenAPI at /docs) and the static site on one port."""
    import uvicorn

    from kb.search.api import create_app

    app = create_app(data, site if site.is_dir() else None, content_dir=content)
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    typer.echo(f"kb: API at {base}/v1/ (docs at {base}/docs, health at {base}/healthz)")
    if site.is_dir():
        typer.echo(f"kb: help center at {base}/ (from {site})")
    else:
        typer.echo(f"kb: no site in {site}: run 'kb build' to serve the help center too")
    typer.echo(f"kb: analytics store {app.state.store.url if app.state.store else 'off'}")
    if watch:
        from kb.site.watch import watch as start_watch

        start_watch(content, data, site, app.state.engine.index.manifest["embedder"], on_rebuild=typer.echo)
        typer.echo(f"kb: watching {content} for changes")
    uvicorn.run(app, host=host, port=port, workers=1, access_log=access_log, log_level="info")


def register(app: typer.Typer) -> None:
    app.command(name="index")(index)
    app.command(name="search")(search)
    app.command(name="eval")(eval_)
    app.command(name="serve")(serve)
