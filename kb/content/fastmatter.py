"""Front matter parsed by libyaml (C) when that is safe, else by the careful parser.

`frontmatter.parse` composes YAML in Python so that it can refuse anchors and aliases as they
appear and report errors with file lines; it costs about a millisecond a file. Front matter
without '&' or '*' cannot hold an anchor or an alias; without tabs (where the two disagree), libyaml (`yaml.CSafeLoader`, the same
safe constructors and resolver) gives the same result about ten times faster. Anything else —
a possible anchor or alias, any YAML or construction error, a document that is not a mapping —
goes to `frontmatter.parse`, which gives the same answer or the same error as before.
"""

from __future__ import annotations

from typing import Any

import yaml

from kb.content.frontmatter import DELIM, Parsed, parse

_CLoader: Any = getattr(yaml, "CSafeLoader", None)


def parse_fast(text: str) -> Parsed:
    """Same result as `frontmatter.parse(text)`; raises the same FrontMatterError on bad input."""
    if _CLoader is None:
        return parse(text)
    lines = (text[1:] if text.startswith("\ufeff") else text).split("\n")
    if lines[0].rstrip() != DELIM:
        return parse(text)
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == DELIM), None)
    if end is None:
        return parse(text)
    block = "\n".join(lines[1:end])
    if "&" in block or "*" in block or "\t" in block:  # tabs: libyaml accepts some PyYAML refuses
        return parse(text)
    try:
        loader = _CLoader(block)
        try:
            node = loader.get_single_node()
            if not isinstance(node, yaml.MappingNode):
                return parse(text)
            meta = loader.construct_document(node)
        finally:
            loader.dispose()
    except Exception:  # noqa: BLE001 - the careful parser reports the error with its line
        return parse(text)
    if not isinstance(meta, dict):
        return parse(text)
    field_lines = {str(key.value): key.start_mark.line + 2 for key, _ in node.value}
    return Parsed(meta=meta, body="\n".join(lines[end + 1 :]), body_line=end + 2, field_lines=field_lines)
