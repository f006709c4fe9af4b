"""How deeply an article body nests lists and quotes, before any Markdown parser sees it.

Python-Markdown recurses once per level of nesting and runs out of stack near 300-500 levels
(`- - - … x`, or indentation); a hostile or broken file must be refused with a clear error
instead of stopping the index or the site build. No help article needs more than a few levels.
"""

from __future__ import annotations

import re

MAX_NESTING = 64
_MARKER = re.compile(r"[ \t]*(?:>|[-*+](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))")
_INDENT = re.compile(r"[ \t]*")


def nesting_depth(body: str) -> tuple[int, int]:
    """(deepest nesting of lists and quotes, 0-based line where it is). Linear in len(body)."""
    deepest, where = 0, 0
    for number, line in enumerate(body.split("\n")):
        indent = _INDENT.match(line)
        width = len(indent.group(0).expandtabs(4)) if indent else 0
        depth, pos = width // 4, 0
        while True:
            marker = _MARKER.match(line, pos)
            if not marker or marker.end() == pos:
                break
            depth += 1
            pos = marker.end()
        if depth > deepest:
            deepest, where = depth, number
    return deepest, where
