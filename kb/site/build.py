"""`build_site`: render the help center into a folder of static files, incrementally.

The output folder keeps a manifest (`.kb-build.json`) of each page's input hash: the page's
data, its article body and resolved links, and a hash of the templates, static files, site
code and configuration. A page whose hash is unchanged (and whose file still exists) is not
rendered again; files of pages that no longer exist are deleted.

Pages are hashed, rendered and written in slices, by forked worker processes when the site
is large enough (kb.site.parallel); the files are the same as a serial build's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from kb.content.library import Library
from kb.errors import KbError
from kb.site import i18n, parallel
from kb.site.atomic import write_atomic
from kb.site.favicon import favicon_ico
from kb.site.files import search_indexes, sitemap_files, sitemap_url
from kb.site.pages import Page, PageSpec, Site
from kb.site.render import render_markdown
from kb.site.seo import SitemapUrl

SITE_DIR = Path(__file__).parent
TEMPLATES = SITE_DIR / "templates"
STATIC = SITE_DIR / "static"
MANIFEST = ".kb-build.json"
FORMAT = 1


@dataclass
class BuildReport:
    out_dir: Path
    pages: int = 0
    rendered: int = 0
    skipped: int = 0
    deleted: int = 0
    files_written: int = 0
    locales: list[str] = field(default_factory=list)
    articles: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rendered_files: list[str] = field(default_factory=list)  # pages rendered this time, relative to out_dir
    deleted_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"built {self.pages} pages for {self.articles} articles in {len(self.locales)} locales "
                f"into {self.out_dir} in {self.seconds:.2f}s: {self.rendered} rendered, {self.skipped} unchanged, "
                f"{self.deleted} file(s) removed, {self.files_written} other file(s) written")


@dataclass
class _Job:
    """What rendering a slice of the pages needs; forked workers inherit it."""

    out: Path
    site: Site
    plan: list[PageSpec]
    site_hash: str
    old_keys: dict[str, str]
    force: bool
    env: Environment


@dataclass
class _Slice:
    """What the parent needs to know of a slice of pages (one list entry per page, in page order)."""

    files: list[str]
    keys: list[str]
    sitemap: list[tuple[str, SitemapUrl | None]]  # page path, its sitemap entry
    rendered: list[str]  # files rendered
    dead_links: list[tuple[Path, str]]  # (article file, link target) for links that lead to no page
    assets: dict[str, Path]  # media files the slice's articles link to


def build_site(library: Library, out_dir: Path | str, base_url: str | None = None, *,
               force: bool = False, jobs: int | None = None) -> BuildReport:
    """Render every page of `library` into `out_dir`; only pages whose inputs changed are rendered.

    `jobs`: worker processes to render with (1: none); None uses every CPU when the site is large."""
    started = time.perf_counter()
    out = Path(out_dir)
    _check_out(out, library.root)
    out.mkdir(parents=True, exist_ok=True)
    i18n.refresh()
    base = (base_url or library.config.base_url).rstrip("/")
    static = {p.name: p.read_bytes() for p in sorted(STATIC.iterdir()) if p.is_file()}
    site = Site(library, base, {})
    site.assets.update({name: site.routes.path(f"/static/{name}?v={_sha(data)[:10]}") for name, data in static.items()})
    report = BuildReport(out_dir=out, locales=list(library.config.locales), articles=len(library.ids()))
    site_hash = _site_hash(library, base, static)
    old = _load_manifest(out)

    plan = site.plan()
    job = _Job(out, site, plan, site_hash, old["pages"], force, _environment())
    files: dict[str, bytes] = {}

    def search_files() -> None:  # done while the workers render
        files.update({name: text.encode("utf-8") for name, text in search_indexes(site).items()})

    slices = parallel.map_ranges(lambda start, stop: _render_slice(job, start, stop), len(plan),
                                 parallel.workers_for(len(plan), jobs), meanwhile=search_files)
    keys: dict[str, str] = {}
    sitemap: list[tuple[str, SitemapUrl | None]] = []
    dead_links: list[tuple[Path, str]] = []
    for part in slices:
        keys.update(zip(part.files, part.keys, strict=True))
        sitemap += part.sitemap
        dead_links += part.dead_links
        report.rendered_files.extend(part.rendered)
        site.linker.assets.update(part.assets)
    report.rendered = len(report.rendered_files)
    report.skipped = len(plan) - report.rendered
    report.pages = len(plan)
    report.warnings = _link_warnings(dead_links, library.root) + site.popular_warnings()

    files.update({name: text.encode("utf-8") for name, text in sitemap_files(site, sitemap).items()})
    files.update({f"static/{name}": data for name, data in static.items()})
    files["favicon.ico"] = favicon_ico()
    files.update({site_path.lstrip("/"): src.read_bytes() for site_path, src in site.linker.assets.items()})
    for name, data in files.items():
        if _write_if_changed(out / name, data):
            report.files_written += 1

    current = set(keys) | set(files)
    for name in sorted(set(old["pages"]) | set(old["files"])):
        if name not in current and _remove(out, name):
            report.deleted += 1
            report.deleted_files.append(name)
    write_atomic(out / MANIFEST, json.dumps({"format": FORMAT, "site": site_hash, "pages": keys,
                                       "files": sorted(files)}, indent=1, sort_keys=True).encode("utf-8"))
    report.seconds = time.perf_counter() - started
    return report


# -- rendering ---------------------------------------------------------------------------------
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d\s()/.-]{5,}\d")


@lru_cache(maxsize=1024)
def contact_html(text: str) -> Markup:
    """A support channel with its e-mail address or phone number made a link."""
    out, pos = [], 0
    for match in sorted([*_EMAIL.finditer(text), *_PHONE.finditer(text)], key=lambda m: m.start()):
        if match.start() < pos:
            continue
        value = match.group(0)
        href = f"mailto:{value}" if "@" in value else "tel:" + re.sub(r"[^\d+]", "", value)
        out.append(escape(text[pos:match.start()]))
        out.append(Markup('<a href="{}">{}</a>').format(href, value))
        pos = match.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(Environment):
    """`page.title` on a dict looks the key up directly: the stock lookup tries the attribute first
    and pays for an AttributeError every time. Names that are dict attributes (`items`, …) still
    go the stock way, so every lookup gives what it gave before."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _environment() -> Environment:
    """Templates are read and compiled once per build (no reload checks), before any worker forks."""
    env = _Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      auto_reload=False)
    env.filters["contact"] = contact_html
    i18n.install(env)
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    return env


def _render_slice(job: _Job, start: int, stop: int) -> _Slice:
    """Make and hash pages start..stop of the plan; render and write those whose inputs changed or
    whose file is gone."""
    site = job.site
    known = set(site.linker.assets)
    part = _Slice([], [], [], [], [], {})
    for spec in job.plan[start:stop]:
        page = site.page(spec)
        key = _page_key(job.site_hash, page)
        part.files.append(page.file)
        part.keys.append(key)
        part.sitemap.append((page.rel, sitemap_url(site, page)))
        if page.article is not None:
            part.dead_links += [(page.article.path, target) for target, url in page.links.items() if url is None]
        target = job.out / page.file
        if not job.force and job.old_keys.get(page.file) == key and target.is_file():
            continue
        write_atomic(target, _render(job.env, site, page).encode("utf-8"))
        part.rendered.append(page.file)
    part.assets = {k: v for k, v in site.linker.assets.items() if k not in known}
    return part


# Translators: the tooltip of the '#' link beside each heading of an article
_ANCHOR_TITLE = i18n.N_("Link to this section")


def _render(env: Environment, site: Site, page: Page) -> str:
    context: dict[str, Any] = dict(page.data)
    context["body_html"], context["toc"] = Markup(""), []
    if page.article is not None:
        article, locale = page.article, page.data["lang"]
        links = page.links
        rendered = render_markdown(
            article.body,
            resolve=lambda _tag, url: links[url] if url in links else site.linker.resolve(article, locale, url),
            anchor_title=i18n.translations(locale).gettext(_ANCHOR_TITLE))
        context["body_html"] = Markup(rendered.html)
        context["toc"] = [entry for entry in rendered.toc if entry.level == 2]
    return env.get_template(page.template).render(context)


def _link_warnings(dead_links: list[tuple[Path, str]], root: Path) -> list[str]:
    seen: set[tuple[str, str]] = set()
    out = []
    for path, target in dead_links:
        key = (str(path), target)
        if key not in seen:
            seen.add(key)
            out.append(f"{_rel(path, root)}: link to {target!r} leads to no page; shown as text")
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


# -- hashing and files -----------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _site_hash(library: Library, base_url: str, static: dict[str, bytes]) -> str:
    """Everything every page depends on: site code, templates, interface strings, static files, config,
    base URL."""
    h = hashlib.sha256(f"{FORMAT}\n{base_url}\n".encode())
    h.update(library.config.model_dump_json().encode("utf-8"))
    for path in sorted([*SITE_DIR.glob("*.py"), *TEMPLATES.rglob("*.html"), *i18n.LOCALES_DIR.glob("*/*/*.po")]):
        h.update(path.relative_to(SITE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    for name, data in sorted(static.items()):
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def _page_key(site_hash: str, page: Page) -> str:
    inputs = {"site": site_hash, "template": page.template, "data": page.data, "links": page.links,
              "body": page.article.body if page.article is not None else None}
    return _sha(json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))


def _load_manifest(out: Path) -> dict[str, Any]:
    empty: dict[str, Any] = {"pages": {}, "files": []}
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return empty
    return {"pages": dict(data.get("pages") or {}), "files": list(data.get("files") or [])}


def _check_out(out: Path, content: Path) -> None:
    out_r, content_r = out.resolve(), content.resolve()
    if out_r == content_r or content_r in out_r.parents:
        raise KbError(f"{out}: the output folder must not be inside the content folder {content}")
    if out.exists() and not out.is_dir():
        raise KbError(f"{out}: exists and is not a folder")


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_atomic(path, data)
    return True


def _remove(out: Path, name: str) -> bool:
    """Delete one file the last build wrote, and the folders it leaves empty."""
    path = (out / name).resolve()
    if out.resolve() not in path.parents or not path.is_file():
        return False
    path.unlink()
    parent = path.parent
    while parent != out.resolve() and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return True


