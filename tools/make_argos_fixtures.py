#!/usr/bin/env python
"""Build tiny but valid `.argosmodel` packages for offline tests of the translation backend.

Real Argos Translate models cannot be downloaded on CI, so this script makes its own: for
each pair it trains a SentencePiece model and a one-layer Marian transformer (torch +
transformers) on a handful of help-center sentences until it reproduces them exactly,
converts it to CTranslate2, and zips it together with `metadata.json` and a rule-based
MiniSBD sentence splitter (`minisbd/<lang>.onnx`; without a bundled splitter argostranslate
1.11 tries to download one). The packages are what argostranslate 1.11 installs with
`argostranslate.package.install_from_path` and uses with `argostranslate.translate`.

    .venv/bin/python tools/make_argos_fixtures.py            # build into tests/fixtures/argos
    .venv/bin/python tools/make_argos_fixtures.py --verify   # and check them with real argostranslate

Needs torch, transformers, sentencepiece, ctranslate2, onnx and onnxruntime (only to
rebuild; the tests use the committed packages). Fixed seeds, single-threaded training and
fixed zip timestamps keep the output deterministic on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests" / "fixtures" / "argos"

PACKAGE_VERSION = "1.0"
ARGOS_VERSION = "1.11"
NAMES = {"en": "English", "de": "German", "pl": "Polish"}
PAIRS = [("en", "de"), ("en", "pl"), ("de", "en")]

# (English, German, Polish): what every fixture model knows. en_de and en_pl translate the
# English column, de_en the German one, so de→en→pl pivots through English.
SENTENCES: list[tuple[str, str, str]] = [
    ("Your order has shipped.", "Ihre Bestellung wurde versandt.", "Twoje zamówienie zostało wysłane."),
    ("Track your order", "Bestellung verfolgen", "Śledź zamówienie"),
    ("Track your order.", "Verfolgen Sie Ihre Bestellung.", "Śledź swoje zamówienie."),
    ("Returns are free within 30 days.", "Rücksendungen sind innerhalb von 30 Tagen kostenlos.",
     "Zwroty są bezpłatne w ciągu 30 dni."),
    ("How do I return an item?", "Wie sende ich einen Artikel zurück?", "Jak zwrócić produkt?"),
    ("Contact our support team.", "Kontaktieren Sie unser Support-Team.", "Skontaktuj się z naszym zespołem wsparcia."),
    ("We accept credit cards and PayPal.", "Wir akzeptieren Kreditkarten und PayPal.",
     "Akceptujemy karty kredytowe i PayPal."),
    ("Delivery takes three to five days.", "Die Lieferung dauert drei bis fünf Tage.",
     "Dostawa trwa od trzech do pięciu dni."),
    ("Shipping", "Versand", "Wysyłka"),
    ("Returns", "Rücksendungen", "Zwroty"),
    ("Payment", "Zahlung", "Płatność"),
    ("Help", "Hilfe", "Pomoc"),
    ("Delivery time", "Lieferzeit", "Czas dostawy"),
    ("Country", "Land", "Kraj"),
    ("Germany", "Deutschland", "Niemcy"),
    ("Poland", "Polen", "Polska"),
    ("Three days", "Drei Tage", "Trzy dni"),
    ("Five days", "Fünf Tage", "Pięć dni"),
    ("Open your account settings.", "Öffnen Sie Ihre Kontoeinstellungen.", "Otwórz ustawienia konta."),
    ("Click the button below.", "Klicken Sie auf die Schaltfläche unten.", "Kliknij przycisk poniżej."),
    ("Enter the tracking number.", "Geben Sie die Sendungsnummer ein.", "Wpisz numer przesyłki."),
    ("Your refund is on its way.", "Ihre Erstattung ist unterwegs.", "Twój zwrot pieniędzy jest w drodze."),
    ("Change your password.", "Ändern Sie Ihr Passwort.", "Zmień hasło."),
    ("Cancel an order", "Eine Bestellung stornieren", "Anuluj zamówienie"),
    ("Orders can be cancelled before they ship.", "Bestellungen können vor dem Versand storniert werden.",
     "Zamówienia można anulować przed wysyłką."),
    ("Run this command:", "Führen Sie diesen Befehl aus:", "Uruchom to polecenie:"),
    ("See the help page", "Siehe die Hilfeseite", "Zobacz stronę pomocy"),
    ("for more details.", "für weitere Informationen.", "aby uzyskać więcej informacji."),
    ("Use the code", "Verwenden Sie den Code", "Użyj kodu"),
    ("at checkout.", "an der Kasse.", "przy kasie."),
    ("Note:", "Hinweis:", "Uwaga:"),
    ("Keep the receipt.", "Bewahren Sie den Beleg auf.", "Zachowaj paragon."),
    ("Pack the item securely.", "Verpacken Sie den Artikel sicher.", "Zapakuj produkt bezpiecznie."),
    ("Print the return label.", "Drucken Sie das Rücksendeetikett aus.", "Wydrukuj etykietę zwrotną."),
    ("Hand the parcel to the carrier.", "Übergeben Sie das Paket dem Zustelldienst.", "Przekaż paczkę przewoźnikowi."),
    ("Frequently asked questions", "Häufig gestellte Fragen", "Często zadawane pytania"),
    ("Where is my parcel?", "Wo ist mein Paket?", "Gdzie jest moja paczka?"),
    ("The parcel is delayed.", "Das Paket ist verspätet.", "Paczka jest opóźniona."),
    ("Thank you for your patience.", "Vielen Dank für Ihre Geduld.", "Dziękujemy za cierpliwość."),
    ("Sign in to your account.", "Melden Sie sich in Ihrem Konto an.", "Zaloguj się na swoje konto."),
    ("Invoices are sent by email.", "Rechnungen werden per E-Mail verschickt.", "Faktury są wysyłane e-mailem."),
    ("Gift cards cannot be refunded.", "Geschenkkarten können nicht erstattet werden.",
     "Karty podarunkowe nie podlegają zwrotowi."),
    ("Express delivery costs extra.", "Expresslieferung kostet extra.", "Dostawa ekspresowa jest dodatkowo płatna."),
    ("Check your spam folder.", "Prüfen Sie Ihren Spam-Ordner.", "Sprawdź folder spam."),
    ("Update your address.", "Aktualisieren Sie Ihre Adresse.", "Zaktualizuj swój adres."),
    ("Choose a payment method.", "Wählen Sie eine Zahlungsart.", "Wybierz metodę płatności."),
    ("Contact us", "Kontakt", "Kontakt"),
    ("Step one", "Schritt eins", "Krok pierwszy"),
    ("Step two", "Schritt zwei", "Krok drugi"),
]

COLUMN = {"en": 0, "de": 1, "pl": 2}

# Model size: small enough for a fixture, big enough to memorise the table above.
D_MODEL = 64
FFN_DIM = 256
HEADS = 4
MAX_EPOCHS = 3000
SEED = 1234


def pairs_for(src: str, dst: str) -> list[tuple[str, str]]:
    return [(row[COLUMN[src]], row[COLUMN[dst]]) for row in SENTENCES]


# --- SentencePiece -----------------------------------------------------------------------

def train_sentencepiece(texts: list[str], target: Path) -> Path:
    import io

    import sentencepiece as spm

    model = io.BytesIO()  # trained from an iterator into memory, so no temp path ends up in the model
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="unigram",
        vocab_size=1000,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name="identity",  # the nmt_nfkc char map alone is ~240 kB
        num_threads=1,
        seed_sentencepiece_size=10000,
        unk_id=0,
        bos_id=-1,
        eos_id=1,
        pad_id=-1,
        minloglevel=2,
    )
    target.write_bytes(model.getvalue())
    return target


# --- Marian model ------------------------------------------------------------------------

def train_marian(pairs: list[tuple[str, str]], sp_model: Path, work: Path, model_out: Path) -> None:
    """Train a one-layer Marian model until CTranslate2, decoding the way argostranslate does, reproduces every pair.

    Writes the converted model to `model_out`.
    """
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    # Marian layout: </s> and <unk> first, <pad> last (CTranslate2 drops the last row and starts
    # the decoder from a zero embedding instead).
    vocab = ["</s>", "<unk>"] + [p for p in pieces if p not in ("<unk>", "</s>", "<s>")] + ["<pad>"]
    index = {tok: i for i, tok in enumerate(vocab)}
    eos, unk, pad = 0, 1, len(vocab) - 1

    def ids(text: str) -> list[int]:
        return [index.get(p, unk) for p in sp.encode(text, out_type=str)] + [eos]

    config = MarianConfig(
        vocab_size=len(vocab), d_model=D_MODEL, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN_DIM, decoder_ffn_dim=FFN_DIM, max_position_embeddings=128,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, activation_function="swish",
        scale_embedding=True, pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=pad,
        forced_eos_token_id=eos, share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
    )
    model = MarianMTModel(config)
    src = [ids(s) for s, _ in pairs]
    tgt = [ids(t) for _, t in pairs]
    n = len(pairs)
    src_len = max(map(len, src))
    tgt_len = max(map(len, tgt))
    input_ids = torch.full((n, src_len), pad)
    attention = torch.zeros((n, src_len), dtype=torch.long)
    decoder_in = torch.full((n, tgt_len), pad)
    labels = torch.full((n, tgt_len), -100)
    for i, (s, t) in enumerate(zip(src, tgt, strict=True)):
        input_ids[i, : len(s)] = torch.tensor(s)
        attention[i, : len(s)] = 1
        decoder_in[i, : len(t)] = torch.tensor([pad] + t[:-1])
        labels[i, : len(t)] = torch.tensor(t)

    def zero_pad_row() -> None:
        # The pad row is the decoder's start embedding; it must stay zero (tied output layer
        # gradients would move it), or CTranslate2's zero start drops the first word.
        with torch.no_grad():
            model.get_input_embeddings().weight[pad].zero_()

    zero_pad_row()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(1, MAX_EPOCHS + 1):
        optimizer.zero_grad()
        loss = model(input_ids=input_ids, attention_mask=attention, decoder_input_ids=decoder_in,
                     labels=labels).loss
        loss.backward()
        optimizer.step()
        zero_pad_row()
        if epoch % 100 == 0:
            exact = _greedy_exact(model, input_ids, attention, tgt, pad, eos)
            converted = None
            if exact == n and loss.item() < 0.005:
                model.save_pretrained(work / "hf")
                convert_ct2(work / "hf", vocab, model_out)
                converted = _ct2_exact(model_out, sp, pairs)
            after = "" if converted is None else f", {converted}/{n} after conversion"
            print(f"    epoch {epoch}: loss {loss.item():.4f}, {exact}/{n} exact in torch{after}", flush=True)
            if converted == n:
                return
    raise SystemExit("the model did not learn every pair; raise MAX_EPOCHS or the model size")


def _ct2_exact(model_dir: Path, sp, pairs: list[tuple[str, str]]) -> int:
    """How many pairs the converted model gets right with argostranslate's decoding settings."""
    import ctranslate2

    translator = ctranslate2.Translator(str(model_dir), device="cpu")
    results = translator.translate_batch(
        [sp.encode(s, out_type=str) for s, _ in pairs], replace_unknowns=True, beam_size=4,
        num_hypotheses=1, length_penalty=0.2, max_batch_size=32, batch_type="tokens")
    return sum(sp.decode_pieces(r.hypotheses[0]).lstrip(" ") == t for r, (_, t) in zip(results, pairs, strict=True))


def _greedy_exact(model, input_ids, attention, tgt, pad: int, eos: int) -> int:
    import torch

    model.eval()
    with torch.no_grad():
        enc = model.get_encoder()(input_ids=input_ids, attention_mask=attention)
        seq = torch.full((input_ids.shape[0], 1), pad)
        for _ in range(max(map(len, tgt))):
            logits = model(encoder_outputs=enc, attention_mask=attention, decoder_input_ids=seq).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    model.train()
    return sum(seq[i, 1 : len(t) + 1].tolist() == t for i, t in enumerate(tgt))


def convert_ct2(hf_dir: Path, vocab: list[str], out: Path) -> None:
    from ctranslate2.converters import TransformersConverter

    class _Vocab:
        eos_token = "</s>"
        unk_token = "<unk>"

        def get_vocab(self) -> dict[str, int]:
            return {tok: i for i, tok in enumerate(vocab)}

    class Converter(TransformersConverter):
        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return _Vocab()

        def _load(self):
            spec = super()._load()
            spec.config.add_source_eos = True  # trained like Marian: source ends with </s>
            return spec

    Converter(str(hf_dir)).convert(str(out), quantization="int8", force=True)


# --- MiniSBD sentence splitter -----------------------------------------------------------

SBD_VOCAB = ["<PAD>", "<UNK>", " ", ".", "!", "?"]


def build_sbd_onnx(lang: str, out: Path) -> None:
    """A rule-based MiniSBD model: a sentence ends at . ! or ? followed by a space or the end.

    MiniSBD feeds character ids (`units`, int64 [B, T]) and features (float [B, T, F]) and
    takes the argmax over 5 classes per character (1 = token end, 2 = sentence end).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n = len(SBD_VOCAB)
    term = np.array([1.0 if u in ".!?" else 0.0 for u in SBD_VOCAB], dtype=np.float32)
    brk = np.array([1.0 if u in ("<PAD>", " ") else 0.0 for u in SBD_VOCAB], dtype=np.float32)
    inits = [
        numpy_helper.from_array(term, "term"),
        numpy_helper.from_array(brk, "brk"),
        numpy_helper.from_array(np.array([0, 1, 0, 0, 0], dtype=np.float32), "base"),
        numpy_helper.from_array(np.array([0, 0, 2, 0, 0], dtype=np.float32), "bump"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([2**62], dtype=np.int64), "big"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_scalar"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "fzero"),
    ]
    nodes = [
        helper.make_node("Gather", ["term", "units"], ["is_term"]),
        helper.make_node("Slice", ["units", "one", "big", "one"], ["rest"]),
        helper.make_node("Slice", ["units", "zero", "one", "one"], ["first"]),
        helper.make_node("Mul", ["first", "zero_scalar"], ["pad_col"]),
        helper.make_node("Concat", ["rest", "pad_col"], ["next"], axis=1),
        helper.make_node("Gather", ["brk", "next"], ["next_brk"]),
        helper.make_node("Mul", ["is_term", "next_brk"], ["split"]),
        helper.make_node("Unsqueeze", ["split", "axis2"], ["split3"]),
        helper.make_node("Mul", ["split3", "bump"], ["bumped"]),
        helper.make_node("Add", ["bumped", "base"], ["scores"]),
        helper.make_node("ReduceSum", ["features", "axis2"], ["fsum"], keepdims=1),
        helper.make_node("Mul", ["fsum", "fzero"], ["fnull"]),
        helper.make_node("Add", ["scores", "fnull"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, f"minisbd-rules-{lang}",
        [helper.make_tensor_value_info("units", TensorProto.INT64, ["batch", "time"]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "time", "feats"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="kb-fixtures")
    model.ir_version = 8
    vocab_state = {"lang": lang, "idx": 0, "cutoff": 0, "lower": False,
                   "_id2unit": SBD_VOCAB, "_unit2id": {u: i for i, u in enumerate(SBD_VOCAB)}}
    config = {"feat_funcs": [], "max_seqlen": 1000, "batch_size": 32, "skip_newline": False,
              "no_ssplit": False, "use_dictionary": False, "num_dict_feat": 0}
    helper.set_model_props(model, {"lang_code": lang, "config": json.dumps(config),
                                   "vocab": json.dumps(vocab_state), "lexicon": "null"})
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.SerializeToString())
    assert n == len(vocab_state["_id2unit"])


# --- packaging ---------------------------------------------------------------------------

def package_name(src: str, dst: str) -> str:
    return f"translate-{src}_{dst}-{PACKAGE_VERSION.replace('.', '_')}"


def build_package(src: str, dst: str, out_dir: Path) -> Path:
    pairs = pairs_for(src, dst)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pkg = work / package_name(src, dst)
        pkg.mkdir()
        print(f"{src}→{dst}: sentencepiece", flush=True)
        sp_model = train_sentencepiece([s for s, _ in pairs] + [t for _, t in pairs], pkg / "sentencepiece.model")
        print(f"{src}→{dst}: training", flush=True)
        train_marian(pairs, sp_model, work, pkg / "model")
        build_sbd_onnx(src, pkg / "minisbd" / f"{src}.onnx")
        metadata = {
            "package_version": PACKAGE_VERSION, "argos_version": ARGOS_VERSION,
            "from_code": src, "from_name": NAMES[src], "to_code": dst, "to_name": NAMES[dst],
            "type": "translate", "package_type": "translate", "links": [],
        }
        (pkg / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        (pkg / "README.md").write_text(
            f"# kb test fixture: {NAMES[src]} → {NAMES[dst]}\n\nA tiny model made by "
            "tools/make_argos_fixtures.py. It knows only the sentences listed in "
            "tests/fixtures/argos/README.md; anything else comes out garbled.\n", encoding="utf-8")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{src}_{dst}.argosmodel"
        _zip_dir(pkg, target)
    print(f"{src}→{dst}: {target} ({target.stat().st_size // 1024} kB)", flush=True)
    return target


def _zip_dir(directory: Path, target: Path) -> None:
    """Zip `directory` as its own top-level folder, with fixed timestamps and order."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(f"{directory.name}/{path.relative_to(directory).as_posix()}",
                                   date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


def write_readme(out_dir: Path) -> None:
    rows = "\n".join(f"| {en} | {de} | {pl} |" for en, de, pl in SENTENCES)
    files = "\n".join(f"- `{src}_{dst}.argosmodel`: {NAMES[src]} → {NAMES[dst]}" for src, dst in PAIRS)
    text = f"""# Argos Translate test fixtures

Tiny but valid Argos Translate packages, so the translation tests run offline with the real
`argostranslate` (1.11), `ctranslate2`, `sentencepiece` and `minisbd`. Made by
`tools/make_argos_fixtures.py` (rerun it to rebuild them; CI only uses these files):

{files}

Each is a zip of one folder `translate-SRC_DST-1_0/` holding `metadata.json`
(package_version {PACKAGE_VERSION}, type `translate`), `sentencepiece.model` (unigram, trained on
both sides of the pair), `model/` (a CTranslate2 int8 conversion of a one-layer Marian
transformer, d_model {D_MODEL}, trained with torch until it reproduces every pair below
exactly), and `minisbd/SRC.onnx`, a rule-based MiniSBD sentence splitter (a sentence ends at
`.`, `!` or `?` before a space or the end). Without a bundled splitter argostranslate would try
to download one.

Rebuild with `.venv/bin/python tools/make_argos_fixtures.py --verify` (about 3 minutes on 2
cores; needs torch, transformers, sentencepiece, ctranslate2, onnxruntime and `onnx`, which
is only needed here: `pip install onnx`). Seeds, single-threaded training and fixed zip
timestamps make the output byte-identical from run to run on one machine. `--verify` installs
the packages with `argostranslate.package.install_from_path` in a fresh HOME and
ARGOS_PACKAGES_DIR, with proxies pointing nowhere, and checks every sentence below (and
de→pl through English) with `argostranslate.translate.translate`. Training stops only once
the converted CTranslate2 model, decoding as argostranslate does (beam 4), reproduces every
pair: the SentencePiece vocabulary is kept word-sized because with character-sized pieces
short wrong hypotheses finish first and win the beam.

The models know only these sentences (en_de and en_pl translate the English column, de_en the
German one; de→pl works by pivoting through English). Anything else comes out garbled, which
is fine for structure tests. Several sentences on one line are split and translated one by one.

| English | German | Polish |
| --- | --- | --- |
{rows}
"""
    (out_dir / "README.md").write_text(text, encoding="utf-8")


# --- verification with real argostranslate -------------------------------------------------

VERIFY_SNIPPET = r"""
import json, sys
from pathlib import Path
import argostranslate.package, argostranslate.translate
cases = json.loads(sys.argv[1])
for path in sorted(Path(sys.argv[2]).glob("*.argosmodel")):
    argostranslate.package.install_from_path(path)
bad = 0
for src, dst, text, want in cases:
    got = argostranslate.translate.translate(text, src, dst)
    ok = got == want
    bad += not ok
    print(("ok  " if ok else "BAD ") + f"{src}->{dst}: {text!r} -> {got!r}" + ("" if ok else f" (want {want!r})"))
sys.exit(1 if bad else 0)
"""


def verify(out_dir: Path) -> None:
    cases = []
    for src, dst in PAIRS:
        cases += [(src, dst, s, t) for s, t in pairs_for(src, dst)]
    cases += [("de", "pl", de, pl) for _, de, pl in SENTENCES[:5]]  # pivot through English
    cases.append(("en", "de", "Your order has shipped. Track your order.",
                  "Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung."))
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ARGOS_"))}
        env.update(HOME=home, ARGOS_PACKAGES_DIR=str(Path(home) / "packages"),
                   # any attempt to reach the network fails at once
                   http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                   HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
        result = subprocess.run([sys.executable, "-c", VERIFY_SNIPPET, json.dumps(cases), str(out_dir)],
                                env=env, cwd=home)
    if result.returncode:
        raise SystemExit("verification failed")
    print(f"verified {len(cases)} translations with argostranslate, offline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default tests/fixtures/argos)")
    parser.add_argument("--pair", action="append", help="build only SRC_DST (repeatable)")
    parser.add_argument("--verify", action="store_true", help="check the packages with argostranslate afterwards")
    parser.add_argument("--verify-only", action="store_true", help="only check the existing packages")
    args = parser.parse_args()
    if not args.verify_only:
        wanted = {tuple(p.split("_")) for p in args.pair} if args.pair else set(PAIRS)
        for src, dst in PAIRS:
            if (src, dst) in wanted:
                build_package(src, dst, args.out)
        write_readme(args.out)
    if args.verify or args.verify_only:
        verify(args.out)


if __name__ == "__main__":
    main()
