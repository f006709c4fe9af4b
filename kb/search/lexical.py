"""Per-locale BM25 (bm25s) with Snowball stemming (PyStemmer) where a stemmer exists; words and
the bigrams of scripts without spaces come from kb/search/scripts.py."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import bm25s.stopwords as sw
import numpy as np

from kb.search import scripts

_STEMMERS = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pl": "polish",
    "tr": "turkish", "nl": "dutch", "pt": "portuguese", "sv": "swedish", "da": "danish", "no": "norwegian",
    "nb": "norwegian", "fi": "finnish", "ru": "russian", "ro": "romanian", "hu": "hungarian", "cs": "czech",
    "el": "greek", "ar": "arabic", "ca": "catalan", "lt": "lithuanian", "id": "indonesian", "ga": "irish",
    "hi": "hindi",
}
_STOPWORDS = {
    "en": sw.STOPWORDS_EN, "de": sw.STOPWORDS_GERMAN, "fr": sw.STOPWORDS_FRENCH, "es": sw.STOPWORDS_SPANISH,
    "it": sw.STOPWORDS_ITALIAN, "tr": sw.STOPWORDS_TURKISH, "nl": sw.STOPWORDS_DUTCH,
    "pt": sw.STOPWORDS_PORTUGUESE, "sv": sw.STOPWORDS_SWEDISH, "da": sw.STOPWORDS_DANISH,
    "no": sw.STOPWORDS_NORWEGIAN, "ru": sw.STOPWORDS_RUSSIAN, "pl": (
        # bm25s has no Polish list: the most frequent function words, written here
        "a aby ale albo ani bo by być był była było czy dla do gdy gdzie go i ich ile im ja jak jaka "
        "jaki jakie jakiej jakim jako je jego jej jest jestem jeśli już lub ma mam mi mnie moja moje "
        "mój może mu my na nad nam nas nie nim o od oraz po pod przez przy się są ta tak tam te tego "
        "tej ten to tu tym u w we wy z za ze że żeby"
    ).split(),
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


def stopwords(locale: str) -> frozenset[str]:
    """The stop words of the locale's language (empty where none are listed)."""
    return _stopset(locale.split("-")[0])


def words(text: str, locale: str) -> list[str]:
    """Normalize (kb/search/scripts.py) and split into words; stop words of the locale's language
    dropped. A run in a script without spaces stays one word here."""
    lang = locale.split("-")[0]
    return [w for w in scripts.WORD.findall(scripts.normalize(text, lang)) if w not in _stopset(lang)]


def tokenize(text: str, locale: str) -> list[str]:
    """Normalize, split into words, drop stopwords, stem; runs without spaces in bigrams."""
    lang = locale.split("-")[0]
    words_ = words(text, locale)
    if any(scripts.unspaced(w) for w in words_):
        words_ = [g for w in words_ for g in scripts.grams(w)]
    stemmer = _stemmer(lang)
    return stemmer.stemWords(words_) if stemmer is not None else words_


def lexical_version() -> str:
    """Changes when tokenization or BM25 scoring may change: a saved model is reused only under it."""
    import Stemmer

    stemmer = getattr(Stemmer, "version", "")
    parts = [Path(__file__).read_bytes(), Path(scripts.__file__).read_bytes(), bm25s.__version__.encode(), str(stemmer() if callable(stemmer) else stemmer).encode()]
    return hashlib.sha256(b"\x1e".join(parts)).hexdigest()[:16]


@dataclass
class Tokens:
    """Tokenized passages of one locale: `ids[offsets[i]:offsets[i + 1]]` are passage i's tokens,
    as indexes into `vocab` (ordered by first appearance)."""

    vocab: list[str]
    ids: np.ndarray  # int32
    offsets: np.ndarray  # int64, one more than there are passages

    def __len__(self) -> int:
        return len(self.offsets) - 1


def join_tokens(pieces: list[Tokens | tuple[list[str], str]]) -> Tokens:
    """Concatenate passages: each piece is saved Tokens (a slice, with its vocabulary) or texts to
    tokenize now in a locale. Equal passages give equal Tokens however they were pieced."""
    index: dict[str, int] = {}  # token -> its number here (before renumbering)
    arrays: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    known: dict[int, np.ndarray] = {}  # id(vocab list) -> its ids in `strings`
    for piece in pieces:
        if isinstance(piece, Tokens):
            remap = known.get(id(piece.vocab))
            if remap is None:
                remap = np.fromiter((index.setdefault(t, len(index)) for t in piece.vocab), np.int64, len(piece.vocab))
                known[id(piece.vocab)] = remap
            lo, hi = int(piece.offsets[0]), int(piece.offsets[-1])
            arrays.append(remap[np.asarray(piece.ids[lo:hi], dtype=np.int64)])
            lengths.append(np.diff(np.asarray(piece.offsets, dtype=np.int64)))
        else:
            texts, locale = piece
            docs = [tokenize(text, locale) or ["_"] for text in texts]
            flat = [index.setdefault(t, len(index)) for doc in docs for t in doc]
            arrays.append(np.array(flat, dtype=np.int64))
            lengths.append(np.array([len(doc) for doc in docs], dtype=np.int64))
    strings = list(index)
    ids = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    offsets = np.zeros(sum(len(n) for n in lengths) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    # renumber by first appearance, so the vocabulary does not depend on how it was pieced
    used, first = np.unique(ids, return_index=True)
    order = used[np.argsort(first, kind="stable")]
    renumber = np.zeros(len(strings), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return Tokens([strings[i] for i in order], renumber[ids].astype(np.int32), offsets)


@dataclass
class Stats:
    """Corpus statistics of a saved model: passages, average length, passages per token."""

    docs: int
    average: float
    df: dict[str, int]


def build_model(tokens: Tokens, base: Stats | None = None) -> bm25s.BM25:
    """The model `bm25s.BM25().index(token lists)` builds (the same scores, bit for bit), with the
    vocabulary numbered as in `tokens` instead of in set order, computed with whole-array numpy.

    With `base`, the passages are scored as if added to that corpus: a token's passage count and
    the number of passages are the base's plus these, the average length is the base's."""
    model = bm25s.BM25()
    n_docs, n_vocab = len(tokens), len(tokens.vocab)
    doc_len = np.diff(tokens.offsets)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), doc_len)
    # one entry per (token, passage) pair, sorted by token then passage: the CSC order
    pairs, tf = np.unique(tokens.ids.astype(np.int64) * max(n_docs, 1) + doc_of, return_counts=True)
    cols, rows = pairs // max(n_docs, 1), pairs % max(n_docs, 1)
    df = np.bincount(cols, minlength=n_vocab)
    idf = np.zeros(n_vocab, dtype=model.dtype)
    total = n_docs + (base.docs if base else 0)
    for token, count in enumerate(df.tolist()):  # math.log per token, as bm25s does
        if count:
            count += base.df.get(tokens.vocab[token], 0) if base else 0
            idf[token] = math.log(1 + (total - count + 0.5) / (count + 0.5))
    avg = (np.float64(base.average) if base else np.float64(doc_len.mean()) if n_docs else np.float64("nan"))
    l_d = doc_len[rows].astype(np.float64)
    tf64 = tf.astype(model.dtype).astype(np.float64)
    tfc = tf64 / (model.k1 * ((1 - model.b) + model.b * l_d / avg) + tf64)
    data = (idf[cols].astype(np.float64) * tfc).astype(model.dtype)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    model.scores = {"data": data, "indices": rows.astype(model.int_dtype), "indptr": indptr, "num_docs": n_docs}
    model.vocab_dict = {token: i for i, token in enumerate(tokens.vocab)}
    if "" not in model.vocab_dict:
        model.vocab_dict[""] = n_vocab
    model.nonoccurrence_array = None
    model.unique_token_ids_set = set(model.vocab_dict.values())
    return model


def save_model(directory: Path, locale: str, model: bm25s.BM25, rows: np.ndarray, tokens: Tokens) -> None:
    """The model, its passage rows and its tokens (which the next build reuses)."""
    sub = directory / f"bm25-{locale}"
    model.save(str(sub), show_progress=False)
    np.save(sub / "rows.npy", rows)
    np.save(sub / "tokens.npy", tokens.ids)
    np.save(sub / "offsets.npy", tokens.offsets)


def load_tokens(generation: Path, locale: str) -> tuple[Tokens, np.ndarray] | None:
    """The saved tokens of `locale` (memory-mapped) and its passage rows, or None without them."""
    sub = generation / f"bm25-{locale}"
    try:
        with open(sub / "vocab.index.json", encoding="utf-8") as fh:
            vocab_dict = json.load(fh)
        ids = np.load(sub / "tokens.npy", mmap_mode="r")
        offsets = np.load(sub / "offsets.npy")
        rows = np.load(sub / "rows.npy")
    except (OSError, ValueError):
        return None
    vocab = [""] * len(vocab_dict)
    for token, i in vocab_dict.items():
        if not 0 <= i < len(vocab):
            return None
        vocab[i] = token
    if vocab and vocab[-1] == "":
        vocab.pop()
    if (len(offsets) != len(rows) + 1 or int(offsets[-1]) != len(ids)
            or (len(ids) and int(np.max(ids)) >= len(vocab))):
        return None
    return Tokens(vocab, ids, offsets), rows


def load_stats(generation: Path, locale: str) -> Stats | None:
    """The corpus statistics of the model `locale` saved in `generation`, or None without one."""
    sub = generation / f"bm25-{locale}"
    try:
        with open(sub / "vocab.index.json", encoding="utf-8") as fh:
            vocab_dict = json.load(fh)
        indptr = np.load(sub / "indptr.csc.index.npy")
        offsets = np.load(sub / "offsets.npy")
    except (OSError, ValueError):
        return None
    df = np.diff(indptr)
    docs = len(offsets) - 1
    if docs <= 0:
        return None
    counts = {token: int(df[i]) for token, i in vocab_dict.items() if 0 <= i < len(df) and df[i]}
    return Stats(docs=docs, average=float(np.diff(offsets).mean()), df=counts)


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
    """One BM25 index per locale over passage rows of the dense index; for an index with a delta
    (kb/search/delta.py), a second model per locale over the delta's passages, scored with the
    base's statistics, and the base's dead rows left out."""

    def __init__(self, models: dict[str, tuple[bm25s.BM25, np.ndarray]],
                 tokens: dict[str, Tokens] | None = None,
                 delta: dict[str, tuple[bm25s.BM25, np.ndarray]] | None = None,
                 dead: np.ndarray | None = None) -> None:
        self._models = models  # locale -> (bm25, passage rows)
        self._tokens = tokens or {}  # locale -> its passages' tokens, when built here
        self._delta = delta or {}
        # locale -> positions in its base model of dead rows
        self._dead = {locale: np.flatnonzero(np.isin(rows, dead)) for locale, (_, rows) in models.items()} \
            if dead is not None and len(dead) else {}

    @classmethod
    def build(cls, texts: list[str], locales: list[str]) -> Lexical:
        models: dict[str, tuple[bm25s.BM25, np.ndarray]] = {}
        tokens: dict[str, Tokens] = {}
        for locale in sorted(set(locales)):
            rows = np.array([i for i, loc in enumerate(locales) if loc == locale], dtype=np.int64)
            tokens[locale] = join_tokens([([texts[i] for i in rows], locale)])
            models[locale] = (build_model(tokens[locale]), rows)
        return cls(models, tokens)

    def save(self, directory: Path) -> None:
        for locale, (model, rows) in self._models.items():
            save_model(directory, locale, model, rows, self._tokens[locale])

    @staticmethod
    def load_models(directory: Path, pattern: str = "bm25-*",
                    mmap: bool = False) -> dict[str, tuple[bm25s.BM25, np.ndarray]]:
        """The models saved in `directory` (those whose folder matches `pattern`), by locale, with their
        passage rows; with `mmap`, their score matrices memory-mapped (shared between processes, the
        same scores)."""
        models = {}
        for sub in sorted(directory.glob(pattern)):
            model = bm25s.BM25.load(str(sub), show_progress=False, mmap=mmap)
            models[sub.name[len("bm25-"):]] = (model, np.load(sub / "rows.npy"))
        return models


    def known(self, word: str, locale: str) -> bool:
        """Is `word` (lowercase) a word of `locale`: a stop word of its language, or a word its
        articles use (compared stemmed)?"""
        if word in _stopset(locale.split("-")[0]):
            return True
        stems = tokenize(word, locale)
        models = [entry[0].vocab_dict for entry in (self._models.get(locale), self._delta.get(locale)) if entry]
        return bool(stems and models) and all(any(stem in vocab for vocab in models) for stem in stems)

    def rows_with(self, stem: str, locale: str) -> np.ndarray:
        """The passage rows of `locale` whose text has the (stemmed) token, dead rows left out."""
        found = []
        for entry, dead in ((self._models.get(locale), self._dead.get(locale)), (self._delta.get(locale), None)):
            if entry is None or stem not in entry[0].vocab_dict:
                continue
            model, rows = entry
            column = model.vocab_dict[stem]
            indptr, docs = model.scores["indptr"], model.scores["indices"]
            positions = np.asarray(docs[indptr[column]:indptr[column + 1]], dtype=np.int64)
            if dead is not None and len(dead):
                positions = positions[~np.isin(positions, dead)]
            found.append(rows[positions])
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def search(self, query: str, locale: str, k: int = 50) -> list[tuple[int, float]]:
        """Top passage rows in `locale` for the query: [(row, bm25 score)], best first."""
        words = tokenize(query, locale)
        found = self._top(self._models.get(locale), words, k, self._dead.get(locale))
        if locale in self._delta:
            found = sorted(found + self._top(self._delta[locale], words, k, None), key=lambda hit: -hit[1])[:k]
        return found

    @staticmethod
    def _top(entry: tuple[bm25s.BM25, np.ndarray] | None, words: list[str], k: int,
             dead: np.ndarray | None) -> list[tuple[int, float]]:
        if entry is None:
            return []
        model, rows = entry
        vocab = model.vocab_dict
        tokens = [t for t in words if t in vocab]
        if not tokens:
            return []
        scores = model.get_scores(tokens)
        if dead is not None and len(dead):
            scores[dead] = 0.0
        top = np.argsort(-scores)[:k]
        return [(int(rows[i]), float(scores[i])) for i in top if scores[i] > 0]
