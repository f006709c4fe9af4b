"""Latency and load: `kb serve` (GET /v1/search, POST /v1/answer) and Typesense's search endpoint.

The load generator is bounded: asyncio with a minimal HTTP/1.1 client, 127.0.0.1 only, a fixed
number of concurrent workers for a fixed duration (and at most `max_requests` requests); it stops
by itself. Each worker sends the next query of a fixed list and waits for the answer (closed
loop), so requests/s is what the server sustains at that concurrency. The generator runs on the same 2 cores as the
server, so at concurrency 8 it takes CPU from the server it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from benchmarks.common import (
    EVAL,
    VENV_BIN,
    PeakRss,
    check_loopback,
    free_port,
    latency_summary,
    log,
    rss_tree,
    stop_process,
    wait_http,
)


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    requests: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ok = self.latencies_ms
        return {"concurrency": self.concurrency, "duration_s": round(self.duration_s, 2), "requests": self.requests,
                "errors": self.errors, "rps": round(self.requests / self.duration_s, 2) if self.duration_s else 0.0,
                "statuses": dict(sorted(self.statuses.items())), **{f"{k}_ms": v for k, v in latency_summary(ok).items() if k != "n"}}


class _Conn:
    """One keep-alive HTTP/1.1 connection, as lean as a client gets (asyncio streams, requests
    encoded up front), so the numbers are the server's and not the client's: httpx took ~2 ms
    of the 2 shared cores per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> int:
        reused = self.writer is not None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not reused or exc.partial:
                raise
            self.close()  # the server closed an idle kept-alive connection: once more on a new one
            return await self.send(raw)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        else:
            await self.reader.read()  # the body ends with the connection
            self.close()
        if fields.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()
        return int(status)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def encode_request(req: Req, host: str, headers: dict[str, str] | None) -> bytes:
    target = req.path + ("?" + urlencode(req.params) if req.params else "")
    body = json.dumps(req.json).encode() if req.json is not None else b""
    fields = {"Host": host, "Accept": "application/json", **(headers or {})}
    if req.json is not None:
        fields.update({"Content-Type": "application/json", "Content-Length": str(len(body))})
    head = f"{req.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("utf-8") + body


async def _load(base_url: str, requests: list[Req], concurrency: int, duration: float, *,
                headers: dict[str, str] | None, max_requests: int, timeout: float,
                reconnect_every: int = 0) -> LoadResult:
    check_loopback(base_url)
    if not requests:
        raise ValueError("no requests to send")
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    encoded = [encode_request(r, url.netloc, headers) for r in requests]
    result = LoadResult(concurrency=concurrency, duration_s=0.0)
    counter = 0
    started = time.perf_counter()
    deadline = started + duration
    conns = [_Conn(host, port) for _ in range(concurrency)]

    async def worker(conn: _Conn) -> None:
        nonlocal counter
        sent = 0
        while time.perf_counter() < deadline and counter < max_requests:
            if reconnect_every and sent and sent % reconnect_every == 0:
                conn.close()  # a new connection, as a new shopper's browser opens one
            sent += 1
            raw = encoded[counter % len(encoded)]
            counter += 1
            t0 = time.perf_counter()
            try:
                code = await asyncio.wait_for(conn.send(raw), timeout)
                status, ok = str(code), 200 <= code < 300
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                conn.close()
                status, ok = type(exc).__name__, False
            elapsed = (time.perf_counter() - t0) * 1000
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if ok:
                result.latencies_ms.append(elapsed)
            else:
                result.errors += 1

    # a worker still waiting at the deadline gets `timeout` more seconds, then is cancelled
    tasks = [asyncio.create_task(worker(c)) for c in conns]
    _done, pending = await asyncio.wait(tasks, timeout=duration + timeout + 1)
    for task in pending:
        task.cancel()
    for conn in conns:
        conn.close()
    result.duration_s = time.perf_counter() - started
    return result


def run_load(base_url: str, requests: list[Req], concurrency: int, duration: float, *,
             headers: dict[str, str] | None = None, max_requests: int = 1_000_000,
             timeout: float = 10.0, reconnect_every: int = 0) -> LoadResult:
    """Send `requests` round-robin from `concurrency` workers for `duration` seconds; stops by itself.
    `reconnect_every`: each worker opens a new connection after so many requests (0: one
    keep-alive connection each for the whole run)."""
    return asyncio.run(_load(base_url, requests, concurrency, duration, headers=headers,
                             max_requests=max_requests, timeout=timeout, reconnect_every=reconnect_every))


def load_queries(n: int, seed: int = 3) -> list[str]:
    from kb.search.evaluate import read_jsonl

    path = EVAL / "bitext-en" / "queries.jsonl"
    if path.is_file():
        rows = [q["query"] for q in read_jsonl(path)]
    else:  # without the shared sets: questions of the sample articles
        from benchmarks.common import SAMPLE
        from kb.content.library import Library

        rows = [q for a in Library.load(SAMPLE).articles if a.locale == "en" for q in a.meta.questions]
    return rows if len(rows) <= n else random.Random(seed).sample(rows, n)


def kb_serve_available() -> bool:
    kb = VENV_BIN / "kb"
    try:
        return subprocess.run([str(kb), "serve", "--help"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Every measured request embeds its query: the engine's query-vector cache is off in benchmarks
# (a shopper's repeated query would skip the embedder and flatter the numbers).
NO_QUERY_CACHE = {"KB_QUERY_CACHE": "0"}
# The load comes from 127.0.0.1, which the rate limiter no longer exempts: the server's own speed is measured.
NO_RATE_LIMIT = {"KB_RATE_LIMIT": "off"}


class KbServer:
    """`kb serve --data DIR --port P` as a subprocess on 127.0.0.1 (rate limit off, query cache off,
    plus `env`); always stopped on exit. With `workers` > 1, `--workers N`, and ready once every
    worker has started."""

    def __init__(self, data_dir: Path, startup_timeout: float = 300.0, env: dict[str, str] | None = None,
                 workers: int = 1) -> None:
        self.data_dir, self.startup_timeout, self.workers = data_dir, startup_timeout, workers
        self.env = {**os.environ, **NO_QUERY_CACHE, **NO_RATE_LIMIT, **(env or {})}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> KbServer:
        self._log = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "kb"), "serve", "--data", str(self.data_dir), "--port", str(self.port),
             "--host", "127.0.0.1", "--site", str(self.data_dir / "no-site"), "--workers", str(self.workers)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        try:
            self.startup_seconds = wait_http(f"{self.url}/healthz", self.startup_timeout, self.proc)
            while self.workers > 1 and self.output(None).count("Application startup complete") < self.workers:
                if self.proc.poll() is not None or time.perf_counter() - started > self.startup_timeout:
                    raise RuntimeError(f"kb serve --workers {self.workers} did not start: {self.output()}")
                time.sleep(0.2)
            self.startup_seconds = time.perf_counter() - started
        except BaseException:
            self.__exit__()
            raise
        return self

    def output(self, tail: int | None = 2000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return text[-tail:] if tail else text

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _measured(base: str, reqs: list[Req], pid: int, concurrency: int, duration: float,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    run_load(base, reqs[:20], 1, 2.0 if duration >= 10 else 0.5, headers=headers)  # warm-up
    with PeakRss(pid) as rss:
        result = run_load(base, reqs, concurrency, duration, headers=headers)
    out = result.summary()
    out["peak_rss_mb"] = round(rss.peak / 2**20, 1)
    return out


def time_engine(data_dir: Path, queries: dict[str, list[str]], seconds: float) -> dict[str, Any]:
    """The bare engine in this process (embed + search, no HTTP): search() and answer(), each on
    the queries given for it (those its API run sent, in the same order: same texts, same work)."""
    from kb.search.cache import QueryVectors
    from kb.search.engine import Engine

    engine = Engine(data_dir)
    engine.query_vectors = QueryVectors(0)  # as in the server (NO_QUERY_CACHE)
    engine.search("warm up", lang="en")
    out: dict[str, Any] = {}
    for name, call in (("search", lambda q: engine.search(q, lang="en", k=10)),
                       ("answer", lambda q: engine.answer(q, lang="en"))):
        times: list[float] = []
        end = time.perf_counter() + seconds
        for q in queries[name]:
            t0 = time.perf_counter()
            call(q)
            times.append((time.perf_counter() - t0) * 1000)
            if time.perf_counter() > end:
                break
        out[name] = latency_summary(times)
    return out


def run(work: Path, index_dir: Path, quick: bool, typesense: Any = None, library: Any = None) -> dict[str, Any]:
    duration = 3.0 if quick else 30.0
    queries = load_queries(100 if quick else 2000)
    out: dict[str, Any] = {"duration_s": duration, "queries": len(queries), "kb": {}, "typesense": {}, "engine": {}}
    if not kb_serve_available():
        out["skipped"] = "kb serve not available"
        return out
    serve_dir = work / "serve"
    shutil.rmtree(serve_dir, ignore_errors=True)
    shutil.copytree(index_dir / "index", serve_dir / "index", symlinks=True)
    search = [Req("GET", "/v1/search", params={"q": q, "lang": "en", "k": 10}) for q in queries]
    answer = [Req("POST", "/v1/answer", json={"question": q, "lang": "en"}) for q in queries]
    with KbServer(serve_dir) as server:
        assert server.proc is not None
        out["kb"]["startup_s"] = round(server.startup_seconds, 2)
        out["kb"]["idle_rss_mb"] = round(rss_tree(server.proc.pid) / 2**20, 1)
        for endpoint, reqs in (("search", search), ("answer", answer)):
            for concurrency in (1, 8):
                log(f"load: kb {endpoint} at concurrency {concurrency} for {duration:.0f}s")
                out["kb"][f"{endpoint}@{concurrency}"] = _measured(server.url, reqs, server.proc.pid, concurrency, duration)
    if typesense is not None and library is not None:
        from benchmarks.quality import typesense_docs

        typesense.create_collection("load", typesense_docs(library))
        ts_reqs = [Req("GET", "/collections/load/documents/search", params=typesense.search_params(q, per_page=10))
                   for q in queries]
        for concurrency in (1, 8):
            log(f"load: typesense search at concurrency {concurrency} for {duration:.0f}s")
            out["typesense"][f"search@{concurrency}"] = _measured(typesense.url, ts_reqs, typesense.proc.pid,
                                                                  concurrency, duration, headers=typesense.headers)
    log("load: bare engine timing")
    sent = {endpoint: queries[: max(out["kb"].get(f"{endpoint}@1", {}).get("requests", 0), 20)]
            for endpoint in ("search", "answer")}
    out["engine"] = time_engine(serve_dir, sent, 10.0 if quick else 60.0)
    ratios = {}
    for endpoint in ("search", "answer"):
        api = out["kb"].get(f"{endpoint}@1")
        eng = out["engine"].get(endpoint)
        if api and eng and eng["p50"]:
            ratios[endpoint] = {"p50": round(api["p50_ms"] / eng["p50"], 2), "p95": round(api["p95_ms"] / eng["p95"], 2)}
    out["api_over_engine"] = ratios
    return out
