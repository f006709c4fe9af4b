"""Issue 16 in headless Chromium, on the small help center served with its API (the fixtures of
test_browser.py): the phone-width language menu, the search page honouring the decision (a
stubbed handoff and clarify, and the real engine on an off-topic query), suggestions, the offline
fallback, the landing redirect and the remembered language, the contact route, dark mode, and
axe-core's accessibility check (home, article, search; German and Polish; light and dark).

Screenshots at 1280 and 390 pixels go to $KB_ARTIFACTS (see scripts/test).
"""

# ruff: noqa: F811  (the fixtures of test_browser.py are imported, and named again as parameters)
from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import article_text, write, write_help_center
from test_browser import _free_port, artifacts, browser, served  # noqa: F401  (its fixtures, shared)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(__file__).parent / ".node" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
HOSTILE = 'weather <img src=x onerror="window.owned=1"> in Paris'


METHODS = """\
We take cards, BLIK and wallets.

| Method | Where |
|---|---|
| BLIK | Poland, in PLN |
| iDEAL | Netherlands |

## Cards

Visa and Mastercard. {filler}

## Wallets

Apple Pay and Google Pay. {filler}

## Instalments

Klarna, in three parts. {filler}
"""


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The small help center plus a long article with sections, built and hosted as plain files (no
    kb serve, no API: what a static host does)."""
    from kb.content.library import Library
    from kb.site.build import build_site

    root = tmp_path_factory.mktemp("static")
    content = write_help_center(root / "content")
    filler = " ".join(["Payments are checked by our bank partner before the order is confirmed."] * 12)
    write(content, "en/payments/methods.md", article_text(
        "methods", "Which payment methods can I use?", METHODS.format(filler=filler), "payments"))
    port = _free_port()
    build_site(Library.load(content), root / "site", base_url=f"http://127.0.0.1:{port}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root / "site"))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture()
def open_page(browser: Any) -> Iterator[Any]:
    """new(width, **context options) -> a page whose script errors are collected in page.errors."""
    contexts: list[Any] = []

    def new(width: str = "wide", **options: Any) -> Any:
        context = browser.new_context(viewport=WIDTHS[width], **{"locale": "de-DE", **options})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield new
    for context in contexts:
        context.close()


def _shoot(page: Any, artifacts: Path, name: str) -> None:
    width = page.viewport_size["width"]
    page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)


def _stub_search(decision: str, hits: list[dict[str, Any]]) -> Any:
    def handler(route: Any) -> None:
        body = {"query": "x", "locale": "de", "locale_from": "lang", "decision": decision, "confidence": 0.12,
                "hits": hits, "support": None, "generation": "g", "search_id": None}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
    return handler


def _hit(article_id: str, title: str, category: str, anchor: str = "") -> dict[str, Any]:
    return {"id": article_id, "locale": "en", "title": title, "snippet": "…", "snippet_html": "<mark>…</mark>",
            "url": f"/en/{category}/{article_id}/", "anchor": anchor, "category": category, "score": 0.4,
            "machine_translated": False, "review": "human", "stale": False, "fallback": True, "matched_locale": "en"}


# -- 390 px: the language menu is not under the search box ----------------------------------------
@pytest.mark.parametrize("path", ["/pl/orders/cancel-order/", "/pl/shipping/", "/pl/search/?q=BLIK"])
def test_phone_language_menu_opens_and_its_first_item_takes_the_tap(
        served: tuple[str, object], open_page: Any, artifacts: Path, path: str) -> None:
    base, _ = served
    page = open_page("phone", locale="pl-PL", has_touch=True)
    page.goto(base + path)
    summary = page.locator(".lang-switch summary")
    assert "Polski" in summary.inner_text()  # the page's language, also on a fallback page
    summary.tap()
    first = page.locator(".lang-switch li a").first
    first.wait_for(state="visible")
    box = first.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('a')?.getAttribute('hreflang')",
                           list(centre))
    assert on_top == "en"  # not the search box below the header
    if "orders" in path:
        _shoot(page, artifacts, "language-menu-pl")
        assert "(wersja: angielski)" in page.locator(".lang-switch ul").inner_text()
    page.touchscreen.tap(*centre)
    page.wait_for_url(f"**/en/{path.split('/', 2)[2].split('?')[0]}*")
    assert any(c["name"] == "kb_lang" and c["value"] == "en" for c in page.context.cookies())
    assert page.errors == []


# -- the search page honours the decision -----------------------------------------------------------
def test_handoff_shows_no_match_with_the_contact_and_popular_articles(
        served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    """The API is stubbed to hand off (with hits it would rather not show): the page lists none."""
    base, _ = served
    for width in WIDTHS:
        page = open_page(width)
        page.route("**/v1/search?*", _stub_search("handoff", [_hit("track-parcel", "Where is my parcel?", "shipping")]))
        page.goto(f"{base}/de/search/?q={HOSTILE}")
        title = page.locator("#kb-help-title")
        title.wait_for()
        assert title.inner_text() == f"Kein Artikel passt zu „{HOSTILE}“"  # echoed as text
        assert page.evaluate("window.owned") is None and page.locator("main img").count() == 0
        assert page.locator("#kb-results li").count() == 0
        help_box = page.locator("#kb-help")
        assert "hilfe@shop.test" in help_box.inner_text() and "Mo-Fr 9-17 Uhr" in help_box.inner_text()
        assert help_box.get_by_role("link", name="Kontakt").get_attribute("href") == "/de/contact-us/"
        popular = help_box.locator("[data-kb-popular] li")
        assert popular.count() == 2 and "Where is my parcel?" in popular.first.inner_text()
        assert not page.locator("#kb-all-articles").is_visible()
        _shoot(page, artifacts, "search-handoff-de")
        assert page.errors == []


def test_clarify_offers_the_choices_and_the_contact(
        served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, _ = served
    page = open_page()
    page.route("**/v1/search?*", _stub_search("clarify", [
        _hit("track-parcel", "Where is my parcel?", "shipping"), _hit("refund-timing", "Refund?", "orders", "card-payments")]))
    page.goto(f"{base}/de/search/?q=paket geld")
    page.locator("#kb-results li").nth(1).wait_for()
    assert page.locator("#kb-clarify-title").inner_text() == "Meinten Sie einen dieser Artikel?"
    assert page.locator("#kb-results li").count() == 2
    assert "Versand" in page.locator("#kb-results li").first.inner_text()  # the result's topic
    page.locator("#kb-results li .result-section").wait_for()  # the matched section, named from the local index
    assert page.locator("#kb-results li .result-section").inner_text() == "Card payments"
    help_box = page.locator("#kb-help")
    assert "Nichts Passendes dabei?" in help_box.inner_text() and "hilfe@shop.test" in help_box.inner_text()
    assert not help_box.locator("[data-kb-popular]").is_visible()  # popular articles only when nothing matches
    _shoot(page, artifacts, "search-clarify-de")


def test_an_off_topic_query_on_the_real_engine(served: tuple[str, object], open_page: Any) -> None:
    base, _ = served
    page = open_page()
    page.goto(f"{base}/de/search/?q=Wetter in Paris")  # the engine hands off, and still returns its hits
    page.locator("#kb-help-title").wait_for()
    assert page.locator("#kb-help-title").inner_text().startswith("Kein Artikel passt zu")
    assert page.locator("#kb-results li").count() == 0
    assert "Treffer aus dieser Website" not in page.locator("#kb-search-status").inner_text()  # the API decided


def test_answers_show_count_topic_and_a_topic_filter(
        served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, _ = served
    page = open_page()
    page.route("**/v1/search?*", _stub_search("answer", [
        _hit("cancel-order", "Wie storniere ich meine Bestellung?", "orders", "nach-dem-versand"),
        _hit("track-parcel", "Where is my parcel?", "shipping"), _hit("refund-timing", "Refund?", "orders")]))
    page.goto(f"{base}/de/search/?q=bestellung")
    page.locator("#kb-filter button").first.wait_for()
    assert page.locator("#kb-search-status").inner_text() == "3 Ergebnisse für „bestellung“"
    assert page.locator("#kb-filter button").all_inner_texts() == ["Alle Themen (3)", "Bestellungen (2)", "Versand (1)"]
    page.get_by_role("button", name="Versand (1)").click()
    assert page.locator("#kb-results li:visible").count() == 1
    assert page.locator("#kb-search-status").inner_text() == "1 Ergebnis für „bestellung“"
    assert page.get_by_role("button", name="Versand (1)").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Alle Themen (3)").click()
    assert page.locator("#kb-results li:visible").count() == 3
    assert page.locator("#kb-results li").first.locator(".result-section").inner_text() == "Nach dem Versand"
    _shoot(page, artifacts, "search-answer-de")


# -- suggestions and the offline fallback ----------------------------------------------------------
def test_suggestions_show_nothing_for_nonsense_and_the_contact_when_unsure(
        served: tuple[str, object], open_page: Any) -> None:
    base, _ = served
    page = open_page()
    page.route("**/v1/suggest?*", lambda route: route.fulfill(content_type="application/json", body=json.dumps(
        {"decision": "clarify", "suggestions": [{"id": "track-parcel", "title": "Where is my parcel?", "url": "/en/shipping/track-parcel/",
                                                 "locale": "en", "machine_translated": False, "fallback": True}]})))
    page.goto(f"{base}/de/")
    box = page.get_by_role("combobox")
    box.fill("paket wo")
    page.get_by_role("option", name="Kontakt").wait_for()
    assert page.get_by_role("option").all_inner_texts()[0].startswith("Where is my parcel?")
    box.press("ArrowDown")
    box.press("ArrowDown")
    box.press("Enter")
    page.wait_for_url("**/de/contact-us/")

    offline = open_page()
    offline.route("**/v1/**", lambda route: route.abort())
    offline.goto(f"{base}/de/")
    box = offline.get_by_role("combobox")
    box.fill("asdfgh qwerty")
    offline.wait_for_timeout(800)  # the debounce, the index fetched and searched
    assert not offline.get_by_role("listbox").is_visible()
    box.fill("BLIK")
    offline.get_by_role("option", name="How do I pay with BLIK?").wait_for()


def test_offline_fallback_hands_off_too(served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, _ = served
    for width in WIDTHS:
        page = open_page(width)
        page.route("**/v1/**", lambda route: route.abort())
        page.goto(f"{base}/de/search/?q=what's the weather in Paris")
        page.locator("#kb-help-title").wait_for()
        assert page.locator("#kb-results li").count() == 0
        assert "hilfe@shop.test" in page.locator("#kb-help").inner_text()
        _shoot(page, artifacts, "search-offline-handoff-de")


# -- the first visit in the shopper's language ---------------------------------------------------
@pytest.mark.parametrize(("locale", "landing"), [("pl-PL", "/pl/"), ("tr", "/tr/"), ("de-AT", "/de/"), ("en-GB", "/en/")])
def test_landing_follows_the_browser_language(served: tuple[str, object], open_page: Any,
                                              locale: str, landing: str) -> None:
    base, _ = served
    page = open_page(locale=locale)
    page.goto(base + "/")
    assert page.url == base + landing


def test_a_language_picked_is_remembered(served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, _ = served
    page = open_page(locale="ja-JP")
    page.goto(base + "/")
    assert page.url == base + "/"  # no enabled locale fits: the root page lets the shopper choose
    _shoot(page, artifacts, "root-ja")
    page.get_by_role("link", name="Türkçe").click()
    page.wait_for_url("**/tr/")
    page.goto(base + "/")
    assert page.url == base + "/tr/"  # kb serve reads the cookie
    page.locator(".lang-switch summary").click()
    page.locator(".lang-switch a[hreflang=pl]").click()
    page.wait_for_url("**/pl/")
    page.goto(base + "/")
    assert page.url == base + "/pl/"


def test_the_static_root_page_chooses_in_the_browser(static_site: str, open_page: Any) -> None:
    """Hosted without kb serve, / is the built index.html: its script makes the same choice."""
    page = open_page(locale="de-CH")
    page.goto(static_site + "/")
    page.wait_for_url("**/de/")
    remembered = open_page(locale="de-CH")
    remembered.context.add_cookies([{"name": "kb_lang", "value": "tr", "url": static_site}])
    remembered.goto(static_site + "/")
    remembered.wait_for_url("**/tr/")
    stays = open_page(locale="ja-JP")
    stays.goto(static_site + "/")
    stays.get_by_role("link", name="Polski").click()
    stays.wait_for_url("**/pl/")
    stays.goto(static_site + "/")
    stays.wait_for_url("**/pl/")  # the choice, remembered by the page's script alone


# -- a contact route that exists ------------------------------------------------------------------
def test_contact_page_and_the_no_answer_of_was_this_helpful(
        served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, store = served
    for width in WIDTHS:
        page = open_page(width)
        page.goto(f"{base}/de/orders/cancel-order/")
        page.get_by_role("button", name="Nein").click()
        more = page.locator(".feedback-more")
        more.wait_for()
        assert "When will I get my refund?" in more.inner_text()  # a related article
        _shoot(page, artifacts, "feedback-no-de")
        page.get_by_role("button", name="Senden").click()
        page.get_by_text("Vielen Dank für Ihr Feedback!").wait_for()
        page.reload()
        page.get_by_text("Sie haben diesen Artikel bereits bewertet. Vielen Dank!").wait_for()
        assert not page.get_by_role("button", name="Nein").is_visible()  # not twice after a reload
        page.locator(".support").get_by_role("link", name="Kontakt").click()
        page.wait_for_url("**/de/contact-us/")
        assert page.locator("h1").inner_text() == "Kontakt"
        assert page.get_by_role("link", name="hilfe@shop.test").get_attribute("href") == "mailto:hilfe@shop.test"
        _shoot(page, artifacts, "contact-de")
    rows = store.list_feedback(article_id="cancel-order", locale="de")  # type: ignore[attr-defined]
    assert [r["helpful"] for r in rows] == [False, False]  # once per browser (two contexts here)


# -- home page, phone, dark mode -----------------------------------------------------------------
def test_home_page_and_dark_mode(served: tuple[str, object], open_page: Any, artifacts: Path) -> None:
    base, _ = served
    for scheme in ("light", "dark"):
        for width in WIDTHS:
            page = open_page(width, color_scheme=scheme)
            page.goto(f"{base}/de/")
            assert page.locator(".popular li").first.inner_text().startswith("Where is my parcel?")
            assert page.locator(".card .count").first.inner_text() == "2 Artikel"
            background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            rgb = [int(v) for v in background[background.index("(") + 1:-1].split(",")[:3]]
            assert (sum(rgb) < 120) == (scheme == "dark"), background
            _shoot(page, artifacts, f"home-de-{scheme}")
            page.goto(f"{base}/de/orders/refund-timing/")
            _shoot(page, artifacts, f"article-de-{scheme}")
            assert page.errors == []
    assert page.request.get(f"{base}/favicon.ico").headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")


def test_phone_sections_at_the_top_and_back_to_top(static_site: str, open_page: Any, artifacts: Path) -> None:
    for width in WIDTHS:
        page = open_page(width, reduced_motion="reduce")
        page.goto(f"{static_site}/de/payments/methods/")
        inline, aside = page.locator("details.toc-inline"), page.locator("nav.toc-aside")
        assert inline.is_visible() == (width == "phone") and aside.is_visible() == (width == "wide")
        if width == "phone":
            assert inline.bounding_box()["y"] < page.locator(".prose").bounding_box()["y"]  # above the text
            inline.locator("summary").click()
            inline.get_by_role("link", name="Wallets").click()
            assert page.evaluate("window.scrollY") > 300
        _shoot(page, artifacts, "article-sections-de")
        page.get_by_role("link", name="Nach oben").click()
        assert page.evaluate("window.scrollY") == 0


# -- accessibility: axe-core ------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("locale", ["de", "pl"])
def test_axe_finds_no_serious_violations(served: tuple[str, object], static_site: str, browser: Any,
                                         locale: str, scheme: str) -> None:
    if not AXE.is_file():
        pytest.skip(f"no axe-core at {AXE}: scripts/setup installs it with npm")
    base, _ = served
    context = browser.new_context(locale=locale, color_scheme=scheme, bypass_csp=True, viewport=WIDTHS["wide"])
    page = context.new_page()
    found = {}
    for path in (f"/{locale}/", f"/{locale}/orders/cancel-order/", f"/{locale}/search/?q=BLIK",
                 f"/{locale}/search/?q=Wetter in Paris", f"{static_site}/{locale}/payments/methods/",
                 f"/{locale}/contact-us/"):
        page.goto(path if path.startswith("http") else base + path)
        if "search" in path:
            page.locator("#kb-results li, #kb-help-title:not(:empty)").first.wait_for()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        found[path] = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                       for v in result["violations"] if v["impact"] in ("serious", "critical")]
    context.close()
    assert found == {path: [] for path in found}
