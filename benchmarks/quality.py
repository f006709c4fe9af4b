"""Quality table: every set in ../shared/eval and the sample help center, every method.

Methods: Typesense (keyword search, default settings), BM25 alone (Engine mode lexical), each
embedder alone (Engine mode dense) and the default kb pipeline (ensemble, hybrid). Metrics come
from kb.search.evaluate.score_ranking; corpora become help centers through corpus_library and
are indexed with build_index, exactly as `kb eval` does.

Sample help center: Bitext's English shopper queries (../shared/eval/bitext-en) against
content/, gold = intent → article ids from benchmarks/bitext_intents.toml; and the same queries
against an in-memory copy of content/ that keeps only the English articles. Cross-lingual: the
titles and `questions` of the human translations (de, fr, es, it, pl, tr: how shoppers ask in
those languages) as queries against that English-only copy, gold = the article they belong to.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import EVAL, INTENTS, SAMPLE, MemoEmbedder, log
from kb.content.library import Library
from kb.content.locales import normalize_locale
from kb.content.text import plain
from kb.search.embedders import DEFAULT, Ensemble, get_embedder
from kb.search.engine import Engine
from kb.search.evaluate import KEYS, corpus_library, read_jsonl, score_ranking
from kb.search.index import build_index

EMBEDDERS = ("use-multilingual", "e5-small")
METHODS = ("typesense", "bm25", "use-multilingual", "e5-small", "kb")
METHOD_LABELS = {"typesense": "Typesense 0.24.1", "bm25": "BM25 alone", "use-multilingual": "USE alone (dense)",
                 "e5-small": "e5-small alone (dense)", "kb": "kb default (ensemble, hybrid)"}
QUICK_QUERIES = 200
QUICK_CORPUS = 400


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.fmean(r[k] for r in rows), 4) if rows else 0.0 for k in KEYS}


def aggregate(rows: list[tuple[str, dict[str, float]]]) -> dict[str, Any]:
    """[(query locale, scores)] → {"all": means, "by_locale": {locale: means}}."""
    per: dict[str, list[dict[str, float]]] = defaultdict(list)
    for locale, scores in rows:
        per[locale].append(scores)
    return {"all": mean_scores([s for _, s in rows]), "by_locale": {loc: mean_scores(r) for loc, r in sorted(per.items())}}


def bitext_gold(queries: list[dict[str, Any]], intents_path: Path = INTENTS) -> list[dict[str, Any]]:
    """Bitext queries with `relevant` mapped from intents to sample article ids."""
    intents = tomllib.loads(intents_path.read_text(encoding="utf-8"))["intents"]
    out = []
    for q in queries:
        gold = sorted({aid for intent in q["relevant"] for aid in intents.get(intent, [])})
        if gold:
            out.append({**q, "relevant": gold})
    return out


def english_only(library: Library) -> Library:
    source = library.config.source_locale
    return Library(root=library.root, config=library.config,
                   articles=[a for a in library.articles if a.locale == source])


class Embedders:
    """One memoizing wrapper per model for the whole run; the ensemble is built from them."""

    def __init__(self) -> None:
        self.parts = {name: MemoEmbedder(get_embedder(name)) for name in EMBEDDERS}
        real = get_embedder(DEFAULT)
        assert isinstance(real, Ensemble)
        ensemble = Ensemble([self.parts[p.name] for p in real.parts], list(real.weights), name=real.name)
        assert ensemble.version == real.version
        self.models: dict[str, Any] = {**self.parts, DEFAULT: ensemble}


def _sample(rows: list[Any], n: int, seed: int = 7) -> list[Any]:
    return rows if len(rows) <= n else random.Random(seed).sample(rows, n)


def load_sets(quick: bool) -> list[dict[str, Any]]:
    """The benchmark sets: each {name, description, library, queries, note}."""
    sets: list[dict[str, Any]] = []
    notes = "quick run: " if quick else ""
    for folder in sorted(p for p in EVAL.iterdir() if (p / "queries.jsonl").is_file()) if EVAL.is_dir() else []:
        corpus = read_jsonl(folder / "corpus.jsonl")
        queries = read_jsonl(folder / "queries.jsonl")
        note = ""
        if quick:
            queries = _sample(queries, QUICK_QUERIES)
            if len(corpus) > QUICK_CORPUS:
                needed = {str(r) for q in queries for r in q["relevant"]}
                keep = [d for d in corpus if str(d["id"]) in needed]
                rest = [d for d in corpus if str(d["id"]) not in needed]
                corpus = keep + _sample(rest, max(0, QUICK_CORPUS - len(keep)))
                note = f"{notes}corpus cut to {len(corpus)} documents (gold + random others)"
        library = corpus_library(corpus, {normalize_locale(q["locale"]) for q in queries}, folder.name)
        for q in queries:
            q["relevant"] = [str(r) for r in q["relevant"]]
        sets.append({"name": folder.name, "description": f"../shared/eval/{folder.name}", "library": library,
                     "queries": queries, "note": note})
    bitext = EVAL / "bitext-en" / "queries.jsonl"
    if bitext.is_file():
        queries = bitext_gold(read_jsonl(bitext))
        if quick:
            queries = _sample(queries, QUICK_QUERIES)
        sample = Library.load(SAMPLE)
        if not quick:
            sets.append({"name": "sample", "description": "bitext-en queries → content/ (7 locales)",
                         "library": sample, "queries": queries, "note": ""})
        sets.append({"name": "sample-en-only", "description": "bitext-en queries → content/ with English articles only",
                     "library": english_only(sample), "queries": queries,
                     "note": "quick run: the 7-locale sample is skipped (its ensemble index takes minutes)" if quick else ""})
    if SAMPLE.is_dir():
        sample = Library.load(SAMPLE)
        xling = translated_questions(sample)
        sets.append({"name": "sample-xling", "description": "translated titles and questions (de fr es it pl tr) → "
                     "content/ with English articles only", "library": english_only(sample),
                     "index": "sample-en-only", "queries": _sample(xling, QUICK_QUERIES) if quick else xling, "note": ""})
    return sets


def translated_questions(library: Library) -> list[dict[str, Any]]:
    """Titles and questions of the human or reviewed translations, as queries in their locale."""
    source = library.config.source_locale
    out = []
    for a in library.articles:
        if a.locale == source or a.review == "machine":
            continue
        for n, text in enumerate([a.title, *a.meta.questions]):
            out.append({"id": f"{a.locale}/{a.id}/{n}", "query": text, "locale": a.locale, "relevant": [a.id]})
    return out


def typesense_docs(library: Library) -> list[dict[str, Any]]:
    return [{"id": str(n), "article_id": a.id, "title": a.title, "body": plain(a.body), "locale": a.locale}
            for n, a in enumerate(library.articles)]


def run_engine(engine: Engine, queries: list[dict[str, Any]], label: str) -> tuple[list[tuple[str, dict[str, float]]], float]:
    rows = []
    started = time.perf_counter()
    for n, q in enumerate(queries, start=1):
        result = engine.search(q["query"], lang=q["locale"], k=10)
        rows.append((normalize_locale(q["locale"]), score_ranking([h.id for h in result.hits], set(q["relevant"]))))
        if n % 1000 == 0:
            log(f"  {label}: {n}/{len(queries)} queries")
    return rows, (time.perf_counter() - started) * 1000 / max(1, len(queries))


def index_dir(work: Path, set_name: str, model: str) -> Path:
    return work / "quality" / f"{set_name}-{model}"


def run(work: Path, quick: bool, typesense: Any = None, embedders: Embedders | None = None,
        only: set[str] | None = None) -> dict[str, Any]:
    """`only`: run just these sets (by name)."""
    embedders = embedders or Embedders()
    out: dict[str, Any] = {"methods": {m: METHOD_LABELS[m] for m in METHODS}, "sets": []}
    for spec in load_sets(quick):
        if only is not None and spec["name"] not in only:
            continue
        name, library, queries = spec["name"], spec["library"], spec["queries"]
        log(f"quality: {name}: {len(library.articles)} documents, {len(queries)} queries")
        entry: dict[str, Any] = {"name": name, "description": spec["description"], "n_queries": len(queries),
                                 "n_docs": len(library.articles), "note": spec["note"], "methods": {},
                                 "ms_per_query": {}, "index_seconds": {},
                                 "ran_at": dt.datetime.now().isoformat(timespec="seconds")}
        if typesense is not None:
            try:
                collection = f"q_{name.replace('-', '_')}"
                entry["index_seconds"]["typesense"] = round(typesense.create_collection(collection, typesense_docs(library)), 2)
                rows = []
                started = time.perf_counter()
                for q in queries:
                    ranked = typesense.search(collection, q["query"])
                    rows.append((normalize_locale(q["locale"]), score_ranking(ranked, set(q["relevant"]))))
                entry["ms_per_query"]["typesense"] = round((time.perf_counter() - started) * 1000 / max(1, len(queries)), 2)
                entry["methods"]["typesense"] = aggregate(rows)
                log(f"  {'typesense':18} mrr@10 {entry['methods']['typesense']['all']['mrr@10']:.4f}")
            except Exception as exc:  # noqa: BLE001 - one failed method must not lose the others
                entry["methods"]["typesense"] = {"error": f"{type(exc).__name__}: {exc}"}
        for model in (*EMBEDDERS, DEFAULT):
            data = index_dir(work, spec.get("index", name), model)  # the same library: the same index
            started = time.perf_counter()
            report = build_index(library, data, embedders.models[model])
            entry["index_seconds"][model] = round(time.perf_counter() - started, 2)
            log(f"  {model}: index {report.passages} passages in {report.seconds:.1f}s ({report.embedded} embedded)")
            runs = [("bm25", "lexical")] if model == EMBEDDERS[0] else []
            runs.append(("kb" if model == DEFAULT else model, "hybrid" if model == DEFAULT else "dense"))
            for method, mode in runs:
                engine = Engine(data, mode=mode)
                engine.embedder = embedders.models[model]  # same model and version; remembers query vectors
                rows, ms = run_engine(engine, queries, f"{name}/{method}")
                entry["methods"][method] = aggregate(rows)
                entry["ms_per_query"][method] = round(ms, 2)
                log(f"  {method:18} mrr@10 {entry['methods'][method]['all']['mrr@10']:.4f}")
        out["sets"].append(entry)
    out["embedding_seconds"] = {n: round(e.seconds, 1) for n, e in embedders.parts.items()}
    out["targets"] = targets(out)
    out["note"] = ("ms_per_query here is not a latency figure: query vectors are computed once per model and "
                   "reused by the ensemble run (see the latency section for timings)")
    return out


def merge(previous: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """`previous` quality results with the sets of `fresh` put in (same name: replaced)."""
    sets = {e["name"]: e for e in previous.get("sets", [])}
    sets.update({e["name"]: e for e in fresh["sets"]})
    out = {**previous, **{k: v for k, v in fresh.items() if k not in ("sets", "embedding_seconds")},
           "sets": [sets[name] for name in sorted(sets)]}
    out["targets"] = targets(out)
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per set: does kb beat Typesense and BM25, and match or beat the best single embedder (mrr@10)?"""
    checks = []
    for entry in result.get("sets", []):
        m = {k: v["all"]["mrr@10"] for k, v in entry["methods"].items() if "all" in v}
        if "kb" not in m:
            continue
        best_single = max((m[e] for e in EMBEDDERS if e in m), default=0.0)
        checks.append({"set": entry["name"], "kb": m["kb"], "typesense": m.get("typesense"), "bm25": m.get("bm25"),
                       "best_single_embedder": best_single,
                       "beats_keyword": all(m["kb"] > m[x] for x in ("typesense", "bm25") if x in m),
                       "matches_best_embedder": m["kb"] >= best_single - 0.005})
    return checks


def sample_index(work: Path, quick: bool, embedders: Embedders | None = None) -> tuple[Path, Library]:
    """The sample help center indexed with the default pipeline (the quality run's index, reused):
    all 7 locales in a full run, English only in a quick one."""
    library = Library.load(SAMPLE)
    name = "sample"
    if quick:
        library, name = english_only(library), "sample-en-only"
    data = index_dir(work, name, DEFAULT)
    model = embedders.models[DEFAULT] if embedders else get_embedder(DEFAULT)
    build_index(library, data, model)
    return data, library
