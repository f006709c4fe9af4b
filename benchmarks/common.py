"""Small pieces the benchmark sections share: paths, timing, ports, processes, embedder wrappers."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EVAL = ROOT.parent / "shared" / "eval"
SAMPLE = ROOT / "content"
INTENTS = ROOT / "benchmarks" / "bitext_intents.toml"
VENV_BIN = Path(sys.executable).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the one kb eval uses)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50": round(percentile(ms, 50), 2), "p95": round(percentile(ms, 95), 2),
            "p99": round(percentile(ms, 99), 2), "mean": round(sum(ms) / len(ms), 2) if ms else 0.0}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": mem_gib, "python": sys.version.split()[0],
            "load_at_start": [round(x, 2) for x in load]}


def rss_tree(pid: int) -> int:
    """Resident memory of a process and its children, in bytes (0 if it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return int(total)
    except psutil.Error:
        return 0


class PeakRss:
    """Samples a process's resident memory in a thread; `.peak` is the highest seen (bytes)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_tree(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = rss_tree(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.peak = max(self.peak, rss_tree(self.pid))


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate a process we started (and only it), then kill it if it does not exit."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[Any] | None = None,
              headers: dict[str, str] | None = None) -> float:
    """Poll `url` until it answers 200; returns the seconds waited. Raises if it never does."""
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2.0, headers=headers).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


class MemoEmbedder:
    """Wraps an embedder and remembers every vector it made in this process, so the ensemble
    run reuses the vectors the single-model runs already computed (same name and version, so
    indexes built through it are the real thing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self.seconds = 0.0
        self.encoded = 0

    def _encode(self, role: str, texts: list[str], fn: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (role, t) not in self._memo))
        if todo:
            started = time.perf_counter()
            vecs = fn(todo)
            self.seconds += time.perf_counter() - started
            self.encoded += len(todo)
            for text, vec in zip(todo, vecs, strict=True):
                self._memo[(role, text)] = np.asarray(vec, dtype=np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._memo[(role, t)] for t in texts])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode("q", texts, self.inner.encode_queries)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode("p", texts, self.inner.encode_passages)


class StandInEmbedder:
    """Pretends to be another embedder (same name, version and size) but returns pseudo-random
    unit vectors at once: used to time everything in an index build except the embedding itself
    when the real embedding would take hours. Vectors depend only on the text."""

    def __init__(self, like: Any) -> None:
        self.name, self.version, self.dim = like.name, like.version, like.dim

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    encode_passages = encode_queries


class TimedEmbedder:
    """Counts the time and passages an embedder spends in encode_passages."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim
        self.seconds = 0.0
        self.passages = 0

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.encode_passages(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.passages += len(texts)


class PhaseTimer:
    """Wraps functions (module or class attributes) with timers while active, to say where the
    time of a call such as build_index goes. Nested wrapped calls count in each phase."""

    def __init__(self, targets: dict[str, tuple[Any, str]]) -> None:
        self.targets = targets
        self.seconds: dict[str, float] = dict.fromkeys(targets, 0.0)
        self._saved: list[tuple[Any, str, Any]] = []

    @contextlib.contextmanager
    def active(self) -> Iterator[PhaseTimer]:
        for phase, (owner, attr) in self.targets.items():
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            self._saved.append((owner, attr, original))
            setattr(owner, attr, self._wrap(phase, original))
        try:
            yield self
        finally:
            for owner, attr, original in reversed(self._saved):
                setattr(owner, attr, original)
            self._saved.clear()

    def _wrap(self, phase: str, original: Any) -> Any:
        timer = self
        if isinstance(original, classmethod):
            func = original.__func__

            def cls_wrapper(cls: Any, *args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return func(cls, *args, **kwargs)
                finally:
                    timer.seconds[phase] += time.perf_counter() - started

            return classmethod(cls_wrapper)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds[phase] += time.perf_counter() - started

        return wrapper


def check_loopback(url: str) -> None:
    """The load generator only ever talks to this machine."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"{url}: benchmarks only send traffic to 127.0.0.1 / localhost / ::1")
