"""A damaged index never reaches shoppers: `kb serve` refuses to start on one (one line, exit 1),
and a running server keeps answering from the generation it serves while /healthz says 503
and names the refused one, until a good generation comes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import DAMAGE, ROOT, damage, write_help_center

from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index, current_generation
from kb.web.app import create_app
from kb.web.security import SecurityConfig

FAST = "use-multilingual"
QUESTIONS = ["how do I cancel my order", "when will I get my refund", "pay with BLIK", "where is my parcel"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("integrity-web")
    content, data = write_help_center(root / "content"), root / "data"
    build_index(Library.load(content), data, get_embedder(FAST))
    return content, data


@pytest.mark.slow  # eleven `kb serve` processes
def test_kb_serve_refuses_to_start_on_each_damage_in_one_line(pristine: tuple[Path, Path], tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    runs: dict[str, tuple[subprocess.Popen[str], str, str]] = {}
    try:
        for n, kind in enumerate(DAMAGE):  # all at once: each is a new Python process
            data = tmp_path / kind
            shutil.copytree(pristine[1], data)
            gen = current_generation(data)
            assert gen is not None
            file = damage(gen, kind)
            proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--data", str(data), "--site",
                                     str(tmp_path / "no-site"), "--port", str(48100 + n)], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            runs[kind] = (proc, file, gen.name)
        for kind, (proc, file, name) in runs.items():
            out, err = proc.communicate(timeout=240)
            lines = err.strip().splitlines()
            assert proc.returncode == 1, (kind, out, err)
            assert len(lines) == 1 and lines[0].startswith("kb: error: ") and "Traceback" not in err, (kind, err)
            assert file in lines[0] and (file == "CURRENT" or f"generation {name} refused" in lines[0]), (kind, err)
    finally:
        for proc, _, _ in runs.values():  # one that started serving after all
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def _wait_for(client: TestClient, status: int, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/healthz")
        if response.status_code == status:
            return response.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)


def _edit(content: Path, words: str) -> None:
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("The code is valid", f"{words} The code is valid"))


@pytest.mark.parametrize("kind", ["scribble-faiss", "shuffle-passages", "drop-passages", "truncate-vectors",
                                  "empty-current"])
def test_a_running_server_keeps_answering_from_the_good_generation(pristine: tuple[Path, Path], tmp_path: Path,
                                                                   kind: str) -> None:
    content, data = tmp_path / "content", tmp_path / "data"
    shutil.copytree(pristine[0], content)
    shutil.copytree(pristine[1], data)
    good = current_generation(data)
    assert good is not None
    app = create_app(data, engine=Engine(data, reload_interval=0), log_queries=False, retention_days=None,
                     security=SecurityConfig(rate=0))
    with TestClient(app) as client:
        assert _wait_for(client, 200)["generation"] == good.name
        before = [client.get("/v1/search", params={"q": q, "lang": "en"}).json() for q in QUESTIONS]
        _edit(content, "Keep your banking app open.")
        newest = build_index(Library.load(content), data, get_embedder(FAST)).generation
        file = damage(data / "index" / newest, kind)
        health = _wait_for(client, 503)
        assert health["status"] == "degraded" and health["generation"] == good.name
        assert len(health["reasons"]) == 1 and file in health["reasons"][0]
        assert file == "CURRENT" or newest in health["reasons"][0]
        assert str(data) not in health["reasons"][0]  # no server path shown to the world
        for _ in range(5):  # every request answered whole, from the good generation
            after = [client.get("/v1/search", params={"q": q, "lang": "en"}) for q in QUESTIONS]
            assert all(r.status_code == 200 for r in after)
            assert [(r.json()["generation"], r.json()["decision"], [h["id"] for h in r.json()["hits"]])
                    for r in after] == [(b["generation"], b["decision"], [h["id"] for h in b["hits"]]) for b in before]
        assert client.post("/v1/answer", json={"question": "pay with BLIK"}).status_code == 200
        _edit(content, "It works on your phone.")
        fixed = build_index(Library.load(content), data, get_embedder(FAST)).generation
        health = _wait_for(client, 200)
        assert health["status"] == "ok" and health["reasons"] == [] and health["generation"] == fixed
