"""`kb serve --watch`: rebuild the index and the site when the content changes.

It lives in kb/cli because it drives two layers at once (kb.search's index update and
kb.site's build); neither of them imports the other.

Polls the stat of the content folder's files (kb/content/changes.py: no extra dependency, works
on every file system);
both builds are incremental, so an edit costs one article's embeddings and pages. The
engine picks the new index generation up by itself; the site is served from disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kb.content.changes import snapshot
from kb.errors import KbError

log = logging.getLogger("kb.watch")


def rebuild(content: Path, data: Path, site: Path, embedder: str) -> str:
    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.update import update_index
    from kb.site.build import build_site

    index = update_index(content, data, get_embedder(embedder)).report
    pages = build_site(Library.load(content, cache_dir=data / "cache"), site)
    return (f"rebuilt: {index.embedded} article(s) embedded, {index.reused} reused; "
            f"{pages.rendered} page(s) rendered, {pages.skipped} unchanged")


def watch(content: Path, data: Path, site: Path, embedder: str, *, interval: float = 1.0,
          stop: threading.Event | None = None, on_rebuild: Callable[[str], None] | None = None) -> threading.Thread:
    """Start a daemon thread that rebuilds after each change (debounced by `interval`)."""
    stop = stop or threading.Event()
    report = on_rebuild or (lambda message: log.warning("kb: %s", message))

    seen = snapshot(content)  # taken before returning, so no edit after this call is missed

    def loop() -> None:
        nonlocal seen
        while not stop.wait(interval):
            now = snapshot(content)
            if now == seen:
                continue
            time.sleep(interval / 2)  # let an editor finish writing
            seen = snapshot(content)
            try:
                report(rebuild(content, data, site, embedder))
            except (KbError, OSError) as exc:
                report(f"rebuild failed, still serving the last good build: {exc}")

    thread = threading.Thread(target=loop, name="kb-watch", daemon=True)
    thread.start()
    return thread
