"""Passages a second embedded through `kb index --ray`'s path with 1 and with 2 actor processes
(one thread each) on a Ray cluster on this machine (one head node with 2 CPUs,
benchmarks/raycluster.py), and, for reference, in this process as a local `kb index` embeds.

    python benchmarks/ray_embed.py [--quick] [--passages N] [--embedder NAME] [--json FILE]

Each run starts with an empty embedding cache and embeds the same batches (MOST passages each). `wall` counts from the run's start (the actors load
the embedder: seconds of it); `steady` from the first batch received to the last (the rate once
loaded). The load average is printed with every figure: other work on the machine takes cores
from the actors, and 2 actors on 2 cores need both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from benchmarks import synth  # noqa: E402
from benchmarks.common import log  # noqa: E402
from benchmarks.raycluster import LocalCluster, ray_available  # noqa: E402
from kb.content.library import Library  # noqa: E402
from kb.search.cache import EmbeddingCache  # noqa: E402
from kb.search.embedders import get_embedder  # noqa: E402
from kb.search.embedding import embed_missing  # noqa: E402
from kb.search.passages import passages  # noqa: E402

MOST = 16  # passages a batch: many batches, so that 2 actors share the work and a rate shows


def sample_passages(work: Path, count: int) -> dict[str, str]:
    """`count` distinct passages of a synthetic help center (benchmarks/synth.py), keyed by number."""
    articles = max(1, count // 40 + 1)
    while True:
        synth.generate(work / "content", articles)
        texts = sorted({p.embed_text for a in Library.load(work / "content").articles for p in passages(a)})
        if len(texts) >= count or articles > 10_000:
            break
        articles *= 2
    return {f"p{i}": t for i, t in enumerate(texts[:count])}


class Clock:
    """progress(done, total) that notes when each batch came."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.marks.append((time.perf_counter(), done))

    def rates(self) -> dict[str, Any]:
        (t0, _), (t_first, first), (t_end, done) = self.marks[0], self.marks[1], self.marks[-1]
        steady = (done - first) / (t_end - t_first) if t_end > t_first and done > first else None
        return {"passages": done, "seconds": round(t_end - t0, 2), "wall_per_s": round(done / (t_end - t0), 2),
                "steady_per_s": round(steady, 2) if steady else None}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(name: str, run: Any, missing: dict[str, str]) -> dict[str, Any]:
    clock = Clock()
    before = loadavg()
    out = run(missing, clock)
    assert len(out) == len(missing), f"{name}: {len(out)} of {len(missing)} embedded"
    row = {"run": name, **clock.rates(), "load_before": before, "load_after": loadavg()}
    log(f"{name}: {row['passages']} passages in {row['seconds']}s: {row['wall_per_s']}/s wall, "
        f"{row['steady_per_s']}/s steady; load average {before} -> {row['load_after']}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/ray_embed.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 48 passages")
    parser.add_argument("--passages", type=int, default=None, help="passages embedded a run (default 480)")
    parser.add_argument("--embedder", default="ensemble")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not ray_available():
        print("ray_embed: ray is not installed (pip install 'kb-helpcenter[ray]'): skipped")
        return 0
    count = args.passages or (48 if args.quick else 480)
    from kb.search.distributed import RayEmbedding

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kb-rayb-") as tmp:
        work = Path(tmp)
        missing = sample_passages(work, count)
        log(f"{len(missing)} passages, embedder {args.embedder}, {os.cpu_count()} cores, load average {loadavg()}")
        model = get_embedder(args.embedder, "cpu")
        env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with LocalCluster(head_cpus=2, env=env) as cluster:
            try:
                for actors in (1, 2):
                    ray_run = RayEmbedding(cluster.address, args.embedder, "cpu", actors=actors, threads=1, most=MOST)

                    def run(m: dict[str, str], clock: Clock, ray_run: RayEmbedding = ray_run,
                            actors: int = actors) -> dict[str, Any]:
                        cache = EmbeddingCache(work / f"ray{actors}.sqlite")
                        try:
                            return ray_run(m, model, cache, progress=clock)
                        finally:
                            cache.close()

                    rows.append(measure(f"ray, {actors} actor{'s' if actors > 1 else ''} x 1 thread", run,
                                        missing))
            finally:
                import ray

                ray.shutdown()

        def local(m: dict[str, str], clock: Clock) -> dict[str, Any]:
            cache = EmbeddingCache(work / "local.sqlite")
            try:
                return embed_missing(m, model, cache, progress=clock, most=MOST)
            finally:
                cache.close()

        rows.append(measure("local, this process (all cores)", local, missing))
    one, two = rows[0], rows[1]
    speedup = {key: round(two[key] / one[key], 2) if one[key] and two[key] else None
               for key in ("wall_per_s", "steady_per_s")}
    result = {"passages": len(missing), "embedder": args.embedder, "quick": args.quick, "runs": rows,
              "speedup_2_over_1": speedup, "target": ">= 1.7 (steady)"}
    print(f"{'run':36} {'passages/s wall':>16} {'steady':>8}  load average before -> after")
    for row in rows:
        print(f"{row['run']:36} {row['wall_per_s']:>16} {row['steady_per_s']:>8}  {row['load_before']} -> {row['load_after']}")
    print(f"2 actors / 1 actor: {speedup['steady_per_s']}x steady, {speedup['wall_per_s']}x wall (target >= 1.7x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
