"""Fusion of the ensemble's two models, chosen honestly (issue 15, items 1-2).

For every shared set the corpus is indexed once with the default ensemble (the stored vectors
do not depend on the scoring weights: kb/search/fusion.py), every query is embedded once, its
candidates are gathered once by the engine's own code (kb/search/scoring.py: the union of the
top passages under a few USE shares, and BM25), and each candidate rule ranks them exactly: USE's scoring weight w on a grid, with and
without language awareness (a model is not asked about a language it does not know). w = 0 is
e5 alone and w = 1 USE alone, both with the same BM25 part.

The selection rule, written before measuring (BENCHMARKS.md, "Fusion: the default, chosen
honestly"): a rule's margin on a set is its mrr@10 minus the better of the two single models'
on that set; choose the rule with the largest worst-case margin over the sets; a tie (within
0.002) goes to the smaller w, then to the language-aware rule (estimate, then zero weight). Leave one set out: choose on
the other sets, report the left-out set's margin, for every set.

    python benchmarks/fusion.py                      # the four shared sets (pooled: 300 a language)
    python benchmarks/fusion.py --quick              # a smoke run: 30 queries a locale, two sets
    python benchmarks/fusion.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import EVAL, log, machine  # noqa: E402

GRID = (0.0, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 1.0)
SETS = ("bitext-en", "xsid-xling", "xquad-r-xling", "xquad-r-pooled")
POOLED_SAMPLE = 300  # queries a language, seed 0, as issue 15 measures xquad-r-pooled
TIE = 0.002
# Candidates: the union of the top passages under these USE shares (aware and not); every rule
# then ranks that union exactly, as the engine ranks its own candidates.
SEARCHED = (0.0, 0.1, 0.25, 0.5, 1.0)


UNKNOWN = ("estimate", "zero", "blind")  # a language USE does not know: its cosine estimated, weight 0, asked anyway


def rules() -> list[tuple[float, str]]:
    return [(w, how) for w in GRID for how in UNKNOWN if 0.0 < w < 1.0 or how == "blind"]


def label(rule: tuple[float, str]) -> str:
    w, how = rule
    if w == 0.0:
        return "e5 alone"
    if w == 1.0:
        return "USE alone"
    return f"w={w:g}" + ("" if how == "blind" else f" {how}")


def measure(name: str, work: Path, sample: int | None) -> dict[str, Any]:
    from kb.content.locales import normalize_locale
    from kb.search.embedders import get_embedder
    from kb.search.engine import Engine, normalize_query
    from kb.search.evaluate import corpus_library, read_jsonl, sample_queries, score_ranking
    from kb.search.fusion import Fusion
    from kb.search.index import build_index
    from kb.search.scoring import gather, weigh

    dataset = EVAL / name
    corpus, queries = read_jsonl(dataset / "corpus.jsonl"), read_jsonl(dataset / "queries.jsonl")
    if sample:
        queries = sample_queries(queries, sample, 0)
    library = corpus_library(corpus, {normalize_locale(q["locale"]) for q in queries}, name)
    data = work / f"fusion-{name}"
    started = time.perf_counter()
    build_index(library, data, get_embedder("ensemble"))
    log(f"{name}: indexed in {time.perf_counter() - started:.0f}s; {len(queries)} queries")
    engine = Engine(data, calibrated=False)
    index = engine.index
    texts = [normalize_query(q["query"]) for q in queries]
    qvecs = np.vstack([engine.embedder.encode_queries(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    log(f"{name}: {len(texts)} queries embedded")
    fusions = {rule: Fusion.of(engine.embedder, rule[0], aware=rule[1] != "blind",
                               unknown="zero" if rule[1] == "zero" else "estimate") for rule in rules()}
    searched = [fusions[r] for r in rules() if r[0] in SEARCHED]
    out: dict[str, dict[str, list[float]]] = {label(rule): defaultdict(list) for rule in rules()}
    for q, text, qvec in zip(queries, texts, qvecs, strict=True):
        locale = normalize_locale(q["locale"])
        found = gather(index, text, qvec, locale, mode="hybrid", fusions=searched)
        relevant = {str(r) for r in q["relevant"]}
        for rule, fusion in fusions.items():
            scores = weigh(found, fusion, engine.lex_weight, "hybrid")[0]
            ranked = sorted(scores, key=lambda aid: -scores[aid])[:10]
            out[label(rule)][locale].append(score_ranking(ranked, relevant)["mrr@10"])
    for rule in rules():
        log(f"{name}: {label(rule):16} {_mean(out[label(rule)]):.4f}")
    return {"queries": len(queries), "sample": sample, "mrr": out}


def _mean(per: dict[str, list[float]]) -> float:
    values = [v for vs in per.values() for v in vs]
    return sum(values) / len(values) if values else 0.0


def margins(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """rule -> set -> mrr@10 minus the better single model's."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for name, data in results.items():
        means = {rule: _mean(per) for rule, per in data["mrr"].items()}
        best_single = max(means["e5 alone"], means["USE alone"])
        for rule, value in means.items():
            table[rule][name] = value - best_single
    return table


def choose(table: dict[str, dict[str, float]], sets: list[str]) -> str:
    """The rule with the best worst-case margin over `sets` (the rule in the module's docstring)."""
    order = [label(r) for r in rules()]  # smaller w first; estimate, then zero, then blind

    def worst(rule: str) -> float:
        return min(table[rule][s] for s in sets)

    best = max(worst(r) for r in order)
    return next(r for r in order if worst(r) >= best - TIE)


def report(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    table = margins(results)
    names = list(results)
    chosen = choose(table, names)
    loso = {left: {"chosen": (pick := choose(table, [s for s in names if s != left])),
                   "margin": round(table[pick][left], 4)} for left in names} if len(names) > 1 else {}
    return {"chosen": chosen, "worst_margin": round(min(table[chosen].values()), 4),
            "leave_one_set_out": loso,
            "mrr": {rule: {s: round(_mean(results[s]["mrr"][rule]), 4) for s in names} for rule in table},
            "margin": {rule: {s: round(v, 4) for s, v in row.items()} for rule, row in table.items()}}


def print_report(rep: dict[str, Any], results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    print(f"{'rule':18}" + "".join(f"{n:>16}" for n in names) + f"{'worst margin':>14}")
    for rule, row in rep["mrr"].items():
        print(f"{rule:18}" + "".join(f"{row[n]:>16.4f}" for n in names)
              + f"{min(rep['margin'][rule].values()):>+14.4f}")
    print(f"chosen on all sets: {rep['chosen']} (worst margin {rep['worst_margin']:+.4f})")
    for left, row in rep["leave_one_set_out"].items():
        print(f"left out {left}: chosen on the others {row['chosen']}, its margin on {left} {row['margin']:+.4f}")
    pooled = results.get("xquad-r-pooled")
    if pooled:
        rules_shown = ["e5 alone", "USE alone", rep["chosen"], "w=0.075 zero", "w=0.075", "w=0.25 estimate", "w=0.25"]
        locs = list(next(iter(pooled["mrr"].values())))
        print("xquad-r-pooled by language: " + " ".join(f"{x:>8}" for x in locs))
        for rule in dict.fromkeys(rules_shown):
            per = pooled["mrr"][rule]
            print(f"  {rule:24}" + " ".join(f"{sum(per[loc]) / len(per[loc]):>8.3f}" for loc in locs))


def _run(work: Path, quick: bool, names: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        sample = 30 if quick else (POOLED_SAMPLE if name == "xquad-r-pooled" else None)
        results[name] = measure(name, work, sample)
    return report(results), results


def run(work: Path, quick: bool) -> dict[str, Any]:
    """For benchmarks/run.py: the report of the four sets (two, 30 queries a locale, when quick)."""
    names = [n for n in SETS if (EVAL / n / "queries.jsonl").is_file()]
    if quick:
        names = [n for n in names if n in ("xsid-xling", "bitext-en")] or names[:1]
    if not names:
        return {"skipped": f"no shared sets under {EVAL}"}
    return {"machine": machine(), **_run(work, quick, names)[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/fusion.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 queries a locale of two sets")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated shared sets")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".work", help="index folders")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.quick:
        names = [n for n in names if n in ("xsid-xling", "bitext-en")][:2] or names[:1]
    missing = [n for n in names if not (EVAL / n / "queries.jsonl").is_file()]
    if missing:
        parser.error(f"--sets: {', '.join(missing)} not found under {EVAL}")
    rep, results = _run(args.work, args.quick, names)
    print_report(rep, results)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "quick": args.quick, **rep}, indent=1) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
