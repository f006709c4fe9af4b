"""The argostranslate backend: installed pairs, pivoting through English, batching, memory.

kb checks the installed pairs itself (argostranslate answers a missing pair with a bare
AttributeError) and never touches the remote package index here. Installed packages are
used through argostranslate's own package, tokenizer and sentence-splitter classes; the
sentences of a whole batch of texts go to CTranslate2 in one call, decoded with the same
settings `argostranslate.translate` uses.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.translate.errors import INSTALL_FILE_HINT, INSTALL_HINT, TranslationUnavailable
from kb.translate.markdown import translate_markdown
from kb.translate.memory import TranslationMemory
from kb.translate.packages import (
    PIVOT,
    Argos,
    ArgosDirs,
    InstalledPackage,
    argos_codes,
    import_argos,
    resolve_dirs,
    scan,
)

__all__ = ["ArgosTranslator", "TranslationUnavailable"]

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WS = re.compile(r"^(\s*)(.*?)(\s*)$", re.S)


@dataclass(frozen=True)
class Route:
    """How src becomes dst: one package, two through the pivot, or none (same language)."""

    src: str
    dst: str
    legs: tuple[InstalledPackage, ...]

    @property
    def version(self) -> str:
        return "+".join(leg.version for leg in self.legs) or "identity"


class ArgosTranslator:
    """Translate text and Markdown with installed Argos Translate packages.

    `data_dir` is kb's data folder: packages go to `<data_dir>/argos/packages` unless
    ARGOS_PACKAGES_DIR (or `packages_dir`) says otherwise, and the translation memory to
    `<data_dir>/translate/memory.sqlite` unless `memory` is given or `use_memory` is False.
    """

    def __init__(self, data_dir: Path | str | None = None, *, packages_dir: Path | str | None = None,
                 memory: TranslationMemory | None = None, use_memory: bool = True,
                 pivot: str = PIVOT, batch_size: int = 32) -> None:
        self.dirs: ArgosDirs = resolve_dirs(data_dir, packages_dir)
        if memory is None and use_memory and data_dir is not None:
            memory = TranslationMemory(Path(data_dir) / "translate" / "memory.sqlite")
        self.memory = memory if use_memory else None
        self.pivot = pivot
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._engines: dict[tuple[Path, int], _Engine] = {}
        self._scan_key: int | None = None
        self._scanned: list[InstalledPackage] = []

    # --- what is installed -------------------------------------------------------------

    def packages(self) -> list[InstalledPackage]:
        """Installed translation packages (re-read when the packages folder changes)."""
        folder = self.dirs.packages
        try:
            key = folder.stat().st_mtime_ns
        except OSError:
            return []
        with self._lock:
            if key != self._scan_key:
                self._scanned = scan(folder)
                self._scan_key = key
            return list(self._scanned)

    def pairs(self) -> list[tuple[str, str]]:
        """Installed direct pairs as (from_code, to_code)."""
        return [pkg.pair for pkg in self.packages()]

    def route(self, src: str, dst: str) -> Route:
        """The packages that turn `src` into `dst`; TranslationUnavailable when there are none."""
        packages = self.packages()
        by_pair = {pkg.pair: pkg for pkg in packages}
        codes = {code for pkg in packages for code in pkg.pair}
        s = next((c for c in argos_codes(src) if c in codes), argos_codes(src)[0])
        d = next((c for c in argos_codes(dst) if c in codes), argos_codes(dst)[0])
        if s == d:
            return Route(s, d, ())
        if (s, d) in by_pair:
            return Route(s, d, (by_pair[(s, d)],))
        p = self.pivot
        if (s, p) in by_pair and (p, d) in by_pair:
            return Route(s, d, (by_pair[(s, p)], by_pair[(p, d)]))
        raise TranslationUnavailable(src, dst, self._missing_message(s, d, packages))

    def available(self, src: str, dst: str) -> bool:
        try:
            self.route(src, dst)
        except TranslationUnavailable:
            return False
        return True

    def version(self, src: str, dst: str) -> str:
        """Model version(s) used for src → dst, e.g. 'en-de@1.0' or 'de-en@1.0+en-pl@1.0'."""
        return self.route(src, dst).version

    def _missing_message(self, s: str, d: str, packages: list[InstalledPackage]) -> str:
        install = (f"install one with `{INSTALL_HINT.format(src=s, dst=d)}` (downloads from the Argos index) "
                   f"or `{INSTALL_FILE_HINT}`")
        if not packages:
            return f"no translation model is installed (looked in {self.dirs.packages}); {install}"
        have = ", ".join(f"{a}→{b}" for a, b in sorted(pkg.pair for pkg in packages))
        pivot = ""
        if self.pivot not in (s, d):
            pivot = f"; pivoting through {self.pivot} would need both {s}→{self.pivot} and {self.pivot}→{d}"
        return f"no translation model for {s} → {d} (installed: {have}{pivot}); {install}"

    # --- translating -------------------------------------------------------------------

    def translate(self, texts: list[str], src: str, dst: str) -> list[str]:
        """Translate each text; surrounding whitespace is kept, texts without letters pass through.

        Known texts come from the translation memory; the rest go to the model in batches.
        """
        route = self.route(src, dst)
        out = list(texts)
        cores: dict[str, list[int]] = {}
        parts: list[tuple[str, str, str]] = []
        for i, text in enumerate(texts):
            lead, core, trail = _WS.match(text).groups()  # type: ignore[union-attr]
            parts.append((lead, core, trail))
            if route.legs and any(ch.isalpha() for ch in core):
                cores.setdefault(core, []).append(i)
        if not cores:
            return out
        todo = list(cores)
        done: dict[str, str] = {}
        if self.memory is not None:
            done = self.memory.get_many(todo, route.src, route.dst, route.version)
            todo = [t for t in todo if t not in done]
        if todo:
            results = todo
            for leg in route.legs:
                results = self._engine(leg).translate(results, self.batch_size)
            fresh = dict(zip(todo, results, strict=True))
            if self.memory is not None:
                self.memory.put_many(fresh.items(), route.src, route.dst, route.version)
            done.update(fresh)
        for core, indices in cores.items():
            for i in indices:
                lead, _, trail = parts[i]
                out[i] = lead + done[core] + trail
        return out

    def translate_text(self, text: str, src: str, dst: str) -> str:
        return self.translate([text], src, dst)[0]

    def translate_markdown(self, body: str, src: str, dst: str) -> str:
        """Translate a Markdown body (no front matter): only human text changes."""
        self.route(src, dst)  # fail before parsing when the pair is missing
        return translate_markdown(body, lambda texts: self.translate(texts, src, dst))

    def _engine(self, pkg: InstalledPackage) -> _Engine:
        meta = pkg.path / "metadata.json"
        key = (pkg.path, meta.stat().st_mtime_ns)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = _Engine(pkg, import_argos(self.dirs))
                self._engines[key] = engine
        return engine


class _Engine:
    """One installed package, loaded: tokenizer, sentence splitter and CTranslate2 model."""

    def __init__(self, pkg: InstalledPackage, argos: Argos) -> None:
        import ctranslate2

        self.info = pkg
        self.package: Any = argos.package.Package(pkg.path)
        self.split = _splitter(pkg, self.package, argos)
        settings = argos.settings
        self.beam_size = max(1, int(settings.beam_size))
        self.model = ctranslate2.Translator(
            str(pkg.path / "model"), device=settings.device, inter_threads=settings.inter_threads,
            intra_threads=settings.intra_threads, compute_type=settings.compute_type)

    def translate(self, texts: list[str], batch_size: int) -> list[str]:
        """Like argostranslate: line by line, sentence by sentence; all sentences in one batch."""
        tokenizer = self.package.tokenizer
        prefix = self.package.target_prefix
        sentences: list[list[str]] = []
        layout: list[list[tuple[int, int]]] = []  # per text, per line: (first sentence, count)
        for text in texts:
            lines = []
            for line in text.split("\n"):
                found = self.split(line) if line.strip() else []
                lines.append((len(sentences), len(found)))
                sentences.extend(tokenizer.encode(s) for s in found)
            layout.append(lines)
        results = self.model.translate_batch(
            sentences, target_prefix=[[prefix]] * len(sentences) if prefix else None,
            replace_unknowns=True, max_batch_size=batch_size, beam_size=self.beam_size,
            num_hypotheses=1, length_penalty=0.2) if sentences else []
        out = []
        for lines in layout:
            rendered = []
            for first, count in lines:
                tokens = [tok for r in results[first : first + count] for tok in r.hypotheses[0]]
                value = tokenizer.decode(tokens) if tokens else ""
                if prefix and value.startswith(prefix):
                    value = value[len(prefix) :]
                rendered.append(value[1:] if value.startswith(" ") else value)
            out.append("\n".join(rendered).strip())
        return out


def _splitter(info: InstalledPackage, package: Any, argos: Argos) -> Callable[[str], list[str]]:
    """The package's own sentence splitter; never one that would be downloaded."""
    if info.sbd == "minisbd":
        return argos.sbd.MiniSBDSentencizer(package).split_sentences
    if info.sbd == "stanza":
        return _StanzaSplitter(info).split
    log.info("%s has no bundled sentence splitter; splitting at . ! ? instead", info.path.name)
    return _regex_split


def _regex_split(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


class _StanzaSplitter:
    """Stanza from the package folder, without argostranslate's attempt to download resources."""

    def __init__(self, info: InstalledPackage) -> None:
        self.info = info
        self.pipeline: Any = None

    def split(self, text: str) -> list[str]:
        if self.pipeline is None:
            import stanza

            code = {"zt": "zh-hant", "pb": "pt"}.get(self.info.from_code, self.info.from_code)
            try:
                self.pipeline = stanza.Pipeline(
                    lang=code, dir=str(self.info.path / "stanza"), processors="tokenize",
                    use_gpu=False, logging_level="WARNING", download_method=None)
            except Exception as exc:  # a broken or partial stanza folder
                log.warning("stanza splitter of %s unusable (%s); splitting at . ! ?", self.info.path.name, exc)
                self.pipeline = False
        if self.pipeline is False:
            return _regex_split(text)
        return [s.text for s in self.pipeline(text).sentences]
