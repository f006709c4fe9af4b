"""`kb serve --workers N`: N processes on one port forked from a parent that loaded the models,
sharing them and the memory-mapped index; connections spread over the workers (each its own
SO_REUSEPORT socket); one watcher; a dead worker replaced on its socket, the connections queued
there answered; nothing left behind on exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from helpers import write_help_center

import kb
from kb.cli.watch import rebuild
from kb.search.index import current_generation

psutil = pytest.importorskip("psutil")
ROOT = Path(kb.__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [p for p in parent.children() if p.name() == "kb-worker"]


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_two_workers_share_the_index_one_watches_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data, site = tmp_path / "data", tmp_path / "site"
    rebuild(content, data, site, "use-multilingual")
    first = current_generation(data)
    assert first is not None
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KB_QUERY_CACHE": "0", "KB_MAX_HEADERS": "20"}
    env.pop("KB_DATABASE_URL", None)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--data", str(data), "--content", str(content),
                                 "--site", str(site), "--port", str(port), "--workers", "2", "--watch",
                                 "--access-log"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def output() -> str:
            log.seek(0)
            return log.read().decode("utf-8", "replace")

        try:
            parent = psutil.Process(proc.pid)
            _wait(lambda: _answers(f"{base}/healthz") and len(_workers(parent)) == 2, 120, "two workers")
            _wait(lambda: output().count("Application startup complete") == 2, 120, "both workers started")
            workers = _workers(parent)
            faiss_file = str(first / "dense.faiss")
            for worker in workers:  # each worker maps the one index file: shared, not copied
                assert any(m.path == faiss_file for m in worker.memory_maps(grouped=True)), worker.pid
            assert not any(m.path == faiss_file for m in parent.memory_maps(grouped=True))  # the parent loads none
            cores = len(os.sched_getaffinity(0))
            for worker in workers:  # a lone query takes its share of the cores, not all of them
                assert f"kb worker [{worker.pid}]: {max(1, cores // 2)} thread(s)" in output(), output()

            cpu = {w.pid: sum(w.cpu_times()[:2]) for w in workers}
            queries = ["pay with BLIK", "where is my parcel", "Bestellung stornieren", "gift card balance"] * 20
            with ThreadPoolExecutor(8) as pool:  # a new connection each time: the kernel spreads them
                codes = list(pool.map(lambda q: httpx.get(f"{base}/v1/search", params={"q": q, "lang": "en"},
                                                          timeout=30).status_code, queries))
            assert codes == [200] * len(queries)
            for worker in workers:  # both served a share of the searches
                assert sum(worker.cpu_times()[:2]) - cpu[worker.pid] > 0.05, (worker.pid, cpu)
            searched = [line for line in output().splitlines() if "GET /v1/search" in line]
            assert searched and not any("q=" in line or "?" in line for line in searched), searched[:3]
            for _ in range(8):  # each worker has kb serve's request limits (KB_MAX_HEADERS=20 here)
                head = "".join(f"X-Pad-{i}: {i}\r\n" for i in range(30))
                with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                    conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
                    assert conn.recv(200).startswith(b"HTTP/1.1 431"), "a worker without the header limit"

            page = content / "en" / "payments" / "pay-with-blik.md"
            page.write_text(page.read_text().replace("two minutes", "ninety seconds"))
            _wait(lambda: "rebuilt:" in output(), 120, "the watcher's rebuild")
            second = current_generation(data)
            assert second is not None and second != first

            def all_on_second() -> bool:  # new connections reach either worker: all must be on it
                gens = {httpx.get(f"{base}/healthz", timeout=5).json()["generation"] for _ in range(12)}
                return gens == {second.name}
            _wait(all_on_second, 30, "both workers on the new generation")
            time.sleep(2)  # one watcher: a second one would have rebuilt (and said so) by now
            assert output().count("rebuilt:") == 1, output()

            victim = workers[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            _wait(lambda: len(_workers(parent)) == 2 and victim.pid not in {w.pid for w in _workers(parent)},
                  60, "a replacement worker")
            _wait(lambda: output().count("Application startup complete") == 3, 120, "the replacement started")
            assert httpx.get(f"{base}/v1/search", params={"q": "gift card", "lang": "en"}, timeout=30).status_code == 200
            left = _workers(parent)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        gone, alive = psutil.wait_procs(left, timeout=15)
        assert not alive, f"workers left running after the parent stopped: {[p.pid for p in alive]}"
        assert proc.returncode == 0, output()[-2000:]


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the parent no time to stop its workers: they notice and stop by themselves."""
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    rebuild(content, data, tmp_path / "site", "use-multilingual")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KB_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--data", str(data), "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    try:
        _wait(lambda: _answers(f"http://127.0.0.1:{port}/healthz") and len(_workers(parent)) == 2, 120, "two workers")
        workers = _workers(parent)
        time.sleep(1)  # past start-up, into serving
    finally:
        proc.kill()
        proc.wait(10)
    gone, alive = psutil.wait_procs(workers, timeout=20)
    for orphan in alive:  # clean up before failing
        orphan.kill()
    assert not alive, f"workers kept running without their parent: {[p.pid for p in alive]}"
    assert not _answers(f"http://127.0.0.1:{port}/healthz")


def test_workers_must_be_one_or_more_and_need_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb.cli import main

    assert main(["serve", "--workers", "0", "--data", str(tmp_path)]) == 2
    assert "'--workers': is 0" in capsys.readouterr().err
    assert main(["serve", "--workers", "2", "--data", str(tmp_path / "none")]) == 1  # before any worker starts
    assert "run 'kb index' first" in capsys.readouterr().err


def _smaps_rollup(pid: int) -> dict[str, int]:
    """A process's memory by kind, in bytes (Linux's /proc/PID/smaps_rollup)."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        out[name] = int(value.split()[0]) * 1024
    return out


def _held(worker: psutil.Process, port: int) -> int:
    """Client connections a worker has accepted on the port."""
    return sum(1 for c in worker.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED
               and c.laddr and c.laddr.port == port)


@pytest.mark.slow
def test_keep_alive_clients_reach_both_workers_models_are_shared_and_a_dead_workers_queue_survives(
        tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    rebuild(content, data, tmp_path / "site", "use-multilingual")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KB_QUERY_CACHE": "0", "KB_RATE_LIMIT": "100000"}
    env.pop("KB_DATABASE_URL", None)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--data", str(data), "--port", str(port),
                                 "--workers", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

        def output() -> str:
            log.seek(0)
            return log.read().decode("utf-8", "replace")

        clients: list[httpx.Client] = []
        try:
            parent = psutil.Process(proc.pid)
            _wait(lambda: output().count("Application startup complete") == 2, 180, "two workers")
            workers = _workers(parent)
            assert len(workers) == 2, output()
            assert "use-multilingual loaded once in the parent" in output()

            # 16 connections opened at once, as keep-alive clients open them: both workers accept
            # some (with one shared socket the first worker to wake accepted all of them)
            conns = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(16)]
            try:
                _wait(lambda: sum(_held(w, port) for w in workers) == 16, 30, "16 accepted connections")
                held = {w.pid: _held(w, port) for w in workers}
                assert min(held.values()) > 0, held
                for conn in conns:  # each then serves requests, kept alive
                    for _ in range(2):
                        conn.sendall(b"GET /v1/search?q=pay+with+BLIK&lang=en HTTP/1.1\r\nHost: x\r\n\r\n")
                        head = conn.recv(65536)
                        assert head.startswith(b"HTTP/1.1 200"), head[:200]
                        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                        body = head.split(b"\r\n\r\n", 1)[1]
                        while len(body) < length:
                            body += conn.recv(65536)
            finally:
                for conn in conns:
                    conn.close()

            # the models are the parent's pages, shared copy-on-write: a worker that has searched
            # shares with its parent dirty anonymous pages of at least USE's weights (a uint8
            # table of 65 MB and the dense layers); a spawned worker, loading its own, shares none
            for worker in workers:
                shared = _smaps_rollup(worker.pid)["Shared_Dirty"]
                assert shared > 60 * 2**20, (worker.pid, shared >> 20, _smaps_rollup(worker.pid))

            # a stopped worker's socket queues the connections the kernel hands it; killed, its
            # replacement (forked on the same socket, which the parent keeps open) answers them
            victim, other = workers
            victim.send_signal(signal.SIGSTOP)
            with ThreadPoolExecutor(16) as pool:
                pending = [pool.submit(lambda: httpx.get(f"{base}/v1/search", params={"q": "gift card", "lang": "en"},
                                                         timeout=120).status_code) for _ in range(16)]
                _wait(lambda: sum(f.done() for f in pending) >= 1, 60, "the running worker to answer")
                time.sleep(1)
                waiting = sum(not f.done() for f in pending)  # queued on the stopped worker's socket
                assert waiting > 0, "the kernel gave no connection to the stopped worker"
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
                codes = [f.result() for f in pending]
            assert codes == [200] * 16, codes
            assert f"worker [{victim.pid}] stopped (killed by signal 9)" in output()
            replacement = [w for w in _workers(parent) if w.pid not in (victim.pid, other.pid)]
            assert len(replacement) == 1

            # killed under load: only requests on the connections it held fail
            clients = [httpx.Client(base_url=base, timeout=60) for _ in range(12)]
            failures: list[float] = []
            stop_at = [time.monotonic() + 120.0]

            def shop(client: httpx.Client) -> int:
                done = 0
                while time.monotonic() < stop_at[0]:
                    started = time.monotonic()
                    try:
                        done += client.get("/v1/search", params={"q": "where is my parcel", "lang": "en"}).status_code == 200
                    except httpx.HTTPError:
                        failures.append(started)
                return done

            with ThreadPoolExecutor(12) as pool:
                runs = [pool.submit(shop, c) for c in clients]
                _wait(lambda: _held(replacement[0], port) > 0, 60, "connections on the next victim")
                time.sleep(1)
                held_by_victim = _held(replacement[0], port)
                replacement[0].send_signal(signal.SIGKILL)
                killed = time.monotonic()
                replacement[0].wait(10)
                _wait(lambda: len(_workers(parent)) == 2, 60, "a replacement worker")
                _wait(lambda: output().count("Application startup complete") == 4, 120, "the replacement started")
                stop_at[0] = time.monotonic() + 3
                served = sum(r.result() for r in runs)
            assert served > 0
            assert len(failures) <= held_by_victim, (failures, held_by_victim)
            assert not [t for t in failures if t > killed + 0.5], "a request sent after the kill failed"
        finally:
            for c in clients:
                c.close()
            with contextlib.suppress(psutil.Error):
                for w in _workers(psutil.Process(proc.pid)):
                    w.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        assert proc.returncode == 0, output()[-2000:]


def test_bind_gives_each_worker_a_socket_on_the_port_and_refuses_a_taken_port() -> None:
    from kb.cli.workers import bind
    from kb.errors import KbError

    sockets = bind("127.0.0.1", 0, 2)  # port 0: the first socket's port for all
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(sockets) == 2 and len(ports) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
        with pytest.raises(KbError, match=r"cannot listen on 127.0.0.1:\d+ .*choose another --port"):
            bind("127.0.0.1", ports.pop(), 2)  # another kb serve --workers would share it silently
    finally:
        for s in sockets:
            s.close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(KbError, match="cannot listen on"):
            bind("127.0.0.1", taken.getsockname()[1], 2)
