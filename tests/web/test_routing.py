"""kb.web.routing: API paths answer JSON (404, 405) even with the site mounted at /; HEAD works where
GET does; redirects never leave the site; the site's 404 page speaks the path's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.analytics.store import Store, open_store
from kb.content.library import Library
from kb.search.engine import Engine
from kb.site.build import build_site
from kb.web.app import create_app
from kb.web.routing import local_location
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow

BASE = "http://help.test"  # base_url of the small help center (tests/helpers.py)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    for rel, text in {"index.html": "<p>root</p>", "404.html": "<h1>Page not found</h1>",
                      "en/index.html": "<h1>Help</h1>", "en/404.html": "<h1>Page not found</h1>",
                      "pl/index.html": "<h1>Pomoc</h1>", "pl/404.html": "<h1>Nie znaleziono strony</h1>",
                      "en/orders/index.html": "<h1>Orders</h1>"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(tmp_path_factory.mktemp("store"))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(small_index: tuple[Path, Path], site: Path, store: Store) -> Iterator[TestClient]:
    _, data = small_index
    app = create_app(data, site_dir=site, engine=Engine(data), store=store, security=SecurityConfig(rate=0),
                     retention_days=None)
    with TestClient(app) as test_client:
        yield test_client


def _json_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()["error"]) == {"param", "message"}


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/nope", 404),
    ("GET", "/v1", 404),
    ("GET", "/v1/", 404),
    ("POST", "/v1/nope/deeper", 404),
    ("GET", "/v1/answer", 405),
    ("PUT", "/v1/search", 405),
    ("DELETE", "/v1/feedback", 405),
    ("HEAD", "/v1/answer", 405),
    ("GET", "/v1/articles/", 404),
])
def test_api_paths_answer_json_never_the_site_page(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    if method != "HEAD":
        _json_error(response, status)
        assert "<h1>" not in response.text


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    response = client.get("/v1/answer")
    _json_error(response, 405)
    assert response.headers["allow"] == "POST"


def test_head_is_answered_where_get_is_and_not_logged(client: TestClient, store: Store) -> None:
    paths = ("/v1/search?q=refund", "/v1/locales", "/healthz", "/en/", "/openapi.json")
    gets = {path: client.get(path) for path in paths}
    logged = len(store.list_queries())
    for path, get in gets.items():
        head = client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
    assert len(store.list_queries()) == logged  # a HEAD search is a probe, not a shopper's search


def test_unknown_site_paths_keep_the_html_404(client: TestClient) -> None:
    response = client.get("/en/no-such-page/")
    assert response.status_code == 404 and "Page not found" in response.text


def test_the_404_page_speaks_the_language_of_the_path(client: TestClient) -> None:
    response = client.get("/pl/nie-ma-takiej-strony/")
    assert response.status_code == 404 and "Nie znaleziono strony" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in client.get("/xx/nothing/").text  # no such locale: the root 404 page


def test_the_built_site_answers_a_polish_404_in_polish(small_index: tuple[Path, Path], tmp_path: Path) -> None:
    content, data = small_index
    build_site(Library.load(content), tmp_path / "site", jobs=1)
    app = create_app(data, site_dir=tmp_path / "site", engine=Engine(data), log_queries=False,
                     security=SecurityConfig(rate=0), retention_days=None)
    with TestClient(app) as c:
        polish = c.get("/pl/nie-ma-takiej-strony/")
        assert polish.status_code == 404 and '<html lang="pl"' in polish.text and "Nie znaleziono strony" in polish.text
        german = c.get("/de/orders/no-such-article/")
        assert german.status_code == 404 and "Seite nicht gefunden" in german.text
        elsewhere = c.get("/no-such-folder/page.html")
        assert elsewhere.status_code == 404 and '<html lang="en"' in elsewhere.text
        assert c.get("/pl/").status_code == 200


@pytest.mark.parametrize(("path", "location"), [
    ("/en", "/en/"),
    ("/en/orders", "/en/orders/"),
    ("/en/orders?x=1", "/en/orders/?x=1"),
    ("/v1/search/?q=refund", "/v1/search?q=refund"),
])
def test_redirects_ignore_a_forged_host(client: TestClient, path: str, location: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (301, 302, 307, 308), response.text
    assert response.headers["location"] == location


@pytest.mark.parametrize(("location", "expected"), [
    ("http://evil.example/en/", "/en/"),
    ("https://evil.example//other.example/x?a=1#top", "/other.example/x?a=1#top"),
    ("//evil.example/en/", "/en/"),
    ("/\\evil.example/en/", "/evil.example/en/"),
    ("http://evil.example", "/"),
    ("/en/", "/en/"),
    ("http://help.test/en/", "http://help.test/en/"),  # the configured base_url's origin
    ("HTTP://Help.Test/en/", "HTTP://Help.Test/en/"),
])
def test_local_location(location: str, expected: str) -> None:
    assert local_location(location, BASE) == expected


# -- the API docs, offline -------------------------------------------------------------------------
ASSET = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_assets_of_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    refs = [a or b for a, b in ASSET.findall(response.text)]
    assert refs, response.text
    assert "//" not in "".join(refs), refs  # no other origin: no CDN, no web font
    assert "https://" not in response.text and "http://" not in response.text.replace("http://www.w3.org", "")
    csp = response.headers["content-security-policy"]
    assert "https:" not in csp and "jsdelivr" not in csp
    types = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        kind = next(v for k, v in types.items() if ref.endswith(k))
        assert kind in asset.headers["content-type"], (ref, asset.headers["content-type"])
        assert len(asset.content) > (1000 if ref.endswith(".js") else 100), ref
