"""Learning from resolved searches (issue 15, item 4): does a replayed search history raise
bitext-en's mrr@10 on queries it has not seen?

    python benchmarks/learned_questions.py [--quick] [--eval ../shared/eval] [--clients 2]

The split (stated before measuring): the queries are ordered by the SHA-256 of their id and the
first half is the history, the second half the test. (Not the file order: queries.jsonl is grouped
by intent, so its first half would hold only half of the intents.) --quick takes the first 600
history and 200 test queries in that order: a smoke run. (With 150 history queries, 15 questions
reached 11 of the 27 articles and mrr@10 fell 0.07: articles that gained questions drew queries
away from those without. See BENCHMARKS.md.)

1. The corpus becomes an in-memory help center as in `kb eval` (kb/search/evaluate.py) and is
   indexed with the real code; every test query is searched: the baseline.
2. Each history query is searched once and logged in a real analytics store (SQLite in a temp
   folder, or --db URL) once per simulated client: --clients N distinct pseudonymous clients per
   query ("replay-1-<id>", "replay-2-<id>", ...: N different shoppers asking it), each search 10
   minutes after the previous one. A client opens the gold article when the search shows it
   (POST /click in the API: Store.record_click) and never searches again: a resolved search.
   When the gold article is not among the hits, nothing is opened: no evidence.
3. The real rule: Store.resolved_searches, kb/analytics/questions.py suggest + auto (kb.toml's
   [questions] defaults: min 2 clients, accept at 3 clients and confidence 0.8, 10 per article),
   decisions written to learned-questions.toml, attached by kb/content/learned.py, indexed again.
4. The test half is searched on the new index: the gain. The same steps with an empty store give
   the control: it must equal the baseline exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import EVAL  # noqa: E402

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
QUICK_HISTORY, QUICK_TEST = 600, 200  # fewer history queries leave most articles without questions


def split(queries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ordered = sorted(queries, key=lambda q: hashlib.sha256(str(q["id"]).encode()).hexdigest())
    half = len(ordered) // 2
    return ordered[:half], ordered[half:]


def evaluate(engine: Any, queries: list[dict[str, Any]]) -> dict[str, float]:
    from kb.search.evaluate import KEYS, score_ranking

    rows = [score_ranking([h.id for h in engine.search(q["query"], lang=q["locale"], k=10).hits],
                          {str(r) for r in q["relevant"]}) for q in queries]
    return {k: round(statistics.fmean(r[k] for r in rows), 4) for k in KEYS}


def query_vectors(embedder: Any, texts: list[str]) -> Any:
    """One cache of query vectors for every engine here, filled in batches (the engine embeds a
    query alone, much slower on a CPU); batched vectors equal single ones up to float rounding."""
    from kb.search.cache import QueryVectors
    from kb.search.engine import normalize_query

    keys = list(dict.fromkeys(normalize_query(t) for t in texts))
    cache = QueryVectors(len(keys) + 1)
    for i in range(0, len(keys), 64):
        part = keys[i:i + 64]
        for key, vec in zip(part, embedder.encode_queries(part), strict=True):
            cache.get(key, lambda _t, v=vec: v)
    return cache


def build(corpus: list[dict[str, Any]], root: Path, data: Path, embedder: Any, cache: Any) -> tuple[Any, Any]:
    """The corpus as a help center whose learned questions come from `root`/learned-questions.toml."""
    from kb.content.learned import attach_learned
    from kb.search.engine import Engine
    from kb.search.evaluate import corpus_library
    from kb.search.index import build_index

    library = corpus_library(corpus, {"en"}, "bitext-en")
    problems = attach_learned(library.articles, root)
    if problems:
        raise SystemExit(f"learned questions: {problems[0]}")
    build_index(library, data, embedder)
    engine = Engine(data)
    engine.query_vectors = cache
    return library, engine


def replay(store: Any, engine: Any, history: list[dict[str, Any]], clients: int) -> dict[str, int]:
    shown = opened = 0
    at = T0
    for q in history:
        hits = [h.id for h in engine.search(q["query"], lang=q["locale"], k=10).hits]
        gold = next((str(r) for r in q["relevant"] if str(r) in hits), None)
        shown += gold is not None
        for c in range(1, clients + 1):
            sid = uuid.uuid4().hex
            store.log_query(endpoint="search", locale="en", query=q["query"], decision="answer", confidence=0.5,
                            top_ids=hits, top_scores=[0.0] * len(hits), served_machine=False, served_fallback=False,
                            generation="replay", search_id=sid, tracks_clicks=True, client=f"replay-{c}-{q['id']}",
                            at=at)
            at += dt.timedelta(minutes=10)
            if gold is not None:
                opened += store.record_click(sid, gold)
    return {"history_queries": len(history), "gold_shown": shown, "searches": len(history) * clients,
            "opened": opened}


def learn(store: Any, library: Any, root: Path, embedder: Any, end: dt.datetime) -> dict[str, Any]:
    from kb.analytics.questions import auto, decide, suggest
    from kb.content.learned import load_learned

    settings = library.config.questions
    resolved = store.resolved_searches(dt.timedelta(seconds=settings.window_seconds), now=end)
    found = suggest(resolved, library, embedder.encode_queries, settings, load_learned(root))
    accepted = auto(found, settings, load_learned(root))
    decide(root, accepted, "accepted", "auto")
    return {"resolved": len(resolved), "suggested": len(found), "accepted": len(accepted),
            "articles_with_questions": len({s.article for s in accepted})}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kb.analytics.store import open_store
    from kb.search.embedders import get_embedder
    from kb.search.evaluate import read_jsonl

    folder = args.eval / "bitext-en"
    corpus, queries = read_jsonl(folder / "corpus.jsonl"), read_jsonl(folder / "queries.jsonl")
    history, test = split(queries)
    if args.quick:
        history, test = history[:QUICK_HISTORY], test[:QUICK_TEST]
    embedder = get_embedder(args.embedder)
    out: dict[str, Any] = {"set": "bitext-en", "embedder": embedder.name, "quick": args.quick,
                           "clients_per_query": args.clients, "history": len(history), "test": len(test)}
    with tempfile.TemporaryDirectory(prefix="kb-learned-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        for name in ("learned", "control"):
            (work / name).mkdir()
        (work / "learned" / "kb.toml").write_text("")  # only learned-questions.toml is read from these folders
        cache = query_vectors(embedder, [q["query"] for q in history + test])
        library, engine = build(corpus, work / "learned", work / "base", embedder, cache)
        out["baseline"] = evaluate(engine, test)
        for name, replayed in (("learned", history), ("control", [])):
            store = open_store(work / name, args.db or None)
            try:
                if args.db:  # one database for both runs: it must start empty, and the control empties it again
                    if name == "learned" and store.list_queries(limit=1):
                        raise SystemExit(f"--db {store.url}: not empty; give a new database or schema")
                    store.prune(dt.timedelta(days=-36500))  # a cut-off a century ahead: every row goes
                out[f"{name}_replay"] = replay(store, engine, replayed, args.clients)
                out[f"{name}_rule"] = learn(store, library, work / name, embedder, T0 + dt.timedelta(days=60))
            finally:
                store.close()
            _, after = build(corpus, work / name, work / f"data-{name}", embedder, cache)
            out[name] = evaluate(after, test)
        out["seconds"] = round(time.perf_counter() - started, 1)
    out["gain_mrr@10"] = round(out["learned"]["mrr@10"] - out["baseline"]["mrr@10"], 4)
    out["control_equals_baseline"] = out["control"] == out["baseline"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_HISTORY} history and {QUICK_TEST} test queries")
    parser.add_argument("--eval", type=Path, default=EVAL, help="the shared eval folder (holding bitext-en/)")
    parser.add_argument("--embedder", default="ensemble")
    parser.add_argument("--clients", type=int, default=2, help="distinct clients replaying each history query")
    parser.add_argument("--db", default="", help="an empty analytics store URL, e.g. PostgreSQL (default: SQLite in "
                                                 "a temp folder); emptied again for the control")
    args = parser.parse_args(argv)
    if args.clients < 1:
        parser.error("--clients: 1 or more")
    if not (args.eval / "bitext-en" / "queries.jsonl").is_file():
        print(f"learned_questions: skipped, no bitext-en in {args.eval} (give --eval)")
        return 0
    out = run(args)
    load = os.getloadavg()[0]
    print(f"bitext-en, {out['embedder']}, history {out['history']} queries x {out['clients_per_query']} clients, "
          f"test {out['test']} queries{' (quick)' if out['quick'] else ''}; {out['seconds']}s, load {load:.1f}")
    print(f"replay: {out['learned_replay']}")
    print(f"rule:   {out['learned_rule']}")
    print(f"{'':10}" + "".join(f"{k:>11}" for k in out["baseline"]))
    for name in ("baseline", "learned", "control"):
        print(f"{name:10}" + "".join(f"{v:>11.4f}" for v in out[name].values()))
    print(f"gain mrr@10: {out['gain_mrr@10']:+.4f}; control (no history) equals baseline: {out['control_equals_baseline']}")
    return 0 if out["control_equals_baseline"] else 1


if __name__ == "__main__":
    sys.exit(main())
