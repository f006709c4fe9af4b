"""The admin desk end to end in headless Chromium (started as tests/web/test_browser.py does).

An editor signs in, works a machine draft through (edit with live preview, approve), the file
on disk changes, and after `kb index` search serves the reviewed text; a conflict; forged and
cross-site form posts refused; the gaps page and every chart from seeded analytics, in light and
dark schemes; a phone reads the queue and approves; sign-out. Screenshots go to $KB_ARTIFACTS.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import EN, article_text, serving
from test_admin_report import seed
from test_browser import ARGS, CHROMIUM, _free_port, artifacts  # noqa: F401  (artifacts is a fixture)

from kb.content.library import Library
from kb.search.engine import Engine
from kb.search.update import update_index
from kb.web.auth import write_key_file

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KEY = "browser-desk-key-" + "b" * 24
CHARTS = ("searches", "outcomes", "helpfulness", "opened", "coverage")


@dataclass
class Desk:
    base: str
    content: Path
    data: Path
    engine: Engine


@pytest.fixture(scope="module")
def desk(small_index: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """A copy of the small help center and its index behind the app, seeded analytics, a key file."""
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("uvicorn")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from kb.analytics.store import open_store
    from kb.web.app import create_app
    from kb.web.security import SecurityConfig

    work = tmp_path_factory.mktemp("admin-browser")
    content = Path(shutil.copytree(small_index[0], work / "content"))
    data = Path(shutil.copytree(small_index[1], work / "data"))
    write_key_file(data / "admin_key", KEY)
    store = open_store(data)
    seed(store)
    engine = Engine(data, reload_interval=0.2)
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KB_ADMIN_KEY", raising=False)
        patch.delenv("KB_ADMIN_KEY_FILE", raising=False)
        app = create_app(data, engine=engine, store=store, content_dir=content, security=SecurityConfig(rate=0),
                         retention_days=None)
        try:
            with serving(app, port):
                yield Desk(f"http://127.0.0.1:{port}", content, data, engine)
        finally:
            store.close()


@pytest.fixture(scope="module")
def chromium(desk: Desk) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _page(chromium: object, desk: Desk, errors: list[str], **options: object) -> object:
    context = chromium.new_context(**{"viewport": {"width": 1280, "height": 900}, **options})  # type: ignore[attr-defined]
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)  # 401, 403 and 409 pages are expected here
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    return page


def _sign_in(page: object, desk: Desk, target: str = "/admin/") -> None:
    page.goto(desk.base + target)  # type: ignore[attr-defined]
    page.get_by_label("Admin key").fill(KEY)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"**{target}")  # type: ignore[attr-defined]


def test_sign_in_review_edit_approve_and_search_serves_it(desk: Desk, chromium: object, artifacts: Path) -> None:  # noqa: F811
    errors: list[str] = []
    page = _page(chromium, desk, errors)
    page.goto(desk.base + "/admin/review")
    page.wait_for_url("**/admin/sign-in?next=/admin/review")
    page.get_by_label("Admin key").fill("not the key")
    page.get_by_role("button", name="Sign in").click()
    assert "That is not an admin key." in page.inner_text("main")
    page.screenshot(path=str(artifacts / "admin-sign-in.png"))
    page.get_by_label("Admin key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/review")
    page.screenshot(path=str(artifacts / "admin-queue.png"), full_page=True)

    page.get_by_role("link", name="Maschinell When will I get my refund?").click()
    page.wait_for_url("**/admin/review/de/refund-timing")
    page.get_by_label("Title").fill("Wann bekomme ich meine Rückerstattung?")
    body = "Wir zahlen das Geld binnen fünf Werktagen zurück.\n\n## Kartenzahlung\n\nBanken brauchen **drei** Tage mehr."
    page.get_by_label("Markdown", exact=True).fill(body)
    page.locator("#kb-preview strong", has_text="drei").wait_for()  # the live preview, rendered by the server
    page.screenshot(path=str(artifacts / "admin-item-editing.png"), full_page=True)
    page.get_by_role("button", name="Save and approve").click()
    page.wait_for_url("**/admin/review/de/refund-timing?done=approved")
    assert "Approved" in page.inner_text("[role=status]")
    assert "reviewed by admin" in page.inner_text(".meta")

    text = (desk.content / "de/orders/refund-timing.md").read_text()
    assert "review: reviewed\n" in text and "reviewed_by: admin\n" in text and text.endswith(body + "\n")
    article = Library.load(desk.content).get("refund-timing", "de")
    assert article.title == "Wann bekomme ich meine Rückerstattung?" and article.meta.source_hash == Library.load(
        desk.content).source("refund-timing").hash

    update_index(desk.content, desk.data, desk.engine.embedder)  # what `kb index` does
    deadline = time.monotonic() + 20
    while True:
        served = page.request.get(f"{desk.base}/v1/articles/refund-timing?lang=de").json()
        if served["review"] == "reviewed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (served["title"], served["review"], served["machine_translated"]) == (
        "Wann bekomme ich meine Rückerstattung?", "reviewed", False)
    assert "binnen fünf Werktagen" in served["markdown"]
    hits = page.request.get(f"{desk.base}/v1/search", params={"q": "Rückerstattung Werktagen", "lang": "de"}).json()
    assert hits["hits"][0]["id"] == "refund-timing" and hits["hits"][0]["title"] == article.title
    assert errors == []


def test_conflict_shows_both_versions(desk: Desk, chromium: object, artifacts: Path) -> None:  # noqa: F811
    errors: list[str] = []
    page = _page(chromium, desk, errors)
    _sign_in(page, desk, "/admin/review/de/cancel-order")
    path = desk.content / "de/orders/cancel-order.md"
    theirs = path.read_text().replace("kostenlos", "gebührenfrei")
    path.write_text(theirs)  # someone else saves while the editor types
    page.get_by_label("Markdown", exact=True).fill("Meine neue Fassung des Artikels.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("heading", name="The file changed since you opened it").wait_for()
    assert "gebührenfrei" in page.inner_text("main") and "Meine neue Fassung" in page.inner_text("main")
    assert path.read_text() == theirs
    page.screenshot(path=str(artifacts / "admin-conflict.png"), full_page=True)
    page.get_by_role("button", name="Replace it with mine").click()
    page.wait_for_url("**/admin/review/de/cancel-order?done=saved")
    assert "Meine neue Fassung des Artikels." in path.read_text() and "gebührenfrei" not in path.read_text()
    assert errors == []


def test_forged_and_cross_site_posts_are_refused(desk: Desk, chromium: object) -> None:
    errors: list[str] = []
    page = _page(chromium, desk, errors)
    _sign_in(page, desk, "/admin/review/de/cancel-order")
    path = desk.content / "de/orders/cancel-order.md"
    before = path.read_text()
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged')")
    page.get_by_role("button", name="Send back to machine draft").click()
    page.get_by_role("heading", name="Cannot do that").wait_for()
    assert "CSRF" in page.inner_text("main") and path.read_text() == before

    evil = "http://evil.test/"
    page.context.route(evil, lambda route: route.fulfill(content_type="text/html", body=(
        f'<form id="f" method="post" action="{desk.base}/admin/review/de/cancel-order">'
        '<input name="action" value="machine"><input name="csrf" value="guess"></form>'
        "<script>document.getElementById('f').submit()</script>")))
    page.goto(evil)
    page.wait_for_url("**/admin/sign-in**")  # SameSite=Strict: no session cookie on a cross-site post
    assert path.read_text() == before


def test_gaps_page_and_every_chart(desk: Desk, chromium: object, artifacts: Path) -> None:  # noqa: F811
    errors: list[str] = []
    page = _page(chromium, desk, errors)
    _sign_in(page, desk, "/admin/gaps?since=7d")
    weather = page.locator("li.cluster", has_text="Che tempo fa domani?")
    assert "Wie wird das Wetter morgen?" in weather.inner_text()
    page.screenshot(path=str(artifacts / "admin-gaps.png"), full_page=True)
    weather.get_by_role("link", name="Write an article").click()
    page.get_by_label("Id (the file name: lowercase letters, digits and hyphens)").fill("weather-tomorrow")
    page.get_by_role("button", name="Save into the content folder").click()
    page.get_by_text("Saved as").wait_for()
    assert Library.load(desk.content).get("weather-tomorrow", page.locator("select[name=locale]").input_value())

    for scheme in ("light", "dark"):
        shown = _page(chromium, desk, errors, color_scheme=scheme)
        _sign_in(shown, desk, "/admin/report?since=30d")
        for name in CHARTS:
            figure = shown.locator(f"#chart-{name}")
            assert figure.locator("svg").is_visible() and not figure.locator("svg.empty").count(), name
            assert figure.locator("rect.bar, polyline").count() > 0, name
            figure.screenshot(path=str(artifacts / f"admin-chart-{name}-{scheme}.png"))
        shown.screenshot(path=str(artifacts / f"admin-report-{scheme}.png"), full_page=True)
        ink = shown.evaluate("getComputedStyle(document.querySelector('#chart-opened svg text.label')).fill")
        ground = shown.evaluate("getComputedStyle(document.querySelector('#chart-opened')).backgroundColor")
        lum = [sum(int(c) for c in v[v.index("(") + 1:v.index(")")].split(",")[:3]) for v in (ink, ground)]
        assert (lum[0] < lum[1]) == (scheme == "light") and abs(lum[0] - lum[1]) > 300, (scheme, ink, ground)
        csv = shown.request.get(f"{desk.base}/admin/api/report/outcomes.csv?since=30d")
        assert csv.ok and csv.text().startswith("locale,answered,clarified,handed_off")
    assert errors == []


def test_phone_reads_the_queue_and_approves(desk: Desk, chromium: object, artifacts: Path) -> None:  # noqa: F811
    cat, title, questions, body = EN["track-parcel"]
    path = desk.content / "de" / cat / "track-parcel.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    source = Library.load(desk.content).source("track-parcel")
    path.write_text(article_text("track-parcel", "Wo ist mein Paket?", "Folgen Sie dem Link in der Versand-E-Mail.\n",
                                 cat, "2026-10-01", ["Paket verfolgen"], source_locale="en",
                                 source_hash=source.hash, review="machine"))
    errors: list[str] = []
    page = _page(chromium, desk, errors, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _sign_in(page, desk, "/admin/review")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.screenshot(path=str(artifacts / "admin-queue-phone.png"), full_page=True)
    page.get_by_role("link", name="Wo ist mein Paket?").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    approve = page.get_by_role("button", name="Approve as it is")
    assert approve.is_visible() and approve.bounding_box()["y"] < 844  # on the first screen
    page.screenshot(path=str(artifacts / "admin-item-phone.png"))
    approve.tap()
    page.wait_for_url("**done=approved")
    assert Library.load(desk.content).get("track-parcel", "de").review == "reviewed"
    assert errors == []


def test_sign_out(desk: Desk, chromium: object) -> None:
    errors: list[str] = []
    page = _page(chromium, desk, errors)
    _sign_in(page, desk, "/admin/review")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/admin/sign-in?signed_out=1")
    assert "You are signed out." in page.inner_text("main")
    page.goto(desk.base + "/admin/review")
    page.wait_for_url("**/admin/sign-in?next=/admin/review")
    assert errors == []
