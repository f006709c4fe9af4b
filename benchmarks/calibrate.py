"""Fit the engine's confidence and pick its answer / clarify / handoff thresholds by measurement.

In-domain questions (label: is the top article right?):
  - ../shared/eval/bitext-en queries against the sample help center (gold via bitext_intents.toml)
  - the queries of each shared set against its own corpus (cross-lingual for xsid and xquad)
Out-of-domain questions (label 0, the right move is a handoff):
  - xsid-xling (alarms, weather, music…) and xquad-r-xling (Wikipedia) queries against the sample
    help center, which has no answer for them.
A logistic model P(top article is right | top score, margin to the runner-up) is fitted on all of
them; it prints the coefficients and the threshold table that engine.py's constants come from.

    python benchmarks/calibrate.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.content.library import Library  # noqa: E402
from kb.search.embedders import DEFAULT, get_embedder  # noqa: E402
from kb.search.engine import Engine  # noqa: E402
from kb.search.evaluate import corpus_library, read_jsonl  # noqa: E402
from kb.search.index import build_index  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def sample(rows: list, n: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    return rows if len(rows) <= n else rng.sample(rows, n)


def top2(engine: Engine, query: str, lang: str | None) -> tuple[str | None, float, float]:
    result = engine.search(query, lang=lang, k=2)
    scores = [h.score for h in result.hits] + [0.0, 0.0]
    return (result.hits[0].id if result.hits else None), scores[0], scores[1]


def collect(n: int, data: Path) -> list[tuple[float, float, int, str]]:
    rows: list[tuple[float, float, int, str]] = []
    embedder = get_embedder(DEFAULT)
    # sample help center
    build_index(Library.load(ROOT / "content"), data / "sample", embedder)
    sample_engine = Engine(data / "sample")
    intents = tomllib.loads((ROOT / "benchmarks" / "bitext_intents.toml").read_text())["intents"]
    for q in sample(read_jsonl(EVAL / "bitext-en" / "queries.jsonl"), n):
        gold = {a for intent in q["relevant"] for a in intents[intent]}
        top, s1, s2 = top2(sample_engine, q["query"], "en")
        rows.append((s1, s1 - s2, int(top in gold), "bitext→sample"))
    for name in ("xsid-xling", "xquad-r-xling"):
        for q in sample(read_jsonl(EVAL / name / "queries.jsonl"), n // 2, seed=11):
            _, s1, s2 = top2(sample_engine, q["query"], None)
            rows.append((s1, s1 - s2, 0, f"{name}→sample (no answer)"))
    # each shared set against its own corpus
    for name in ("bitext-en", "xsid-xling", "xquad-r-xling"):
        queries = sample(read_jsonl(EVAL / name / "queries.jsonl"), n // 2, seed=13)
        library = corpus_library(read_jsonl(EVAL / name / "corpus.jsonl"), {q["locale"] for q in queries}, name)
        build_index(library, data / name, embedder)
        engine = Engine(data / name)
        for q in queries:
            top, s1, s2 = top2(engine, q["query"], q["locale"])
            rows.append((s1, s1 - s2, int(top in set(q["relevant"])), name))
    return rows


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 20000, lr: float = 0.5) -> np.ndarray:
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(z.shape[1] + 1)
    zb = np.hstack([np.ones((len(z), 1)), z])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-zb @ w))
        w -= lr * zb.T @ (p - y) / len(y)
    # back to raw features: bias + sum(w_i * (x_i - mu_i) / sd_i)
    coef = w[1:] / sd
    bias = w[0] - float((w[1:] * mu / sd).sum())
    return np.concatenate([[bias], coef])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred queries (CI smoke run)")
    parser.add_argument("--data", type=Path, default=ROOT / ".kb" / "calibrate")
    args = parser.parse_args()
    if not EVAL.is_dir():
        sys.exit(f"calibrate: {EVAL} not found; the shared eval sets are needed")
    rows = collect(120 if args.quick else 1200, args.data)
    x = np.array([[r[0], r[1]] for r in rows])
    y = np.array([r[2] for r in rows], dtype=float)
    w = fit_logistic(x, y)
    conf = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
    print(f"{len(rows)} questions; fitted: bias {w[0]:.3f}, score {w[1]:.3f}, margin {w[2]:.3f}")
    print(f"{'threshold':>10}{'answered':>10}{'precision':>11}{'handoff: no-answer qs':>23}{'handoff: right qs':>19}")
    ood = np.array(["no answer" in r[3] for r in rows])
    for t in (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        ans = conf >= t
        prec = y[ans].mean() if ans.any() else float("nan")
        print(f"{t:>10.2f}{ans.mean():>10.2%}{prec:>11.2%}{(~ans[ood]).mean():>23.2%}{(~ans[y == 1]).mean():>19.2%}")
    by_group: dict[str, list[float]] = {}
    for r, c in zip(rows, conf, strict=True):
        by_group.setdefault(r[3], []).append(c)
    for group, values in by_group.items():
        print(f"  {group:34} mean confidence {np.mean(values):.3f}")
    print(json.dumps({"bias": round(float(w[0]), 3), "score": round(float(w[1]), 3), "margin": round(float(w[2]), 3)}))


if __name__ == "__main__":
    main()
