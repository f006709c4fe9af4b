"""Static site build, side by side: `kb build`, MkDocs (mkdocs-material) and Hugo on the same Markdown.

For P pages the synthetic help center has ceil(P/7) articles × 7 locales (benchmarks/synth.py):
P Markdown files, one page each. Each tool builds them from scratch into an empty folder, as a
subprocess, timed by wall clock. MkDocs gets mkdocs-material with its default features (its
navigation lists every page); Hugo gets a minimal layout of our own (title, table of contents,
body; section lists) and taxonomy pages switched off (kb makes no tag pages either), so Hugo's
numbers are a lower bound for a real Hugo theme. `kb build` and Hugo build REPEATS times (each
into an emptied folder) and the median counts, with every run's time kept: one run on a shared
VM swings by 30 %; MkDocs, at a minute and more a build, runs once. Then `kb build` runs again
after one article is edited (incremental).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import synth
from benchmarks.common import VENV_BIN, log

MKDOCS_YML = """\
site_name: Synthetic Help Center
site_url: http://127.0.0.1:8000/
docs_dir: {docs}
site_dir: {site}
theme:
  name: material
"""

HUGO_CONFIG = """\
baseURL = "http://127.0.0.1:8000/"
title = "Synthetic Help Center"
contentDir = "{content}"
publishDir = "{public}"
disableKinds = ["taxonomy", "term"]
[markup.tableOfContents]
  startLevel = 2
  endLevel = 3
"""

HUGO_LAYOUTS = {
    "_default/baseof.html": """<!doctype html>
<html lang="{{ .Site.LanguageCode | default "en" }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ .Title }} · {{ .Site.Title }}</title></head>
<body><header><a href="{{ "/" | relURL }}">{{ .Site.Title }}</a></header><main>{{ block "main" . }}{{ end }}</main></body></html>
""",
    "_default/single.html": """{{ define "main" }}<article><h1>{{ .Title }}</h1>
<nav class="toc">{{ .TableOfContents }}</nav>{{ .Content }}
<p><a href="{{ .Parent.RelPermalink }}">{{ .Parent.Title }}</a></p></article>{{ end }}
""",
    "_default/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
<ul>{{ range .Sections }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>
<ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>{{ end }}
""",
}


def _which(name: str) -> str | None:
    local = VENV_BIN / name
    if local.is_file():
        return str(local)
    return shutil.which(name)


def timed_run(cmd: list[str], timeout: float, cwd: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"ok": False, "status": f"> {timeout:.0f} s (stopped)", "seconds": None, "timed_out_after": timeout}
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"ok": False, "status": f"exit {proc.returncode}: {' / '.join(tail)[:300]}", "seconds": round(seconds, 2)}
    return {"ok": True, "seconds": round(seconds, 2), "output": (proc.stdout.strip().splitlines() or [""])[-1][:300]}


REPEATS = 3  # full runs (quick: 1)


def repeated(cmd: list[str], output: Path, repeats: int, timeout: float, cwd: Path | None = None) -> dict[str, Any]:
    """`timed_run` `repeats` times, `output` emptied before each; the median run, with all times."""
    runs = []
    for _ in range(repeats):
        shutil.rmtree(output, ignore_errors=True)
        runs.append(timed_run(cmd, timeout, cwd=cwd))
        if not runs[-1]["ok"]:
            return runs[-1]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    if repeats > 1:
        median["runs_s"] = [r["seconds"] for r in runs]
    return median


def kb_build_available() -> bool:
    kb = _which("kb")
    if kb is None:
        return False
    try:
        return subprocess.run([kb, "build", "--help"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def count_html(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.html")) if folder.is_dir() else 0


def run_one(work: Path, pages: int, quick: bool, timeout: float, repeats: int = 1) -> dict[str, Any]:
    base = work / "site" / str(pages)
    shutil.rmtree(base, ignore_errors=True)
    content = base / "content"
    articles = math.ceil(pages / len(synth.LOCALES))
    counts = synth.generate(content, articles)
    n_pages = counts["files"]
    out: dict[str, Any] = {"pages": n_pages, "articles": articles, "tools": {}}
    log(f"site {n_pages} pages ({articles} articles × {len(synth.LOCALES)} locales)")

    kb = _which("kb")
    if kb and kb_build_available():
        target = base / "kb-site"
        result = repeated([kb, "build", "--content", str(content), "--out", str(target)], target, repeats, timeout)
        result["html_files"] = count_html(target)
        result["note"] = _kb_note(result.get("output", ""))
        out["tools"]["kb build"] = result
        if result["ok"]:
            synth.edit_article(content, 0)
            inc = timed_run([kb, "build", "--content", str(content), "--out", str(target)], timeout)
            summary = inc.get("output", inc.get("status", ""))
            out["kb_incremental"] = {"seconds": inc.get("seconds"), "build_s": _inner_seconds(summary),
                                     "summary": re.sub(r" into \S+", "", summary)}
            result["build_s"] = _inner_seconds(result.get("output", ""))
            # the other tools build the edited content too
    else:
        out["tools"]["kb build"] = {"ok": False, "status": "skipped: kb build not available"}

    mkdocs = _which("mkdocs")
    if mkdocs:
        project = base / "mkdocs"
        project.mkdir()
        (project / "mkdocs.yml").write_text(MKDOCS_YML.format(docs=content, site=base / "mkdocs-site"), encoding="utf-8")
        result = timed_run([mkdocs, "build", "-q", "-f", str(project / "mkdocs.yml")], timeout, cwd=project)
        result["html_files"] = count_html(base / "mkdocs-site")
        result["note"] = "mkdocs-material, default features"
        out["tools"]["MkDocs"] = result
    else:
        out["tools"]["MkDocs"] = {"ok": False, "status": "skipped: mkdocs not installed (pip install mkdocs mkdocs-material)"}

    hugo = _which("hugo")
    if hugo:
        project = base / "hugo"
        for rel, text in HUGO_LAYOUTS.items():
            path = project / "layouts" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (project / "config.toml").write_text(HUGO_CONFIG.format(content=content, public=base / "hugo-site"), encoding="utf-8")
        result = repeated([hugo, "--quiet", "--source", str(project)], base / "hugo-site", repeats, timeout, cwd=project)
        result["html_files"] = count_html(base / "hugo-site")
        result["note"] = "minimal layout, no taxonomies"
        out["tools"]["Hugo"] = result
    else:
        out["tools"]["Hugo"] = {"ok": False, "status": "skipped: hugo not installed (apt-get install hugo)"}

    for tool in out["tools"].values():
        if tool.get("ok") and tool.get("seconds"):
            tool["pages_per_s"] = round(n_pages / tool["seconds"], 1)
    kb_s = out["tools"].get("kb build", {}).get("seconds") if out["tools"].get("kb build", {}).get("ok") else None
    if kb_s:
        out["ratios"] = {name: round(t["seconds"] / kb_s, 2) for name, t in out["tools"].items()
                         if t.get("ok") and name != "kb build"}
    if not quick:
        shutil.rmtree(base, ignore_errors=True)
    return out


def _inner_seconds(summary: str) -> float | None:
    """The build time kb build reports itself (without Python start-up and imports)."""
    match = re.search(r" in ([0-9.]+)s:", summary)
    return float(match.group(1)) if match else None


def _kb_note(summary: str) -> str:
    match = re.search(r"built (\d+) pages", summary)
    return f"{match.group(1)} pages incl. home and category pages, search index, sitemaps" if match else ""


def run(work: Path, sizes: list[int], quick: bool) -> dict[str, Any]:
    timeout = 300.0 if quick else 600.0
    repeats = 1 if quick else REPEATS
    runs = [run_one(work, pages, quick, timeout, repeats) for pages in sizes]
    notes = [f"each tool is stopped after {timeout:.0f} s; a stopped run is shown as '> {timeout:.0f} s'",
             f"kb build and Hugo: the median of {repeats} full builds, each into an emptied folder; MkDocs: one build",
             "the first kb build row is a full build into an empty folder; the incremental one reuses that folder"]
    return {"runs": runs, "notes": notes, "timeout_s": timeout}
