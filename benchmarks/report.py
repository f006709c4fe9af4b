"""Turn the results dict into latest.json, latest.md, PNG plots and a console table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

KEYS = ("recall@1", "recall@5", "mrr@10", "ndcg@10")
METHOD_ORDER = ("typesense", "bm25", "use-multilingual", "e5-small", "kb")
LABELS = {"typesense": "Typesense 0.24.1", "bm25": "BM25 alone", "use-multilingual": "USE alone",
          "e5-small": "e5-small alone", "kb": "kb default (ensemble, hybrid)"}


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "latest.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, out / "latest.json")
    plots = make_plots(results, out)
    (out / "latest.md").write_text(markdown(results, plots), encoding="utf-8")


def _f(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        a = abs(x)
        if a < 1:
            return f"{x:.3f}"
        if a < 10:
            return f"{x:.2f}"
        if a < 1000:
            return f"{x:.1f}"
        return f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return lines


def _meta(section: dict[str, Any]) -> str:
    m = section.get("_meta", {})
    cmd = f", `{m['command']}`" if m.get("command") else ""
    return f"_(ran {m.get('ran_at', '?')}, {'quick' if m.get('quick') else 'full'} run, {m.get('seconds', 0):.0f} s{cmd})_"


# -- markdown -----------------------------------------------------------------------------------
def markdown(results: dict[str, Any], plots: dict[str, str]) -> str:
    m = results.get("machine", {})
    lines = ["# kb benchmark results", "",
             f"Machine: {m.get('nproc')} cores ({m.get('cpu')}), {m.get('mem_gib')} GiB RAM, Python {m.get('python')}; "
             f"load average at start {m.get('load_at_start')}. Other processes shared the CPU, so timings are noisy.",
             f"Command: `{results.get('command')}`; finished {results.get('finished')}.", ""]
    for name, fn in (("quality", md_quality), ("latency", md_latency), ("scale", md_scale), ("site", md_site),
                     ("soak", md_soak), ("abuse", md_abuse),
                     ("workers", md_workers)):
        section = results.get(name)
        if section is None:
            continue
        lines.append(f"## {name.capitalize()}")
        lines.append(_meta(section))
        lines.append("")
        if "error" in section:
            lines += [f"Failed: `{section['error']}`", ""]
            continue
        if "skipped" in section:
            lines += [f"Skipped: {section['skipped']}", ""]
        lines += fn(section, plots)
        lines.append("")
    return "\n".join(lines) + "\n"


def md_quality(q: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for entry in q.get("sets", []):
        lines.append(f"### {entry['name']}: {entry['description']}")
        when = f" Measured {entry['ran_at']}." if entry.get("ran_at") else ""
        lines.append(f"{entry['n_queries']} queries, {entry['n_docs']} documents.{when} {entry.get('note') or ''}".strip())
        lines.append("")
        rows = []
        for method in METHOD_ORDER:
            r = entry["methods"].get(method)
            if r is None:
                continue
            if "error" in r:
                rows.append([LABELS[method], f"error: {r['error']}", "", "", ""])
                continue
            rows.append([LABELS[method], *[r["all"][k] for k in KEYS]])
        lines += _table(["method", *KEYS], rows)
        locales = sorted({loc for r in entry["methods"].values() for loc in r.get("by_locale", {})})
        if len(locales) > 1:
            lines += ["", "mrr@10 per query locale:", ""]
            rows = [[LABELS[mth], *[entry["methods"][mth]["by_locale"].get(loc, {}).get("mrr@10") for loc in locales]]
                    for mth in METHOD_ORDER if "by_locale" in entry["methods"].get(mth, {})]
            lines += _table(["method", *locales], rows)
        lines.append("")
    checks = q.get("targets") or []
    if checks:
        lines += ["Targets (mrr@10): kb beats Typesense and BM25; kb matches or beats the best single embedder "
                  "(within 0.005):", ""]
        lines += _table(["set", "kb", "Typesense", "BM25", "best single", "beats keyword", "matches best"],
                        [[c["set"], c["kb"], c["typesense"], c["bm25"], c["best_single_embedder"],
                          "yes" if c["beats_keyword"] else "**no**", "yes" if c["matches_best_embedder"] else "**no**"]
                         for c in checks])
    if "quality" in plots:
        lines += ["", f"![mrr@10 by set and method]({plots['quality']})"]
    return lines


def md_latency(lat: dict[str, Any], plots: dict[str, str]) -> list[str]:
    if "skipped" in lat:
        return []
    lines = [f"Closed-loop load for {lat['duration_s']:.0f} s per row, {lat['queries']} Bitext queries round-robin, "
             "127.0.0.1; the load generator shares the 2 cores with the server.", ""]
    rows = []
    for target, key in (("kb", "search"), ("kb", "answer"), ("typesense", "search")):
        for c in (1, 8):
            r = lat.get(target, {}).get(f"{key}@{c}")
            if r:
                name = {"kb": f"kb {'GET /v1/search' if key == 'search' else 'POST /v1/answer'}",
                        "typesense": "Typesense search"}[target]
                rows.append([name, c, r["p50_ms"], r["p95_ms"], r["p99_ms"], r["rps"], r["errors"], r["peak_rss_mb"]])
    lines += _table(["endpoint", "concurrency", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors", "peak RSS MB"], rows)
    eng = lat.get("engine", {})
    if eng:
        lines += ["", "Bare engine in-process (embed + search, no HTTP), same queries, one at a time:", ""]
        lines += _table(["call", "n", "p50 ms", "p95 ms", "p99 ms"],
                        [[k, v["n"], v["p50"], v["p95"], v["p99"]] for k, v in eng.items()])
    ratio = lat.get("api_over_engine", {})
    if ratio:
        lines += ["", "API time / engine time at concurrency 1: " + "; ".join(
            f"{k} p50 {v['p50']:.2f}×, p95 {v['p95']:.2f}×" for k, v in ratio.items())]
    if lat.get("kb", {}).get("startup_s") is not None:
        lines += [f"kb serve: ready in {lat['kb']['startup_s']:.1f} s, {lat['kb']['idle_rss_mb']:.0f} MB resident when idle."]
    if "latency" in plots:
        lines += ["", f"![latency by concurrency]({plots['latency']})"]
    return lines


def md_scale(s: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines: list[str] = []
    rows = []
    for r in s.get("runs", []):
        b = r.get("build", {})
        rows.append([f"{r['n']:,} × {r['locales']}", f"{r['articles']:,}", f"{r['passages']:,}", b.get("embedder_label", "–"),
                     b.get("seconds"), b.get("articles_per_s"), r.get("projected", {}).get("ensemble_total_s"),
                     r.get("incremental", {}).get("in_process_median_s"), r.get("incremental", {}).get("kb_index_command_s"),
                     r.get("index_mb"),
                     r.get("query", {}).get("p50_ms"), r.get("query", {}).get("p95_ms"), r.get("query", {}).get("server_rss_mb")])
    lines += _table(["help center", "articles", "passages", "full build with", "full build s", "articles/s",
                     "projected s with ensemble", "1 edit: update s (model loaded)", "1 edit: `kb index` s",
                     "index MB", "search p50 ms",
                     "search p95 ms", "server RSS MB"], rows)
    for r in s.get("runs", []):
        b = r.get("build", {})
        lines += ["", f"**{r['n']:,} articles × {r['locales']} locales** — where the full build's time goes "
                  f"({b.get('embedder_label')}):", ""]
        lines += _table(["phase", "seconds"], [[k, v] for k, v in b.get("phases", {}).items() if v >= 0.005])
        tp = r.get("throughput", {})
        lines += ["", f"Embedding throughput on a sample of {tp.get('sample_passages')} passages: "
                  + ", ".join(f"{k} {v:.1f} passages/s" for k, v in tp.get("passages_per_s", {}).items())
                  + ". Projected embedding time for all passages: "
                  + ", ".join(f"{k} {v / 60:.1f} min" for k, v in r.get("projected", {}).get("embed_s", {}).items()) + "."]
        inc = r.get("incremental", {})
        if inc.get("in_process"):
            lines += ["", "Incremental reindex, one article edited each time, the model loaded (as `kb serve --watch` "
                      "keeps it):", ""]
            lines += _table(["edit", "seconds", "quick", "files read", "embedded", "delta", "where the time goes"],
                            [[i + 1, e["seconds"], e["quick"], e["files_read"], e["embedded"], e["delta"],
                              "; ".join(f"{k} {v:.2f}" for k, v in e["phases"].items() if v >= 0.01)]
                             for i, e in enumerate(inc["in_process"])])
            lines += ["", f"The `kb index` command after one more edit (a new process: imports, model load, update): "
                      f"{inc.get('kb_index_command_s')} s. Reading the whole help center instead (as after a change "
                      f"to kb.toml): {inc.get('whole_read_s')} s ("
                      + "; ".join(f"{k} {v:.2f}" for k, v in inc.get("whole_read_phases", {}).items() if v >= 0.01) + ")."]
        qy = r.get("query", {})
        if qy.get("edit_update_s") is not None:
            lines += ["", f"With `kb serve` running on the index: an article edited, the index updated in "
                      f"{qy['edit_update_s']} s, and the server answering from the new index "
                      f"{qy.get('edit_served_s')} s after the edit (resident memory {qy.get('server_rss_mb')} MB "
                      f"before, {qy.get('server_rss_after_edit_mb')} MB after)."]
        if r.get("notes"):
            lines += [""] + [f"- {n}" for n in r["notes"]]
    if "scale" in plots:
        lines += ["", f"![index build time by size]({plots['scale']})"]
    return lines


def md_site(s: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines: list[str] = []
    rows = []
    for r in s.get("runs", []):
        kb_s = r["tools"].get("kb build", {}).get("seconds")
        for tool, t in r["tools"].items():
            ratio = (t["seconds"] / kb_s) if (kb_s and t.get("seconds")) else None
            rows.append([f"{r['pages']:,}", tool, t.get("seconds") if t.get("ok") else t.get("status", "failed"),
                         t.get("pages_per_s"), ratio,
                         t.get("note", "") + (f"; {t['build_s']} s of it in the build itself (the rest is start-up)"
                                              if t.get("build_s") else "")
                         + (f"; median of runs of {' / '.join(str(x) for x in t['runs_s'])} s" if t.get("runs_s") else "")])
    lines += _table(["pages", "tool", "wall s", "pages/s", "time / kb build", "note"], rows)
    inc = [(r["pages"], r.get("kb_incremental")) for r in s.get("runs", []) if r.get("kb_incremental")]
    if inc:
        lines += ["", "kb build again after editing one article: " + "; ".join(
            f"{p:,} pages: {v['seconds']} s wall, of which {v.get('build_s', '?')} s building ({v.get('summary', '')})"
            for p, v in inc)]
    if s.get("notes"):
        lines += [""] + [f"- {n}" for n in s["notes"]]
    if "site" in plots:
        lines += ["", f"![site build time by size]({plots['site']})"]
    return lines


def md_soak(s: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines = [f"`kb serve` on 127.0.0.1 (default pipeline, query log on, rate limit off) under a steady "
             f"{_f(s['rate'])} requests/s from {s['workers']} clients for {_f(s['seconds'])} s: a mix of search, "
             f"answer, suggest, article and feedback calls. Memory is compared from the first sample after "
             f"warm-up to the last.", ""]
    rows = [[x["t"], x["rss_mb"], x["requests"], x["errors"], x["p50_ms"], x["p95_ms"]] for x in s.get("samples", [])]
    lines += _table(["t s", "RSS MB", "requests", "errors", "p50 ms", "p95 ms"], rows)
    lines += ["", f"{'Passed' if s.get('ok') else 'FAILED'}: {_f(s['requests'])} requests, {_f(s['errors'])} errors, "
              f"RSS growth after warm-up {_f(s['rss_growth_mb'])} MB (allowed {_f(s['max_growth_mb'])}), "
              f"peak {_f(s['peak_rss_mb'])} MB."]
    return lines


def md_abuse(s: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines = [f"`kb serve` on 127.0.0.1 (rate limit off, query-vector cache off): GET /v1/search closed-loop from "
             f"{s['concurrency']} clients, alone and under {s['attack']}; phases alternate, {s['rounds']} of each, "
             f"{_f(s['duration_s'])} s long; medians. CPU: {s.get('cpu')}.", ""]
    rows = []
    for failures, r in s.get("servers", {}).items():
        q, a = r["median"]["quiet"], r["median"]["attacked"]
        answered: dict[str, int] = {}
        for phase in r["phases"]["attacked"]:
            for k, v in phase["attack"]["statuses"].items():
                answered[k] = answered.get(k, 0) + v
        rows.append([f"{failures} a minute" if failures != "off" else "off", q["rps"], a["rps"],
                     f"{(r['rps_ratio'] - 1) * 100:+.1f} %", q["p95_ms"], a["p95_ms"],
                     ", ".join(f"{k}: {v}" for k, v in answered.items()), "–" if s.get("quick") else "yes" if r["within_10_percent"] else "NO"])
    lines += _table(["wrong-key limit", "search req/s", "under attack", "change", "p95 ms", "p95 ms under attack",
                     "wrong keys answered", "within 10 %"], rows)
    return lines


def md_workers(s: dict[str, Any], plots: dict[str, str]) -> list[str]:
    from benchmarks import workers

    return workers.markdown(s)


def group_phases(phases: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in phases.items():
        if "background" in name:
            continue  # overlaps the other phases
        if name.startswith("embedding cache"):
            key = "embedding cache"
        elif name.startswith("embedding"):
            key = "embedding"
        elif name.startswith("FAISS"):
            key = "FAISS"
        elif name.startswith("BM25"):
            key = "BM25"
        elif name in ("split passages", "read previous index", "assemble vectors"):
            key = "passages, previous index"
        else:
            key = "writing files"
        out[key] = out.get(key, 0.0) + value
    return out


# -- plots --------------------------------------------------------------------------------------
def make_plots(results: dict[str, Any], out: Path) -> dict[str, str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    made: dict[str, str] = {}
    q = results.get("quality", {})
    if q.get("sets"):
        sets = q["sets"]
        fig, ax = plt.subplots(figsize=(10, 4.5))
        width = 0.16
        for i, method in enumerate(METHOD_ORDER):
            vals = [e["methods"].get(method, {}).get("all", {}).get("mrr@10", 0.0) for e in sets]
            ax.bar([x + (i - 2) * width for x in range(len(sets))], vals, width, label=LABELS[method])
        ax.set_xticks(range(len(sets)), [e["name"] for e in sets])
        ax.set_ylabel("mrr@10")
        ax.set_ylim(0, 1.12)
        ax.legend(fontsize=8, ncol=5, loc="upper center")
        ax.set_title("Retrieval quality (mrr@10)")
        fig.tight_layout()
        fig.savefig(out / "quality_mrr.png", dpi=110)
        plt.close(fig)
        made["quality"] = "quality_mrr.png"
    lat = results.get("latency", {})
    series = []
    for target, key, label in (("kb", "search", "kb /v1/search"), ("kb", "answer", "kb /v1/answer"),
                               ("typesense", "search", "Typesense search")):
        pts = [(c, lat.get(target, {}).get(f"{key}@{c}")) for c in (1, 8)]
        pts = [(c, r) for c, r in pts if r]
        if pts:
            series.append((label, pts))
    if series:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for label, pts in series:
            axes[0].plot([c for c, _ in pts], [r["p95_ms"] for _, r in pts], marker="o", label=label)
            axes[1].plot([c for c, _ in pts], [r["rps"] for _, r in pts], marker="o", label=label)
        axes[0].axhline(50, color="grey", linestyle="--", linewidth=1, label="50 ms target (c=1)")
        axes[0].set_yscale("log")
        axes[0].set_ylabel("p95 latency, ms (log)")
        axes[1].set_ylabel("requests/s")
        for ax in axes:
            ax.set_xlabel("concurrency")
            ax.set_xticks([1, 8])
            ax.legend(fontsize=8)
        fig.suptitle("Latency and throughput by concurrency")
        fig.tight_layout()
        fig.savefig(out / "latency_by_concurrency.png", dpi=110)
        plt.close(fig)
        made["latency"] = "latency_by_concurrency.png"
    sc = results.get("scale", {})
    if sc.get("runs"):
        runs = sc["runs"]
        fig, axes = plt.subplots(len(runs), 1, figsize=(9, 1.9 + 1.6 * len(runs)), squeeze=False)
        colors = {"embedding": "tab:red", "embedding cache": "tab:purple", "FAISS": "tab:green", "BM25": "tab:blue",
                  "passages, previous index": "tab:gray", "writing files": "tab:orange"}
        for ax, r in zip(axes[:, 0], runs, strict=True):
            grouped = group_phases(r.get("build", {}).get("phases", {}))
            proj = r.get("projected", {})
            rows = [(f"measured: {r.get('build', {}).get('embedder_label', '')}", grouped, None)]
            non_embed = sum(v for k, v in grouped.items() if k != "embedding")
            if r.get("build", {}).get("embedder_label", "").startswith("stand-in"):
                rows.append(("projected: use-multilingual", {k: v for k, v in grouped.items() if k != "embedding"},
                             proj.get("embed_s", {}).get("use-multilingual")))
            rows.append(("projected: ensemble (default)", {k: v for k, v in grouped.items() if k != "embedding"},
                         proj.get("embed_s", {}).get("ensemble")))
            for y, (_label, parts, projected_embed) in enumerate(rows):
                left = 0.0
                for phase, color in colors.items():
                    value = parts.get(phase, 0.0) if phase != "embedding" or projected_embed is None else projected_embed
                    if value <= 0:
                        continue
                    ax.barh(y, value / 60, left=left / 60, color=color, hatch="//" if projected_embed and phase == "embedding" else None,
                            label=phase if (y == 0 and ax is axes[0, 0]) else None, edgecolor="white")
                    left += value
                ax.text(left / 60, y, f" {left / 60:.1f} min", va="center", fontsize=8)
            ax.set_yticks(range(len(rows)), [lab for lab, _, _ in rows], fontsize=8)
            ax.set_title(f"{r['n']:,} articles × {r['locales']} locales ({r['passages']:,} passages); "
                         f"non-embedding phases {non_embed / 60:.1f} min", fontsize=9)
            ax.set_xlabel("minutes")
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
        fig.legend(handles, list(colors), loc="lower center", ncol=6, fontsize=7)
        fig.suptitle("Full index build: where the time goes (hatched: projected from measured throughput)", fontsize=10)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        fig.savefig(out / "scale_build.png", dpi=110)
        plt.close(fig)
        made["scale"] = "scale_build.png"
    st = results.get("site", {})
    if st.get("runs"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        tools = sorted({t for r in st["runs"] for t in r["tools"]})
        for tool in tools:
            pts = [(r["pages"], r["tools"][tool]["seconds"]) for r in st["runs"]
                   if r["tools"].get(tool, {}).get("ok")]
            if pts:
                ax.plot([p for p, _ in pts], [s for _, s in pts], marker="o", label=tool)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pages")
        ax.set_ylabel("wall seconds (log)")
        ax.set_title("Static site build time by size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "site_build.png", dpi=110)
        plt.close(fig)
        made["site"] = "site_build.png"
    return made


# -- console ------------------------------------------------------------------------------------
def console(results: dict[str, Any]) -> str:
    lines = []
    q = results.get("quality", {})
    for entry in q.get("sets", []):
        lines.append(f"quality {entry['name']} ({entry['n_queries']} queries)")
        lines.append(f"  {'method':32}" + "".join(f"{k:>10}" for k in KEYS))
        for method in METHOD_ORDER:
            r = entry["methods"].get(method, {})
            if "all" in r:
                lines.append(f"  {LABELS[method]:32}" + "".join(f"{r['all'][k]:>10.4f}" for k in KEYS))
            elif "error" in r:
                lines.append(f"  {LABELS[method]:32}  error: {r['error'][:80]}")
    lat = results.get("latency", {})
    if lat.get("skipped"):
        lines.append(f"latency: skipped: {lat['skipped']}")
    for target in ("kb", "typesense"):
        for key, r in sorted(lat.get(target, {}).items()):
            if isinstance(r, dict):
                lines.append(f"latency {target} {key:10} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
                             f"p99 {r['p99_ms']:8.1f} ms  {r['rps']:7.1f} req/s  errors {r['errors']}  "
                             f"peak RSS {r['peak_rss_mb']:.0f} MB")
    for k, v in lat.get("engine", {}).items():
        lines.append(f"latency engine {k:8} p50 {v['p50']:8.1f} ms  p95 {v['p95']:8.1f} ms")
    for k, v in lat.get("api_over_engine", {}).items():
        lines.append(f"api/engine {k}: p50 {v['p50']:.2f}x  p95 {v['p95']:.2f}x")
    for r in results.get("scale", {}).get("runs", []):
        b, inc, qy = r.get("build", {}), r.get("incremental", {}), r.get("query", {})
        lines.append(f"scale {r['n']}x{r['locales']}: {r['passages']} passages; full build ({b.get('embedder_label')}) "
                     f"{b.get('seconds')} s = {b.get('articles_per_s')} articles/s; projected with ensemble "
                     f"{r.get('projected', {}).get('ensemble_total_s')} s; incremental {inc.get('in_process_median_s')} s "
                     f"(kb index command {inc.get('kb_index_command_s')} s); "
                     f"index {r.get('index_mb')} MB; search p50 {qy.get('p50_ms')} ms p95 {qy.get('p95_ms')} ms; "
                     f"server RSS {qy.get('server_rss_mb')} MB")
    for r in results.get("site", {}).get("runs", []):
        for tool, t in r["tools"].items():
            lines.append(f"site {r['pages']} pages {tool:10} " + (f"{t['seconds']:8.2f} s  {t.get('pages_per_s', 0):8.1f} pages/s"
                                                               if t.get("ok") else t.get("status", "failed")))
        if r.get("kb_incremental"):
            lines.append(f"site {r['pages']} pages kb build after one edit: {r['kb_incremental']['seconds']} s")
    soak = results.get("soak", {})
    if "requests" in soak:
        lines.append(f"soak {soak['seconds']:g} s at {soak['rate']:g} req/s: {soak['requests']} requests, "
                     f"{soak['errors']} errors, RSS growth {soak['rss_growth_mb']} MB, peak {soak['peak_rss_mb']} MB")
    if "servers" in results.get("abuse", {}):
        from benchmarks.abuse import summary

        lines.append(summary(results["abuse"]))
    if isinstance(results.get("workers"), dict):
        from benchmarks import workers

        lines += workers.console(results["workers"])
    if isinstance(results.get("first_run"), dict):
        from benchmarks import first_run

        lines += first_run.console(results["first_run"])
    for name in ("quality", "latency", "scale", "site", "soak", "abuse", "workers", "embedding", "fusion", "first_run"):
        if isinstance(results.get(name), dict) and "error" in results[name]:
            lines.append(f"{name}: FAILED: {results[name]['error']}")
    return "\n".join(lines)
