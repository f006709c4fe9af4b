"""Scale: index a synthetic help center of N articles × 7 locales (benchmarks/synth.py).

For each N: the full `build_index` (time, articles/s, where the time goes), an incremental
reindex after editing one article, the index size on disk, and `kb serve` on that index (start-up
time, search latency one request at a time, resident memory).

Embedding dominates on 2 CPU cores. The embedding throughput of each model is measured on a
sample of the help center's own passages; the full build uses the default ensemble when its
projected embedding time fits the budget (20 min), else the fast `use-multilingual`, else a
stand-in embedder that returns pseudo-random vectors at once under the default ensemble's name
and size, so every other phase (passages, embedding cache, FAISS, BM25, writing) is measured for
real, the embedding time is reported as projected from the measured throughput, and the
incremental reindex and `kb serve` then run the real default ensemble on that index.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kb.search.index.build as build_mod
import kb.search.index.layout as layout_mod
import kb.search.update as update_mod
from benchmarks import synth
from benchmarks.common import (
    PeakRss,
    PhaseTimer,
    StandInEmbedder,
    TimedEmbedder,
    dir_size,
    latency_summary,
    log,
    rss_tree,
)
from kb.content.library import Library
from kb.search.cache import EmbeddingCache
from kb.search.embedders import DEFAULT, get_embedder
from kb.search.index import build_index, current_generation, delta
from kb.search.passages import passages
from kb.search.update import update_index

# The embedding time a full build may take with the real ensemble before a faster stand-in is used.
# KB_SCALE_BUDGET_S raises it (issue 14 asks for one real 1,000 x 7 build: about an hour here).
BUDGET_S = float(os.environ.get("KB_SCALE_BUDGET_S") or 20 * 60)
QUICK_BUDGET_S = 90


def phase_timer() -> PhaseTimer:
    return PhaseTimer({
        "read previous index": (build_mod, "read_previous"),
        "split passages": (build_mod, "passages"),
        "embedding cache read": (EmbeddingCache, "get_many"),
        "embedding cache write": (EmbeddingCache, "put_many"),
        "assemble vectors": (build_mod, "assemble_vectors"),
        "FAISS build": (build_mod, "faiss_index"),
        "BM25 build and save": (build_mod, "write_lexical"),
        "write passages.jsonl": (build_mod, "write_passages"),
        "write articles.jsonl": (build_mod, "write_articles"),
        "fsync": (layout_mod, "fsync_dir"),
        "old generations (deleted in the background)": (layout_mod, "collect_garbage"),
    })


def timed_build(library: Library, data: Path, embedder: Any, label: str) -> dict[str, Any]:
    timed = TimedEmbedder(embedder)
    timer = phase_timer()

    with PeakRss(os.getpid()) as rss, timer.active():
        started, cpu0 = time.perf_counter(), os.times()
        report = build_index(library, data, timed)
        total, cpu1 = time.perf_counter() - started, os.times()
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    phases = {"embedding" + (" (stand-in vectors)" if isinstance(embedder, StandInEmbedder) else ""): timed.seconds,
              **timer.seconds}
    # old generations are deleted while the build runs: their time overlaps the others
    phases["other (passage keys, FAISS/npy write, manifest)"] = max(0.0, total - sum(
        v for k, v in phases.items() if "background" not in k))
    return {"embedder_label": label, "seconds": round(total, 2), "cpu_seconds": round(cpu_s, 1),
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "articles": report.articles,
            "articles_per_s": round(report.articles / total, 1) if total else None,
            "embedded": report.embedded, "reused": report.reused, "passages": report.passages,
            "index_type": report.index_type, "embedded_passages": timed.passages,
            "peak_rss_mb": round(rss.peak / 2**20, 1),
            "phases": {k: round(v, 2) for k, v in phases.items()}}


def throughput(texts: list[str], quick: bool) -> tuple[dict[str, float], int]:
    rng = random.Random(5)
    rates: dict[str, float] = {}
    sizes = {"use-multilingual": 64 if quick else 512, "e5-small": 16 if quick else 96}
    for name, n in sizes.items():
        sample = rng.sample(texts, min(n, len(texts)))
        model = get_embedder(name)
        model.encode_passages(sample[:4])  # warm-up
        started = time.perf_counter()
        model.encode_passages(sample)
        rates[name] = len(sample) / (time.perf_counter() - started)
    rates["ensemble"] = 1.0 / sum(1.0 / r for r in rates.values())
    return {k: round(v, 2) for k, v in rates.items()}, max(sizes.values())


def serve_probe(data: Path, queries: list[str], content: Path | None = None, embedder: Any = None,
                edit: int = 0) -> dict[str, Any]:
    """kb serve on the index: start-up, GET /v1/search one at a time, resident memory; then, with
    `content`, how long after an edit the server answers from an index that holds it (the
    update here, then the server's reload)."""
    import httpx

    from benchmarks.load import KbServer, kb_serve_available

    if not kb_serve_available():
        return {"skipped": "kb serve not available"}
    with KbServer(data, startup_timeout=1200) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert server.proc is not None
        for q in queries[:5]:
            client.get("/v1/search", params={"q": q, "lang": "en"})
        times, errors = [], 0
        for q in queries:
            t0 = time.perf_counter()
            r = client.get("/v1/search", params={"q": q, "lang": "en", "k": 10})
            times.append((time.perf_counter() - t0) * 1000)
            errors += r.status_code != 200
        s = latency_summary(times)
        out = {"startup_s": round(server.startup_seconds, 1), "n": s["n"], "p50_ms": s["p50"], "p95_ms": s["p95"],
               "p99_ms": s["p99"], "errors": errors, "server_rss_mb": round(rss_tree(server.proc.pid) / 2**20, 1)}
        if content is not None:
            synth.edit_article(content, edit)
            started = time.perf_counter()
            report = update_index(content, data, embedder).report
            out["edit_update_s"] = round(time.perf_counter() - started, 2)
            while client.get("/healthz").json().get("generation") != report.generation:
                if time.perf_counter() - started > 600:
                    out["edit_served_s"] = None
                    break
                time.sleep(0.02)
            else:
                out["edit_served_s"] = round(time.perf_counter() - started, 2)
            out["server_rss_after_edit_mb"] = round(rss_tree(server.proc.pid) / 2**20, 1)
        return out


def update_phases() -> PhaseTimer:
    return PhaseTimer({
        "scan files, read the changed ones and their groups": (update_mod, "_quick_library"),
        "load the whole help center": (Library, "load"),
        "read the live index (manifest, spans)": (build_mod, "read_previous"),
        "embedding": (build_mod, "embed"),
        "write the delta": (delta, "write"),
        "link the base's files": (delta, "link_base"),
        "flush and swap in": (build_mod, "swap_in"),
    })


def incremental(content: Path, data: Path, embedder: Any, runs: int = 5) -> dict[str, Any]:
    """One article edited, then the index updated, `runs` times over (one edit's time depends on
    how long its changed passages are): in this process with the model loaded (as `kb serve
    --watch` does), then once as the `kb index` command (a new process that imports kb and loads
    the model), then once reading the whole help center (as after a change to kb.toml)."""
    edits: list[dict[str, Any]] = []
    for i in range(runs):
        synth.edit_article(content, i)
        timer = update_phases()
        with timer.active():
            started = time.perf_counter()
            update = update_index(content, data, embedder)
            total = time.perf_counter() - started
        edits.append({"seconds": round(total, 2), "quick": update.quick, "files_read": update.read,
                      "embedded": update.report.embedded, "delta": "delta" in _live_manifest(data),
                      "phases": {k: round(v, 3) for k, v in timer.seconds.items() if v}})
    seconds = sorted(e["seconds"] for e in edits)
    out: dict[str, Any] = {"in_process": edits, "in_process_median_s": seconds[len(seconds) // 2],
                           "in_process_range_s": [seconds[0], seconds[-1]]}
    synth.edit_article(content, runs)
    cli = [str(Path(sys.executable).with_name("kb")), "index", "--content", str(content), "--data", str(data),
           "--embedder", embedder.name]
    started = time.perf_counter()
    done = subprocess.run(cli, capture_output=True, text=True, check=False)
    out["kb_index_command_s"] = round(time.perf_counter() - started, 2)
    if done.returncode != 0:
        out["kb_index_command_error"] = done.stderr[-500:]
    synth.edit_article(content, runs + 1)
    os.environ["KB_QUICK_INDEX"] = "0"
    try:
        timer = update_phases()
        with timer.active():
            started = time.perf_counter()
            update_index(content, data, embedder)
            out["whole_read_s"] = round(time.perf_counter() - started, 2)
        out["whole_read_phases"] = {k: round(v, 3) for k, v in timer.seconds.items() if v}
    finally:
        del os.environ["KB_QUICK_INDEX"]
    return out


def _live_manifest(data: Path) -> dict[str, Any]:
    gen = current_generation(data)
    return json.loads((gen / "manifest.json").read_text()) if gen else {}


def run_one(work: Path, n: int, quick: bool, queries: list[str]) -> dict[str, Any]:
    base = work / "scale" / str(n)
    shutil.rmtree(base, ignore_errors=True)
    content, data = base / "content", base / "data"
    out: dict[str, Any] = {"n": n, "locales": len(synth.LOCALES), "notes": []}
    started = time.perf_counter()
    counts = synth.generate(content, n)
    out["generate_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    library = Library.load(content, cache_dir=data / "cache")  # as `kb index` loads it
    out["load_s"] = round(time.perf_counter() - started, 1)
    out["articles"] = len(library.articles)
    out["files"] = counts["files"]
    texts = [p.embed_text for a in library.articles for p in passages(a)]
    out["passages"] = len(texts)
    log(f"scale {n}: {len(library.articles)} articles, {len(texts)} passages (generated in {out['generate_s']}s, "
        f"loaded in {out['load_s']}s)")
    rates, sample_n = throughput(texts, quick)
    out["throughput"] = {"sample_passages": sample_n, "passages_per_s": rates}
    embed_s = {k: round(len(texts) / v, 1) for k, v in rates.items()}
    budget = QUICK_BUDGET_S if quick else BUDGET_S
    if embed_s["ensemble"] <= budget:
        model, label = get_embedder(DEFAULT), "ensemble (default)"
    elif embed_s["use-multilingual"] <= budget:
        model, label = get_embedder("use-multilingual"), "use-multilingual"
        out["notes"].append(f"the ensemble would spend about {embed_s['ensemble'] / 60:.0f} min embedding, over the "
                            f"{budget / 60:.0f} min budget: the full build used use-multilingual")
    else:
        model, label = StandInEmbedder(get_embedder(DEFAULT)), "stand-in vectors (ensemble-sized)"
        out["notes"].append(f"even use-multilingual would spend about {embed_s['use-multilingual'] / 60:.0f} min embedding: "
                            "the full build used stand-in vectors (pseudo-random, instant) under the default ensemble's "
                            "name and size, so every other phase is measured, and the incremental reindex and kb serve "
                            "run the real ensemble; embedding time is projected from the measured throughput, and "
                            "search quality on this index means nothing (latency and memory do)")
    log(f"scale {n}: full build with {label} (projected embedding: " +
        ", ".join(f"{k} {v / 60:.1f} min" for k, v in embed_s.items()) + ")")
    build = timed_build(library, data, model, label)
    out["build"] = build
    embed_phase = next(v for k, v in build["phases"].items() if k.startswith("embedding"))
    non_embed = build["seconds"] - embed_phase
    real_rate = (build["embedded_passages"] / embed_phase
                 if embed_phase and not isinstance(model, StandInEmbedder) else None)
    out["projected"] = {"embed_s": embed_s, "non_embedding_s": round(non_embed, 1),
                        "build_embed_passages_per_s": round(real_rate, 2) if real_rate else None,
                        "ensemble_total_s": round(non_embed + embed_s["ensemble"], 1),
                        "use_total_s": round(non_embed + embed_s["use-multilingual"], 1)}
    gen = current_generation(data)
    out["index_mb"] = round(dir_size(gen) / 2**20, 1) if gen else None
    out["cache_mb"] = round(dir_size(data / "cache") / 2**20, 1)
    del library
    # incremental: an editor changes one article; the index is updated with the real embedder
    real = get_embedder(DEFAULT) if isinstance(model, StandInEmbedder) else model
    log(f"scale {n}: incremental reindex after one edit")
    out["incremental"] = incremental(content, data, real)
    log(f"scale {n}: kb serve on the index")
    out["query"] = serve_probe(data, queries, content, real, edit=10)
    if not quick:
        shutil.rmtree(content, ignore_errors=True)
    return out


def run(work: Path, sizes: list[int], quick: bool) -> dict[str, Any]:
    from benchmarks.load import load_queries

    queries = load_queries(30 if quick else 200, seed=9)
    runs = []
    for n in sizes:
        runs.append(run_one(work, n, quick, queries))
    return {"runs": runs, "budget_s": QUICK_BUDGET_S if quick else BUDGET_S}
