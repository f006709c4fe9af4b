"""Security of the API and the served site: rate limiting, CORS, headers, admin keys, retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import ROOT
from typer.testing import CliRunner

from kb.analytics.retention import Pruner, parse_duration, retention_days
from kb.analytics.store import Store, open_store
from kb.errors import KbError
from kb.search.engine import Engine
from kb.web import auth as admin_auth
from kb.web.app import create_app
from kb.web.security import SITE_CSP, SecurityConfig, TokenBuckets, networks, site_origins

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path, f"sqlite:///{tmp_path / 'kb.sqlite'}")
    yield opened
    opened.close()


def _app(engine: Engine, store: Store | None, tmp_path: Path, **kwargs: object) -> TestClient:
    return TestClient(create_app(tmp_path, engine=engine, store=store, log_queries=store is not None,
                                 retention_days=None, **kwargs))  # type: ignore[arg-type]


# -- rate limiting -------------------------------------------------------------------------------
def test_token_bucket_refills_and_is_bounded() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3.0, max_keys=2)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == pytest.approx(0.5)
    assert buckets.take("a", now=0.5) == 0.0  # one token back after 1/rate seconds
    buckets.take("b", now=1.0)
    buckets.take("c", now=1.0)
    assert len(buckets) == 2  # the least recently seen client was dropped


def test_429_with_retry_after_per_client(engine: Engine, tmp_path: Path) -> None:
    app = create_app(tmp_path, engine=engine, log_queries=False, retention_days=None,
                     security=SecurityConfig(rate=0.5, burst=2, exempt=()))
    with TestClient(app) as c:
        ok = [c.get("/v1/locales").status_code for _ in range(2)]
        limited = c.get("/v1/locales")
        assert ok == [200, 200] and limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["param"] is None and "too many requests" in limited.json()["error"]["message"]
        assert c.get("/healthz").status_code == 200  # health checks are not limited
        schema = c.get("/openapi.json").json()
        assert schema["paths"]["/v1/search"]["get"]["responses"]["429"]["content"]["application/json"]
        other = TestClient(app, client=("203.0.113.9", 1234))
        assert other.get("/v1/locales").status_code == 200  # another client has its own bucket


def test_exempt_addresses_and_limit_off(engine: Engine, tmp_path: Path) -> None:
    config = SecurityConfig(rate=0.1, burst=1, exempt=networks("203.0.113.0/24"))
    with TestClient(create_app(tmp_path, engine=engine, log_queries=False, retention_days=None, security=config),
                    client=("203.0.113.7", 5000)) as c:
        assert {c.get("/v1/locales").status_code for _ in range(5)} == {200}
    with _app(engine, None, tmp_path, security=SecurityConfig(rate=0)) as c:
        assert {c.get("/v1/locales").status_code for _ in range(60)} == {200}


def test_limits_from_the_environment() -> None:
    env = {"KB_RATE_LIMIT": "5", "KB_RATE_BURST": "7", "KB_RATE_EXEMPT": ""}
    config = SecurityConfig.from_env({"base_url": "https://help.shop.example/"}, env)
    assert (config.rate, config.burst, config.exempt) == (5.0, 7.0, ())
    default = SecurityConfig.from_env({"base_url": "http://x.test"}, {})
    assert (default.rate, default.burst) == (20.0, 40.0) and default.exempt == ()  # this machine is not exempt
    assert SecurityConfig.from_env({}, {"KB_RATE_LIMIT": "off"}).rate == 0
    with pytest.raises(KbError, match="KB_RATE_LIMIT"):
        SecurityConfig.from_env({}, {"KB_RATE_LIMIT": "fast"})
    with pytest.raises(KbError, match="KB_RATE_EXEMPT"):
        SecurityConfig.from_env({}, {"KB_RATE_EXEMPT": "not-an-ip"})


# -- CORS ------------------------------------------------------------------------------------------
def test_cors_origin_from_config_and_environment() -> None:
    assert site_origins({"base_url": "https://help.shop.example/en/"}, {}) == ("https://help.shop.example",)
    assert site_origins({"site_origin": "https://www.shop.example", "base_url": "http://x"}, {}) == (
        "https://www.shop.example",)
    env = {"KB_CORS_ORIGINS": "https://a.example, https://b.example:8443"}
    assert site_origins({"base_url": "http://x"}, env) == ("https://a.example", "https://b.example:8443")
    with pytest.raises(KbError, match="KB_CORS_ORIGINS"):
        site_origins({}, {"KB_CORS_ORIGINS": "https://a.example/path"})


def test_cors_allows_only_the_site_origin(engine: Engine, tmp_path: Path) -> None:
    config = SecurityConfig(cors_origins=("https://help.shop.example",), rate=0)
    with _app(engine, None, tmp_path, security=config) as c:
        good = c.get("/v1/locales", headers={"Origin": "https://help.shop.example"})
        assert good.headers["access-control-allow-origin"] == "https://help.shop.example"
        evil = c.get("/v1/locales", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers
        preflight = c.options("/v1/feedback", headers={"Origin": "https://help.shop.example",
                                                       "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200 and "POST" in preflight.headers["access-control-allow-methods"]
        refused = c.options("/v1/admin/gaps", headers={"Origin": "https://help.shop.example",
                                                        "Access-Control-Request-Method": "GET",
                                                        "Access-Control-Request-Headers": "x-api-key"})
        assert refused.status_code == 400  # admin keys are not sent cross-origin


# -- headers ---------------------------------------------------------------------------------------
def test_security_headers_on_api_errors_docs_and_site(engine: Engine, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "en").mkdir(parents=True)
    (site / "en" / "index.html").write_text("<h1>Help</h1>", encoding="utf-8")
    with TestClient(create_app(tmp_path, site_dir=site, engine=engine, log_queries=False, retention_days=None,
                               security=SecurityConfig(rate=0))) as c:
        responses = {"api": c.get("/v1/locales"), "error": c.get("/v1/search"), "site": c.get("/en/"),
                     "missing": c.get("/en/nope.html"), "docs": c.get("/docs")}
        for name, r in responses.items():
            for header in ("content-security-policy", "x-content-type-options", "referrer-policy",
                           "x-frame-options", "permissions-policy"):
                assert header in r.headers, (name, header)
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
        site_csp = responses["site"].headers["content-security-policy"]
        assert site_csp == SITE_CSP and "script-src 'self'" in site_csp and "frame-ancestors 'none'" in site_csp
        assert "unsafe-inline" not in site_csp.split("script-src")[1].split(";")[0]
        assert responses["api"].headers["content-security-policy"].startswith("default-src 'none'")
        assert "https:" not in responses["docs"].headers["content-security-policy"]  # docs assets are our own


def test_site_csp_keeps_the_built_site_working() -> None:
    """The built pages load only their own script and stylesheet, and inline only JSON data blocks."""
    import re

    root = ROOT / "kb" / "site" / "templates"
    base = (root / "base.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script([^>]*)>", base)
    assert all("src=" in attrs or "application/json" in attrs or "application/ld+json" in attrs for attrs in scripts)
    for template in root.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text), template.name  # no inline event handlers
        assert "<style" not in text, template.name
    js = (root.parent / "static" / "site.js").read_text(encoding="utf-8")
    assert "eval(" not in js and "new Function" not in js


# -- admin keys --------------------------------------------------------------------------------------
def test_admin_gaps_needs_the_key(engine: Engine, store: Store, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KB_ADMIN_KEY", raising=False)
    monkeypatch.delenv("KB_ADMIN_KEY_FILE", raising=False)
    data = tmp_path / "data"
    with TestClient(create_app(data, engine=engine, store=store, retention_days=None,
                               security=SecurityConfig(rate=0))) as c:
        assert c.get("/v1/admin/gaps").status_code == 503  # no key configured: the admin API is off
        key = "k-" + "x" * 30
        admin_auth.write_key_file(data / "admin_key", key)
        assert c.get("/v1/admin/gaps").status_code == 401
        assert c.get("/v1/admin/gaps", headers={"X-API-Key": "wrong"}).status_code == 403
        assert c.get("/v1/admin/gaps", headers={"X-API-Key": admin_auth.hash_key(key)}).status_code == 403
        assert c.get("/v1/admin/gaps", params={"key": key}).status_code == 401  # never in the query string
        ok = c.get("/v1/admin/gaps", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["queries"] == 0
        for _ in range(8):  # 10 wrong keys a minute per address, then 429 even for the right one
            assert c.get("/v1/admin/gaps", headers={"X-API-Key": "guess"}).status_code == 403
        limited = c.get("/v1/admin/gaps", headers={"Authorization": f"Bearer {key}"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert c.get("/v1/locales").status_code == 200  # the rest of the API is not affected
        schema = c.get("/openapi.json").json()
        assert "429" in schema["paths"]["/v1/admin/gaps"]["get"]["responses"]
        c.app.state.admin_failures = None  # type: ignore[attr-defined]  # a fresh counter for the rest
        monkeypatch.setenv("KB_ADMIN_KEY", "from-env")
        assert c.get("/v1/admin/gaps", headers={"X-API-Key": "from-env"}).status_code == 200
        bad = c.get("/v1/admin/gaps", params={"since": "forever"}, headers={"X-API-Key": "from-env"})
        assert bad.status_code == 422 and bad.json()["error"]["param"] == "since"
        bad = c.get("/v1/admin/gaps", params={"locale": "xx!"}, headers={"X-API-Key": "from-env"})
        assert bad.status_code == 422 and bad.json()["error"]["param"] == "locale"


# -- retention -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("90d", dt.timedelta(days=90)), ("12h", dt.timedelta(hours=12)), ("4w", dt.timedelta(weeks=4)),
    (" 7D ", dt.timedelta(days=7))])
def test_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "1.5d", "90 days", "-3d", "3m", "1y", "9999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="12h, 90d or 4w"):
        parse_duration(text)


def test_retention_days_setting() -> None:
    assert retention_days("") == 90 and retention_days("30") == 30 and retention_days("off") is None
    assert retention_days("0") is None
    with pytest.raises(KbError, match="KB_RETENTION_DAYS"):
        retention_days("ninety")


def _age(store: Store, days: float) -> None:
    import sqlalchemy as sa

    from kb.analytics.store import feedback, queries

    with store.engine.begin() as conn:
        for table in (queries, feedback):
            conn.execute(sa.update(table).values(ts=dt.datetime.now(dt.UTC) - dt.timedelta(days=days)))


def _fill(store: Store) -> None:
    store.log_query(endpoint="search", locale="en", query="refund", decision="answer", confidence=0.9,
                    top_ids=["refund-timing"], top_scores=[0.9], served_machine=False, served_fallback=False,
                    generation="gen-1")
    store.add_feedback(article_id="refund-timing", locale="en", helpful=True)


def test_prune_command(tmp_path: Path) -> None:
    from kb.cli import app

    store = open_store(tmp_path)
    _fill(store)
    _age(store, 100)
    _fill(store)
    store.close()
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "prune", "--older-than", "90d", "--data", str(tmp_path)])
    assert result.exit_code == 0 and "1 queries, 1 feedback" in result.stdout, result.output
    result = runner.invoke(app, ["analytics", "prune", "--older-than", "3 months", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "--older-than" in result.output and "90d" in result.output
    result = runner.invoke(app, ["analytics", "prune", "--data", str(tmp_path)], env={"KB_RETENTION_DAYS": "off"})
    assert result.exit_code == 0 and "retention is off" in result.stdout
    result = runner.invoke(app, ["analytics", "prune", "--data", str(tmp_path / "none")])
    assert result.exit_code == 0 and "no query log" in result.stdout
    assert not (tmp_path / "none").exists()


def test_server_prunes_at_start_up(engine: Engine, store: Store, tmp_path: Path) -> None:
    _fill(store)
    _age(store, 40)
    _fill(store)
    app = create_app(tmp_path, engine=engine, store=store, retention_days=30, security=SecurityConfig(rate=0))
    with TestClient(app):
        pruner: Pruner = app.state.pruner
        assert pruner.first_done.wait(10) and pruner.last == {"queries": 1, "feedback": 1}
    assert len(store.list_queries()) == 1 and len(store.list_feedback()) == 1
    assert pruner._thread is not None and not pruner._thread.is_alive()


def test_pruner_runs_again_and_survives_errors(store: Store) -> None:
    import time

    calls: list[int] = []

    class Broken:
        def prune(self, _older: dt.timedelta) -> dict[str, int]:
            calls.append(1)
            raise RuntimeError("database is down")

    pruner = Pruner(Broken(), 30, interval=0.05).start()  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pruner.stop()
    assert len(calls) >= 3 and pruner.runs >= 3
