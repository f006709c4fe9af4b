"""The static site: structure, languages, sanitization, links, incremental build, sitemaps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from helpers import ROOT, TESTS

from kb.content.library import Library
from kb.site.build import MANIFEST, BuildReport, build_site, contact_html
from kb.site.render import link_targets, render_markdown

REPO = ROOT
BASE = "http://127.0.0.1:8000"

KB_TOML = """\
name = "Test Shop Help"
source_locale = "en"
locales = ["en", "de", "fr", "ar"]
base_url = "http://127.0.0.1:8000"

[categories.orders]
title = { en = "Orders", de = "Bestellungen", fr = "Commandes" }

[categories.shipping]
title = { en = "Shipping", de = "Versand", fr = "Livraison" }

[support.en]
channels = ["E-mail: help@shop.example", "Phone: +44 20 7946 0000"]
hours = "Monday to Friday, 9:00–17:00"
timezone = "Europe/London"

[support.de]
channels = ["E-Mail: hilfe@shop.example"]
hours = "Montag bis Freitag, 9–17 Uhr"
timezone = "Europe/Berlin"
"""

CANCEL_EN = """\
---
id: cancel-order
title: How do I cancel my order?
category: orders
questions: ["Can I cancel?"]
updated: 2026-09-12
---
Open **My account** and select **Cancel order**. See [the fees](fees.md) and
[where your parcel is](../shipping/track.md#where-is-my-parcel). Also [a gone page](../returns/nope.md)
and [the first section](#before-packing).

![Cancel button](img/cancel.png)

## Before packing

Cancel it yourself.

## After shipping

Refuse the parcel.
"""

FEES_EN = """\
---
id: fees
title: Is there a fee to cancel?
category: orders
updated: 2026-09-01
---
No fee. <script>alert('owned')</script>

<img src="x" onerror="alert('img')">

<a href="#" onclick="steal()">click</a> and [js link](javascript:alert(1)) and [styled](fees.md){onclick="alert(2)"}

<iframe src="https://evil.example"></iframe>

| Item | Fee |
|:-----|----:|
| Standard | 0 € |

## Details

Nothing else.
"""

TRACK_EN = """\
---
id: track
title: Where is my parcel?
category: shipping
updated: 2026-08-01
---
Use the tracking link.

## Where is my parcel

In the app.
"""


def translation(title: str, source_hash: str, review: str, body: str, category: str = "orders",
                id_: str = "cancel-order", extra: str = "") -> str:
    return (f"---\nid: {id_}\ntitle: {title}\ncategory: {category}\nupdated: 2026-09-20\nsource_locale: en\n"
            f"source_hash: {source_hash}\nreview: {review}\n{extra}---\n{body}")


def write_tree(root: Path) -> Path:
    files = {"kb.toml": KB_TOML, "en/orders/cancel-order.md": CANCEL_EN, "en/orders/fees.md": FEES_EN,
             "en/shipping/track.md": TRACK_EN}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "en/orders/img").mkdir()
    (root / "en/orders/img/cancel.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    source = Library.load(root)
    cancel = source.get("cancel-order", "en").hash
    more = {
        "de/orders/cancel-order.md": translation(
            "Wie storniere ich meine Bestellung?", cancel, "human",
            "Öffnen Sie **Mein Konto**. Siehe [Gebühren](fees.md).\n\n## Vor dem Packen\n\nSelbst stornieren.\n"),
        "fr/orders/cancel-order.md": translation(
            "Comment annuler ma commande ?", cancel, "machine",
            "Ouvrez **Mon compte**. Voir [les frais](fees.md).\n\n## Avant l'emballage\n\nAnnulez vous-même.\n"),
        "ar/orders/cancel-order.md": translation(
            "كيف ألغي طلبي؟", cancel, "human", "افتح **حسابي** واختر إلغاء الطلب.\n"),
        "de/shipping/track.md": translation(
            "Wo ist mein Paket?", "deadbeef", "reviewed", "Nutzen Sie den Link.\n\n## Wo ist mein Paket\n\nIn der App.\n",
            category="shipping", id_="track", extra="reviewed_by: anna\nreviewed_on: 2026-09-21\n"),
    }
    for name, text in more.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


# -- helpers -------------------------------------------------------------------------------------
class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str]] = []  # tag, attribute, value
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        self.tags.append((tag, d))
        if d.get("id"):
            self.ids.add(d["id"])  # type: ignore[arg-type]
        for attr in ("href", "src", "action"):
            if d.get(attr):
                self.links.append((tag, attr, d[attr]))  # type: ignore[arg-type]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [d for t, d in self.tags if t == tag and all(d.get(k) == v for k, v in attrs.items())]


def read(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def parse(out: Path, rel: str) -> Page:
    return Page(read(out, rel))


def page_url(base: str, rel: Path) -> str:
    path = rel.as_posix()
    if path.endswith("index.html"):
        path = path[: -len("index.html")]
    return base.rstrip("/") + "/" + path


def broken_links(out: Path, base: str = BASE) -> list[str]:
    """Every internal href/src/action must be a built file; every #fragment an id on its page."""
    base_parts = urlsplit(base)
    prefix = base_parts.path.rstrip("/")
    parsed = {p.relative_to(out): Page(p.read_text(encoding="utf-8")) for p in out.rglob("*.html")}
    problems = []
    for rel, page in parsed.items():
        here = page_url(base, rel)
        for tag, _attr, link in page.links:
            url = urlsplit(urljoin(here, link))
            if url.scheme not in ("http", "https") or url.netloc != base_parts.netloc:
                continue
            if not url.path.startswith(prefix + "/") or url.path.startswith("/v1/"):
                problems.append(f"{rel}: <{tag}> {link}: outside the site")
                continue
            path = unquote(url.path[len(prefix):]).lstrip("/")
            target = out / (path + "index.html" if path == "" or path.endswith("/") else path)
            if not target.is_file():
                problems.append(f"{rel}: <{tag}> {link}: no file {target.relative_to(out)}")
                continue
            fragment = unquote(url.fragment)
            if fragment and target.suffix == ".html" and fragment not in parsed[target.relative_to(out)].ids:
                problems.append(f"{rel}: <{tag}> {link}: no id {fragment!r} on the target page")
        if page.find("script", id="kb-config"):
            config = json.loads(page.scripts[0])  # the first script with content
            if not (out / config["index"][len(prefix):].lstrip("/")).is_file():
                problems.append(f"{rel}: search index {config['index']} missing")
    return problems


def alternates(page: Page) -> dict[str, str]:
    return {d["hreflang"]: d["href"] for d in page.find("link", rel="alternate")}  # type: ignore[misc]


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "content")


@pytest.fixture()
def built(tree: Path, tmp_path: Path) -> tuple[Path, BuildReport]:
    library = Library.load(tree)
    assert not library.problems, library.problems
    out = tmp_path / "site"
    return out, build_site(library, out)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "site"
    build_site(Library.load(REPO / "content"), out)
    return out


# -- structure and languages ---------------------------------------------------------------------
def test_every_locale_gets_every_article(built: tuple[Path, BuildReport]) -> None:
    out, report = built
    for locale in ("en", "de", "fr", "ar"):
        for path in ("orders/cancel-order", "orders/fees", "shipping/track"):
            assert (out / locale / path / "index.html").is_file()
        assert (out / locale / "index.html").is_file()
        assert (out / locale / "orders" / "index.html").is_file()
        assert (out / locale / "search" / "index.html").is_file()
        assert (out / locale / "contact-us" / "index.html").is_file()
    assert (out / "index.html").is_file() and (out / "404.html").is_file()
    # root, 404; home, search, 404, contact, categories, articles
    assert report.pages == report.rendered == 2 + 4 * (4 + 2 + 3)


def test_each_locale_has_its_own_404_page(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    german = (out / "de" / "404.html").read_text(encoding="utf-8")
    assert '<html lang="de"' in german and "Seite nicht gefunden" in german and 'href="/de/"' in german
    assert 'action="/de/search/"' in german and 'content="noindex' in german
    french = (out / "fr" / "404.html").read_text(encoding="utf-8")
    assert '<html lang="fr"' in french and "Page introuvable" in french
    root = (out / "404.html").read_text(encoding="utf-8")
    assert '<html lang="en"' in root and "Page not found" in root
    assert "404.html" not in (out / "de" / "sitemap.xml").read_text(encoding="utf-8")


def test_html_lang_and_dir(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    for rel, lang, direction in [("de/orders/cancel-order/index.html", "de", "ltr"),
                                 ("ar/orders/cancel-order/index.html", "ar", "rtl"),
                                 ("ar/index.html", "ar", "rtl"), ("en/index.html", "en", "ltr")]:
        html = parse(out, rel).find("html")[0]
        assert (html["lang"], html["dir"]) == (lang, direction), rel
    # an English fallback inside an Arabic page is marked as English, left to right
    prose = parse(out, "ar/orders/fees/index.html").find("div", **{"class": "prose"})[0]
    assert (prose["lang"], prose["dir"]) == ("en", "ltr")


def test_hreflang_only_for_human_and_reviewed_versions(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    expected = {"en": f"{BASE}/en/orders/cancel-order/", "de": f"{BASE}/de/orders/cancel-order/",
                "ar": f"{BASE}/ar/orders/cancel-order/", "x-default": f"{BASE}/en/orders/cancel-order/"}
    for locale in ("en", "de", "ar"):
        page = parse(out, f"{locale}/orders/cancel-order/index.html")
        assert alternates(page) == expected
        assert page.find("link", rel="canonical")[0]["href"] == f"{BASE}/{locale}/orders/cancel-order/"
        assert not page.find("meta", name="robots")


def test_machine_draft_has_notice_noindex_and_no_hreflang(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    text = read(out, "fr/orders/cancel-order/index.html")
    page = Page(text)
    assert page.find("meta", name="robots", content="noindex")
    assert alternates(page) == {}
    assert "Traduit automatiquement, pas encore relu par notre équipe." in text
    notice = re.search(r'<div class="notice notice-machine".*?</div>', text, re.S)
    assert notice and 'href="/en/orders/cancel-order/"' in notice.group(0)
    assert "Lire l&#39;original (English)" in notice.group(0)
    # the draft is listed in the switcher, flagged, but never offered to search engines
    assert "Français" in text and "Traduction automatique" in text
    assert f"{BASE}/fr/orders/cancel-order/" not in read(out, "fr/sitemap.xml")


def test_missing_translation_shows_fallback_with_notice(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    text = read(out, "fr/orders/fees/index.html")
    page = Page(text)
    assert page.find("html")[0]["lang"] == "fr"
    assert "Cet article n&#39;est pas encore disponible dans votre langue" in text
    assert "Vous lisez la version en anglais." in text
    assert page.find("link", rel="canonical")[0]["href"] == f"{BASE}/en/orders/fees/"
    assert alternates(page) == {}
    assert "Cet article vous a-t-il aidé ?" in text  # the page around it speaks French
    listing = read(out, "fr/orders/index.html")
    assert "Disponible uniquement en anglais" in listing


def test_stale_translation_says_the_original_changed(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    text = read(out, "de/shipping/track/index.html")
    assert "Der Originalartikel wurde nach dieser Übersetzung aktualisiert." in text
    assert 'href="/en/shipping/track/"' in text
    assert "notice-stale" not in read(out, "de/orders/cancel-order/index.html")


def test_language_switcher_names_versions_in_their_own_language(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    page = parse(out, "en/orders/cancel-order/index.html")
    versions = {d["hreflang"] for d in page.find("a") if d.get("hreflang")}
    assert versions == {"en", "de", "fr", "ar"}
    text = read(out, "en/orders/cancel-order/index.html")
    for name in ("English", "Deutsch", "Français", "العربية"):
        assert name in text


def test_ui_strings_dates_and_support_per_locale(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    de = read(out, "de/orders/cancel-order/index.html")
    assert "War dieser Artikel hilfreich?" in de and "Brauchen Sie noch Hilfe?" in de
    assert "20. September 2026" in de and 'datetime="2026-09-20"' in de
    assert '<a href="mailto:hilfe@shop.example">hilfe@shop.example</a>' in de
    assert "Montag bis Freitag" in de
    assert "Startseite" in de and "Bestellungen" in de  # breadcrumbs
    ar = read(out, "ar/orders/cancel-order/index.html")  # no Arabic UI strings: English ones
    assert "Was this helpful?" in ar and "help@shop.example" in ar
    en = read(out, "en/orders/cancel-order/index.html")
    assert "September 12, 2026" in en and 'href="tel:+442079460000"' in en


def test_links_between_articles_point_to_site_urls(built: tuple[Path, BuildReport]) -> None:
    out, report = built
    en = read(out, "en/orders/cancel-order/index.html")
    assert 'href="/en/orders/fees/"' in en
    assert 'href="/en/shipping/track/#where-is-my-parcel"' in en
    assert 'href="#before-packing"' in en and 'id="before-packing"' in en
    assert "a gone page" in en and "nope" not in en
    assert '<img alt="Cancel button" src="/media/en/orders/img/cancel.png">' in en
    assert (out / "media/en/orders/img/cancel.png").read_bytes().startswith(b"\x89PNG")
    # on the German page the same links lead to German pages; the anchor only where it exists
    de_fallback = read(out, "de/orders/fees/index.html")
    assert 'href="/de/orders/fees/"' in de_fallback
    fr = read(out, "fr/orders/cancel-order/index.html")
    assert 'href="/fr/orders/fees/"' in fr
    assert any("nope.md" in w and "cancel-order.md" in w for w in report.warnings)


def test_json_ld_per_article(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    page = parse(out, "de/orders/cancel-order/index.html")
    data = json.loads(page.scripts[-1])
    assert data["@type"] == "Article" and data["headline"] == "Wie storniere ich meine Bestellung?"
    assert data["inLanguage"] == "de" and data["dateModified"] == "2026-09-20"


# -- safety --------------------------------------------------------------------------------------
def test_script_and_event_handlers_never_reach_the_page(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    for path in out.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        page = Page(text)
        assert "owned" not in text and "steal()" not in text and "javascript:" not in text, path
        assert "<iframe" not in text, path
        for tag, attrs in page.tags:
            assert not [a for a in attrs if a.startswith("on")], (path, tag, attrs)
            if tag == "script":
                assert attrs.get("type") in ("application/json", "application/ld+json") or \
                    (attrs.get("src") or "").startswith(("/static/site.js?", "/static/search.js?")), (path, attrs)
    fees = read(out, "en/orders/fees/index.html")
    assert '<th style="text-align:left">Item</th>' in fees  # tables and their alignment survive


def test_render_markdown_sanitizes() -> None:
    body = ('<script>x()</script><img src=a onerror=b()><a href="javascript:c()">j</a>\n\n'
            '[l](x.md){onclick="d()" style="color:red"}\n\n## T\n\n<svg onload=e()></svg>')
    rendered = render_markdown(body, resolve=lambda _tag, url: "/ok/" if url.endswith(".md") else url)
    for bad in ("script", "onerror", "javascript", "onclick", "onload", "svg", "color:red", "x()"):
        assert bad not in rendered.html, bad
    assert '<a href="/ok/">l</a>' in rendered.html and 'id="t"' in rendered.html
    assert link_targets(body) == sorted({"a", "javascript:c()", "x.md"})


def test_contact_links_escape_text() -> None:
    assert str(contact_html("<b>Mail</b>: a@b.example")) == \
        '&lt;b&gt;Mail&lt;/b&gt;: <a href="mailto:a@b.example">a@b.example</a>'


# -- links, sitemaps, incremental build -----------------------------------------------------------
def test_no_broken_links_in_fixture_site(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    assert broken_links(out) == []


def test_no_broken_links_in_sample_site(sample: Path) -> None:
    assert len(list(sample.rglob("*.html"))) > 100
    assert broken_links(sample) == []


def test_sample_site_pages(sample: Path) -> None:
    for locale in ("en", "de", "fr", "es", "it", "pl", "tr"):
        html = parse(sample, f"{locale}/index.html").find("html")[0]
        assert html["lang"] == locale and html["dir"] == "ltr"
        assert (sample / locale / "orders/cancel-order/index.html").is_file()
        index = json.loads(read(sample, f"{locale}/search-index.json"))
        assert {a["id"] for a in index["articles"]} >= {"cancel-order", "pay-with-blik"}
        assert all(a["url"].startswith(f"/{locale}/") for a in index["articles"])


def test_sitemaps_and_robots(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    index = read(out, "sitemap.xml")
    for locale in ("en", "de", "fr", "ar"):
        assert f"<loc>{BASE}/{locale}/sitemap.xml</loc>" in index
    en = read(out, "en/sitemap.xml")
    assert f"<loc>{BASE}/en/orders/cancel-order/</loc><lastmod>2026-09-12</lastmod>" in en
    block = en.split(f"<loc>{BASE}/en/orders/cancel-order/</loc>")[1].split("</url>")[0]
    assert 'hreflang="de"' in block and 'hreflang="ar"' in block and 'hreflang="fr"' not in block
    de = read(out, "de/sitemap.xml")
    assert f"{BASE}/de/orders/cancel-order/" in de and f"{BASE}/de/orders/fees/" not in de  # fallback left out
    assert f"{BASE}/de/" in de
    robots = read(out, "robots.txt")
    assert f"Sitemap: {BASE}/sitemap.xml" in robots and "Disallow: /de/search/" in robots


def test_search_index_flags(built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    items = {a["id"]: a for a in json.loads(read(out, "fr/search-index.json"))["articles"]}
    assert items["cancel-order"]["machine_translated"] and not items["cancel-order"]["fallback"]
    assert items["fees"]["fallback"] and items["fees"]["lang"] == "en"
    assert items["fees"]["url"] == "/fr/orders/fees/"
    assert "<" not in items["fees"]["text"] and "owned" not in items["fees"]["text"]  # plain text, not HTML


def test_incremental_build_renders_only_the_changed_article(tree: Path, built: tuple[Path, BuildReport]) -> None:
    out, first = built
    again = build_site(Library.load(tree), out)
    assert again.rendered == 0 and again.skipped == first.pages
    fees = tree / "en/orders/fees.md"
    fees.write_text(fees.read_text(encoding="utf-8").replace("Nothing else.", "Nothing else at all."), encoding="utf-8")
    changed = build_site(Library.load(tree), out)
    assert sorted(changed.rendered_files) == [f"{loc}/orders/fees/index.html" for loc in ("ar", "de", "en", "fr")]
    assert changed.skipped == first.pages - 4
    assert "Nothing else at all." in read(out, "de/orders/fees/index.html")


def test_removed_article_pages_are_deleted(tree: Path, built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    (tree / "en/orders/fees.md").unlink()
    report = build_site(Library.load(tree), out)
    assert not (out / "en/orders/fees").exists() and not (out / "fr/orders/fees").exists()
    assert {f"{loc}/orders/fees/index.html" for loc in ("ar", "de", "en", "fr")} <= set(report.deleted_files)
    assert (out / "en/orders/cancel-order/index.html").is_file()
    assert "fees" not in json.loads(read(out, MANIFEST))["pages"]
    assert broken_links(out) == []


def test_deleted_output_file_is_rendered_again(tree: Path, built: tuple[Path, BuildReport]) -> None:
    out, _ = built
    (out / "de/orders/cancel-order/index.html").unlink()
    report = build_site(Library.load(tree), out)
    assert report.rendered_files == ["de/orders/cancel-order/index.html"]


def _tree_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _parallel_equals_serial(tree: Path, tmp_path: Path) -> None:
    from kb.site import parallel

    assert parallel.workers_for(100, 2) == 2, "this process cannot fork workers"
    # A link only the Markdown renderer finds (not link_targets): the worker that renders it registers the image.
    (tree / "en/orders/img/a b.png").write_bytes(b"\x89PNG\r\n\x1a\nspace")
    fees = tree / "en/orders/fees.md"
    fees.write_text(fees.read_text(encoding="utf-8") + "\n![Spaced](<img/a b.png>)\n", encoding="utf-8")
    serial, forked = tmp_path / "serial", tmp_path / "forked"
    one = build_site(Library.load(tree), serial, jobs=1)
    two = build_site(Library.load(tree), forked, jobs=2)
    assert (out := _tree_files(forked)) == _tree_files(serial)
    assert "media/en/orders/img/a b.png" in out
    assert two.rendered_files == one.rendered_files and two.pages == one.pages and two.warnings == one.warnings
    # incremental, in parallel: only the changed article's pages
    fees.write_text(fees.read_text(encoding="utf-8").replace("Nothing else.", "Nothing more."), encoding="utf-8")
    again = build_site(Library.load(tree), forked, jobs=2)
    assert sorted(again.rendered_files) == [f"{loc}/orders/fees/index.html" for loc in ("ar", "de", "en", "fr")]
    build_site(Library.load(tree), serial, jobs=1)
    assert _tree_files(forked) == _tree_files(serial)


def test_parallel_build_writes_the_same_files_as_a_serial_one(tree: Path, tmp_path: Path) -> None:
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no 'fork' start method on this platform: kb build renders serially here")
    if threading.active_count() == 1:
        _parallel_equals_serial(tree, tmp_path)
        return
    # Earlier tests left threads running (servers, pools), and kb never forks then: check in a fresh process.
    script = ("import sys; from pathlib import Path; sys.path[:0] = sys.argv[1].split('|'); "
              "from test_site import _parallel_equals_serial; _parallel_equals_serial(Path(sys.argv[2]), Path(sys.argv[3]))")
    done = subprocess.run([sys.executable, "-c", script, f"{TESTS}|{Path(__file__).parent}", str(tree), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


INLINE_CASES = [
    "plain text only", "a  \nbreak", "`code` and \\`escaped\\`", "\\*not em\\*", "*em* __strong__ _u_",
    "[link](x.md) ![img](i.png) [ref][r] [short]\n\n[r]: y.md", "<https://a.example> <a@b.example>",
    "<b>raw</b> &amp; &#169; &copy; AT&T", "# Head *x*\n\n- item\n- *item*\n\n| a | b |\n|---|---|\n| `c` | d_e |",
    "```\n*not* [inline]\n```\n\n    indented *code*", "{: #x } text", "> quote with [link](a.md)", "[TOC]\n\n## A\n\n## B",
]


def test_fast_inline_pass_gives_the_stock_html() -> None:
    from kb.site import fastinline
    from kb.site.render import new_markdown

    fast, stock = new_markdown("Link"), new_markdown("Link", fast=False)
    assert isinstance(fast.treeprocessors["inline"], fastinline.FastInlineProcessor)
    bodies = INLINE_CASES + [a.body for a in Library.load(REPO / "content").articles]
    for body in bodies:
        fast.reset()
        stock.reset()
        assert fast.convert(body) == stock.convert(body), body
        assert fast.toc_tokens == stock.toc_tokens


def test_base_url_with_path_prefix(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "prefixed"
    base = "https://shop.example/help"
    build_site(Library.load(tree), out, base_url=base)
    text = read(out, "de/orders/cancel-order/index.html")
    assert 'href="/help/de/orders/fees/"' in text and 'href="/help/static/site.css?v=' in text
    assert f'<link rel="canonical" href="{base}/de/orders/cancel-order/">' in text
    assert broken_links(out, base) == []


def test_output_inside_content_is_refused(tree: Path) -> None:
    from kb.errors import KbError

    with pytest.raises(KbError):
        build_site(Library.load(tree), tree / "site")


def test_cli_build(tree: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kb.cli import app

    out = tmp_path / "cli-site"
    result = CliRunner().invoke(app, ["build", "--content", str(tree), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "rendered" in result.output and (out / "en/index.html").is_file()
    result = CliRunner().invoke(app, ["build", "--content", str(tree), "--out", str(out)])
    assert "0 rendered" in result.output


def test_faq_json_ld_for_question_headings() -> None:
    import datetime as dt

    from kb.content.article import Article, FrontMatter
    from kb.site.seo import article_jsonld

    meta = FrontMatter(id="faq", title="Returns FAQ", category="orders", updated=dt.date(2026, 1, 2))
    body = "Intro.\n\n## Can I return sale items?\n\nYes, <b>within</b> 30 days.\n\n## Who pays postage?\n\nWe do.\n"
    data = json.loads(article_jsonld(Article(meta=meta, body=body, locale="en", path=Path("faq.md")),
                                     f"{BASE}/en/orders/faq/", "Shop", "Intro."))
    assert data["@type"] == "FAQPage"
    assert [q["name"] for q in data["mainEntity"]] == ["Can I return sale items?", "Who pays postage?"]
    assert data["mainEntity"][0]["acceptedAnswer"]["text"] == "Yes, within 30 days."


def test_reserved_category_name_is_refused(tree: Path, tmp_path: Path) -> None:
    from kb.errors import KbError

    toml = tree / "kb.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[categories.search]\ntitle = { en = "Search" }\n',
                    encoding="utf-8")
    fees = tree / "en/orders/fees.md"
    fees.write_text(fees.read_text(encoding="utf-8").replace("category: orders", "category: search"), encoding="utf-8")
    with pytest.raises(KbError, match="'search'"):
        build_site(Library.load(tree), tmp_path / "out")
