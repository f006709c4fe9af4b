"""The pages that keep a shopper from a dead end (issue 16): the contact page per locale, popular
articles and topic counts on the home page, the article's language menu with every locale, what the
search page gives its script, the favicon, and the offline index's readable tables."""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from helpers import article_text, write, write_help_center

from kb.content.library import Library
from kb.site.build import BuildReport, build_site


class Texts(HTMLParser):
    """The text of every element `tag` whose class list holds `cls` (or whose id is `cls`)."""

    def __init__(self, html: str, tag: str, cls: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tag, self.cls = tag, cls
        self.found: list[str] = []
        self._depth = 0  # inside a match: nesting of `tag`
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if tag == self.tag and self._depth:
            self._depth += 1
        elif tag == self.tag and (self.cls in (d.get("class") or "").split() or d.get("id") == self.cls):
            self._depth = 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.tag and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.found[-1] += data


def texts(html: str, tag: str, cls: str) -> list[str]:
    return [" ".join(t.split()) for t in Texts(html, tag, cls).found]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    root = tmp_path_factory.mktemp("shopper")
    content = write_help_center(root / "content", machine_de=("refund-timing",))
    toml = content / "kb.toml"
    toml.write_text(toml.read_text().replace('popular = ["track-parcel", "cancel-order"]',
                                             'popular = ["track-parcel", "no-such-article", "cancel-order"]'))
    write(content, "en/payments/methods.md", article_text(
        "methods", "Which payment methods can I use?",
        "We take cards and BLIK.\n\n| Method | Where |\n|---|---|\n| BLIK | Poland, in PLN |\n| iDEAL | Netherlands |\n\n"
        "## Cards\n\nVisa and Mastercard.\n\n## Wallets\n\nApple Pay.\n", "payments"))
    out = root / "site"
    return out, build_site(Library.load(content), out)


def read(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def config(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="kb-config">(.*?)</script>', html, re.S)[1])


def test_a_contact_page_per_locale_with_its_channels(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    de = read(out, "de/contact-us/index.html")
    assert "<h1>Kontakt</h1>" in de
    assert texts(de, "ul", "channels") == ["E-Mail: hilfe@shop.test"]
    assert 'href="mailto:hilfe@shop.test"' in de and "Mo-Fr 9-17 Uhr" in de
    assert texts(de, "section", "support") == []  # the page itself is the contact: no support box below
    pl = read(out, "pl/contact-us/index.html")  # no [support.pl]: the source locale's contact, Polish page
    assert "help@shop.test" in pl and '<html lang="pl"' in pl
    assert '<link rel="canonical" href="http://help.test/pl/contact-us/">' in pl
    for page in ("en/index.html", "pl/shipping/track-parcel/index.html", "de/search/index.html"):
        assert re.search(r'<p class="contact-link"><a href="/(en|pl|de)/contact-us/">', read(out, page)), page


def test_without_a_support_contact_no_contact_page(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    toml = content / "kb.toml"
    text = toml.read_text()
    toml.write_text(text[:text.index("[support.en]")])
    build_site(Library.load(content), tmp_path / "site")
    assert not (tmp_path / "site" / "en" / "contact-us").exists()
    assert "contact-us" not in read(tmp_path / "site", "en/index.html")


def test_home_lists_the_editors_popular_articles_and_counts_topics(site: tuple[Path, BuildReport]) -> None:
    out, report = site
    pl = read(out, "pl/index.html")
    popular = texts(pl, "section", "popular")[0]
    assert popular.index("Where is my parcel?") < popular.index("How do I cancel my order?")
    assert "kb.toml: popular lists 'no-such-article', which is no article's id; left out" in report.warnings
    assert texts(pl, "p", "count") == ["2 artykuły", "2 artykuły", "1 artykuł"]  # orders, payments, shipping
    de = read(out, "de/index.html")
    assert "Wie storniere ich meine Bestellung?" in texts(de, "section", "popular")[0]
    assert texts(de, "p", "count") == ["2 Artikel", "2 Artikel", "1 Artikel"]


def test_the_language_menu_of_an_article_lists_every_locale(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    pl = read(out, "pl/orders/cancel-order/index.html")  # Polish has no version: English stands in
    menu = texts(pl, "nav", "lang-switch")[0]
    assert menu.startswith("Język: Polski")  # the button names the page's language, not "Other languages"
    assert "Inne języki" not in menu
    for code in ("en", "de", "pl", "tr"):
        assert f'<a href="/{code}/orders/cancel-order/" hreflang="{code}" lang="{code}"' in pl, code
    assert "Polski (wersja: angielski)" in menu and "Türkçe (wersja: angielski)" in menu
    assert "Deutsch (" not in menu  # German has its own version
    de = read(out, "de/orders/refund-timing/index.html")
    menu = texts(de, "nav", "lang-switch")[0]
    assert "Deutsch (Maschinelle Übersetzung)" in menu and "Polski (angezeigt auf Englisch)" in menu
    versions = texts(de, "nav", "versions")[0]  # the sidebar lists the versions that exist
    assert "English" in versions and "Polski" not in versions


def test_phones_get_the_sections_at_the_top_and_a_way_back(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    html = read(out, "en/payments/methods/index.html")
    assert html.index('class="toc toc-inline"') < html.index('<div class="prose"')
    assert texts(html, "details", "toc-inline") == ["On this page Cards Wallets"]
    assert '<a href="#top">Back to top</a>' in html and '<header class="site-header" id="top">' in html


def test_no_on_was_this_helpful_offers_related_articles_and_the_contact(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    html = read(out, "de/orders/cancel-order/index.html")
    more = texts(html, "div", "feedback-more")[0]
    assert "Diese Artikel helfen vielleicht weiter" in more and "When will I get my refund?" in more
    assert "Fragen Sie unseren Kundenservice" in more and 'href="/de/contact-us/">Fragen Sie' in html


def test_the_search_page_gives_its_script_counts_topics_and_the_contact(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    html = read(out, "pl/search/index.html")
    js = config(html)
    assert js["counts"][1] == "{count} wynik dla „{query}”"  # the script fills both
    assert js["counts"][3] == "{count} wyniki dla „{query}”"
    assert js["counts"][5] == js["counts"][12] == "{count} wyników dla „{query}”"
    assert js["counts"][22] == js["counts"][2] and len(js["counts"]) == 51
    assert js["categories"] == {"orders": "Orders", "payments": "Payments", "shipping": "Shipping"}
    assert js["contact"] == "/pl/contact-us/" and js["strings"]["no_match"] == "Brak artykułów pasujących do „{query}”"
    help_box = texts(html, "section", "kb-help")[0]
    assert "help@shop.test" in help_box and "Popularne artykuły" in help_box
    assert len(texts(html, "div", "contact-card")) == 1
    assert '<script src="/static/search.js?v=' in html


def test_a_favicon_for_every_browser(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    ico = (out / "favicon.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    width, height, _, _, _, bits, size, offset = struct.unpack("<BBBBHHII", ico[6:22])
    assert (reserved, kind, count, width, height, bits) == (0, 1, 1, 32, 32, 32)
    assert ico[offset:offset + 8] == b"\x89PNG\r\n\x1a\n" and len(ico) == offset + size
    assert (out / "static" / "favicon.svg").read_text().startswith("<svg")
    assert re.search(r'<link rel="icon" href="/static/favicon.svg\?v=\w+" type="image/svg\+xml">',
                     read(out, "de/index.html"))
    assert '<meta name="color-scheme" content="light dark">' in read(out, "de/index.html")


def test_the_offline_index_keeps_table_cells_apart_and_names_sections(site: tuple[Path, BuildReport]) -> None:
    out, _ = site
    index = json.loads(read(out, "pl/search-index.json"))
    methods = next(a for a in index["articles"] if a["id"] == "methods")
    assert "BLIK: Poland, in PLN. iDEAL: Netherlands." in methods["text"]
    assert methods["sections"] == {"cards": "Cards", "wallets": "Wallets"}
    assert methods["category_key"] == "payments"
