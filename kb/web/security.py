"""HTTP security of the API and the served site: CORS, rate limiting, forwarded headers, security headers.

- CORS: only the site's origin may call the API from a browser: `KB_CORS_ORIGINS` (comma-separated),
  else `site_origin` in kb.toml, else the origin of `base_url`.
- Rate limiting: a token bucket per client address on the API (`/v1/…`), in memory only (never
  stored or logged): `KB_RATE_LIMIT` requests a second (default 20; `0`/`off` turns it off) with
  bursts of `KB_RATE_BURST` (default 40). Over the limit: 429 with `Retry-After`. Addresses in
  `KB_RATE_EXEMPT` (comma-separated addresses or networks; default none) are not limited: a
  chatbot backend you add there. This machine is not exempt: behind a local reverse proxy every
  shopper would come from 127.0.0.1.
- The client address is the connection's, unless `KB_FORWARDED_ALLOW_IPS` names trusted proxies
  (kb.web.proxies); uvicorn's own proxy-header handling is off (kb.web.server).
- Headers on every response, site pages included: Content-Security-Policy (the site's own scripts
  and styles only), X-Content-Type-Options, Referrer-Policy, X-Frame-Options, Permissions-Policy.
"""

from __future__ import annotations

import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb import API_PREFIX
from kb.errors import KbError
from kb.web.errors import json_error
from kb.web.proxies import HEADERS as FORWARDED_HEADERS
from kb.web.proxies import TrustedProxies

CORS_ENV, RATE_ENV, BURST_ENV, EXEMPT_ENV = "KB_CORS_ORIGINS", "KB_RATE_LIMIT", "KB_RATE_BURST", "KB_RATE_EXEMPT"
PROXIES_ENV, FORWARDED_HEADER_ENV = "KB_FORWARDED_ALLOW_IPS", "KB_FORWARDED_HEADER"
DEFAULT_RATE, DEFAULT_BURST = 20.0, 40.0
DEFAULT_EXEMPT: tuple[str, ...] = ()
MAX_CLIENTS = 100_000  # buckets kept; an idle full bucket is dropped first (no state is lost)
LIMITED_PREFIX = f"{API_PREFIX}/"
ADMIN_PREFIX = f"{API_PREFIX}/admin/"  # 429 after too many wrong keys (kb.web.auth), whatever the rate limit

SITE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
            "img-src 'self' data: https:; font-src 'self'; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# /docs and /redoc load Swagger UI / ReDoc from this server (kb.web.docs) and start it with an inline script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "font-src 'self'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
            "frame-ancestors 'none'")
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "cross-origin-opener-policy": "same-origin",
}


def origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def site_origins(site_config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """KB_CORS_ORIGINS, else kb.toml's site_origin, else base_url's origin."""
    env = os.environ if env is None else env
    raw = env.get(CORS_ENV, "").strip()
    if raw:
        found = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
        bad = [o for o in found if o != "*" and origin_of(o) != o.lower()]
        if bad:
            raise KbError(f"{CORS_ENV}: {bad[0]!r} is not an origin: write scheme://host[:port], comma-separated")
        return tuple(o.lower() for o in found)
    for key in ("site_origin", "base_url"):
        value = site_config.get(key)
        if value and origin_of(str(value)):
            return (origin_of(str(value)) or "",)
    return ()


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("off", "none"):
        return 0.0
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < 1e9:
        raise KbError(f"{name}={value!r}: use a number of requests per second (0 or 'off' turns the limit off)")
    return number


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(raw: str | tuple[str, ...], name: str = EXEMPT_ENV) -> tuple[Network, ...]:
    """Comma-separated addresses or networks; `*` is every address."""
    items = [p.strip() for p in (raw.split(",") if isinstance(raw, str) else raw) if p.strip()]
    if "*" in items:
        items = ["0.0.0.0/0", "::/0"]
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise KbError(f"{name}: {exc}: write addresses or networks such as 10.0.0.5 or 10.0.0.0/24") from exc


def forwarded_header(env: Mapping[str, str]) -> str:
    value = env.get(FORWARDED_HEADER_ENV, "").strip().lower() or FORWARDED_HEADERS[0]
    if value not in FORWARDED_HEADERS:
        raise KbError(f"{FORWARDED_HEADER_ENV}={value!r}: use {' or '.join(FORWARDED_HEADERS)}, the header your proxy writes")
    return value


def is_exempt(host: str, exempt: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in exempt)


@dataclass(frozen=True)
class SecurityConfig:
    cors_origins: tuple[str, ...] = ()
    rate: float = DEFAULT_RATE  # tokens a second per client; 0 = no limit
    burst: float = DEFAULT_BURST
    exempt: tuple[Network, ...] = networks(DEFAULT_EXEMPT)
    trusted_proxies: tuple[Network, ...] = ()  # peers whose forwarded header names the client
    forwarded_header: str = FORWARDED_HEADERS[0]

    @classmethod
    def from_env(cls, site_config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> SecurityConfig:
        env = os.environ if env is None else env
        rate = _rate(env, RATE_ENV, DEFAULT_RATE)
        burst = _rate(env, BURST_ENV, max(DEFAULT_BURST, 2 * rate))
        exempt = networks(env[EXEMPT_ENV] if EXEMPT_ENV in env else DEFAULT_EXEMPT)
        proxies = networks(env.get(PROXIES_ENV, ""), PROXIES_ENV)
        return cls(cors_origins=site_origins(site_config, env), rate=rate, burst=max(burst, 1.0), exempt=exempt,
                   trusted_proxies=proxies, forwarded_header=forwarded_header(env))


class TokenBuckets:
    """Per-key token buckets in memory, bounded to `max_keys` (least recently seen dropped first)."""

    def __init__(self, rate: float, burst: float, max_keys: int = MAX_CLIENTS) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 when a request may pass (a token is spent), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, seen = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - seen) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def wait(self, key: str, now: float | None = None) -> float:
        """The seconds until `key` has a token (0.0: it has one now); spends nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._buckets.get(key)
        if found is None:
            return 0.0
        tokens = min(self.burst, found[0] + (now - found[1]) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimit:
    """429 with Retry-After for a client address over its budget on `/v1/…`."""

    def __init__(self, app: ASGIApp, rate: float, burst: float, exempt: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.exempt = exempt
        self.buckets = TokenBuckets(rate, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(LIMITED_PREFIX) \
                or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = str(client[0]) if client else "unknown"
        wait = 0.0 if is_exempt(host, self.exempt) else self.buckets.take(host)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            response = json_error(429, None, f"too many requests: try again in {seconds} s")
            response.headers["Retry-After"] = str(seconds)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _csp_for(path: str) -> str:
    if path.startswith(("/docs", "/redoc")):
        return DOCS_CSP
    if path.startswith((LIMITED_PREFIX, "/healthz", "/openapi.json")):
        return API_CSP
    return SITE_CSP


class SecurityHeaders:
    """Adds the security headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = {**HEADERS, "content-security-policy": _csp_for(scope.get("path", ""))}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


def document_errors(schema: dict[str, Any], rate_limited: bool) -> None:
    """Document the errors the middleware may answer on any operation, where a route did not:
    429 (rate limit, on /v1/…), 400 and 413 (malformed or oversized body), 500 (the catch-all)."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if (rate_limited and path.startswith(LIMITED_PREFIX)) or path.startswith(ADMIN_PREFIX):
                responses.setdefault("429", {
                    **_error_response("Too many requests (or wrong admin keys) from this client: "
                                      "wait Retry-After seconds"),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}})
            if "requestBody" in operation:
                responses.setdefault("400", _error_response("Malformed request body"))
                responses.setdefault("413", _error_response("Request body over the size limit"))
            responses.setdefault("500", _error_response("Internal error"))


def install(app: FastAPI, config: SecurityConfig) -> None:
    """Add the middleware, and document its errors in the OpenAPI schema; call after the app's own
    middleware and openapi() are in place (the last middleware added runs first)."""
    if config.rate > 0:
        app.add_middleware(RateLimit, rate=config.rate, burst=config.burst, exempt=config.exempt)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        document_errors(schema, rate_limited=config.rate > 0)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Accept", "Accept-Language", "Content-Type"], max_age=600)
    app.add_middleware(SecurityHeaders)
    if config.trusted_proxies:  # added last, so it runs first: everything after sees the client
        app.add_middleware(TrustedProxies, networks=config.trusted_proxies, header=config.forwarded_header)
