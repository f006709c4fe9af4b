"""Which tokenizer BM25 should use for scripts without spaces (issue 15, item 5): the candidates of
BENCHMARKS.md ("Scripts without spaces", rule written before measuring), BM25 alone, each question
of xquad-r-pooled's fixed sample searched in its own language's sentences; mrr@10 per language.

    python benchmarks/word_split.py [--data ../shared/eval/xquad-r-pooled] [--sample 300] [--seed 0]
                                    [--candidates ABCDEF] [--out benchmarks/results/word_split.json]

K is kb's own tokenizer as it is now (after the choice: C). Candidates D and F need icu4py, E needs jieba and pythainlp: a candidate whose package is missing
is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.search import scripts  # noqa: E402
from kb.search.evaluate import sample_queries  # noqa: E402
from kb.search.lexical import Tokens, _stemmer, _stopset, build_model, tokenize  # noqa: E402

TARGET = ("ar", "el", "hi", "ru", "th", "zh")
OTHERS = ("de", "en", "es", "tr", "vi")
_OLD_WORD = re.compile(r"\w+", re.UNICODE)
_HAN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_STEMS = {"hi": "hindi"}  # B on: Snowball's Hindi stemmer (A had none for hi)


def _stem(words: list[str], lang: str, new: bool) -> list[str]:
    words = [w for w in words if w not in _stopset(lang)]
    if new and lang in _STEMS:
        import Stemmer

        return Stemmer.Stemmer(_STEMS[lang]).stemWords(words)
    stemmer = None if lang in _STEMS else _stemmer(lang)  # A: as before, no Hindi stemmer
    return stemmer.stemWords(words) if stemmer is not None else words


def tok_a(text: str, lang: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text)
    if lang in ("tr", "az"):
        text = text.replace("I", "ı").replace("İ", "i")
    return _stem(_OLD_WORD.findall(text.lower()), lang, new=False)


def _runs(text: str, lang: str, cut: Callable[[str, str], list[str]]) -> list[str]:
    """B's words, each run in an unspaced script handed to `cut`."""
    out: list[str] = []
    for word in scripts.WORD.findall(scripts.normalize(text, lang)):
        out += cut(word, lang) if scripts.UNSPACED.search(word) else [word]
    return _stem(out, lang, new=True)


def _bigrams(run: str) -> list[str]:
    """Han and Thai stretches in overlapping character bigrams, the rest of the run whole."""
    out: list[str] = []
    for m in re.finditer(f"({scripts.UNSPACED.pattern}+)|([^{scripts.UNSPACED.pattern[1:-1]}]+)", run):
        piece = m.group(0)
        if m.group(1):
            out += [piece] if len(piece) == 1 else [piece[i:i + 2] for i in range(len(piece) - 1)]
        else:
            out.append(piece)
    return out


def _icu(run: str, lang: str) -> list[str]:
    from icu4py.breakers import WordBreaker

    return [w for w in WordBreaker(run, lang) if scripts.WORD.fullmatch(w)]


def _dictionary(run: str, lang: str) -> list[str]:
    if lang == "th" or not _HAN.search(run):
        from pythainlp.tokenize import word_tokenize

        return [w for w in word_tokenize(run, engine="newmm") if scripts.WORD.fullmatch(w)]
    import jieba

    return [w for w in jieba.cut(run) if scripts.WORD.fullmatch(w)]


def _han_bigrams_else_icu(run: str, lang: str) -> list[str]:
    return _bigrams(run) if _HAN.search(run) else _icu(run, lang)


CANDIDATES: dict[str, tuple[str, Callable[[str, str], list[str]], tuple[str, ...]]] = {
    "A": ("today: \\w+ and Snowball", tok_a, ()),
    "B": ("words with their marks, Arabic marks dropped, Hindi stemmer", lambda t, lang: _runs(t, lang, lambda r, _: [r]), ()),
    "C": ("B + Han/Thai character bigrams", lambda t, lang: _runs(t, lang, lambda r, _: _bigrams(r)), ()),
    "D": ("B + ICU word breaks (icu4py)", lambda t, lang: _runs(t, lang, _icu), ("icu4py",)),
    "E": ("B + jieba (zh) and PyThaiNLP newmm (th)", lambda t, lang: _runs(t, lang, _dictionary), ("jieba", "pythainlp")),
    "F": ("B + ICU for Thai, bigrams for Han", lambda t, lang: _runs(t, lang, _han_bigrams_else_icu), ("icu4py",)),
    "K": ("kb as it is (kb.search.lexical.tokenize: C was chosen)", tokenize, ()),
}


def tokens_of(docs: list[list[str]]) -> Tokens:
    index: dict[str, int] = {}
    flat = [index.setdefault(t, len(index)) for doc in docs for t in (doc or ["_"])]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(doc) or 1 for doc in docs], out=offsets[1:])
    return Tokens(list(index), np.array(flat, dtype=np.int32), offsets)


def mrr_at_10(tokenize: Callable[[str, str], list[str]], corpus: dict[str, list[dict]],
              queries: dict[str, list[dict]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for lang in sorted(queries):
        docs = corpus[lang]
        model = build_model(tokens_of([tokenize(d["title"] + " " + d["body"], lang) for d in docs]))
        ids = [d["id"] for d in docs]
        total = 0.0
        for q in queries[lang]:
            words = [t for t in tokenize(q["query"], lang) if t in model.vocab_dict]
            if not words:
                continue
            scores = model.get_scores(words)
            top = [ids[i] for i in np.argsort(-scores, kind="stable")[:10] if scores[i] > 0]
            gold = set(q["relevant"])
            total += next((1 / (rank + 1) for rank, doc in enumerate(top) if doc in gold), 0.0)
        out[lang] = round(total / len(queries[lang]), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "xquad-r-pooled")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--candidates", default="".join(CANDIDATES))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    corpus: dict[str, list[dict]] = defaultdict(list)
    with open(args.data / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            corpus[doc["locale"]].append(doc)
    with open(args.data / "queries.jsonl", encoding="utf-8") as fh:
        all_queries = [json.loads(line) for line in fh]
    queries: dict[str, list[dict]] = defaultdict(list)
    for q in sample_queries(all_queries, args.sample, args.seed):
        queries[q["locale"]].append(q)
    results: dict[str, dict] = {}
    for name in args.candidates:
        label, fn, needs = CANDIDATES[name]
        try:
            for module in needs:
                __import__(module)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})", flush=True)
            continue
        began = time.perf_counter()
        per = mrr_at_10(fn, corpus, queries)
        worst = min(per[lang] for lang in TARGET)
        mean = sum(per[lang] for lang in TARGET) / len(TARGET)
        results[name] = {"label": label, "dependencies": list(needs), "mrr@10": per,
                         "worst_target": round(worst, 4), "mean_target": round(mean, 4),
                         "seconds": round(time.perf_counter() - began, 1)}
        print(name, label, json.dumps(results[name]), flush=True)
    langs = list(TARGET) + list(OTHERS)
    print("| candidate | " + " | ".join(langs) + " | worst of six | mean of six |")
    print("|---|" + "---|" * (len(langs) + 2))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['mrr@10'][lang]:.3f}" for lang in langs)
              + f" | {r['worst_target']:.3f} | {r['mean_target']:.3f} |")
    if args.out:
        args.out.write_text(json.dumps({"sample": args.sample, "seed": args.seed, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
