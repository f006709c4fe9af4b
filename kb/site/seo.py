"""What search engines read: JSON-LD, sitemaps and robots.txt."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kb.content.article import Article
from kb.content.sections import Section, split_sections
from kb.site.render import plain_text


def escape(text: str) -> str:
    """XML character data: '&', '<' and '>' escaped (as xml.sax.saxutils.escape, without its slow import)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def quoteattr(text: str) -> str:
    """An XML attribute value with its quotes (as xml.sax.saxutils.quoteattr)."""
    text = escape(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"{}"'.format(text.replace('"', "&quot;"))


def _dump(data: dict[str, Any]) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def article_jsonld(article: Article, url: str, publisher: str, lead: str,
                   sections: list[Section] | None = None) -> str:
    """`FAQPage` when the article is a list of questions (two or more question headings), else `Article`.

    `sections`: the body's sections when the caller has already split it."""
    if sections is None:
        sections = split_sections(article.body)
    questions = [s for s in sections if s.heading.rstrip().endswith(("?", "？", "؟"))]
    if len(questions) >= 2:
        return _dump({
            "@context": "https://schema.org", "@type": "FAQPage", "inLanguage": article.locale, "url": url,
            "mainEntity": [{"@type": "Question", "name": s.heading,
                            "acceptedAnswer": {"@type": "Answer", "text": plain_text(s.text)[:1000]}} for s in questions],
        })
    return _dump({
        "@context": "https://schema.org", "@type": "Article", "headline": article.title[:110],
        "inLanguage": article.locale, "url": url, "mainEntityOfPage": url,
        "dateModified": article.meta.updated.isoformat(), "description": lead[:300],
        "publisher": {"@type": "Organization", "name": publisher},
    })


def website_jsonld(name: str, url: str, locale: str, search_url: str) -> str:
    return _dump({
        "@context": "https://schema.org", "@type": "WebSite", "name": name, "url": url, "inLanguage": locale,
        "potentialAction": {"@type": "SearchAction", "target": search_url + "?q={search_term_string}",
                            "query-input": "required name=search_term_string"},
    })


@dataclass
class SitemapUrl:
    loc: str
    lastmod: str | None = None
    alternates: list[dict[str, str]] = field(default_factory=list)  # hreflang, href


def sitemap(urls: list[SitemapUrl]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
             'xmlns:xhtml="http://www.w3.org/1999/xhtml">']
    for url in urls:
        lines.append(f"  <url><loc>{escape(url.loc)}</loc>"
                     + (f"<lastmod>{url.lastmod}</lastmod>" if url.lastmod else ""))
        for alt in url.alternates:
            lines.append(f'    <xhtml:link rel="alternate" hreflang={quoteattr(alt["hreflang"])} '
                         f'href={quoteattr(alt["href"])}/>')
        lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def sitemap_index(locs: list[str]) -> str:
    body = "\n".join(f"  <sitemap><loc>{escape(loc)}</loc></sitemap>" for loc in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{body}\n</sitemapindex>\n')


def robots(sitemap_url: str, prefix: str, locales: list[str]) -> str:
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {prefix}/{locale}/search/" for locale in locales]
    lines += ["", f"Sitemap: {sitemap_url}"]
    return "\n".join(lines) + "\n"
