"""`kb serve --watch`: an edit is rebuilt into the index and the site without a restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from helpers import write_help_center

from kb.cli.watch import rebuild, watch
from kb.search.index import current_generation


def test_watch_rebuilds_index_and_site_after_an_edit(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data, site = tmp_path / "data", tmp_path / "site"
    first = rebuild(content, data, site, "use-multilingual")
    assert "embedded" in first
    gen = current_generation(data)
    page = site / "en" / "payments" / "pay-with-blik" / "index.html"
    assert "two minutes" in page.read_text()

    messages: list[str] = []
    stop = threading.Event()
    thread = watch(content, data, site, "use-multilingual", interval=0.2, stop=stop, on_rebuild=messages.append)
    try:
        source = content / "en" / "payments" / "pay-with-blik.md"
        source.write_text(source.read_text().replace("two minutes", "ninety seconds"))
        deadline = time.time() + 60
        while not messages and time.time() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert messages and "1 article(s) embedded" in messages[0], messages
    assert "ninety seconds" in page.read_text()
    assert current_generation(data) != gen
