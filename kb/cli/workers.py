"""`kb serve --workers N`: N processes on one port, under uvicorn's process supervisor.

The parent binds the port and starts N worker processes (spawned, not forked: each imports kb and
loads its own models); the kernel hands each connection to one of them. A worker that dies is
started again; SIGHUP replaces them one by one. Each worker builds its app with `worker_app`
from what the parent put in the environment (KB_SERVE_*). The index is shared, not copied: FAISS,
BM25 and the vectors are memory-mapped (kb/search/index/load.py), so the page cache holds one
copy for all workers. The parent loads no index and no model; with --watch it runs the one
watcher (each worker picks the new generation up by itself, as a single process does). A worker
whose parent was killed stops by itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

ENV_DATA, ENV_SITE, ENV_CONTENT = "KB_SERVE_DATA", "KB_SERVE_SITE", "KB_SERVE_CONTENT"
FACTORY = "kb.cli.workers:worker_app"


def export(data: Path, site: Path | None, content: Path, workers: int) -> None:
    """Put what `worker_app` needs in the environment the workers inherit (absolute paths), and
    their threads: a query embedded alone takes cores ÷ N threads (KB_QUERY_THREADS, unless set),
    not every core as one process does, and idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE,
    unless set): both before any worker loads a library that reads them."""
    from kb.search.embedcore import QUERY_THREADS_ENV, _cores

    os.environ[ENV_DATA] = str(Path(data).resolve())
    os.environ[ENV_SITE] = str(Path(site).resolve()) if site is not None else ""
    os.environ[ENV_CONTENT] = str(Path(content).resolve())
    os.environ.setdefault(QUERY_THREADS_ENV, str(max(1, _cores() // workers)))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def worker_app() -> FastAPI:
    """The app of one worker (uvicorn calls it in each worker process), with the request limits
    and the access log of `kb serve` (kb/web/server.py)."""
    from kb.web.app import create_app
    from kb.web.server import worker_setup

    data = os.environ.get(ENV_DATA)
    if not data:
        raise RuntimeError(f"{FACTORY} is for `kb serve --workers N`: {ENV_DATA} is not set")
    worker_setup()
    site = os.environ.get(ENV_SITE) or None
    app = create_app(data, site, content_dir=os.environ.get(ENV_CONTENT) or "content")
    _stop_with_parent()
    return app


def _stop_with_parent(interval: float = 1.0) -> None:
    """A worker whose parent is gone (killed with SIGKILL, no time to stop its workers) stops
    too, gracefully, instead of holding the port for ever."""
    parent = os.getppid()

    def check() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's shutdown: the requests in flight finish

    threading.Thread(target=check, name="kb-parent-check", daemon=True).start()


def run_workers(config: uvicorn.Config) -> None:
    """Serve with `config.workers` processes until the parent is stopped (SIGINT/SIGTERM); `config`
    from kb.web.server.server_config(FACTORY, ..., workers=N)."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
