"""Soak test: `kb serve` on 127.0.0.1 under steady load for 10 minutes; memory must stay flat and
no request may fail.

    python benchmarks/soak.py                    # 600 s at 10 requests a second
    python benchmarks/soak.py --seconds 60       # a short run
    python benchmarks/soak.py --data .kb --rate 20 --json soak.json

The server gets its own query log (a temporary SQLite file), so the run leaves no trace in the
data folder. Without an index in --data, one is built from --content with the fast USE embedder
into a temporary folder. Requests mix search, answer, suggest, article and feedback calls, with
queries from ../shared/eval when present. Every --interval seconds the server's resident memory,
requests, errors and latency are printed. Bounded: the load stops after --seconds, and the
server is stopped whatever happens. Exit status 0 when there were no errors and memory grew by
at most --max-growth-mb from the first sample after warm-up to the last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
KB = [sys.executable, "-m", "kb.cli"]
FALLBACK_QUERIES = [("en", "How do I cancel my order?"), ("de", "Wo ist mein Paket?"), ("pl", "Jak zwrócić towar?"),
                    ("fr", "Quels moyens de paiement acceptez-vous ?"), ("it", "Quanto costa la spedizione?"),
                    ("es", "¿Cómo cambio mi dirección?"), ("tr", "Siparişimi nasıl iptal ederim?"),
                    ("en", "what is the weather tomorrow"), ("de", "Kann ich in Raten zahlen?")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/soak.py", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the steady load (default 600)")
    parser.add_argument("--rate", type=float, default=10.0, help="requests a second, all workers together")
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of load before the memory baseline")
    parser.add_argument("--max-growth-mb", type=float, default=30.0, help="allowed RSS growth after warm-up")
    parser.add_argument("--data", type=Path, default=ROOT / ".kb", help="index folder (default .kb)")
    parser.add_argument("--content", type=Path, default=ROOT / "content", help="content to index when --data has none")
    parser.add_argument("--json", type=Path, help="also write the samples and verdict as JSON here")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0 or args.workers < 1 or args.interval <= 0:
        parser.error("--seconds, --rate and --interval must be positive, --workers at least 1")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def queries() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, step in (("bitext-en", 20), ("xsid-xling", 5)):
        path = EVAL / name / "queries.jsonl"
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[::step]]
            out += [(r["locale"], r["query"][:500]) for r in rows if r["query"].strip()]
    return out or FALLBACK_QUERIES


def ensure_index(data: Path, content: Path, work: Path) -> Path:
    if (data / "index" / "CURRENT").is_file():
        return data
    target = work / "data"
    log(f"no index in {data}: indexing {content} with use-multilingual into {target}")
    subprocess.run([*KB, "index", "--content", str(content), "--data", str(target), "--embedder", "use-multilingual"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return target


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def add(self, ms: float, error: str | None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(ms)
            if error:
                self.errors += 1
                if len(self.examples) < 10:
                    self.examples.append(error)

    def take(self) -> tuple[int, int, list[float]]:
        with self.lock:
            out = (self.requests, self.errors, self.latencies)
            self.latencies = []
            return out


def one_request(http: httpx.Client, rng: random.Random, pool: list[tuple[str, str]], ids: list[str],
                locales: list[str]) -> httpx.Response:
    lang, text = rng.choice(pool)
    kind = rng.random()
    if kind < 0.5:
        params: dict[str, str | int] = {"q": text, "k": 5}
        if lang in locales:
            params["lang"] = lang
        return http.get("/v1/search", params=params)
    if kind < 0.7:
        return http.post("/v1/answer", json={"question": text})
    if kind < 0.85:
        return http.get("/v1/suggest", params={"q": text[: rng.randint(1, 12)].strip() or "a"})
    if kind < 0.95 and ids:
        return http.get(f"/v1/articles/{rng.choice(ids)}", params={"lang": rng.choice(locales)})
    if ids:
        return http.post("/v1/feedback", json={"article_id": rng.choice(ids), "locale": rng.choice(locales),
                                               "helpful": rng.random() < 0.7, "reason": "soak test"})
    return http.get("/v1/locales")


def worker(base: str, per_second: float, stop: threading.Event, tally: Tally, seed: int,
           pool: list[tuple[str, str]], ids: list[str], locales: list[str]) -> None:
    rng = random.Random(seed)
    gap = 1.0 / per_second
    next_at = time.monotonic() + rng.random() * gap
    with httpx.Client(base_url=base, timeout=30) as http:
        while not stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            next_at = max(next_at + gap, time.monotonic() - gap)  # steady rate; no burst to catch up
            started = time.perf_counter()
            try:
                response = one_request(http, rng, pool, ids, locales)
                error = None if response.status_code < 400 else f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            tally.add((time.perf_counter() - started) * 1000, error)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"kb serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"kb serve did not answer within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = ensure_index(args.data, args.content, work)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KB_DATABASE_URL": f"sqlite:///{work / 'soak.sqlite'}", "HF_HUB_OFFLINE": "1",
           "KB_RATE_LIMIT": os.environ.get("KB_RATE_LIMIT", "off")}
    server_log = (work / "server.log").open("wb")
    proc = subprocess.Popen([*KB, "serve", "--data", str(data), "--site", str(work / "no-site"), "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    samples: list[dict[str, Any]] = []
    tally = Tally()
    try:
        log(f"kb serve ready in {wait_ready(base, proc):.1f} s on {base}")
        # the server loads its models on the first search: do that before the clock and the memory baseline
        for _ in range(3):
            httpx.get(f"{base}/v1/search", params={"q": "warm-up", "k": 1}, timeout=300)
            httpx.post(f"{base}/v1/answer", json={"question": "warm-up"}, timeout=300)
        locales = [loc["code"] for loc in httpx.get(f"{base}/v1/locales").json()["locales"]]
        schema = httpx.get(f"{base}/openapi.json").json()
        ids = schema["components"]["schemas"]["FeedbackRequest"]["properties"]["article_id"].get("examples", [])
        pool = queries()
        memory = psutil.Process(proc.pid)
        per_worker = args.rate / args.workers
        threads = [threading.Thread(target=worker, args=(base, per_worker, stop, tally, n, pool, ids, locales), daemon=True)
                   for n in range(args.workers)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        log(f"steady load: {args.rate:g} requests/s from {args.workers} clients for {args.seconds:g} s")
        print(f"{'t s':>7}{'RSS MB':>9}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}", flush=True)
        end = started + args.seconds
        while True:
            now = time.monotonic()
            if now >= end or proc.poll() is not None:
                break
            time.sleep(min(args.interval, end - now))
            requests, errors, latencies = tally.take()
            row = {"t": round(time.monotonic() - started, 1), "rss_mb": round(memory.memory_info().rss / 2**20, 1),
                   "requests": requests, "errors": errors, "p50_ms": round(pct(latencies, 50), 1),
                   "p95_ms": round(pct(latencies, 95), 1)}
            samples.append(row)
            print(f"{row['t']:>7}{row['rss_mb']:>9}{requests:>10}{errors:>8}{row['p50_ms']:>9}{row['p95_ms']:>9}",
                  flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(35)
        alive = proc.poll() is None
        stop_process(proc)
        server_log.close()
    return verdict(args, samples, tally, alive, (work / "server.log").read_text(errors="replace")[-2000:])


def verdict(args: argparse.Namespace, samples: list[dict[str, Any]], tally: Tally, alive: bool,
            server_tail: str) -> dict[str, Any]:
    after = [s for s in samples if s["t"] >= args.warmup] or samples[-1:]
    growth = after[-1]["rss_mb"] - after[0]["rss_mb"] if after else 0.0
    ok = alive and tally.errors == 0 and growth <= args.max_growth_mb and tally.requests > 0
    return {"ok": ok, "seconds": args.seconds, "rate": args.rate, "workers": args.workers,
            "requests": tally.requests, "errors": tally.errors, "error_examples": tally.examples,
            "server_survived": alive, "rss_growth_mb": round(growth, 1), "max_growth_mb": args.max_growth_mb,
            "peak_rss_mb": max((s["rss_mb"] for s in samples), default=0.0), "samples": samples,
            "server_log_tail": server_tail if not ok else ""}


def soak_in_a_scratch_folder(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kb-soak-"))
    try:
        return soak(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(data: Path, quick: bool) -> dict[str, Any]:
    """The soak section of benchmarks/run.py: 10 minutes in a full run, 20 s in a quick one."""
    argv = ["--data", str(data)] + (["--seconds", "20", "--warmup", "5", "--interval", "5"] if quick else [])
    result = soak_in_a_scratch_folder(parse_args(argv))
    if not result["ok"]:
        raise RuntimeError(f"soak failed: {result['errors']} errors (e.g. {result['error_examples'][:2]}), "
                           f"RSS growth {result['rss_growth_mb']} MB, server survived: {result['server_survived']}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = soak_in_a_scratch_folder(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(f"soak {'passed' if result['ok'] else 'FAILED'}: {result['requests']} requests, {result['errors']} errors, "
          f"RSS growth after warm-up {result['rss_growth_mb']} MB (allowed {result['max_growth_mb']:g}), "
          f"peak {result['peak_rss_mb']} MB")
    for example in result["error_examples"]:
        print(f"  error: {example}")
    if result["server_log_tail"]:
        print("server log (end):\n" + result["server_log_tail"])
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
