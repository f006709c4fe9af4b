"""How `kb serve` runs the app under uvicorn: bounded request heads, a request timeout, a cap on
connections, no proxy headers taken on trust, and an access log without query strings.

uvicorn alone (with httptools) accepts request heads of any size and holds a connection that has
sent half a request, or nothing, for ever. `LimitedHttpTools` is uvicorn's httptools protocol
with limits, each set by an environment variable:

- `KB_MAX_HEADER_BYTES` (32768): request line and headers together; larger gets 431 and the
  connection is closed (bytes of a head still arriving are counted as they come, so an 8 MB
  header is refused after its first 32 KiB, not buffered);
- `KB_MAX_HEADERS` (100): header fields in one request; more gets 431;
- `KB_REQUEST_TIMEOUT` (10 s): from a connection's opening, or the first byte of its next request,
  until the request (head and body) has arrived; later gets 408 and the connection is closed.
  uvicorn's own `timeout_keep_alive` (5 s) closes idle connections between requests;
- `KB_MAX_CONNECTIONS` (half the open-files limit, at most 2048): past it, each new connection
  closes the oldest one still waiting for its request, so slow senders give way to new clients.

uvicorn's X-Forwarded-For handling is off (it trusts 127.0.0.1 by default); kb.web.proxies
reads forwarded headers from configured proxies only. The access log (`kb serve --access-log`)
drops query strings: searches are what shoppers typed, which may be personal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kb.errors import KbError

HEADER_BYTES_ENV, HEADERS_ENV = "KB_MAX_HEADER_BYTES", "KB_MAX_HEADERS"
TIMEOUT_ENV, CONNECTIONS_ENV = "KB_REQUEST_TIMEOUT", "KB_MAX_CONNECTIONS"
REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _default_connections() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = 1024
    return max(64, min(2048, soft // 2 if soft > 0 else 2048))


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    request_timeout: float = 10.0
    max_connections: int = 0  # 0: from the open-files limit

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, field, kind in ((HEADER_BYTES_ENV, "max_header_bytes", int), (HEADERS_ENV, "max_headers", int),
                                  (TIMEOUT_ENV, "request_timeout", float), (CONNECTIONS_ENV, "max_connections", int)):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                values[field] = kind(raw)
            except ValueError:
                values[field] = -1
            if values[field] <= 0:
                raise KbError(f"{name}={raw!r}: use a positive {'number of seconds' if kind is float else 'whole number'}")
        return cls(**values)

    def connections(self) -> int:
        return self.max_connections or _default_connections()


class _Refused(Exception):
    pass


class LimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; `protocol(limits)` makes one per server."""

    limits = Limits()
    waiting: dict[LimitedHttpTools, None] = {}  # connections waiting for a request, oldest first (per server)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: Any = None
        self._head_open = True  # (the rest of) a request head is awaited
        self._pending = 0  # bytes received while the head was open
        self._exact = 0  # bytes of the current head's URL and completed headers
        self._fields = 0
        self._refused: int | None = None

    # -- the request timer, and the queue of connections waiting for a request ----------------
    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self.limits.request_timeout, self._timed_out)
            self.waiting[self] = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.pop(self, None)

    def _timed_out(self) -> None:
        self._timer = None
        self._refuse(408, "request not received in time")

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.connections() and self.waiting:
            # one out for each one in: closed connections leave `connections` a moment later
            next(iter(self.waiting))._refuse(408, "too many connections: closed the oldest one waiting for a request")
        self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    # -- counting the head --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            return
        if self._head_open:
            self._pending += len(data)
        super().data_received(data)
        if self._refused is None and self._head_open and self._pending > self.limits.max_header_bytes:
            self._refuse(431, f"request head over {self.limits.max_header_bytes} bytes")

    def _count(self, size: int, field: bool = False) -> None:
        self._exact += size
        self._fields += field
        if self._exact > self.limits.max_header_bytes or self._fields > self.limits.max_headers:
            self._refused = 431
            raise _Refused  # httptools stops parsing; uvicorn calls send_400_response, answered below

    def on_message_begin(self) -> None:
        self._head_open, self._exact, self._fields = True, 0, 0
        self._start_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, field=True)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open, self._pending = False, 0
        self.waiting.pop(self, None)  # busy now: not the one to close under pressure
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self.waiting[self] = None  # idle until uvicorn's keep-alive timeout: may give way to a new client

    # -- refusing -----------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        if self._refused is None:
            super().send_400_response(msg)
        else:
            self._refuse(self._refused, f"request head over {self.limits.max_header_bytes} bytes "
                                        f"or {self.limits.max_headers} fields")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` when no response is under way, then close the connection."""
        self._refused = status
        self._stop_timer()
        if self.transport is None or self.transport.is_closing():
            return
        self.logger.debug("%s:%s - %s: %s", *(self.client or ("?", 0)), status, message)
        if self.cycle is None or self.cycle.response_complete:
            body = message.encode("ascii")
            head = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status])]
            head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
            head += [b"content-type: text/plain; charset=utf-8\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body]
            self.transport.write(b"".join(head))
        self.transport.close()


def protocol(limits: Limits) -> type[LimitedHttpTools]:
    """A protocol class with `limits` and its own queue of waiting connections (one per server)."""
    return type("LimitedHttpTools", (LimitedHttpTools,), {"limits": limits, "waiting": {}})


class NoQueryStrings(logging.Filter):
    """Drops the query string from uvicorn's access-log lines (their third argument is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def quiet_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, NoQueryStrings) for f in logger.filters):
        logger.addFilter(NoQueryStrings())


def server_config(app: Any, host: str = "127.0.0.1", port: int = 8000, *, access_log: bool = False,
                  limits: Limits | None = None, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration `kb serve` runs (one process, or each worker of --workers N):
    the limits above, proxy headers off (kb.web.proxies handles them), websockets off."""
    limits = limits or Limits.from_env()
    config = uvicorn.Config(app, host=host, port=port, access_log=access_log, log_level=log_level,
                            http=protocol(limits), ws="none", proxy_headers=False, forwarded_allow_ips=[],
                            timeout_keep_alive=5, h11_max_incomplete_event_size=limits.max_header_bytes)
    quiet_access_log()  # after uvicorn.Config, which configures logging
    return config
