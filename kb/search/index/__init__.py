"""The on-disk search index (kb/search/index/build.py says how it is laid out)."""

from kb.search.index.build import (
    ANN_THRESHOLD,
    ArticleRecord,
    BuildReport,
    Index,
    Scope,
    Vectors,
    build_delta,
    build_index,
    current_generation,
    load_index,
)
from kb.search.index.delta import DELTA_MIN

__all__ = ["ANN_THRESHOLD", "DELTA_MIN", "ArticleRecord", "BuildReport", "Index", "Scope", "Vectors", "build_delta",
           "build_index", "current_generation", "load_index"]
