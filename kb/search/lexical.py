"""Per-locale BM25 (bm25s) with Snowball stemming (PyStemmer) where a stemmer exists."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import bm25s.stopwords as sw
import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)

_STEMMERS = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pl": "polish",
    "tr": "turkish", "nl": "dutch", "pt": "portuguese", "sv": "swedish", "da": "danish", "no": "norwegian",
    "nb": "norwegian", "fi": "finnish", "ru": "russian", "ro": "romanian", "hu": "hungarian", "cs": "czech",
    "el": "greek", "ar": "arabic", "ca": "catalan", "lt": "lithuanian", "id": "indonesian", "ga": "irish",
}
_STOPWORDS = {
    "en": sw.STOPWORDS_EN, "de": sw.STOPWORDS_GERMAN, "fr": sw.STOPWORDS_FRENCH, "es": sw.STOPWORDS_SPANISH,
    "it": sw.STOPWORDS_ITALIAN, "tr": sw.STOPWORDS_TURKISH, "nl": sw.STOPWORDS_DUTCH,
    "pt": sw.STOPWORDS_PORTUGUESE, "sv": sw.STOPWORDS_SWEDISH, "da": sw.STOPWORDS_DANISH,
    "no": sw.STOPWORDS_NORWEGIAN, "ru": sw.STOPWORDS_RUSSIAN,
}


@lru_cache(maxsize=64)
def _stemmer(lang: str) -> Any:
    name = _STEMMERS.get(lang)
    if name is None:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(name)
    except KeyError:
        return None


@lru_cache(maxsize=64)
def _stopset(lang: str) -> frozenset[str]:
    return frozenset(_STOPWORDS.get(lang, ()))


def tokenize(text: str, locale: str) -> list[str]:
    """Lowercase (Turkish-aware), split into words, drop stopwords, stem."""
    lang = locale.split("-")[0]
    text = unicodedata.normalize("NFKC", text)
    if lang in ("tr", "az"):
        text = text.replace("I", "ı").replace("İ", "i")
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _stopset(lang)]
    stemmer = _stemmer(lang)
    return stemmer.stemWords(words) if stemmer is not None else words


def lexical_version() -> str:
    """Changes when tokenization or BM25 scoring may change: a saved model is reused only under it."""
    import Stemmer

    stemmer = getattr(Stemmer, "version", "")
    parts = [Path(__file__).read_bytes(), bm25s.__version__.encode(), str(stemmer() if callable(stemmer) else stemmer).encode()]
    return hashlib.sha256(b"\x1e".join(parts)).hexdigest()[:16]


def build_model(texts: list[str], locale: str) -> bm25s.BM25:
    """BM25 over the texts of one locale (an empty text is indexed as '_')."""
    model = bm25s.BM25()
    model.index([tokenize(text, locale) or ["_"] for text in texts], show_progress=False)
    return model


def save_model(directory: Path, locale: str, model: bm25s.BM25, rows: np.ndarray) -> None:
    sub = directory / f"bm25-{locale}"
    model.save(str(sub), show_progress=False)
    np.save(sub / "rows.npy", rows)


def link_model(previous: Path, directory: Path, locale: str, rows: np.ndarray) -> None:
    """Reuse the saved model of `locale` from the generation `previous`: hard-link its files
    (never written again, so both generations may share them) and write its rows anew."""
    src, sub = previous / f"bm25-{locale}", directory / f"bm25-{locale}"
    sub.mkdir()
    for path in src.iterdir():
        if path.name != "rows.npy" and path.is_file():
            os.link(path, sub / path.name)
    np.save(sub / "rows.npy", rows)


class Lexical:
    """One BM25 index per locale over passage rows of the dense index."""

    def __init__(self, models: dict[str, tuple[bm25s.BM25, np.ndarray]]) -> None:
        self._models = models  # locale -> (bm25, passage rows)

    @classmethod
    def build(cls, texts: list[str], locales: list[str]) -> Lexical:
        models: dict[str, tuple[bm25s.BM25, np.ndarray]] = {}
        for locale in sorted(set(locales)):
            rows = np.array([i for i, loc in enumerate(locales) if loc == locale], dtype=np.int64)
            models[locale] = (build_model([texts[i] for i in rows], locale), rows)
        return cls(models)

    def save(self, directory: Path) -> None:
        for locale, (model, rows) in self._models.items():
            save_model(directory, locale, model, rows)

    @classmethod
    def load(cls, directory: Path) -> Lexical:
        models = {}
        for sub in sorted(directory.glob("bm25-*")):
            model = bm25s.BM25.load(str(sub), show_progress=False, mmap=False)
            models[sub.name[len("bm25-"):]] = (model, np.load(sub / "rows.npy"))
        return cls(models)

    @property
    def locales(self) -> list[str]:
        return list(self._models)

    def search(self, query: str, locale: str, k: int = 50) -> list[tuple[int, float]]:
        """Top passage rows in `locale` for the query: [(row, bm25 score)], best first."""
        entry = self._models.get(locale)
        if entry is None:
            return []
        model, rows = entry
        vocab = model.vocab_dict
        tokens = [t for t in tokenize(query, locale) if t in vocab]
        if not tokens:
            return []
        scores = model.get_scores(tokens)
        top = np.argsort(-scores)[:k]
        return [(int(rows[i]), float(scores[i])) for i in top if scores[i] > 0]
