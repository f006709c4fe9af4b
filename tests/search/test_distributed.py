"""`kb index --ray ADDRESS` (kb/search/distributed.py): the option's errors, and, on a Ray cluster
started here (a head and a worker node on 127.0.0.1, benchmarks/raycluster.py), the same index
as a local build and a build that outlives its worker node."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from kb.cli import main
from kb.errors import KbError
from kb.search import distributed
from kb.search.distributed import RayEmbedding, check_address

sys.path.insert(0, str(ROOT))
from benchmarks import synth  # noqa: E402
from benchmarks.raycluster import LocalCluster, ray_available  # noqa: E402

# -- the option -------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["127.0.0.1:6379", "head.example:6379", "ray://10.0.0.5:10001", "[::1]:6379",
                                  " auto "])
def test_addresses_ray_takes_pass(good: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name: object())
    assert check_address(good) == good.strip()


@pytest.mark.parametrize("bad", ["", "6379", "head", "head:", "head:0", "head:70000", "http://head:6379",
                                 "head:6379/x", "-h:1"])
def test_a_bad_address_is_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KbError, match="not a Ray cluster address"):
        check_address(bad)
    assert main(["index", "--ray", bad or " "]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'--ray'" in err and "ray start --head" in err


def test_ray_not_installed_names_the_fix(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(distributed.importlib.util, "find_spec", lambda name: None if name == "ray" else object())
    assert main(["index", "--ray", "127.0.0.1:6379"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'--ray'" in err and "pip install 'kb-helpcenter[ray]'" in err


def test_an_address_where_nothing_listens_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ray would retry it for minutes; kb checks the port first (one line, exit 1)."""
    import socket

    from helpers import write_help_center

    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KbError, match=f"--ray 127.0.0.1:{port}: nothing answers there"):
        distributed.reachable(f"127.0.0.1:{port}")
    if not importlib.util.find_spec("ray"):
        return
    content = write_help_center(tmp_path / "content")
    started = time.monotonic()
    code = main(["index", "-c", str(content), "-d", str(tmp_path / "data"), "--ray", f"127.0.0.1:{port}",
                 "-e", "e5-small-nano"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and time.monotonic() - started < 60
    assert err[-1].startswith(f"kb: error: --ray 127.0.0.1:{port}: nothing answers there")


def test_importing_kb_does_not_import_ray() -> None:
    code = ("import sys, kb.search.distributed, kb.cli, kb.search.index.build; "
            "print('ray' in sys.modules, 'ray.data' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.split() == ["False", "False"]


# -- on a cluster -----------------------------------------------------------------------------------


class LoggedHash:
    """Vectors from each text's hash, a little slowly; every passage it embeds is appended to
    `log` as `time, Ray node, text` (the actors run in other processes, some on the other node)."""

    name, version, dim = "hash-ray-test", "1", 16

    def __init__(self, log: str, delay: float = 0.25) -> None:
        self.log, self.delay = log, delay

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        started = time.time()
        node = ""
        if "ray" in sys.modules:
            import ray

            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
        time.sleep(self.delay)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write("".join(f"{started}\t{node}\t{t.replace(chr(10), ' ')}\n" for t in texts))
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.vstack(out)

    encode_queries = encode_passages


def make_logged(log: str) -> LoggedHash:
    return LoggedHash(log)


class CountingCache:
    """The build's embedding cache, with the time of every key's writes."""

    def __init__(self, cache: object, writes: dict[str, list[float]]) -> None:
        self._cache, self.writes = cache, writes

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        now = time.time()
        for key in items:
            self.writes.setdefault(key, []).append(now)
        self._cache.put_many(items)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cluster() -> object:
    if not ray_available():
        pytest.skip("ray is not installed (pip install 'kb-helpcenter[ray]'; scripts/setup installs it)")
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # as kb.search.distributed.connect sets them,
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray.data is first imported
    import ray
    import ray.cloudpickle

    # the actors import this module's test embedder from the pickle, and kb from this checkout
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    with LocalCluster(head_cpus=1, env={"PYTHONPATH": path}) as c:
        try:
            yield c
        finally:
            ray.shutdown()


@pytest.mark.slow
def test_the_same_index_as_a_local_build(cluster: LocalCluster, tmp_path: Path) -> None:
    """The default ensemble embeds on the cluster (one actor on the head, one thread) the batches
    a local build embeds. e5 runs in bfloat16 on this CPU (AMX), where one thread and two give
    results up to ~5e-4 apart for some batches (measured: the same thread count gives equal
    vectors), so: vectors within 2e-3 in the cache (float32) and the index (float16), and the
    same top 10 for every query."""
    from kb.content.library import Library
    from kb.search.cache import EmbeddingCache
    from kb.search.embedders import get_embedder
    from kb.search.embedding import embed_missing
    from kb.search.engine import Engine
    from kb.search.index import build_index

    synth.generate(tmp_path / "content", 3)
    library = Library.load(tmp_path / "content")
    model = get_embedder()
    local, remote = tmp_path / "local", tmp_path / "remote"
    build_index(library, local, model, embed_with=partial(embed_missing, most=16))  # the same batches
    report = build_index(library, remote, model, embed_with=RayEmbedding(cluster.address, "ensemble", "cpu",
                                                                          actors=1, most=16))
    assert report.embedded == len(library.articles) and report.passages > 40

    caches = [EmbeddingCache(d / "cache" / "embeddings.sqlite") for d in (local, remote)]
    keys = [k for (k,) in caches[0]._db.execute("SELECT key FROM emb")]
    assert len(keys) >= report.passages - 5  # passages of equal text share a key
    a, b = (c.get_many(keys, model.dim) for c in caches)
    assert a.keys() == b.keys() == set(keys)
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in keys)
    print(f"max abs diff of the float32 vectors: {diff:.3g}")
    assert diff <= 2e-3, f"vectors differ by {diff}"
    gen = [(d / "index" / (d / "index" / "CURRENT").read_text().strip()) for d in (local, remote)]
    v16 = [np.load(g / "vectors.npy") for g in gen]
    assert v16[0].shape == v16[1].shape and float(np.abs(v16[0].astype(np.float32) - v16[1]).max()) <= 2e-3

    engines = [Engine(d) for d in (local, remote)]
    queries = ["how do I cancel my order", "Wie lange dauert eine Rückerstattung?", "pay with a card",
               "où est mon colis", "zwrot pieniędzy", "change my delivery address", "invoice", "newsletter"]
    for q in queries:
        tops = [[(h.id, h.locale) for h in e.search(q, k=10).hits] for e in engines]
        assert tops[0] == tops[1], q
        assert tops[0], q


@pytest.mark.slow
def test_a_build_outlives_its_worker_node(cluster: LocalCluster, tmp_path: Path) -> None:
    """Two actors (one on the head, one on the worker node); the worker node is killed (its
    whole process group, as a machine that dies) once a third of the passages are in the cache.
    The build finishes on the head, every key is written to the cache once, and no passage is
    embedded again after its vector was in the cache (a batch in flight on the dead node may be)."""
    from kb.content.library import Library
    from kb.search.index import build_index, load_index

    cluster.add_worker(1)
    synth.generate(tmp_path / "content", 5)
    library = Library.load(tmp_path / "content")
    log = tmp_path / "encoded.log"
    log.touch()
    model = LoggedHash(str(log))
    writes: dict[str, list[float]] = {}
    texts: dict[str, str] = {}
    killed: list[float] = []
    nodes_before: set[str] = set()
    ray_embed = RayEmbedding(cluster.address, model.name, actors=2, most=4, make=partial(make_logged, str(log)))

    def progress(done: int, total: int) -> None:
        if killed or done < total / 3:
            return
        seen = {line.split("\t")[1] for line in log.read_text(encoding="utf-8").splitlines()}
        if len(seen) >= 2 or done >= 3 * total / 4:
            nodes_before.update(seen)
            cluster.kill(cluster.workers[0])
            killed.append(time.time())

    def embed_with(missing: dict[str, str], embedder: object, cache: object, **kw: object) -> dict[str, np.ndarray]:
        texts.update(missing)
        return ray_embed(missing, embedder, CountingCache(cache, writes), **kw)

    report = build_index(library, tmp_path / "data", model, progress=progress, embed_with=embed_with)

    assert killed, "the worker node was never killed"
    assert len(nodes_before) == 2, f"the worker node had embedded nothing before it was killed: {nodes_before}"
    assert report.passages == len(load_index(tmp_path / "data").passages) >= 60
    assert set(writes) == set(texts) and all(len(times) == 1 for times in writes.values())
    encoded: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        started, _node, text = line.split("\t", 2)
        encoded.setdefault(text, []).append(float(started))
    by_text = {t.replace("\n", " "): k for k, t in texts.items()}
    again = [t for t, times in encoded.items() if any(s > writes[by_text[t]][0] for s in times)]
    assert not again, f"{len(again)} passages embedded again after they were in the cache"
    assert set(encoded) == set(by_text)
    after = [s for times in encoded.values() for s in times if s > killed[0]]
    assert after, "nothing was embedded after the kill: the test killed the node too late"


@pytest.mark.parametrize(("device", "gpus", "size"), [("cuda", 1, 2), ("cpu", 0, 8), (None, 0, 8)])
def test_actors_take_a_gpu_each_with_cuda(device: str | None, gpus: int, size: int) -> None:
    """With --device cuda each actor asks Ray for a GPU and the pool has one actor a GPU; else
    one a CPU. (No GPU here: what is sent to Ray is checked, not a GPU run.)"""
    pytest.importorskip("ray.data")
    from types import SimpleNamespace

    sent: dict[str, object] = {}

    class Dataset:
        def map_batches(self, fn: object, **kw: object) -> Dataset:
            sent.update(kw)
            return self

        def iter_batches(self, **_kw: object) -> list[object]:
            return []

    fake = SimpleNamespace(data=SimpleNamespace(from_items=lambda rows, override_num_blocks: Dataset()),
                           cluster_resources=lambda: {"CPU": 8.0, "GPU": 2.0})
    run = RayEmbedding("127.0.0.1:6379", "use-multilingual", device=device, make=lambda: None)  # type: ignore[arg-type,return-value]
    assert list(run._stream(fake, {"a": "a text"}, "use", None)) == []
    assert sent["num_gpus"] == gpus and sent["num_cpus"] == 1
    assert sent["compute"].max_size == size  # type: ignore[attr-defined]
