"""A Ray cluster on this machine for the Ray test and benchmark: a head node and worker nodes,
each a `ray start --block` process group of our own on 127.0.0.1 with a small CPU count and
object store, its files in a temporary folder, stopped by killing exactly the groups started here
(never `ray stop`, which stops every Ray on the machine, another helper's too)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OBJECT_STORE = 100 * 2**20  # bytes a node's object store holds (Ray's least is about 75 MB)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_available() -> bool:
    """Ray with Ray Data installed (found, not imported: importing ray.data sets its logging up)."""
    return all(importlib.util.find_spec(name) is not None for name in ("ray", "pyarrow", "pandas"))


class LocalCluster:
    """`with LocalCluster(head_cpus=1) as c: c.add_worker(1); ... c.kill(c.workers[0])`; the
    folder (a new temporary one by default) is removed at the end."""

    def __init__(self, folder: Path | None = None, head_cpus: int = 1, env: dict[str, str] | None = None) -> None:
        # short paths: Ray's socket paths under it must stay under 107 bytes
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="kbray-"))
        self.head_cpus = head_cpus
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        ray = Path(sys.executable).with_name("ray")
        log = self.folder / f"{name}.log"
        self._logs.append(log)
        self.folder.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            return subprocess.Popen([str(ray), "start", "--block", "--disable-usage-stats", *args,
                                     f"--object-store-memory={OBJECT_STORE}", "--node-ip-address=127.0.0.1",
                                     f"--dashboard-agent-listen-port={free_port()}",
                                     f"--dashboard-agent-grpc-port={free_port()}",
                                     f"--metrics-export-port={free_port()}",
                                     f"--runtime-env-agent-port={free_port()}"],
                                    stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def __enter__(self) -> LocalCluster:
        temp = self.folder / "ray"  # the sockets' paths must stay short (107 bytes)
        self.head = self._start(["--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}",
                                 "--include-dashboard=false", f"--dashboard-port={free_port()}",
                                 f"--temp-dir={temp}"], "head")
        try:
            self.wait_nodes(1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def add_worker(self, cpus: int = 1) -> subprocess.Popen[bytes]:
        proc = self._start([f"--address={self.address}", f"--num-cpus={cpus}"], f"worker{len(self.workers)}")
        self.workers.append(proc)
        self.wait_nodes(1 + len(self.workers))
        return proc

    def alive_nodes(self) -> int:
        """Nodes the head counts as alive (`ray status`: one `node_...` line each under Active)."""
        out = subprocess.run([str(Path(sys.executable).with_name("ray")), "status", "--address", self.address],
                             capture_output=True, text=True, env=self.env, timeout=60)
        if out.returncode != 0:
            return 0
        active = out.stdout.partition("Active:")[2].partition("Pending:")[0]
        return sum(1 for line in active.splitlines() if "node_" in line)

    def wait_nodes(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.head is not None and self.head.poll() is not None:
                raise RuntimeError(f"the Ray head stopped: {self.tail()}")
            if self._gcs_up() and self.alive_nodes() >= count:
                return
            time.sleep(1)
        raise RuntimeError(f"Ray: {count} nodes not up after {timeout:.0f}s: {self.tail()}")

    def _gcs_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def tail(self) -> str:
        return " | ".join(p.read_text(errors="replace")[-600:].replace("\n", " ") for p in self._logs if p.exists())

    @staticmethod
    def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """The node's whole process group (ray start, raylet, its workers): a machine that dies."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        procs = [*self.workers, *([self.head] if self.head else [])]
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group's processes a graceful stop left (Ray's own take long to go)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)
