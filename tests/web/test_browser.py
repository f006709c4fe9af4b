"""End to end in headless Chromium: the built site served with the API by one app.

A German shopper types into the search box, sees an English-only article with its flag,
opens it and answers "Was this helpful?". Screenshots of the home page and of a machine
draft are saved to $KB_ARTIFACTS (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(small_index: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The small help center: site built, API + site served by uvicorn on a free port."""
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("uvicorn")
    api = pytest.importorskip("kb.web.app")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from kb.analytics.store import open_store
    from kb.content.library import Library
    from kb.site.build import build_site

    content, data = small_index
    work = tmp_path_factory.mktemp("browser")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    build_site(Library.load(content), work / "site", base_url=base)
    store = open_store(work, f"sqlite:///{work / 'kb.sqlite'}")
    app = api.create_app(data, work / "site", store=store)
    try:
        with serving(app, port):
            yield base, store
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser(served: tuple[str, object]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("KB_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_german_shopper_searches_opens_english_article_and_gives_feedback(
        served: tuple[str, object], browser: object, artifacts: Path) -> None:
    base, store = served
    page = browser.new_page(locale="de-DE", viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/de/")
    assert page.locator("html").get_attribute("lang") == "de"
    page.screenshot(path=str(artifacts / "home-de.png"), full_page=True)

    box = page.get_by_role("combobox", name="Hilfe-Center durchsuchen")
    box.fill("Wo ist mein Paket")
    suggestions = page.get_by_role("listbox")
    suggestions.wait_for(state="visible")
    assert "Where is my parcel?" in suggestions.inner_text()
    page.screenshot(path=str(artifacts / "suggest-de.png"))

    box.press("Escape")
    box.press("Enter")
    page.wait_for_url("**/de/search/?q=*")
    result = page.locator("#kb-results li", has_text="Where is my parcel?")
    result.wait_for()
    assert "Nur auf Englisch verfügbar" in result.inner_text()
    assert "Treffer aus dieser Website" not in page.locator("#kb-search-status").inner_text()  # the API answered
    page.screenshot(path=str(artifacts / "search-de.png"), full_page=True)

    result.get_by_role("link").click()
    page.wait_for_url("**/de/shipping/track-parcel/**")
    assert "Diesen Artikel gibt es noch nicht in Ihrer Sprache" in page.inner_text("main")
    page.get_by_role("button", name="Ja").click()
    page.get_by_text("Vielen Dank für Ihr Feedback!").wait_for()
    rows = store.list_feedback(article_id="track-parcel")  # type: ignore[attr-defined]
    assert [(r["locale"], r["helpful"]) for r in rows] == [("de", True)]
    searched = [r for r in store.list_queries() if r["tracks_clicks"]]  # type: ignore[attr-defined]
    assert [(r["locale"], r["clicked_id"]) for r in searched] == [("de", "track-parcel")]  # the opened result
    assert searched[0]["helpful_id"] == "track-parcel" and searched[0]["client"]  # "Ja" resolved that search
    assert errors == []


def test_keyboard_picks_a_suggestion(served: tuple[str, object], browser: object) -> None:
    base, _ = served
    page = browser.new_page(locale="de-DE")  # type: ignore[attr-defined]
    page.goto(f"{base}/de/orders/cancel-order/")
    box = page.get_by_role("combobox")
    box.fill("stornieren")
    page.get_by_role("option").first.wait_for()
    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant")
    box.press("Enter")
    page.wait_for_url("**/de/orders/cancel-order/**")


def test_machine_draft_page(served: tuple[str, object], browser: object, artifacts: Path) -> None:
    base, _ = served
    page = browser.new_page(locale="de-DE", viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{base}/de/orders/refund-timing/")
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex"
    assert "Maschinell übersetzt, noch nicht von unserem Team geprüft." in page.inner_text(".notice-machine")
    page.screenshot(path=str(artifacts / "machine-draft-de.png"), full_page=True)


def test_search_works_without_the_api(served: tuple[str, object], browser: object) -> None:
    base, _ = served
    context = browser.new_context(locale="de-DE")  # type: ignore[attr-defined]
    context.route("**/v1/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(f"{base}/de/search/?q=BLIK")
    page.locator("#kb-results li", has_text="How do I pay with BLIK?").wait_for()
    assert "Treffer aus dieser Website" in page.inner_text("#kb-search-status")
    assert "Nur auf Englisch verfügbar" in page.inner_text("#kb-results")
    context.close()


def test_readable_without_javascript(served: tuple[str, object], browser: object) -> None:
    base, _ = served
    context = browser.new_context(java_script_enabled=False, locale="de-DE")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/de/")
    page.get_by_role("link", name="How do I pay with BLIK?").click()
    page.wait_for_url("**/de/payments/pay-with-blik/")
    assert "six-digit BLIK code" in page.inner_text("main")
    assert not page.locator("[data-kb-feedback]").is_visible()  # needs the API: shown only with JS
    page.goto(f"{base}/de/search/?q=BLIK")
    assert page.get_by_role("link", name="How do I pay with BLIK?").is_visible()  # the all-articles list
    context.close()
