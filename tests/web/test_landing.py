"""GET /: the remembered language, else Accept-Language among the built locales, else the root page."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kb.web.landing import LANG_COOKIE, install_landing, landing_locale

LOCALES = ["en", "de", "fr", "pl", "tr", "pt-BR"]


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    site = tmp_path / "site"
    for code in LOCALES:
        if code != "fr":  # enabled, but its pages are not built
            (site / code).mkdir(parents=True)
    (site / "index.html").write_text("<h1>Choose your language</h1>", encoding="utf-8")
    app = FastAPI()
    install_landing(app, site, lambda: LOCALES)
    return TestClient(app)


@pytest.mark.parametrize(("header", "target"), [
    ("pl-PL,pl;q=0.9,en;q=0.5", "pl/"),
    ("tr-TR", "tr/"),
    ("de-AT,en;q=0.3", "de/"),  # a regional form reads its language
    ("pt", "pt-BR/"),  # a language reads its only regional locale
    ("ja,de;q=0.2", "de/"),  # the first enabled one of the shopper's list
    ("fr-FR,en;q=0.5", "en/"),  # French is enabled but not built
    ("en-US", "en/"),
])
def test_accept_language_chooses_among_the_built_locales(client: TestClient, header: str, target: str) -> None:
    r = client.get("/", headers={"Accept-Language": header}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, target)  # relative: works under a path prefix
    assert "Accept-Language" in r.headers["vary"] and "Cookie" in r.headers["vary"]


@pytest.mark.parametrize("header", [None, "ja-JP,zh;q=0.8", "*", "q=;;,", "x" * 5000])
def test_no_match_shows_the_root_page(client: TestClient, header: str | None) -> None:
    r = client.get("/", headers={"Accept-Language": header} if header is not None else {}, follow_redirects=False)
    assert r.status_code == 200 and "Choose your language" in r.text
    assert "Accept-Language" in r.headers["vary"]


def test_a_remembered_choice_wins_over_the_browser_language(client: TestClient) -> None:
    client.cookies.set(LANG_COOKIE, "tr")
    r = client.get("/", headers={"Accept-Language": "de-DE"}, follow_redirects=False)
    assert r.headers["location"] == "tr/"
    assert client.head("/", headers={"Accept-Language": "de-DE"}, follow_redirects=False).headers["location"] == "tr/"


@pytest.mark.parametrize("cookie", ["fr", "xx-nonsense", "../de", ""])
def test_a_stale_or_bad_cookie_is_ignored(client: TestClient, cookie: str) -> None:
    client.cookies.set(LANG_COOKIE, cookie)
    r = client.get("/", headers={"Accept-Language": "pl"}, follow_redirects=False)
    assert r.headers["location"] == "pl/"


def test_landing_locale_is_the_apis_negotiation() -> None:
    assert landing_locale(None, "de-CH", ["en", "de"]) == "de"
    assert landing_locale("de", "en", ["en", "de"]) == "de"
    assert landing_locale(None, None, ["en", "de"]) is None


def test_without_a_root_page_the_first_built_locale(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "de").mkdir(parents=True)
    app = FastAPI()
    install_landing(app, site, lambda: ["en", "de"])
    r = TestClient(app).get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "de/")
