"""What a first build of a bigger help center embeds: distinct passages and their e5 tokens.

The 10,000 × 7 projection of issue 14 scaled the real 1,000 × 7 build by the number of articles,
assuming ten times the distinct passages. This counts them instead: it writes the synthetic help
center (benchmarks/synth.py) for each N, splits it into passages as `kb index` does, and counts
the distinct texts the embedding cache would embed and their e5 tokens (windows of 512, with
<s> and </s>, as kb/search/e5torch.py embeds them). Nothing is embedded.

Given a measured build (`--measured N:SECONDS`, the embedding phase of a real build of N
articles), it projects the others' embedding time three ways and prints the largest: by distinct
passages, by tokens, and (with `--embed-sample K`) by the default ensemble's measured rate on K
distinct passages drawn from each size (longer passages cost more a token: attention).

    python benchmarks/build_projection.py [--sizes 1000,10000] [--measured 1000:1065] [--embed-sample 1000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import synth  # noqa: E402
from benchmarks.common import log, machine  # noqa: E402
from kb.content.library import Library  # noqa: E402
from kb.search.e5torch import windows  # noqa: E402
from kb.search.passages import passages  # noqa: E402

WIDTH = 510  # content tokens in one of e5's windows (E5Torch._width: 514 positions, 2 offset, <s> and </s>)


def count(folder: Path, tokens: object) -> tuple[dict[str, int], list[str]]:
    """Passages, distinct embedded texts and their e5 tokens for the help center in `folder`; the texts."""
    library = Library.load(folder)
    if library.problems:
        raise SystemExit(f"{folder}: {len(library.problems)} files did not load, e.g. {library.problems[0]}")
    texts: dict[str, None] = {}
    total = 0
    for article in library.articles:
        for p in passages(article):
            total += 1
            texts[p.embed_text] = None
    distinct = list(texts)
    n_tokens = n_windows = 0
    for i in range(0, len(distinct), 2048):
        for ids in tokens.ids(distinct[i:i + 2048], "passage"):  # type: ignore[attr-defined]
            pieces = len(windows(ids, WIDTH))
            n_windows += pieces
            n_tokens += len(ids) + 2 * pieces
    return {"articles": len(library.articles), "passages": total, "distinct": len(distinct),
            "windows": n_windows, "tokens": n_tokens}, distinct


def rate(texts: list[str], k: int, seed: int = 0) -> float:
    """Passages a second of the default ensemble on `k` of `texts` drawn at random."""
    from kb.search.embedders import get_embedder

    embedder = get_embedder()
    drawn = random.Random(seed).sample(texts, min(k, len(texts)))
    embedder.encode_passages(drawn[:32])  # weights loaded, threads started
    started = time.perf_counter()
    embedder.encode_passages(drawn)
    return len(drawn) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="articles per locale, comma-separated")
    ap.add_argument("--measured", default="", help="N:SECONDS, the embedding phase of a real build of N articles")
    ap.add_argument("--work", type=Path, default=None, help="where the synthetic help centers are written")
    ap.add_argument("--embed-sample", type=int, default=0, help="embed so many passages of each size to measure its rate")
    ap.add_argument("--quick", action="store_true", help="sizes 20 and 200 (the smoke run)")
    args = ap.parse_args(argv)
    sizes = [20, 200] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    from kb.search.e5convert import model_folder
    from kb.search.e5torch import E5Tokens

    tokens = E5Tokens(model_folder())
    work = args.work or Path(tempfile.mkdtemp(prefix="kb-projection-"))
    rows: dict[int, dict[str, int]] = {}
    rates: dict[int, float] = {}
    try:
        for n in sizes:
            folder = work / f"synth-{n}"
            started = time.perf_counter()
            synth.generate(folder, n)
            rows[n], texts = count(folder, tokens)
            log(f"{n} x 7: {rows[n]} ({time.perf_counter() - started:.0f} s to write and count)")
            if args.embed_sample:
                rates[n] = rate(texts, args.embed_sample)
                log(f"{n} x 7: the default ensemble embeds {rates[n]:.1f} of its distinct passages a second")
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    from kb.search.e5torch import cpu_has_bf16

    info = machine()
    print(f"CPU: {info['cpu']} ({info['nproc']} cores, bf16 {'yes' if cpu_has_bf16() else 'no'}); "
          f"load average at the start {info['load_at_start'][0]}")
    print("| articles × 7 | passages | distinct texts | e5 windows | e5 tokens | passages/s (sample) |")
    print("|---|---|---|---|---|---|")
    for n, r in rows.items():
        measured = f"{rates[n]:.1f}" if n in rates else "not measured"
        print(f"| {n:,} | {r['passages']:,} | {r['distinct']:,} | {r['windows']:,} | {r['tokens']:,} | {measured} |")
    if args.measured:
        base_n, seconds = args.measured.split(":")
        base = rows.get(int(base_n))
        if base is None:
            raise SystemExit(f"--measured {args.measured}: {base_n} is not among --sizes")
        for n, r in rows.items():
            by_count = float(seconds) * r["distinct"] / base["distinct"]
            by_tokens = float(seconds) * r["tokens"] / base["tokens"]
            ways = {"distinct passages": by_count, "tokens": by_tokens}
            if n in rates and int(base_n) in rates:
                ways["measured rates"] = by_count * rates[int(base_n)] / rates[n]
            said = ", ".join(f"{v / 3600:.2f} h by {k}" for k, v in ways.items())
            print(f"{n:,} × 7: embedding projected {said}; the largest: {max(ways.values()) / 3600:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
