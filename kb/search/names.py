"""Embedder names, apart from the embedders themselves so the CLI can list them without numpy."""

NAMES = ("use-multilingual", "e5-small", "e5-small-nano", "ensemble", "st:<model name or path>")
DEFAULT = "ensemble"
