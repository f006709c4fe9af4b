"""Turn articles into searchable passages that point back to them.

Each article gives: its title, each entry of `questions`, and its body split by heading
into sections (with the section's anchor); long sections are split further with overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from kb.content.article import Article
from kb.content.sections import split_sections
from kb.content.text import plain

MAX_CHARS = 700
OVERLAP = 150
ARTICLE_CHARS = 2000  # the whole-article passage: title and the start of the body



@dataclass(frozen=True)
class Passage:
    article_id: str
    locale: str
    kind: str  # title | question | section | article
    anchor: str  # '' for the article itself
    heading: str
    text: str  # what is shown as a snippet
    embed_text: str  # what is embedded and indexed (with the title for context)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def chunks(text: str, size: int = MAX_CHARS, overlap: int = OVERLAP) -> list[str]:
    """Split text into pieces of at most `size` characters at word boundaries, overlapping."""
    if len(text) <= size:
        return [text] if text else []
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        if end >= len(text):
            break
        back = text.rfind(" ", end - overlap, end)
        start = back + 1 if back > start else end
    return [c for c in out if c]


def passages(article: Article) -> list[Passage]:
    aid, loc, title = article.id, article.locale, article.title.strip()
    out: list[Passage] = []
    if title:
        out.append(Passage(aid, loc, "title", "", "", title, title))
    for question in article.questions:  # the front matter's and the learned ones (kb/content/learned.py)
        q = question.strip()
        if q:
            out.append(Passage(aid, loc, "question", "", "", q, q))
    whole = plain(article.body)
    if whole and len(whole) > MAX_CHARS:
        # long articles also get one passage for the whole: sections alone miss questions
        # whose answer is spread over several of them
        out.append(Passage(aid, loc, "article", "", "", whole[:400], f"{title}\n{whole[:ARTICLE_CHARS]}".strip()))
    for section in split_sections(article.body):
        body = plain(section.text)
        if not body:
            continue
        for piece in chunks(body):
            context = " — ".join(x for x in (title, section.heading) if x)
            embed = f"{context}\n{piece}" if context else piece
            out.append(Passage(aid, loc, "section", section.anchor, section.heading, piece, embed))
    return out
