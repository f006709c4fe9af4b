"""Python-Markdown's inline pass without the work on text that no inline pattern can match.

The stock InlineProcessor tries every inline pattern (links, emphasis, code, HTML, …) on every
text of the tree, one regular-expression search after another; in help articles most texts
(list items, table cells, plain sentences) contain none of the characters any pattern needs, and
those searches are about a quarter of the Markdown time. This subclass leaves such a text alone,
and on the others skips each pattern whose characters the text lacks (exactly what the stock loop
does when a pattern does not match: on to the next pattern, from the start), so the HTML is
exactly the same.

It is used only when every registered inline pattern is one whose characters are known here
(Python-Markdown's own, as of 3.x); any other pattern, e.g. from an extension added later,
turns it off. tests/site/test_site.py compares it with the stock processor.
"""

from __future__ import annotations

import re

from markdown import Markdown, util
from markdown.treeprocessors import InlineProcessor

# Stock inline pattern -> strings its regular expression cannot match without (any one of them).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "backtick": ("`", "\\"),
    "escape": ("\\",),
    "reference": ("[",),
    "link": ("[",),
    "image_link": ("[",),
    "image_reference": ("[",),
    "short_reference": ("[",),
    "short_image_ref": ("[",),
    "autolink": ("<",),
    "automail": ("<",),
    "linebreak": ("  \n",),
    "html": ("<",),
    "entity": ("&",),
    "em_strong": ("*", "_"),
    "em_strong2": ("_",),
    "not_strong": ("*", "_"),
}
_HANDLE = "_InlineProcessor__handleInline"  # the stock method that runs the patterns over one text
_APPLY = "_InlineProcessor__applyPattern"  # the stock method that tries one pattern


class FastInlineProcessor(InlineProcessor):
    """InlineProcessor that leaves alone a text none of the patterns could match."""

    def __init__(self, md: Markdown, needs: list[tuple[str, ...]]) -> None:
        super().__init__(md)
        self.needs = needs  # per pattern, in registry order: the strings it cannot match without
        self.triggers = re.compile("|".join(map(re.escape, sorted({s for n in needs for s in n}))))

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:  # noqa: N802
        """The stock loop, with the patterns that cannot match the text skipped."""
        if isinstance(data, util.AtomicString) or self.triggers.search(data) is None:
            return data
        patterns, needs, apply = self.inlinePatterns, self.needs, getattr(self, _APPLY)
        start = 0
        while patternIndex < len(needs):
            if not any(s in data for s in needs[patternIndex]):
                patternIndex, start = patternIndex + 1, 0
                continue
            data, matched, start = apply(patterns[patternIndex], data, patternIndex, start)
            if not matched:
                patternIndex += 1
        return data


def install(md: Markdown) -> bool:
    """Swap `md`'s inline processor for the fast one when that is safe; True if it was swapped."""
    names = [item.name for item in md.inlinePatterns._priority]
    if not (hasattr(InlineProcessor, _HANDLE) and hasattr(InlineProcessor, _APPLY)):
        return False
    if any(name not in TRIGGERS for name in names) or type(md.treeprocessors["inline"]) is not InlineProcessor:
        return False
    priority = next(item.priority for item in md.treeprocessors._priority if item.name == "inline")
    md.treeprocessors.register(FastInlineProcessor(md, [TRIGGERS[name] for name in names]), "inline", priority)
    return True
