"""Embedding on a Ray cluster: what `kb index --ray ADDRESS` does with the passages the cache lacks.

The driver (the machine running `kb index`) cuts the missing passages into the batches a local
build would embed (kb/search/embedding.py `batch_order`), one Ray Data row a batch, and maps
them with an actor pool: each actor builds the embedder once (the whole ensemble, on `--device`,
one GPU an actor when that is cuda), embeds a batch at a time and returns one row a passage
(cache key, vector, the embedder's name@version:dim). The driver reads the rows as they come
(`iter_batches`), checks the embedder is the one it would use itself, and puts every batch into
the embedding cache at once, under the keys a local build uses, with the same progress display.

Ray does not run a task again (max_restarts=0, max_task_retries=0): when a node dies, Ray's own
recovery would also embed again the batches whose results the driver already holds (their
objects are lost with the node). The run fails instead, and the driver sends the passages still
missing as a new run to the nodes left, so nothing in the cache is embedded twice; after RETRIES
failed runs in a row that brought nothing it stops with an error. What was received is in the
cache either way, and the next `kb index` embeds only the rest.

`ray` is imported only when a run starts: `import kb.search.distributed` costs nothing.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from kb.errors import KbError
from kb.search.cache import EmbeddingCache
from kb.search.embedders import Embedder, get_embedder
from kb.search.embedding import batch_order, reporting

RETRIES = 2  # runs sent again in a row, with what is still missing, when one failed and brought nothing
INSTALL = "pip install 'kb-helpcenter[ray]' (the same kb and ray versions on every node)"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_ADDRESS = re.compile(rf"(?:ray://)?{_HOST}:(\d{{1,5}})")


def check_address(value: str) -> str:
    """The address as Ray takes it (`auto`, HOST:PORT of the head's GCS, or ray://HOST:PORT of a
    Ray Client server); KbError for anything else or when ray is not installed."""
    address = value.strip()
    if address != "auto":
        m = _ADDRESS.fullmatch(address)
        if m is None or not 0 < int(m.group(1)) < 65536:
            raise KbError(f"{value!r} is not a Ray cluster address: give HOST:PORT of the head node "
                          "(what `ray start --head` prints, e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    if importlib.util.find_spec("ray") is None:
        raise KbError(f"ray is not installed here: {INSTALL}")
    return address


def identity(embedder: Embedder) -> str:
    """What must be equal on the driver and on every actor: the cache keys and the index use it."""
    return f"{embedder.name}@{embedder.version}:{embedder.dim}"


class EmbedActor:
    """One process of the pool: the embedder built once, then a batch a call. A run uses a
    subclass that holds `make` and `threads` (`actor_class`): constructor arguments would sit in
    the object store, and an actor restarted after they were lost could not start."""

    make: Callable[[], Embedder]
    threads: int = 1

    def __init__(self) -> None:
        # kb/search/embedcore.py: the threads of the CPUs Ray reserved, not of the machine
        os.environ["KB_EMBED_THREADS"] = str(self.threads)
        self.embedder = type(self).make()
        self.identity = identity(self.embedder)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys: list[str] = []
        blocks: list[np.ndarray] = []
        for row_keys, row_texts in zip(batch["keys"], batch["texts"], strict=True):
            keys.extend(str(k) for k in row_keys)
            blocks.append(np.asarray(self.embedder.encode_passages([str(t) for t in row_texts]), dtype=np.float32))
        vectors = np.vstack(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
        return {"key": np.array(keys, dtype=object), "vector": vectors,
                "model": np.array([self.identity] * len(keys), dtype=object)}


@dataclass
class RayEmbedding:
    """Has embed_missing's signature: `update_index(..., embed_with=RayEmbedding(...))`.

    `actors`: the pool's largest size (default: the cluster's CPUs / `threads`, or its GPUs with
    cuda, when the run starts); `threads`: the CPUs Ray reserves for an actor, and the threads it
    embeds with."""

    address: str
    name: str
    device: str | None = None
    actors: int | None = None
    threads: int = 1
    most: int | None = None  # passages a batch at most (default embedding.BATCH_MOST)
    make: Callable[[], Embedder] | None = None  # how an actor builds its embedder (tests give their own)
    log: Callable[[str], None] | None = None

    def __call__(self, missing: dict[str, str], embedder: Embedder, cache: EmbeddingCache, *, cached: int = 0,
                 progress: Callable[[int, int], None] | None = None,
                 most: int | None = None) -> dict[str, np.ndarray]:
        total = len(missing)
        out: dict[str, np.ndarray] = {}
        with reporting(progress, out, total, cached):
            ray = connect(self.address)
            want = identity(embedder)
            failures = 0  # runs in a row that failed without a passage received
            while len(out) < total:
                left = {k: t for k, t in missing.items() if k not in out}
                before = len(out)
                try:
                    for keys, vectors in self._stream(ray, left, want, most or self.most):
                        fresh = {k: v for k, v in zip(keys, vectors, strict=True) if k not in out}
                        cache.put_many(fresh)
                        out.update(fresh)
                        if progress:
                            progress(len(out), total)
                except KbError:
                    raise
                except Exception as exc:  # noqa: BLE001 - Ray raises many kinds when a run fails
                    failures = failures + 1 if len(out) == before else 1
                    if failures > RETRIES:
                        raise KbError(f"--ray {self.address}: the cluster failed {failures} times in a row "
                                      f"({_first_line(exc)}); the {len(out)} passages received are in the "
                                      "embedding cache, run kb index again for the rest") from exc
                    self._say(f"--ray: the run failed ({_first_line(exc)}); sending the "
                              f"{total - len(out)} passages still missing again")
                    del exc
                    ray = reconnect(self.address)
        return out

    def _stream(self, ray: Any, missing: dict[str, str], want: str,
                most: int | None) -> Iterator[tuple[list[str], np.ndarray]]:
        from ray.data import ActorPoolStrategy

        rows = [{"keys": keys, "texts": [missing[k] for k in keys]} for keys in batch_order(missing, most=most)]
        gpu = (self.device or "").lower() == "cuda"
        size = self.actors or pool_size(ray, gpu, self.threads)
        make = self.make or partial(get_embedder, self.name, self.device)
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        with warnings.catch_warnings():  # Ray 2.60 deprecates extra actor options; its own code still reads them
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(actor_class(make, self.threads), batch_size=1, batch_format="numpy",
                                compute=ActorPoolStrategy(min_size=1, max_size=size, initial_size=size,
                                                            max_tasks_in_flight_per_actor=2),
                                num_cpus=self.threads, num_gpus=1 if gpu else 0,
                                # a task is not run again by Ray: a result the driver already holds
                                # would be embedded again when its node dies (lineage reconstruction);
                                # the driver sends what is missing instead (__call__)
                                max_restarts=0, max_task_retries=0)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            models = set(batch["model"].tolist())
            if models - {want}:
                raise KbError(f"--ray: the cluster embeds with {', '.join(sorted(models - {want}))}, this machine "
                              f"with {want}: install the same kb, packages and models on every node")
            yield [str(k) for k in batch["key"]], np.asarray(batch["vector"], dtype=np.float32)

    def _say(self, line: str) -> None:
        (self.log or partial(print, file=sys.stderr, flush=True))(line)


def reconnect(address: str) -> Any:
    """After a failed run: leave the cluster and join it again as a new job. A failed Ray Data
    run can leave an actor alive (seen with 2.60: a pool actor holding its CPU, so the next
    run's pool never starts); Ray ends every actor of a job whose driver has gone."""
    import ray

    ray.shutdown()
    gc.collect()
    return connect(address)


def actor_class(make: Callable[[], Embedder], threads: int) -> type[EmbedActor]:
    return type("EmbedActor", (EmbedActor,), {"make": staticmethod(make), "threads": threads})


def pool_size(ray: Any, gpu: bool, threads: int = 1) -> int:
    """Actors the cluster holds now: one a CPU (one a GPU with cuda), at least one."""
    resources = ray.cluster_resources()
    return max(1, int(resources.get("GPU", 1) if gpu else resources.get("CPU", 1) // threads))


def connect(address: str) -> Any:
    """ray, connected to the cluster at `address` (once a process), with Ray's own chatter off."""
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # Ray Data's "execution finished" and such
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report (nor its Prometheus queries)
    import ray

    if not ray.is_initialized():
        reachable(address)  # Ray itself retries an address where nothing listens for minutes
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise KbError(f"--ray {address}: cannot reach a Ray cluster there ({_first_line(exc)}): start one "
                          "with `ray start --head` and give the address it prints") from exc
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # kb's own progress display shows the passages done
        ctx.print_on_execution_start = False
        # an actor that dies while loading the embedder (placed on a node that is dying) is replaced,
        # three times in a row at most, rather than failing the run
        ctx.max_consecutive_actor_init_deaths = 3
    return ray


def reachable(address: str, timeout: float = 10.0) -> None:
    """KbError unless something accepts a TCP connection at HOST:PORT (`auto` is not checked)."""
    m = _ADDRESS.fullmatch(address)
    if m is None:
        return
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    try:
        with socket.create_connection((host, int(m.group(1))), timeout=timeout):
            return
    except OSError as exc:
        raise KbError(f"--ray {address}: nothing answers there ({exc.strerror or exc}): start the head with "
                      "`ray start --head` and give the address it prints") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
