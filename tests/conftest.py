from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py, from every folder
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small help center and its index with the default embedder: (content dir, data dir)."""
    from helpers import write_help_center

    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index

    base = tmp_path_factory.mktemp("small")
    content = write_help_center(base / "content", machine_de=("refund-timing",))
    data = base / "data"
    build_index(Library.load(content), data, get_embedder())
    return content, data


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Part of the sample help center (content/: orders, payments and privacy, and three articles on
    refunds, returns and the newsletter, in en, de, fr, pl and tr) indexed with the default
    embedder: its data dir."""
    from helpers import ROOT

    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index

    full = Library.load(ROOT / "content")
    keep = [a for a in full.articles if a.locale in ("en", "de", "fr", "pl", "tr")
            and (a.category in ("orders", "payments", "privacy")
                 or a.id in ("refund-timing", "start-a-return", "newsletter"))]
    data = tmp_path_factory.mktemp("sample") / "data"
    build_index(Library(root=full.root, config=full.config, articles=keep), data, get_embedder())
    return data
