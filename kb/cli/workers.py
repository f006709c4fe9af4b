"""`kb serve --workers N`: N processes on one port, forked from a parent that loaded the models.

Models: the parent loads the index's embedder (USE's numpy arrays, e5's torch weights, cast to
bf16 where the CPU computes it) and runs nothing on it, then forks the workers: their pages are
the parent's, shared copy-on-write, and nobody writes them (inference reads weights; `gc.freeze`
keeps the collector off the parent's objects). The parent stays one thread that has started no
OpenMP team, torch thread pool or event loop, so a fork is safe at any time, also for a worker
that replaces a dead one (OpenBLAS and jemalloc, whose threads exist from import, handle fork
themselves). With CUDA, no preloading: a CUDA context does not survive fork, so each worker
loads its own models as it builds its app.

Connections: each worker listens on a socket of its own, all bound to the port with
SO_REUSEPORT, and the kernel spreads new connections over the sockets by a hash of their
addresses. (With one shared socket, the first worker to wake took every waiting connection,
so eight keep-alive connections opened at once all landed on one worker.) The parent keeps every
socket open: when a worker dies, the connections queued on its socket (handshake done, not yet
accepted) stay queued and its replacement, forked on the same socket, answers them; only the
connections the dead worker had accepted are lost. The index is memory-mapped (one copy in the
page cache whatever N is); each worker builds its app, with the request limits, proxy handling
and access log of one process (kb/web/server.py).

The parent: replaces a dead worker (after a pause if it died young), SIGHUP replaces the workers
one by one (each new one serving before the old one stops; models and code stay the parent's:
restart the service for new code), SIGINT/SIGTERM stop the workers gracefully. With --watch,
the one watcher is a forked child too (it embeds; the parent must not). A worker or watcher whose
parent is killed stops by itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from kb.errors import KbError

log = logging.getLogger("uvicorn.error")
WORKER_NAME, WATCHER_NAME = "kb-worker", "kb-watch"  # process names (ps, psutil's name())
BACKLOG = 2048
YOUNG_S = 5.0  # a worker that dies younger than this is replaced after a pause, not at once
GRACE_S = 30.0  # how long stopping workers get to finish their requests


def export(workers: int) -> None:
    """A query embedded alone takes cores ÷ N threads (KB_QUERY_THREADS, unless set), not every
    core as one process does, and idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE, unless set):
    set before the parent loads any library that reads them."""
    from kb.search.embedcore import QUERY_THREADS_ENV, _cores

    os.environ.setdefault(QUERY_THREADS_ENV, str(max(1, _cores() // workers)))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def preload(embedder: str) -> str:
    """Load the embedder in the parent for all workers to share; what was done, for the banner."""
    from kb.search.embedders import get_embedder, load_weights

    if embedder in ("e5-small", "ensemble") or embedder.startswith("st:"):
        from kb.search.e5torch import resolve_device

        if resolve_device(None) == "cuda":
            return f"each worker loads its own {embedder} (CUDA does not survive fork)"
    load_weights(get_embedder(embedder))
    import kb.web.app  # noqa: F401  (its imports too: shared, not imported N times)

    return f"{embedder} loaded once in the parent, shared by the workers"


def bind(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on host:port with SO_REUSEPORT; a clear error if the port is taken
    (also by another server with SO_REUSEPORT, which would otherwise share it silently)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # no SO_REUSEPORT: fails on any listener
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise KbError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port or --host") from exc
        port = port or probe.getsockname()[1]
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise KbError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port or --host") from exc
    return sockets


def _name(name: str) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _stop_with_parent(interval: float = 1.0) -> None:
    """A child whose parent is gone (killed with SIGKILL, no time to stop it) stops too,
    gracefully, instead of holding the port for ever."""
    parent = os.getppid()

    def check() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's shutdown: the requests in flight finish

    threading.Thread(target=check, name="kb-parent-check", daemon=True).start()


def _exit_on_term(_sig: int, _frame: object) -> None:
    sys.exit(0)


def fork(name: str, body: Callable[[], None]) -> int:
    """Run `body` in a forked child named `name`; its pid. The child never returns here."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _exit_on_term)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _name(name)
        _stop_with_parent()
        body()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BaseException:  # noqa: BLE001  (a child reports everything, then exits)
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve_on(sock: socket.socket, others: list[socket.socket], make_server: Callable[[], object],
             ready: int | None) -> None:
    """A worker's body: its own socket only, its app and server, a byte on `ready` once serving."""
    import uvicorn

    for other in others:
        if other is not sock:
            other.close()
    server = make_server()
    assert isinstance(server, uvicorn.Server)
    from kb.search.embedcore import query_cores, search_slots

    log.info("kb worker [%d]: %d thread(s) for a query embedded alone, %d searches at once", os.getpid(),
             query_cores(), search_slots())

    async def startup(sockets: list[socket.socket] | None = None, _orig=server.startup) -> None:  # noqa: ANN001
        await _orig(sockets)
        if ready is not None and server.started:
            os.write(ready, b"1")
            os.close(ready)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)


@dataclass
class Slot:
    sock: socket.socket
    pid: int = 0
    born: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """N workers (one per socket) and an optional watcher, all forked from this process."""

    def __init__(self, sockets: list[socket.socket], make_server: Callable[[], object],
                 watcher: Callable[[], None] | None = None) -> None:
        self.slots = [Slot(sock) for sock in sockets]
        self.make_server, self.watcher = make_server, watcher
        self.watcher_pid = 0
        self.retiring: set[int] = set()
        self.stopping = self.reloading = False

    def _start(self, slot: Slot, ready: int | None = None) -> int:
        socks = [s.sock for s in self.slots]
        pid = fork(WORKER_NAME, lambda: serve_on(slot.sock, socks, self.make_server, ready))
        slot.pid, slot.born = pid, time.monotonic()
        return pid

    def _start_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher_pid = fork(WATCHER_NAME, self.watcher)

    def _on_stop(self, _sig: int, _frame: object) -> None:
        self.stopping = True

    def _on_hup(self, _sig: int, _frame: object) -> None:
        self.reloading = True

    def run(self) -> None:
        gc.freeze()  # the parent's objects: the collector never writes to their (shared) pages
        log.info("Started parent process [%d], %d workers", os.getpid(), len(self.slots))
        previous = {sig: signal.signal(sig, handler) for sig, handler in
                    ((signal.SIGINT, self._on_stop), (signal.SIGTERM, self._on_stop), (signal.SIGHUP, self._on_hup))}
        try:
            for slot in self.slots:
                self._start(slot)
            self._start_watcher()
            while not self.stopping:
                self._reap()
                if self.reloading:
                    self.reloading = False
                    self._reload()
                time.sleep(0.2)
        finally:
            self._stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("Stopped parent process [%d]", os.getpid())

    def _reap(self) -> None:
        now = time.monotonic()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            self.retiring.discard(pid)
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.WEXITSTATUS(status)}")
            if pid == self.watcher_pid and not self.stopping:
                log.warning("kb: the watcher [%d] stopped (%s); starting another", pid, how)
                self._start_watcher()
            for slot in self.slots:
                if slot.pid == pid:
                    slot.pid = 0
                    young = now - slot.born < YOUNG_S
                    slot.restart_at = now + (1.0 if young else 0.0)
                    if not self.stopping:
                        log.warning("kb: worker [%d] stopped (%s); starting another on its socket%s",
                                    pid, how, " in 1 s" if young else "")
        if not self.stopping:
            for slot in self.slots:
                if slot.pid == 0 and time.monotonic() >= slot.restart_at:
                    self._start(slot)

    def _reload(self) -> None:
        """Each worker replaced in turn: the new one on the same socket first, serving, then the old
        one stopped (it finishes its requests)."""
        log.info("kb: SIGHUP: replacing the workers one by one")
        for slot in self.slots:
            old = slot.pid
            read, write = os.pipe()
            self._start(slot, write)
            os.close(write)
            started = select.select([read], [], [], 120)[0] and os.read(read, 1) == b"1"
            os.close(read)
            if not started:
                log.warning("kb: worker [%d] did not start; keeping [%d]", slot.pid, old)
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(slot.pid, signal.SIGKILL)
                    os.waitpid(slot.pid, 0)
                slot.pid = old
                continue
            if old:
                self.retiring.add(old)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(old, signal.SIGTERM)

    def _stop(self) -> None:
        self.stopping = True
        children = {s.pid for s in self.slots if s.pid} | self.retiring | ({self.watcher_pid} - {0})
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        while children and time.monotonic() < deadline:
            for pid in list(children):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0] == 0:
                        continue
                children.discard(pid)
            time.sleep(0.1)
        for pid in children:
            log.warning("kb: [%d] still running after %.0f s: killed", pid, GRACE_S)
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        for slot in self.slots:
            slot.sock.close()
