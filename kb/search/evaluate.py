"""`kb eval`: retrieval quality of the real engine on a set in the shared eval format.

A set is a folder with `corpus.jsonl` ({id, locale, title, body}) and `queries.jsonl`
({id, locale, query, relevant: [corpus ids]}). The corpus becomes an in-memory help center,
is indexed with the same code as `kb index`, and every query goes through `Engine.search`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb.content.article import Article, FrontMatter
from kb.content.config import Category, Config
from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError
from kb.search import calibration
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index

KEYS = ("recall@1", "recall@5", "mrr@10", "ndcg@10")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise KbError(f"{path}: not found; an eval set needs corpus.jsonl and queries.jsonl")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise KbError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
    return rows


def corpus_library(corpus: list[dict[str, Any]], extra_locales: set[str], name: str) -> Library:
    """An in-memory help center holding the corpus documents as articles."""
    locales: list[str] = []
    articles: list[Article] = []
    today = dt.date.today()
    for doc in corpus:
        try:
            locale = normalize_locale(doc["locale"])
            meta = FrontMatter.model_construct(id=str(doc["id"]), title=str(doc.get("title") or ""),
                                               category="eval", tags=[], questions=[], updated=today,
                                               source_locale=None, source_hash=None, review=None,
                                               reviewed_by=None, reviewed_on=None)
        except (KeyError, UnknownLocale) as exc:
            raise KbError(f"corpus document {doc.get('id')!r}: {exc}") from exc
        locales.append(locale)
        articles.append(Article(meta=meta, body=str(doc.get("body") or ""), locale=locale,
                                path=Path(f"{locale}/eval/{doc['id']}.md")))
    source = max(set(locales), key=locales.count) if locales else "en"
    all_locales = [source] + sorted((set(locales) | extra_locales) - {source})
    config = Config(name=name, source_locale=source, locales=all_locales,
                    categories={"eval": Category(title={source: "eval"})})
    return Library(root=Path("."), config=config, articles=articles)


def score_ranking(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    first = next((i for i, aid in enumerate(ranked[:10]) if aid in relevant), None)
    dcg = sum(1.0 / math.log2(i + 2) for i, aid in enumerate(ranked[:10]) if aid in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return {
        "recall@1": float(len(set(ranked[:1]) & relevant) / len(relevant)),
        "recall@5": float(len(set(ranked[:5]) & relevant) / len(relevant)),
        "mrr@10": 0.0 if first is None else 1.0 / (first + 1),
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.fmean(r[k] for r in rows), 4) if rows else 0.0 for k in KEYS}


def sample_queries(queries: list[dict[str, Any]], per_locale: int, seed: int) -> list[dict[str, Any]]:
    """A fixed sample: `per_locale` queries of each query locale (all of a locale that has fewer),
    drawn with `seed` from the queries ordered by id, so the same set and seed give the same sample."""
    by_locale: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in queries:
        by_locale[normalize_locale(q["locale"])].append(q)
    rng = random.Random(seed)
    chosen: list[dict[str, Any]] = []
    for locale in sorted(by_locale):
        group = sorted(by_locale[locale], key=lambda q: str(q["id"]))
        chosen += group if len(group) <= per_locale else rng.sample(group, per_locale)
    return chosen


def evaluate(dataset: Path, data_dir: Path, embedder: str, *, mode: str = "hybrid", limit: int | None = None,
             sample: int | None = None, seed: int = 0,
             on_result: Callable[[dict[str, Any], Any], None] | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Index the set's corpus in `data_dir` (reusing cached embeddings) and score every query."""
    dataset = Path(dataset)
    corpus = read_jsonl(dataset / "corpus.jsonl")
    queries = read_jsonl(dataset / "queries.jsonl")
    if sample is not None:
        if sample < 1:
            raise KbError(f"--sample {sample}: give the number of queries per locale, 1 or more")
        queries = sample_queries(queries, sample, seed)
    if limit is not None:
        queries = queries[:limit]
    query_locales = {normalize_locale(q["locale"]) for q in queries}
    library = corpus_library(corpus, query_locales, dataset.name)
    build_index(library, data_dir, get_embedder(embedder))
    ranking = calibration.run(Engine(data_dir, calibrated=False)).summary()  # as kb index does: the set's own questions, if any
    engine = Engine(data_dir, mode=mode)
    per_locale: dict[str, list[dict[str, float]]] = defaultdict(list)
    rows: list[dict[str, float]] = []
    latencies: list[float] = []
    for n, q in enumerate(queries, start=1):
        result = engine.search(q["query"], lang=q["locale"], k=10)
        latencies.append(result.took_ms)
        scores = score_ranking([h.id for h in result.hits], {str(r) for r in q["relevant"]})
        rows.append(scores)
        per_locale[normalize_locale(q["locale"])].append(scores)
        if on_result:
            on_result(q, result)
        if progress and (n % 200 == 0 or n == len(queries)):
            progress(n, len(queries))
    latencies.sort()
    return {
        "dataset": dataset.name,
        "embedder": engine.embedder.name,
        "mode": mode,
        "n_queries": len(queries),
        "sample": {"per_locale": sample, "seed": seed} if sample is not None else None,
        "all": _mean(rows),
        "by_locale": {loc: _mean(r) for loc, r in sorted(per_locale.items())},
        "ranking": ranking,
        "latency_ms": {"p50": round(_pct(latencies, 50), 2), "p95": round(_pct(latencies, 95), 2)},
    }


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, math.ceil(pct / 100 * len(values)) - 1))
    return values[index]


def format_table(report: dict[str, Any]) -> str:
    drawn = report.get("sample")
    sampled = f" (a sample: {drawn['per_locale']} per locale, seed {drawn['seed']})" if drawn else ""
    lines = [f"{report['dataset']}: {report['n_queries']} queries{sampled}, embedder {report['embedder']}, "
             f"mode {report['mode']}",
             f"{'locale':10}" + "".join(f"{k:>11}" for k in KEYS)]
    for name, row in [("all", report["all"]), *report["by_locale"].items()]:
        lines.append(f"{name:10}" + "".join(f"{row[k]:>11.4f}" for k in KEYS))
    if report.get("ranking"):
        lines.append(report["ranking"])
    lat = report["latency_ms"]
    lines.append(f"latency in the engine: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
    return "\n".join(lines)
