"""The on-disk search index, a package of one job a module (the layout: build.py):

    records.py   ArticleRecord, one article's Part of a build, keys and serialisers
    layout.py    generation folders, CURRENT, the writers' lock, swap, cleanup
    manifest.py  manifest.json written in one place; the live generation read for the next build
    integrity.py what a manifest records to prove its files whole (sizes, hashes, counts)
    checks.py    the counts a loaded generation must agree on
    verify.py    `kb index --verify`: every check of the live generation on disk
    dense.py     vectors.npy and FAISS (flat or IVF)
    writers.py   passages.jsonl, articles.jsonl, BM25: copying what is unchanged
    delta.py     delta generations
    build.py     build_index and build_delta: plan -> embed -> write
    load.py      load_index: Index and Vectors

The names other code uses are imported here.
"""

from kb.search.index.build import BuildReport, Scope, build_delta, build_index
from kb.search.index.delta import DELTA_MIN
from kb.search.index.dense import ANN_THRESHOLD
from kb.search.index.integrity import IndexDamaged
from kb.search.index.layout import current_generation, live_generation
from kb.search.index.load import Index, Vectors, live_manifest, load_index
from kb.search.index.records import ArticleRecord

__all__ = ["ANN_THRESHOLD", "DELTA_MIN", "ArticleRecord", "BuildReport", "Index", "IndexDamaged", "Scope", "Vectors",
           "build_delta", "build_index", "current_generation", "live_generation",
           "live_manifest", "load_index"]
