"""Words in every script, for BM25, snippets, highlighting and suggestions.

Python's `\\w` leaves combining marks out, so a Hindi word fell apart at its vowel signs and
virama and a Thai one at its vowel marks: a word here is a run of letters, digits and marks.
Chinese, Japanese kana, Thai, Lao, Khmer and Myanmar put no spaces between words: BM25 indexes a
stretch in those scripts as overlapping character bigrams (a lone character as itself), as
Elasticsearch's `cjk` analyzer does. That was chosen by measurement on xquad-r-pooled against ICU's
dictionary word breaks, jieba and PyThaiNLP: as good on the worst language and needs no package
(BENCHMARKS.md, "Scripts without spaces"). A marked stretch of such text starts and ends at a
character's start: a combining mark stays with its letter.
"""

from __future__ import annotations

import re
import unicodedata


def _mark_ranges() -> str:
    """A character class body of every combining mark (categories Mn, Mc, Me)."""
    ranges: list[str] = []
    start = None
    for cp in range(0x300, 0x20000):
        mark = unicodedata.category(chr(cp))[0] == "M"
        if mark and start is None:
            start = cp
        elif not mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    ranges.append("\U000e0100-\U000e01ef")  # variation selectors supplement: the only marks above
    return "".join(ranges)


MARKS = _mark_ranges()
# a word: letters, digits and the marks that belong to them (underscore is no letter)
WORD = re.compile(rf"(?:[^\W_]|[{MARKS}])+")
MARK = re.compile(f"[{MARKS}]")
# scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, Han
_UNSPACED_CHARS = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                   "\uf900-\ufaff\U00020000-\U0003134f")
UNSPACED = re.compile(f"[{_UNSPACED_CHARS}]")
# of those, the ones whose single characters mean something (Han, kana): one bigram is a word
IDEOGRAPHIC = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_STRETCH = re.compile(f"[{_UNSPACED_CHARS}]+|[^{_UNSPACED_CHARS}]+")
# Arabic harakat, the superscript alef and the tatweel: written or left out at will
_ARABIC_OPTIONAL = re.compile("[\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")


def normalize(text: str, lang: str) -> str:
    """NFKC, lowercase (Turkish dotted and dotless i kept apart), Arabic's optional marks dropped."""
    text = unicodedata.normalize("NFKC", text)
    if lang in ("tr", "az"):
        text = text.replace("I", "ı").replace("İ", "i")
    text = text.lower()
    if lang in ("ar", "fa", "ur"):
        text = _ARABIC_OPTIONAL.sub("", text)
    return text


def unspaced(word: str) -> bool:
    """Does the word hold a letter of a script written without spaces?"""
    return UNSPACED.search(word) is not None


def gram_spans(word: str) -> list[tuple[int, int]]:
    """(start, end) in `word` of its search tokens: a stretch of an unspaced script in
    overlapping bigrams (alone: the character), every other stretch whole."""
    if not unspaced(word):
        return [(0, len(word))]
    out: list[tuple[int, int]] = []
    for m in _STRETCH.finditer(word):
        start, end = m.span()
        if not UNSPACED.match(word, start) or end - start == 1:
            out.append((start, end))
        else:
            out += [(i, i + 2) for i in range(start, end - 1)]
    return out


def grams(word: str) -> list[str]:
    """The search tokens of one word (see gram_spans)."""
    return [word[start:end] for start, end in gram_spans(word)]


def whole_characters(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) widened so that neither cuts a letter from its combining marks."""
    while start > 0 and MARK.match(text, start):
        start -= 1
    while end < len(text) and MARK.match(text, end):
        end += 1
    return start, end
