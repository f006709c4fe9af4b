"""On-the-fly translation for search: the engine's `Translator` protocol over ArgosTranslator.

When a shopper's locale lacks an article, the engine asks for a machine translation of the
source version. Results are cached in memory per (id, locale, source hash), on top of the
translation memory on disk, and flagged: `review: machine`, `machine: True`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from pathlib import Path

from kb.content.article import content_hash
from kb.errors import KbError
from kb.search.index import ArticleRecord
from kb.translate.argos import ArgosTranslator
from kb.translate.errors import TranslationError

CACHE_ENTRIES = 2048


class ArticleTranslator:
    """Translates ArticleRecords with an ArgosTranslator; safe to share between request threads."""

    def __init__(self, translator: ArgosTranslator, max_entries: int = CACHE_ENTRIES) -> None:
        self.translator = translator
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str, str], ArticleRecord] = OrderedDict()
        self._lock = threading.Lock()

    def available(self, src: str, dst: str) -> bool:
        return self.translator.available(src, dst)

    def translate_article(self, record: ArticleRecord, dst: str) -> ArticleRecord:
        key = (record.id, dst, record.hash)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        try:
            title = self.translator.translate_text(record.title, record.locale, dst).strip() or record.title
            body = self.translator.translate_markdown(record.body, record.locale, dst)
        except KbError:
            raise
        except Exception as exc:  # a model failing at run time: the engine falls back, flagged
            raise TranslationError(f"machine translation of {record.id} into {dst} failed: {exc}") from exc
        out = dataclasses.replace(record, locale=dst, title=title, body=body, review="machine", machine=True,
                                  stale=False, is_translation=True, source_locale=record.locale,
                                  hash=content_hash(title, body))
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return out


def live_translator(data_dir: Path | str) -> ArticleTranslator | None:
    """The on-the-fly translator for the engine when a model is installed (see ArgosTranslator
    for where packages are looked up), else None: search then falls back, flagged."""
    translator = ArgosTranslator(data_dir, use_memory=False)
    if not translator.pairs():
        return None
    return ArticleTranslator(ArgosTranslator(data_dir))
