"""`kb serve`'s uvicorn set-up (kb.web.server) under abuse: half-sent requests, huge and numerous
headers, too many connections, and an access log without query strings. A real server runs on
127.0.0.1 in a thread, serving a tiny ASGI app; every loop and wait here is bounded."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kb.web.server import Limits, NoQueryStrings, server_config

TIMEOUT = 1.5  # the request timeout the servers here run with


async def tiny_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()  # type: ignore[operator]
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * TIMEOUT)
    body = f"hello {scope['client'][0]}".encode()
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(limits: Limits, access_log: bool = False) -> Iterator[int]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(server_config(tiny_app, "127.0.0.1", port, access_log=access_log, limits=limits,
                                          log_level="info" if access_log else "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _request(port: int, head: bytes, timeout: float = 5.0) -> bytes:
    """Send `head` on a new connection and read until the server closes it (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        chunks = []
        try:
            s.sendall(head)
            s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass  # closed by the server while we were sending: what comes back is what it said
        return b"".join(chunks)


def _status(response: bytes) -> int | None:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None


def _closed(socks: list[socket.socket], wait: float) -> list[bool]:
    """Which of `socks` the server closes (EOF or reset, after any 408 it sends) within `wait`
    seconds, all watched at once."""
    import selectors

    closed = [False] * len(socks)
    with selectors.DefaultSelector() as selector:
        for i, s in enumerate(socks):
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ, i)
        deadline = time.monotonic() + wait
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                except BlockingIOError:
                    continue
                if not data:
                    closed[key.data] = True
                    selector.unregister(key.fileobj)
    return closed


def test_a_normal_request_is_served() -> None:
    with serving(Limits(request_timeout=TIMEOUT)) as port:
        response = _request(port, b"GET /x?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert _status(response) == 200 and response.endswith(b"hello 127.0.0.1")


def test_keep_alive_and_slow_answers_are_not_cut() -> None:
    """The timeout is for receiving a request: a slow answer, and a second request on the same
    connection after a pause longer than the request timeout (but shorter than uvicorn's 5 s
    keep-alive timeout), are served."""
    with serving(Limits(request_timeout=TIMEOUT)) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for path in (b"/slow", b"/again"):
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            data = b""
            while not data.endswith(b"hello 127.0.0.1"):
                chunk = s.recv(4096)
                assert chunk, data
                data += chunk
            assert _status(data) == 200
            time.sleep(TIMEOUT + 0.5)


def test_half_sent_requests_are_closed_while_others_are_served() -> None:
    """200 connections each send half a request head and stop; all are closed by the server within
    the request timeout (with 408), and a complete request in the meantime gets its answer."""
    with serving(Limits(request_timeout=TIMEOUT, max_connections=1000)) as port:
        socks = []
        try:
            for i in range(200):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /slow-%d HTTP/1.1\r\nHost: t\r\nX-Slow: " % i)
                socks.append(s)
            started = time.monotonic()
            ok = _request(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert _status(ok) == 200  # served while the 200 are held
            assert not any(_closed(socks, 0.2))  # held until the timeout...
            closed = _closed(socks, TIMEOUT + 3)  # ...and closed then
            elapsed = time.monotonic() - started
        finally:
            for s in socks:
                s.close()
        assert all(closed), f"{closed.count(False)} of 200 half-sent requests still open after {elapsed:.1f} s"
        assert elapsed < TIMEOUT + 3


def test_a_silent_connection_gets_408() -> None:
    with serving(Limits(request_timeout=0.5)) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        t0 = time.monotonic()
        data = s.recv(4096)
        assert _status(data) == 408 and b"connection: close" in data.lower()
        assert 0.4 < time.monotonic() - t0 < 3


def test_too_many_connections_close_the_oldest_waiting() -> None:
    with serving(Limits(request_timeout=30, max_connections=20)) as port:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
        try:
            for s in socks:
                try:
                    s.sendall(b"GET / HTTP/1.1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # already closed to make room
            ok = _request(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert _status(ok) == 200
            closed = _closed(socks, 1.0)
        finally:
            for s in socks:
                s.close()
        # each connection past 20 closed the oldest waiting one; the newest 19 are still open
        assert all(closed[:21]) and not any(closed[-19:]), str([i for i, c in enumerate(closed) if c])


def test_an_8_mb_header_is_refused() -> None:
    with serving(Limits(request_timeout=5)) as port:
        big = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (8 * 2**20) + b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            sent_all = True
            try:
                s.sendall(big)
            except (BrokenPipeError, ConnectionResetError):
                sent_all = False  # closed by the server mid-way: what we want
            try:
                response = s.recv(65536)
            except ConnectionResetError:
                response = b""
        assert _status(response) == 431 or (response == b"" and not sent_all), response[:200]
        # an 8.4 MB Accept-Language arriving in one go, and a head just over the limit, exact count
        lang = b"GET / HTTP/1.1\r\nHost: t\r\nAccept-Language: " + b"de," * (2_800_000) + b"\r\n\r\n"
        assert _status(_request(port, lang)) in (431, None)
        over = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * (32 * 1024) + b"\r\nConnection: close\r\n\r\n"
        assert _status(_request(port, over)) == 431
        under = b"GET / HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * (30 * 1024) + b"\r\nConnection: close\r\n\r\n"
        assert _status(_request(port, under)) == 200


def test_too_many_header_fields_are_refused() -> None:
    with serving(Limits(max_headers=100)) as port:
        def head(n: int) -> bytes:
            fields = b"".join(b"X-%d: 1\r\n" % i for i in range(n - 2))
            return b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"Connection: close\r\n\r\n"

        assert _status(_request(port, head(100))) == 200
        refused = _request(port, head(101))
        assert _status(refused) == 431 and b"connection: close" in refused.lower()


def test_access_log_has_no_query_strings() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    logger = logging.getLogger("uvicorn.access")
    with serving(Limits(), access_log=True) as port:
        logger.addHandler(handler)
        try:
            response = _request(port, b"GET /v1/search?q=my+card+4111111111111111&lang=en HTTP/1.1\r\n"
                                      b"Host: t\r\nConnection: close\r\n\r\n")
            assert _status(response) == 200
            deadline = time.monotonic() + 5
            while not records and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            logger.removeHandler(handler)
    assert any("/v1/search" in line for line in records), records
    assert not any("4111" in line or "q=" in line or "?" in line for line in records), records
    assert any(isinstance(f, NoQueryStrings) for f in logger.filters)


def test_limits_from_the_environment() -> None:
    from kb.errors import KbError

    limits = Limits.from_env({"KB_MAX_HEADER_BYTES": "65536", "KB_MAX_HEADERS": "50", "KB_REQUEST_TIMEOUT": "2.5",
                              "KB_MAX_CONNECTIONS": "300"})
    assert limits == Limits(65536, 50, 2.5, 300) and limits.connections() == 300
    assert Limits.from_env({}) == Limits() and 64 <= Limits().connections() <= 2048
    with pytest.raises(KbError, match="KB_REQUEST_TIMEOUT"):
        Limits.from_env({"KB_REQUEST_TIMEOUT": "soon"})
    with pytest.raises(KbError, match="KB_MAX_HEADERS"):
        Limits.from_env({"KB_MAX_HEADERS": "0"})


def test_kb_serve_runs_this_config(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """`kb serve` passes uvicorn the limited protocol with its proxy headers off, and hands
    --forwarded-allow-ips to the app's security settings (the app is a stand-in here)."""
    import uvicorn
    from fastapi import FastAPI
    from typer.testing import CliRunner

    import kb.web.app
    from kb.cli import app as cli
    from kb.web.server import LimitedHttpTools

    monkeypatch.setenv("KB_FORWARDED_ALLOW_IPS", "")  # restored afterwards: serve sets it
    monkeypatch.setenv("KB_REQUEST_TIMEOUT", "7")
    seen: dict[str, object] = {}

    def fake_app(*_args: object, **_kwargs: object) -> FastAPI:
        import os

        seen["proxies"] = os.environ.get("KB_FORWARDED_ALLOW_IPS")
        made = FastAPI()
        made.state.store = None
        return made

    def fake_run(server: uvicorn.Server, *_args: object) -> None:
        seen["config"] = server.config

    monkeypatch.setattr(kb.web.app, "create_app", fake_app)
    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    result = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path), "--forwarded-allow-ips", "10.0.0.1",
                                      "--access-log"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert isinstance(config, uvicorn.Config) and seen["proxies"] == "10.0.0.1"
    assert config.proxy_headers is False and config.access_log is True
    assert isinstance(config.http, type) and issubclass(config.http, LimitedHttpTools)
    assert config.http.limits.request_timeout == 7.0
    assert "forwarded headers of 10.0.0.1" in result.stdout and "admin API off" in result.stdout
