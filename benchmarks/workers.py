"""Workers: `kb serve --workers N` for N = 1 and 2 on this machine.

- Throughput: GET /v1/search at concurrency 1 and 8 (each connection replaced after RECONNECT
  searches) on the sample help center's index (the one the
  latency section serves), with the load generator of benchmarks/load.py on the same cores.
- Memory: each process's RSS, PSS and USS (psutil `memory_full_info`) after a warm-up load that
  has every worker search at a pace they keep up with (and again after the concurrency-8 run,
  which adds what requests in flight hold). Pages of the memory-mapped index count in the RSS of
  every process that touched them; PSS splits a shared page between the processes that map it,
  so the PSS of all processes added up is what the server costs the machine.
- What an index costs: the same on a synthetic help center of M articles × 7 locales
  (benchmarks/synth.py, stand-in vectors of the default ensemble's size, as the scale section
  builds it; the real ensemble embeds the queries): its total PSS minus the total PSS on the
  sample index, for N = 1 and N = 2. An index the scale section left in the work folder is reused.

    python benchmarks/workers.py [--quick] [--articles M]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import log  # noqa: E402

WORKERS = (1, 2)
# Each load connection is replaced after so many searches. The kernel hands a new connection to
# a worker by a hash (SO_REUSEPORT): 8 connections kept for a whole run fall 4/4 only about a
# quarter of the time, and one uneven split decided a run (1.79x and 1.54x, minutes apart, with
# 29.6/29.5 and 31.2/24.7 CPU seconds per worker). Shoppers' browsers open new connections all
# the time; this gives both worker counts the same many draws.
RECONNECT = 20


def process_memory(pid: int) -> list[dict[str, Any]]:
    """RSS, PSS and USS in MB of the server process and each of its children ("parent", "worker"
    for a worker of --workers, "helper" for others such as the watcher)."""
    import psutil

    parent = psutil.Process(pid)
    out = []
    for proc in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.cmdline())
            role = ("parent" if proc.pid == pid else "worker" if proc.name() == "kb-worker" or "spawn_main" in cmd
                    else "helper")
            try:
                full = proc.memory_full_info()
                mem = {"rss_mb": full.rss, "pss_mb": getattr(full, "pss", None), "uss_mb": full.uss}
            except psutil.AccessDenied:
                mem = {"rss_mb": proc.memory_info().rss, "pss_mb": None, "uss_mb": None}
            out.append({"pid": proc.pid, "role": role,
                        **{k: round(v / 2**20, 1) if v is not None else None for k, v in mem.items()}})
    return out


def serving(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The processes that answer requests: the workers, or the one process without --workers."""
    workers = [p for p in processes if p["role"] == "worker"]
    return workers or [p for p in processes if p["role"] == "parent"]


def totals(processes: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("rss_mb", "pss_mb", "uss_mb"):
        values = [p[key] for p in processes]
        out[key] = round(sum(values), 1) if all(v is not None for v in values) else None
    return out


def measure(data: Path, workers: int, queries: list[str], duration: float,
            concurrencies: tuple[int, ...]) -> dict[str, Any]:
    """Start `kb serve --workers N` on `data`, load it, and read every process's memory."""
    from benchmarks.load import KbServer, Req, run_load

    reqs = [Req("GET", "/v1/search", params={"q": q, "lang": "en", "k": 10}) for q in queries]
    out: dict[str, Any] = {"workers": workers, "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with KbServer(data, startup_timeout=1200, workers=workers) as server:
        assert server.proc is not None
        out["startup_s"] = round(server.startup_seconds, 1)
        out["idle"] = process_memory(server.proc.pid)
        # warm-up at a pace the server keeps up with (no request waits, none piles up), in short
        # rounds on new connections until every worker has searched (the kernel may hand one
        # worker all the connections of a round): the mapped pages it reads come in; then the
        # memory it keeps
        start, deadline = cpu_seconds(server.proc.pid), time.monotonic() + 60
        while True:
            run_load(server.url, reqs, 2 * workers, 0.5)
            now = cpu_seconds(server.proc.pid)
            busy = [now[p["pid"]] - start.get(p["pid"], 0.0) for p in serving(process_memory(server.proc.pid))]
            if min(busy) >= 1.0 or time.monotonic() > deadline:
                break
        processes = process_memory(server.proc.pid)
        cpu = cpu_seconds(server.proc.pid)
        cores = len(os.sched_getaffinity(0))
        for concurrency in concurrencies:
            log(f"workers: {workers} worker(s), search at concurrency {concurrency} for {duration:.0f}s")
            load_before, mine, wall = os.getloadavg()[0], time.process_time(), time.perf_counter()
            before = cpu_seconds(server.proc.pid)
            result = run_load(server.url, reqs, concurrency, duration, reconnect_every=RECONNECT).summary()
            spent, wall = time.process_time() - mine, time.perf_counter() - wall
            now = cpu_seconds(server.proc.pid)
            # the load generator (this process) and the server share the cores: their CPU shares
            # of the cores' time, and the rest (other processes on the machine), said beside it
            result["generator_cpu_share"] = round(spent / (wall * cores), 3)
            result["server_cpu_share"] = round(sum(now.get(p, 0.0) - before.get(p, 0.0) for p in now) / (wall * cores), 3)
            result["worker_cpu_s"] = sorted((round(now[p["pid"]] - before.get(p["pid"], 0.0), 1)
                                             for p in serving(process_memory(server.proc.pid)) if p["pid"] in now),
                                            reverse=True)
            result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            out[f"search@{concurrency}"] = result
        after = cpu_seconds(server.proc.pid)
        out["cpu_s_under_load"] = {str(pid): round(after.get(pid, 0.0) - cpu.get(pid, 0.0), 1) for pid in after}
        out["after_load"] = process_memory(server.proc.pid)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out["processes"] = processes
    out["total"] = totals(processes)
    out["per_worker"] = [{k: p[k] for k in ("rss_mb", "pss_mb", "uss_mb")} for p in serving(processes)]
    return out


def cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system) of the server process and each of its children."""
    import psutil

    out = {}
    parent = psutil.Process(pid)
    for proc in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
    return out


def synthetic_index(work: Path, n: int) -> tuple[Path, str]:
    """The data folder of a synthetic n × 7 index: the scale section's if it left one, else built
    here once (kept in the work folder for the next run)."""
    from kb.search.index import current_generation

    for data, origin in ((work / "scale" / str(n) / "data", "the scale section's"),
                         (work / "workers" / f"synth-{n}" / "data", "built by this section")):
        gen = current_generation(data)
        if gen is not None and json.loads((gen / "manifest.json").read_text()).get("passages"):
            return data, origin
    from benchmarks import synth
    from benchmarks.common import StandInEmbedder
    from kb.content.library import Library
    from kb.search.embedders import DEFAULT, get_embedder
    from kb.search.index import build_index

    base = work / "workers" / f"synth-{n}"
    log(f"workers: generating and indexing {n} × {len(synth.LOCALES)} synthetic articles (stand-in vectors)")
    synth.generate(base / "content", n)
    library = Library.load(base / "content", cache_dir=base / "data" / "cache")
    build_index(library, base / "data", StandInEmbedder(get_embedder(DEFAULT)))
    return base / "data", "built by this section"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def summarize(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """The issue's numbers: throughput of 2 workers over 1 at concurrency 8, memory of the second
    worker over the first (the server's total PSS with two workers, parent included, minus one
    process's, over one process's), what the synthetic index costs."""
    sample, synthetic = runs["sample"], runs.get("synthetic", {})
    one, two = sample[1], sample[2]
    out: dict[str, Any] = {
        "rps@8": {n: sample[n]["search@8"]["rps"] for n in WORKERS},
        "speedup@8": _ratio(two["search@8"]["rps"], one["search@8"]["rps"]),
        "errors": sum(r[f"search@{c}"]["errors"] for r in sample.values() for c in (1, 8) if f"search@{c}" in r),
    }
    for name, by_n in (("sample", sample), ("synthetic", synthetic)):
        if not by_n:
            continue
        # what the second worker costs the machine: the whole server's PSS with 2 workers (the
        # parent, which holds the models the workers share, included) minus one process's
        total = {n: by_n[n]["total"]["pss_mb"] for n in WORKERS}
        added = total[2] - total[1] if total[1] is not None and total[2] is not None else None
        workers_pss = totals(serving(by_n[2]["processes"]))["pss_mb"]
        out[name] = {"total_pss_mb": total,
                     "total_rss_mb": {n: by_n[n]["total"]["rss_mb"] for n in WORKERS},
                     "first_worker_pss_mb": total[1], "second_worker_added_pss_mb": round(added, 1) if added else None,
                     "extra_over_first": _ratio(added, total[1]),
                     "worker_uss_mb": [p["uss_mb"] for p in serving(by_n[2]["processes"])],
                     "parent_pss_mb": round(total[2] - workers_pss, 1)
                     if workers_pss is not None and total[2] is not None else None}
    if synthetic:
        out["index_cost_pss_mb"] = {n: round(synthetic[n]["total"]["pss_mb"] - sample[n]["total"]["pss_mb"], 1)
                                    if synthetic[n]["total"]["pss_mb"] is not None and sample[n]["total"]["pss_mb"]
                                    is not None else None for n in WORKERS}
    return out


def run(work: Path, quick: bool, articles: int | None = None) -> dict[str, Any]:
    from benchmarks.load import kb_serve_available, load_queries
    from benchmarks.quality import sample_index
    from kb.search.index import current_generation

    if not kb_serve_available():
        return {"skipped": "kb serve not available"}
    duration = 3.0 if quick else 30.0
    n = articles or (50 if quick else 1000)
    queries = load_queries(100 if quick else 2000)
    sample, _ = sample_index(work, quick)
    synthetic, origin = synthetic_index(work, n)
    gen = current_generation(synthetic)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    runs: dict[str, dict[int, dict[str, Any]]] = {"sample": {}, "synthetic": {}}
    for workers in WORKERS:
        runs["sample"][workers] = measure(sample, workers, queries, duration, (1, 8))
        runs["synthetic"][workers] = measure(synthetic, workers, queries, duration / 3, (8,))
    return {"duration_s": duration, "queries": len(queries),
            "synthetic_index": {"articles": len(manifest.get("articles", {})), "passages": manifest.get("passages"), "index_type": manifest.get("index_type"),
                                "n": n, "origin": origin},
            "runs": {name: {str(k): v for k, v in by_n.items()} for name, by_n in runs.items()},
            "summary": summarize(runs)}


# -- report -------------------------------------------------------------------------------------
def markdown(s: dict[str, Any]) -> list[str]:
    from benchmarks.report import _f, _table

    summary, syn = s.get("summary", {}), s.get("synthetic_index", {})
    lines = [f"`kb serve --workers N` on 127.0.0.1; GET /v1/search for {_f(s['duration_s'])} s at each concurrency "
             "(the load generator shares the cores). Memory after a warm-up in which every worker searched: RSS counts "
             "the mapped index in every process that touched it, PSS splits shared pages, USS is what a process "
             "alone holds.", ""]
    rows = []
    for name, label in (("sample", "sample help center"),
                        ("synthetic", f"synthetic {syn.get('n')} × 7 ({_f(syn.get('passages'))} passages, "
                                      f"{syn.get('index_type')})")):
        for n, r in sorted(s.get("runs", {}).get(name, {}).items()):
            per = serving(r["processes"])
            rows.append([label, n, r.get("search@1", {}).get("rps"), r.get("search@8", {}).get("rps"),
                         r.get("search@8", {}).get("p95_ms"),
                         " / ".join(_f(p["rss_mb"]) for p in per), " / ".join(_f(p["pss_mb"]) for p in per),
                         " / ".join(_f(p["uss_mb"]) for p in per), r["total"]["pss_mb"]])
    lines += _table(["index", "workers", "req/s @1", "req/s @8", "p95 ms @8", "RSS MB per worker",
                     "PSS MB per worker", "USS MB per worker", "total PSS MB (with parent)"], rows)
    lines += ["", f"2 workers over 1 at concurrency 8: {_f(summary.get('speedup@8'))}×; "
              f"the second worker adds {_f(summary.get('sample', {}).get('extra_over_first'))} of one process's PSS "
              f"(sample; total PSS with 2 workers and their parent minus one process's), "
              f"{_f(summary.get('synthetic', {}).get('extra_over_first'))} (synthetic); "
              f"the synthetic index costs {_f((summary.get('index_cost_pss_mb') or {}).get(1))} MB with one worker "
              f"and {_f((summary.get('index_cost_pss_mb') or {}).get(2))} MB with two (total PSS over the sample's)."]
    return lines


def console(s: dict[str, Any]) -> list[str]:
    summary = s.get("summary", {})
    if not summary:
        return [f"workers: skipped: {s['skipped']}"] if "skipped" in s else []
    return [f"workers: req/s at concurrency 8 {summary['rps@8']} (2 over 1: {summary['speedup@8']}x); second worker "
            f"adds {summary.get('sample', {}).get('extra_over_first')} of the first's PSS (sample), "
            f"{summary.get('synthetic', {}).get('extra_over_first')} (synthetic); synthetic index costs "
            f"{summary.get('index_cost_pss_mb')} MB PSS by worker count"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/workers.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 synthetic articles, 3 s loads")
    parser.add_argument("--articles", type=int, default=None, help="synthetic articles per locale (default 1000)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".work", help="scratch folder")
    parser.add_argument("--out", type=Path, default=None, help="write every number measured to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = run(args.work, args.quick, args.articles)
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(out.get("summary", out), indent=1))
    log(f"workers: done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
