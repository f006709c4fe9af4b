"""Forwarded headers (kb.web.proxies) and the rate limit behind them: trusted only from configured
proxies, non-IP values ignored, no exemption for this machine."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from kb.errors import KbError
from kb.web.proxies import address_of, forwarded_elements, pick_client
from kb.web.security import SecurityConfig, install, networks

LOCAL = ("127.0.0.1", 40000)


def _app(config: SecurityConfig) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/whoami")
    def whoami(request: Request) -> dict[str, str]:
        return {"client": request.client.host if request.client else "", "scheme": request.url.scheme}

    install(app, config)
    return app


def _who(client: TestClient, **headers: str) -> dict[str, str]:
    response = client.get("/v1/whoami", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("value", "expected"), [
    ("203.0.113.5", "203.0.113.5"), (" 203.0.113.5:8080 ", "203.0.113.5"), ("[2001:db8::1]:4711", "2001:db8::1"),
    ('"[2001:db8::1]"', "2001:db8::1"), ("2001:db8::1", "2001:db8::1"), ("::ffff:1.2.3.4", "::ffff:102:304"),
    ("host-1", None), ("unknown", None), ("_hidden", None), ("", None), ("1.2.3.4.5", None), ("[::1", "::1")])
def test_address_of(value: str, expected: str | None) -> None:
    assert address_of(value) == expected


def test_pick_client_reads_from_the_right() -> None:
    trusted = {"10.0.0.1", "10.0.0.2"}.__contains__
    assert pick_client(["198.51.100.1", "203.0.113.5", "10.0.0.1"], trusted) == 1
    assert pick_client(["10.0.0.2", "10.0.0.1"], trusted) == 0  # all proxies: the first one
    assert pick_client(["203.0.113.5", "host-1"], trusted) is None  # not an address: ignored
    assert pick_client(["host-1", "203.0.113.5"], trusted) == 1  # the forged part is left of the client
    assert pick_client([], trusted) is None
    assert forwarded_elements('for=1.2.3.4;proto=https, For="[::1]:80"') == [
        {"for": "1.2.3.4", "proto": "https"}, {"for": "[::1]:80"}]


def test_forwarded_headers_are_ignored_by_default() -> None:
    """The probe's bypass: every new X-Forwarded-For value from 127.0.0.1 got a fresh bucket."""
    config = SecurityConfig.from_env({}, {"KB_RATE_LIMIT": "1", "KB_RATE_BURST": "5"})
    assert config.trusted_proxies == () and config.exempt == ()
    with TestClient(_app(config), client=LOCAL) as c:
        assert _who(c, **{"X-Forwarded-For": "203.0.113.5", "Forwarded": "for=203.0.113.6"})["client"] == "127.0.0.1"
        statuses = [c.get("/v1/whoami", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(100)]
    assert statuses.count(200) == 4 and statuses.count(429) == 96  # one token went on the first request


def test_loopback_is_limited_like_anyone() -> None:
    config = SecurityConfig.from_env({}, {"KB_RATE_LIMIT": "0.5", "KB_RATE_BURST": "2"})
    for host in ("127.0.0.1", "::1"):
        with TestClient(_app(config), client=(host, 1)) as c:
            assert [c.get("/v1/whoami").status_code for _ in range(3)] == [200, 200, 429]


def test_trusted_proxy_names_the_client() -> None:
    config = SecurityConfig(rate=0, trusted_proxies=networks("127.0.0.1, 10.0.0.0/8"))
    with TestClient(_app(config), client=LOCAL) as c:
        assert _who(c) == {"client": "127.0.0.1", "scheme": "http"}
        assert _who(c, **{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}) == {
            "client": "203.0.113.5", "scheme": "https"}
        assert _who(c, **{"X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.1.2.3"})["client"] == "203.0.113.5"
        assert _who(c, **{"X-Forwarded-For": "host-1"})["client"] == "127.0.0.1"
        assert _who(c, **{"X-Forwarded-For": "203.0.113.5, unknown"})["client"] == "127.0.0.1"
        assert _who(c, **{"X-Forwarded-For": "[2001:db8::7]:443"})["client"] == "2001:db8::7"
        assert _who(c, **{"X-Forwarded-Proto": "gopher", "X-Forwarded-For": "203.0.113.5"})["scheme"] == "http"
        # only the configured header: a Forwarded header passed on from the client is not read
        assert _who(c, Forwarded="for=203.0.113.9")["client"] == "127.0.0.1"
    with TestClient(_app(config), client=("198.51.100.7", 1)) as c:  # not a proxy: its headers mean nothing
        assert _who(c, **{"X-Forwarded-For": "203.0.113.5"})["client"] == "198.51.100.7"


def test_rfc_7239_forwarded_when_configured() -> None:
    config = SecurityConfig.from_env({}, {"KB_RATE_LIMIT": "off", "KB_FORWARDED_ALLOW_IPS": "127.0.0.1",
                                          "KB_FORWARDED_HEADER": "Forwarded"})
    with TestClient(_app(config), client=LOCAL) as c:
        assert _who(c, Forwarded='for="[2001:db8:cafe::17]:4711";proto=https') == {
            "client": "2001:db8:cafe::17", "scheme": "https"}
        assert _who(c, Forwarded="for=198.51.100.1, for=203.0.113.5;proto=http")["client"] == "203.0.113.5"
        assert _who(c, Forwarded="for=unknown")["client"] == "127.0.0.1"
        assert _who(c, **{"X-Forwarded-For": "203.0.113.5"})["client"] == "127.0.0.1"


def test_rate_limit_behind_a_proxy_is_per_client() -> None:
    config = SecurityConfig(rate=0.5, burst=2, trusted_proxies=networks("127.0.0.1"))
    with TestClient(_app(config), client=LOCAL) as c:
        def status(xff: str) -> int:
            return c.get("/v1/whoami", headers={"X-Forwarded-For": xff}).status_code

        assert [status("203.0.113.5") for _ in range(3)] == [200, 200, 429]
        assert status("203.0.113.6") == 200  # another shopper: another bucket
        # values that are not addresses fall back to the proxy's own bucket, shared by all of them
        assert [status(f"host-{i}") for i in range(5)] == [200, 200, 429, 429, 429]


def test_proxy_settings_from_the_environment() -> None:
    config = SecurityConfig.from_env({}, {"KB_FORWARDED_ALLOW_IPS": "10.0.0.1, 192.168.0.0/16"})
    assert config.trusted_proxies == networks("10.0.0.1,192.168.0.0/16")
    assert config.forwarded_header == "x-forwarded-for"
    assert SecurityConfig.from_env({}, {"KB_FORWARDED_ALLOW_IPS": "*"}).trusted_proxies == networks("0.0.0.0/0,::/0")
    with pytest.raises(KbError, match="KB_FORWARDED_ALLOW_IPS"):
        SecurityConfig.from_env({}, {"KB_FORWARDED_ALLOW_IPS": "proxy.local"})
    with pytest.raises(KbError, match="KB_FORWARDED_HEADER"):
        SecurityConfig.from_env({}, {"KB_FORWARDED_HEADER": "x-real-ip"})
