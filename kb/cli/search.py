"""`kb index`, `kb search` and `kb eval`: build the search index, query it, measure it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from kb.cli.options import DEFAULT_CONTENT, DEFAULT_DATA, ContentOpt, DataOpt, EmbedderOpt, RayOpt, bad_parameter
from kb.search.names import DEFAULT


def index(content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA,
          embedder: EmbedderOpt = DEFAULT,
          device: Annotated[Literal["auto", "cpu", "cuda"] | None, typer.Option(help="Where torch models embed: auto takes CUDA when torch sees it (default: KB_DEVICE, else auto).")] = None,
          ann_threshold: Annotated[int | None, typer.Option(min=1, help=(
              "Passages above which an approximate (IVF) index replaces exact search "
              "(default: the index's own threshold)."))] = None,
          ray: RayOpt = None,
          verify: Annotated[bool, typer.Option("--verify", help=(
              "Build nothing: check the live generation on disk (every file against the hash its manifest "
              "records, and the counts that must agree); one line per problem, exit status 1 if any."))] = False,
          calibrate: Annotated[bool, typer.Option(help=(
              "Measure on the articles' own questions which ranking weights serve this help center, and use "
              "them only on strong evidence (docs/search.md)."))] = True) -> None:
    """Embed the articles and write the search index (only changed articles are embedded again)."""
    if verify:
        verify_index(data)
        return
    from kb.search.embedders import get_embedder
    from kb.search.embedding import embed_missing
    from kb.search.index import ANN_THRESHOLD  # read here, not in the signature: the import loads faiss
    from kb.search.progress import EmbedProgress
    from kb.search.update import update_index

    embed_with = embed_missing
    if ray is not None:  # the actors embed on --device; this machine reads the embedder's identity on the CPU
        from kb.errors import KbError
        from kb.search.distributed import RayEmbedding, check_address

        try:
            address = check_address(ray)
        except KbError as exc:
            raise bad_parameter("--ray", str(exc)) from None
        embed_with = RayEmbedding(address, embedder, device)
    model = get_embedder(embedder, "cpu" if ray is not None and device == "cuda" else device)
    progress = EmbedProgress()  # a bar with passages/s and time left on a terminal, then a summary line

    # only files changed since the last run are read when few changed; else all (parsed once)
    update = update_index(content, data, model, progress=progress,
                          ann_threshold=ANN_THRESHOLD if ann_threshold is None else ann_threshold, embed_with=embed_with)
    for problem in update.problems:
        typer.echo(f"skipped: {problem}", err=True)
    report = update.report
    read = f"read {update.read} changed or related files" if update.quick else f"read all {update.read} articles"
    kind = f"{report.index_type}, a delta over {report.delta_over}" if report.delta_over else report.index_type
    typer.echo(f"indexed {report.articles} articles ({report.passages} passages) with {model.name} in "
               f"{update.seconds:.1f}s ({read}): {report.embedded} embedded, {report.reused} reused, "
               f"{report.removed} removed; index {kind}, generation {report.generation}")
    if calibrate:
        from kb.search import calibration
        from kb.search.engine import Engine

        started = time.perf_counter()
        cal = calibration.run(Engine(data, calibrated=False))
        typer.echo(f"{cal.summary()} [{time.perf_counter() - started:.1f}s]")


def verify_index(data: Path) -> None:
    """`kb index --verify`: exit 0 when the live generation passes every check, else 1."""
    from kb.search.index.verify import verify

    result = verify(data)
    for line in result.problems:
        typer.echo(f"kb: {line}", err=True)
    if not result.ok:
        raise typer.Exit(1)
    typer.echo(f"generation {result.generation} verified: {result.files} files ({result.bytes / 2**20:.1f} MB) "
               f"match their hashes and the counts agree, in {result.seconds:.2f}s")


def search(query: Annotated[str, typer.Argument(help="What the shopper asks.")],
           lang: Annotated[str | None, typer.Option(help="Shopper's locale (else detected).")] = None,
           k: Annotated[int, typer.Option(help="How many articles.")] = 5,
           category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
           data: DataOpt = DEFAULT_DATA) -> None:
    """Search the help center as a shopper would."""
    from kb.search.engine import Engine
    from kb.translate.live import live_translator

    engine = Engine(data, translator=live_translator(data))
    result = engine.search(query, lang=lang, k=k, category=category)
    if as_json:  # the same JSON as GET /v1/search, from the API's own schema
        from kb.web.schemas import search_json

        typer.echo(json.dumps(search_json(result), ensure_ascii=False, indent=2))
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
        lead = "None of these? " if result.decision == "clarify" else "Nothing fits well. "
        typer.echo(lead + "Reach a person: " + "; ".join(result.support["channels"])
                   + f" ({result.support['hours']})")


def eval_(dataset: Annotated[Path, typer.Argument(help="Folder with corpus.jsonl and queries.jsonl.")],
          embedder: EmbedderOpt = DEFAULT,
          mode: Annotated[str, typer.Option(help="hybrid (default), dense or lexical.")] = "hybrid",
          limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
          sample: Annotated[int | None, typer.Option(help="A fixed sample of N queries per query locale (reported as such).")] = None,
          seed: Annotated[int, typer.Option(help="The seed of --sample.")] = 0,
          as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
          data: Annotated[Path | None, typer.Option("--data", "-d", help="Index folder (default .kb/eval/<set>-<embedder>).")] = None) -> None:
    """Measure retrieval quality of the engine on a set in the shared eval format."""
    from kb.search.engine import MODES
    from kb.search.evaluate import evaluate, format_table

    if mode not in MODES:
        raise bad_parameter("--mode", f"use one of {', '.join(MODES)}")
    safe = embedder.replace(":", "_").replace("/", "_")
    data_dir = data or DEFAULT_DATA / "eval" / f"{dataset.resolve().name}-{safe}"

    def progress(done: int, total: int) -> None:
        typer.echo(f"{done}/{total} queries", err=True)

    report = evaluate(dataset, data_dir, embedder, mode=mode, limit=limit, sample=sample, seed=seed,
                      progress=None if as_json else progress)
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))
