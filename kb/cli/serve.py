"""`kb serve`: the HTTP API and the built site on one port, optionally rebuilt on edits;
with --workers N, N processes on that port forked from a parent that loaded the models
(kb/cli/workers.py), each with the same request limits, proxy handling and access log as one
process (kb/web/server.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_CONTENT, DEFAULT_DATA, DEFAULT_SITE, ContentOpt, DataOpt, bad_parameter


def serve(data: DataOpt = DEFAULT_DATA, content: ContentOpt = DEFAULT_CONTENT,
          site: Annotated[Path, typer.Option(help="Built static site to serve at / (skipped when missing).")] = DEFAULT_SITE,
          host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          access_log: Annotated[bool, typer.Option(help="Log each request: client address, method, path (no query string), status.")] = False,
          forwarded_allow_ips: Annotated[str | None, typer.Option(
              "--forwarded-allow-ips", envvar="KB_FORWARDED_ALLOW_IPS",
              help="Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client; "
                   "default none.")] = None,
          watch: Annotated[bool, typer.Option("--watch", help="Rebuild the index and the site when the content changes.")] = False,
          workers: Annotated[int, typer.Option(help="Worker processes on the port, forked after the models are "
                                               "loaded (shared); the index is memory-mapped and shared. About one per core.")] = 1) -> None:
    """Serve the search API (OpenAPI at /docs) and the static site on one port."""
    import os

    import uvicorn

    from kb.web.security import PROXIES_ENV
    from kb.web.server import Limits, server_config

    if workers < 1:
        raise bad_parameter("--workers", f"is {workers}; give 1 or more processes")
    if forwarded_allow_ips is not None:
        os.environ[PROXIES_ENV] = forwarded_allow_ips  # read by the app's security settings (workers inherit it)
    limits = Limits.from_env()
    served_site = site if site.is_dir() else None
    if workers == 1:
        from kb.web.app import create_app

        app = create_app(data, served_site, content_dir=content)
        store = app.state.store.url if app.state.store else "off"
        embedder = app.state.engine.index.manifest["embedder"] if watch else ""
        config = server_config(app, host, port, access_log=access_log, limits=limits)
    else:
        from kb.analytics.store import database_url
        from kb.cli.workers import bind, export, preload
        from kb.search.index import live_manifest

        embedder = live_manifest(data)["embedder"]  # a clear error now rather than in each worker
        export(workers)
        store = database_url(data).render_as_string(hide_password=True)
        sockets = bind(host, port, workers)  # a taken port is said before the models load
        server_config("kb.cli.workers", host, port, access_log=access_log, limits=limits)  # only the parent's logging: as a worker's
    _banner(host, port, site, store, workers, data)
    if workers == 1:
        if watch:
            from kb.cli.watch import watch as start_watch

            start_watch(content, data, site, embedder, on_rebuild=typer.echo)
            typer.echo(f"kb: watching {content} for changes")
        uvicorn.Server(config).run()
        return
    from kb.cli.workers import Supervisor

    typer.echo(f"kb: {preload(embedder)}")

    def worker() -> uvicorn.Server:  # in each forked worker
        from kb.web.app import create_app

        app = create_app(data, served_site, content_dir=content)
        return uvicorn.Server(server_config(app, host, port, access_log=access_log, limits=limits))

    def watcher() -> None:  # in a forked child: it embeds, and the parent must not
        from kb.cli.watch import watch as start_watch

        start_watch(content, data, site, embedder, on_rebuild=typer.echo).join()

    if watch:
        typer.echo(f"kb: watching {content} for changes (in a process of its own)")
    Supervisor(sockets, worker, watcher if watch else None).run()


def _banner(host: str, port: int, site: Path, store: str, workers: int, data: Path) -> None:
    import os

    from kb import API_PREFIX
    from kb.web.auth import KeyFileError, load_keys
    from kb.web.security import PROXIES_ENV

    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    typer.echo(f"kb: API at {base}{API_PREFIX}/ (docs at {base}/docs, health at {base}/healthz)"
               + (f", {workers} worker processes" if workers > 1 else ""))
    if site.is_dir():
        typer.echo(f"kb: help center at {base}/ (from {site})")
    else:
        typer.echo(f"kb: no site in {site}: run 'kb build' to serve the help center too")
    typer.echo(f"kb: analytics store {store}")
    if os.environ.get(PROXIES_ENV, "").strip():
        typer.echo(f"kb: client addresses taken from forwarded headers of {os.environ[PROXIES_ENV].strip()}")
    try:
        names = [key.name for key in load_keys(data)]
        typer.echo(f"kb: admin API keys: {', '.join(names)}" if names else "kb: admin API off: run 'kb admin-key' to turn it on")
    except KeyFileError as exc:
        typer.echo(f"kb: admin API off: {exc}", err=True)
