"""Fit the engine's confidence, pick its answer / clarify / handoff thresholds and its relevance
cut by measurement, per language (the selection rule is written in BENCHMARKS.md, "One decision
rule for all languages", before any of it was measured).

Questions and their sample-center indexes (built under --data; the embedding cache of one is
copied to the next, so only the first build embeds):
  - offtopic/<locale>: benchmarks/offtopic.toml against the sample help center as served
  - same/<locale>: every `questions` entry of the sample articles in that locale, against the
    sample with all questions removed (no question meets itself)
  - xling/<locale>: the same questions of de … tr against the English-only sample
  - bitext: ../shared/eval/bitext-en against the sample (gold via bitext_intents.toml)
  - shared-offtopic: xsid-xling and xquad-r-xling against the sample (no answer there)
  - shared/<set>: each shared set against its own corpus (the fit's in-domain right/wrong tops)
Each question's ranked articles (top 20, scores, no relevance cut) are saved to rows.json, so the
analysis (`--reuse`) can rerun without the models.

    python -m benchmarks.calibrate [--quick] [--reuse] [--skip-shared]

(as a module: run as a script, benchmarks/ comes first on the path and benchmarks/tokenizers.py
hides the `tokenizers` package that sentence-transformers imports)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.content.library import Library  # noqa: E402
from kb.search.cache import QueryVectors  # noqa: E402
from kb.search.detect import choose_locale  # noqa: E402
from kb.search.embedders import DEFAULT, get_embedder  # noqa: E402
from kb.search.engine import Engine  # noqa: E402
from kb.search.evaluate import corpus_library, read_jsonl  # noqa: E402
from kb.search.index import build_index  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
OFFTOPIC = ROOT / "benchmarks" / "offtopic.toml"
INTENTS = ROOT / "benchmarks" / "bitext_intents.toml"
DEPTH = 20


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sample(rows: list, n: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    return rows if len(rows) <= n else rng.sample(rows, n)


def ranked(engine: Engine, query: str, lang: str | None) -> dict[str, Any]:
    """The engine's ranking for one query: [[article id, fused score]] best first, no cut."""
    try:
        result = engine.search(query, lang=lang, k=DEPTH, cut=False)  # type: ignore[call-arg]
    except TypeError:  # the engine before the relevance cut
        result = engine.search(query, lang=lang, k=DEPTH)
    out: dict[str, Any] = {"ranked": [[h.id, h.score] for h in result.hits], "locale": result.locale}
    if hasattr(engine, "score_parts"):  # the two parts of the fused score, to vary their weight
        parts = engine.score_parts(query, result.locale)
        dense, lexical = parts if isinstance(parts, tuple) else (parts["dense"], parts["lexical"])
        out["dense"] = {aid: round(s, 5) for aid, s in dense.items()}
        out["lexical"] = {aid: round(s, 5) for aid, s in lexical.items() if aid in dense}
        if isinstance(parts, dict):  # dense over the articles' own text (no questions entries)
            out["content"] = {aid: round(s, 5) for aid, s in parts["content"].items()}
    return out


def detected(query: str, locales: list[str], engine: Engine) -> str:
    """The locale chosen for the query without `lang` or Accept-Language."""
    try:
        return choose_locale(query, None, None, locales, "en", engine.index.lexical)[0]
    except TypeError:  # before the help center's vocabulary took part
        return choose_locale(query, None, None, locales, "en")[0]


_VECTORS = QueryVectors(20_000)  # one query-vector cache for all the indexes (the same embedder)


def build(library: Library, data: Path, embedder: Any, seed_cache: Path | None) -> Engine:
    cache = data / "cache" / "embeddings.sqlite"
    if seed_cache is not None and seed_cache.is_file() and not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed_cache, cache)
    build_index(library, data, embedder)
    engine = Engine(data, reload_interval=1e9)
    engine.query_vectors = _VECTORS
    return engine


def without_questions(library: Library) -> Library:
    articles = [dataclasses.replace(a, meta=a.meta.model_copy(update={"questions": []})) for a in library.articles]
    return Library(root=library.root, config=library.config, articles=articles)


def english_only(library: Library) -> Library:
    source = library.config.source_locale
    return Library(root=library.root, config=library.config, articles=[a for a in library.articles if a.locale == source])


def halves(ids: list[str]) -> dict[str, str]:
    """Articles at odd positions of the sorted ids choose the constants, the others confirm."""
    return {aid: ("choose" if n % 2 == 0 else "confirm") for n, aid in enumerate(sorted(set(ids)))}


def eval_questions(full: Engine, quick: bool) -> list[dict[str, Any]]:
    """Bitext questions (gold via bitext_intents.toml) and off-topic shared-set questions against the sample."""
    rows: list[dict[str, Any]] = []
    if not EVAL.is_dir():
        return rows
    intents = tomllib.loads(INTENTS.read_text(encoding="utf-8"))["intents"]

    for q in sample(read_jsonl(EVAL / "bitext-en" / "queries.jsonl"), 100 if quick else 200):
        gold = sorted({a for intent in q["relevant"] for a in intents.get(intent, [])})
        if gold:
            rows.append({"group": "bitext", "locale": "en", "half": "fit", "query": q["query"], "gold": gold,
                         **ranked(full, q["query"], "en")})
    for name in ("xsid-xling", "xquad-r-xling"):
        for q in sample(read_jsonl(EVAL / name / "queries.jsonl"), 30 if quick else 60, seed=11):
            rows.append({"group": "shared-offtopic", "locale": q["locale"], "half": "fit", "query": q["query"],
                         "gold": [], **ranked(full, q["query"], None)})
    return rows


def collect(data: Path, quick: bool, skip_shared: bool, seed_cache: Path | None = None,
            per_locale: int | None = None, only_eval: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    embedder = get_embedder(DEFAULT)
    library = Library.load(ROOT / "content")
    locales = list(library.config.locales)
    half = halves([a.id for a in library.articles])
    cache = data / "sample" / "cache" / "embeddings.sqlite"

    say("indexing the sample")
    full = build(library, data / "sample", embedder, seed_cache)
    say("off-topic, Bitext and shared off-topic questions")
    offtopic = tomllib.loads(OFFTOPIC.read_text(encoding="utf-8"))
    for locale in locales if not only_eval else []:
        for n, query in enumerate(offtopic.get(locale, [])):
            rows.append({"group": "offtopic", "locale": locale, "half": "choose" if n % 2 == 0 else "confirm",
                         "query": query, "gold": [], **ranked(full, query, locale),
                         "detected": detected(query, locales, full)})
    rows += eval_questions(full, quick)
    if only_eval:
        return rows
    questions = [(a, q) for a in library.articles if a.review != "machine" for q in a.meta.questions]
    if per_locale:  # the same number per locale, drawn evenly from both halves
        picked = []
        for locale in locales:
            for which in ("choose", "confirm"):
                pool = [(a, q) for a, q in questions if a.locale == locale and half[a.id] == which]
                picked += sample(pool, per_locale // 2, seed=17)
        questions = picked
    say(f"{len(questions)} in-scope questions: same language")
    same = build(without_questions(library), data / "sample-no-questions", embedder, cache)
    for article, query in questions:
        rows.append({"group": "same", "locale": article.locale, "half": half[article.id], "query": query,
                     "gold": [article.id], **ranked(same, query, article.locale),
                     "detected": detected(query, locales, same)})
    say("in-scope questions: cross-lingual")
    xling = build(english_only(library), data / "sample-en-only", embedder, cache)
    for article, query in questions:
        if article.locale != library.config.source_locale:
            rows.append({"group": "xling", "locale": article.locale, "half": half[article.id], "query": query,
                         "gold": [article.id], **ranked(xling, query, article.locale)})

    if EVAL.is_dir() and not skip_shared:
        for name in ("bitext-en", "xsid-xling", "xquad-r-xling"):
            queries = sample(read_jsonl(EVAL / name / "queries.jsonl"), 60 if quick else 600, seed=13)
            corpus = corpus_library(read_jsonl(EVAL / name / "corpus.jsonl"), {q["locale"] for q in queries}, name)
            engine = build(corpus, data / name, embedder, None)
            for q in queries:
                rows.append({"group": f"shared/{name}", "locale": q["locale"], "half": "fit", "query": q["query"],
                             "gold": [str(r) for r in q["relevant"]], **ranked(engine, q["query"], q["locale"])})
    return rows


def main() -> None:
    global EVAL
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred queries (CI smoke run)")
    parser.add_argument("--reuse", action="store_true", help="analyse the saved rows.json again")
    parser.add_argument("--add-eval", action="store_true", help="collect the Bitext and shared off-topic questions into the saved rows.json")
    parser.add_argument("--skip-shared", action="store_true", help="leave out the shared sets' own corpora")
    parser.add_argument("--data", type=Path, default=ROOT / ".kb" / "calibrate")
    parser.add_argument("--eval", type=Path, default=EVAL, help="the shared eval sets (default: ../shared/eval)")
    parser.add_argument("--per-locale", type=int, help="in-scope questions per locale (default: all of them)")
    parser.add_argument("--seed-cache", type=Path, help="an embeddings.sqlite to start the sample's cache from")
    parser.add_argument("--collect-only", action="store_true", help="save rows.json, leave the analysis")
    parser.add_argument("--before", type=Path, help="rows.json of the engine before, for today's rates")
    parser.add_argument("--json", type=Path, help="write the analysis here as JSON")
    args = parser.parse_args()
    EVAL = args.eval
    if not EVAL.is_dir():
        say(f"{EVAL} not found: the Bitext and shared-set questions are left out (--eval names the folder)")
    saved = args.data / "rows.json"
    if args.reuse:
        rows = json.loads(saved.read_text(encoding="utf-8"))
    elif args.add_eval:  # the Bitext and shared off-topic questions, added to the saved rows
        rows = [r for r in json.loads(saved.read_text(encoding="utf-8")) if r["group"] not in ("bitext", "shared-offtopic")]
        rows += [r for r in collect(args.data, args.quick, True, args.seed_cache, only_eval=True) if r["group"] in ("bitext", "shared-offtopic")]
        saved.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    else:
        rows = collect(args.data, args.quick, args.skip_shared, args.seed_cache, 30 if args.quick else args.per_locale)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    if args.collect_only:
        return
    from benchmarks.decision import analyse

    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    report = analyse(rows, before)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
