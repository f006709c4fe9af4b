"""Python-Markdown's inline pass without the work on text that no inline pattern can match.

The stock InlineProcessor tries every inline pattern (links, emphasis, code, HTML, …) on every
text of the tree, one regular-expression search after another; in help articles most texts
(list items, table cells, plain sentences) contain none of the characters any pattern needs, and
those searches are about a quarter of the Markdown time. This subclass hands a text to the stock
code only when it contains one of them, so the HTML is exactly the same.

It is used only when every registered inline pattern is one whose characters are known here
(Python-Markdown's own, as of 3.x); any other pattern, e.g. from an extension added later,
turns it off. tests/test_site.py compares it with the stock processor.
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
_MANGLED = "_InlineProcessor__handleInline"  # the stock method that runs the patterns over one text


class FastInlineProcessor(InlineProcessor):
    """InlineProcessor that leaves alone a text none of the patterns could match."""

    def __init__(self, md: Markdown, triggers: re.Pattern[str]) -> None:
        super().__init__(md)
        self.triggers = triggers

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:  # noqa: N802
        if not isinstance(data, util.AtomicString) and self.triggers.search(data) is None:
            return data
        return getattr(super(), _MANGLED)(data, patternIndex)


def install(md: Markdown) -> bool:
    """Swap `md`'s inline processor for the fast one when that is safe; True if it was swapped."""
    names = [item.name for item in md.inlinePatterns._priority]
    if not hasattr(InlineProcessor, _MANGLED) or any(name not in TRIGGERS for name in names):
        return False
    if type(md.treeprocessors["inline"]) is not InlineProcessor:
        return False
    strings = sorted({s for name in names for s in TRIGGERS[name]})
    priority = next(item.priority for item in md.treeprocessors._priority if item.name == "inline")
    md.treeprocessors.register(FastInlineProcessor(md, re.compile("|".join(map(re.escape, strings)))),
                               "inline", priority)
    return True
