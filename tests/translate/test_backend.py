"""The argostranslate backend with real argostranslate and the tiny fixture models, offline.

The fixtures (tests/fixtures/argos, made by tools/make_argos_fixtures.py) know a few dozen
help-center sentences; see their README for the list.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from helpers import FIXTURES as TEST_FIXTURES
from helpers import ROOT

from kb.errors import KbError
from kb.translate import (
    ArgosTranslator,
    ModelFileInvalid,
    ModelInstallError,
    TranslationMemory,
    TranslationUnavailable,
    install_from_file,
    install_from_index,
    list_installed,
)
from kb.translate.markdown import parse

FIXTURES = TEST_FIXTURES / "argos"
MODELS = {name: FIXTURES / f"{name}.argosmodel" for name in ("en_de", "en_pl", "de_en")}

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("argostranslate", "ctranslate2", "sentencepiece")),
    reason="needs the translate extra (argostranslate, ctranslate2, sentencepiece)",
)

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no request log in the test output
        pass


NO_NETWORK = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and ARGOS_PACKAGES_DIR in tmp_path; no way out to the network."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "packages"))
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in NO_NETWORK.items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.fixture
def installed(env: Path) -> Path:
    for path in MODELS.values():
        install_from_file(path)
    return env


def test_fixtures_are_small() -> None:
    for path in MODELS.values():
        assert path.is_file(), f"{path} missing: run tools/make_argos_fixtures.py"
        assert path.stat().st_size < 1_000_000


def test_install_from_file_and_list(env: Path) -> None:
    assert list_installed() == []
    pkg = install_from_file(MODELS["en_de"])
    assert pkg.pair == ("en", "de")
    assert pkg.version == "en-de@1.0"
    assert pkg.path == env / "packages" / "translate-en_de-1_0"
    assert pkg.sbd == "minisbd"
    install_from_file(MODELS["en_pl"])
    install_from_file(MODELS["en_de"])  # again: replaces, does not duplicate
    assert [p.pair for p in list_installed()] == [("en", "de"), ("en", "pl")]
    assert sorted(p.name for p in (env / "packages").iterdir()) == ["translate-en_de-1_0", "translate-en_pl-1_0"]
    assert ArgosTranslator(use_memory=False).pairs() == [("en", "de"), ("en", "pl")]


def test_translate_batch(installed: Path) -> None:
    tr = ArgosTranslator(use_memory=False)
    texts = ["Your order has shipped.", "  Shipping\n", "Your order has shipped. Track your order.", "42 €", ""]
    assert tr.translate(texts, "en", "de") == [
        "Ihre Bestellung wurde versandt.",
        "  Versand\n",
        "Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung.",
        "42 €",
        "",
    ]
    assert tr.translate(["Where is my parcel?"], "en", "pl") == ["Gdzie jest moja paczka?"]
    assert tr.translate_text("Returns", "en-US", "de-AT") == "Rücksendungen"  # kb locales map to Argos codes
    assert tr.translate(["Returns"], "de", "de") == ["Returns"]  # same language: untouched
    assert tr.version("en", "de") == "en-de@1.0"


def test_missing_pair_names_pair_and_install_command(installed: Path) -> None:
    tr = ArgosTranslator(use_memory=False)
    assert not tr.available("pl", "de")
    with pytest.raises(TranslationUnavailable) as err:
        tr.translate(["Zwroty"], "pl", "de")
    message = str(err.value)
    assert isinstance(err.value, KbError)
    assert (err.value.src, err.value.dst) == ("pl", "de")
    assert "no translation model for pl → de" in message
    assert "installed: de→en, en→de, en→pl" in message
    assert "kb translate models install pl de" in message
    assert "kb translate models install --file PATH.argosmodel" in message


def test_no_models_installed(env: Path) -> None:
    tr = ArgosTranslator(use_memory=False)
    assert tr.pairs() == []
    with pytest.raises(TranslationUnavailable, match="no translation model is installed.*models install en de"):
        tr.translate(["Shipping"], "en", "de")


def test_pivot_through_english(installed: Path) -> None:
    tr = ArgosTranslator(use_memory=False)
    assert ("de", "pl") not in tr.pairs()
    assert tr.available("de", "pl")
    assert tr.version("de", "pl") == "de-en@1.0+en-pl@1.0"
    assert tr.translate(["Wo ist mein Paket?", "Versand"], "de", "pl") == ["Gdzie jest moja paczka?", "Wysyłka"]


MARKDOWN = """\
# Frequently asked questions

Your order has shipped. Track your order.

## Returns {#returns}

- **Note:** Keep the receipt.
- [See the help page](https://shop.example/help "Help") for more details.
  1. Use the code `SAVE10` at checkout.
- [ ] Print the return label.

> Thank you for your patience.

```bash
echo "Your order has shipped."
kb translate --missing
```

| Country | Delivery time |
| :--- | ---: |
| Germany | Three days |
| `PL` | Five days |

![Print the return label.](img/label.png)
<https://shop.example/track> · https://shop.example/faq
"""

MARKDOWN_DE = """\
# Häufig gestellte Fragen

Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung.

## Rücksendungen {#returns}

- **Hinweis:** Bewahren Sie den Beleg auf.
- [Siehe die Hilfeseite](https://shop.example/help "Help") für weitere Informationen.
  1. Verwenden Sie den Code `SAVE10` an der Kasse.
- [ ] Drucken Sie das Rücksendeetikett aus.

> Vielen Dank für Ihre Geduld.

```bash
echo "Your order has shipped."
kb translate --missing
```

| Land | Lieferzeit |
| :--- | ---: |
| Deutschland | Drei Tage |
| `PL` | Fünf Tage |

![Drucken Sie das Rücksendeetikett aus.](img/label.png)
<https://shop.example/track> · https://shop.example/faq
"""


def test_markdown_structure_preserved(installed: Path) -> None:
    tr = ArgosTranslator(use_memory=False)
    assert tr.translate_markdown(MARKDOWN, "en", "de") == MARKDOWN_DE


def test_markdown_sends_only_human_text() -> None:
    texts = parse(MARKDOWN).texts
    assert "Your order has shipped. Track your order." in texts
    assert "Print the return label." in texts and texts.count("Print the return label.") == 1
    joined = "\n".join(texts)
    for kept in ("#", "**", "https://", "SAVE10", "`", "|", "---", "echo", "[ ]", "{#returns}", "img/label.png"):
        assert kept not in joined


def test_translation_memory_hit(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = installed / "kbdata"
    tr = ArgosTranslator(data)
    texts = ["Change your password.", "Update your address.", "Change your password."]
    first = tr.translate(texts, "en", "de")
    assert first == ["Ändern Sie Ihr Passwort.", "Aktualisieren Sie Ihre Adresse.", "Ändern Sie Ihr Passwort."]
    assert tr.memory is not None
    assert (tr.memory.hits, tr.memory.misses) == (0, 2)  # each distinct text once
    assert len(tr.memory) == 2

    from kb.translate import argos as backend

    def no_model(self, texts, batch_size):  # the second time, nothing may reach the model
        raise AssertionError(f"model called for {texts}")

    monkeypatch.setattr(backend._Engine, "translate", no_model)
    assert tr.translate(texts, "en", "de") == first
    assert (tr.memory.hits, tr.memory.misses) == (2, 2)
    again = ArgosTranslator(data)  # the memory is on disk, under kb's data folder
    assert again.translate(["Update your address."], "en", "de") == ["Aktualisieren Sie Ihre Adresse."]
    assert (data / "translate" / "memory.sqlite").is_file()
    assert again.memory is not None and again.memory.stats()["hits"] == 1


def test_memory_keys_on_model_version(tmp_path: Path) -> None:
    with TranslationMemory(tmp_path / "tm.sqlite") as tm:
        tm.put("Shipping", "en", "de", "en-de@1.0", "Versand")
        assert tm.get("Shipping", "en", "de", "en-de@1.0") == "Versand"
        assert tm.get("Shipping", "en", "de", "en-de@1.1") is None
        assert tm.get("Shipping", "en", "pl", "en-de@1.0") is None
        assert tm.stats() == {"entries": 1, "hits": 1, "misses": 2}


def test_bad_model_files(env: Path) -> None:
    bad = env / "bad"
    bad.mkdir()
    text = bad / "notes.argosmodel"
    text.write_text("not a zip")
    with pytest.raises(ModelFileInvalid, match="not a zip archive"):
        install_from_file(text)
    with pytest.raises(ModelFileInvalid, match="no such file"):
        install_from_file(bad / "missing.argosmodel")
    empty = bad / "empty.argosmodel"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("pkg/README.md", "hello")
    with pytest.raises(ModelFileInvalid, match="no metadata.json"):
        install_from_file(empty)
    no_model = bad / "no_model.argosmodel"
    with zipfile.ZipFile(no_model, "w") as zf:
        zf.writestr("pkg/metadata.json", json.dumps({"from_code": "en", "to_code": "fr"}))
        zf.writestr("pkg/sentencepiece.model", b"")
    with pytest.raises(ModelFileInvalid, match="no model/model.bin"):
        install_from_file(no_model)
    broken_meta = bad / "broken.argosmodel"
    with zipfile.ZipFile(broken_meta, "w") as zf:
        zf.writestr("pkg/metadata.json", "{nope")
    with pytest.raises(ModelFileInvalid, match="not valid JSON"):
        install_from_file(broken_meta)
    evil = bad / "evil.argosmodel"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../metadata.json", "{}")
    with pytest.raises(ModelFileInvalid, match="unsafe path"):
        install_from_file(evil)
    assert list_installed() == []
    packages = env / "packages"
    assert not packages.exists() or list(packages.iterdir()) == []
    assert not [p for p in env.iterdir() if p.name.startswith(".kb-argos-install-")]


def test_install_from_index_offline_fails_fast(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline, kb stops after the failed index download instead of argostranslate's recursive retries."""
    from kb.translate.packages import import_argos, resolve_dirs

    argos = import_argos(resolve_dirs())
    calls: list[str] = []
    monkeypatch.setattr(argos.package, "update_package_index", lambda: calls.append("update"))

    def forbidden() -> list:
        raise AssertionError("get_available_packages called without an index")

    monkeypatch.setattr(argos.package, "get_available_packages", forbidden)
    with pytest.raises(ModelInstallError, match="could not download the Argos package index.*--file"):
        install_from_index("en", "fr", data_dir=env / "kbdata")
    assert calls == ["update"]


def test_translating_never_touches_the_index(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.translate.packages import import_argos, resolve_dirs

    argos = import_argos(resolve_dirs())

    def forbidden(*args: object) -> None:
        raise AssertionError("the package index was used")

    monkeypatch.setattr(argos.package, "update_package_index", forbidden)
    monkeypatch.setattr(argos.package, "get_available_packages", forbidden)
    tr = ArgosTranslator(use_memory=False)
    assert tr.translate(["Hilfe"], "de", "en") == ["Help"]
    with pytest.raises(TranslationUnavailable):
        tr.translate(["Pomoc"], "pl", "en")


SUBPROCESS = r"""
import sys
from pathlib import Path
from kb.translate import ArgosTranslator, install_from_file
data = Path(sys.argv[1])
for path in sys.argv[2:]:
    install_from_file(path, data)
print(ArgosTranslator(data).translate_text("Your order has shipped.", "en", "de"))
import argostranslate.translate  # argostranslate itself uses what kb installed
print(argostranslate.translate.translate("Contact us", "en", "pl"))
"""


def test_home_untouched_with_data_dir(tmp_path: Path) -> None:
    """With kb's data folder given, importing argostranslate writes nothing under $HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ARGOS_"))}
    env.update(HOME=str(home), **NO_NETWORK)
    data = tmp_path / "kbdata"
    result = subprocess.run([sys.executable, "-c", SUBPROCESS, str(data), str(MODELS["en_de"]), str(MODELS["en_pl"])],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Ihre Bestellung wurde versandt.", "Kontakt"]
    assert list(home.iterdir()) == []
    assert (data / "argos" / "packages" / "translate-en_de-1_0" / "metadata.json").is_file()
    assert (data / "argos" / "config" / "argos-translate").is_dir()


def test_markdown_round_trip_on_sample_content() -> None:
    """Rendering every article body with its own texts gives the body back, byte for byte."""
    bodies = 0
    for path in sorted((ROOT / "content").glob("**/*.md")):
        raw = path.read_text(encoding="utf-8")
        body = raw.split("---\n", 2)[2] if raw.startswith("---\n") else raw
        tpl = parse(body)
        assert tpl.render(list(tpl.texts)) == body, path
        assert not any(t.startswith(("#", "- ", "|", "```")) for t in tpl.texts), path
        bodies += 1
    if not bodies:
        pytest.skip("no sample content")


def test_package_without_sentence_splitter_never_downloads_one(env: Path) -> None:
    """argostranslate would fetch a MiniSBD model for such a package; kb splits at . ! ? instead."""
    stripped = env / "en_de_no_sbd.argosmodel"
    with zipfile.ZipFile(MODELS["en_de"]) as src, zipfile.ZipFile(stripped, "w") as dst:
        for item in src.infolist():
            if "/minisbd/" not in item.filename:
                dst.writestr(item, src.read(item))
    pkg = install_from_file(stripped)
    assert pkg.sbd is None
    tr = ArgosTranslator(use_memory=False)
    assert tr.translate_text("Your order has shipped. Track your order.", "en", "de") == (
        "Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung.")


def test_install_from_index_served_locally(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The online path end to end, against an Argos-style index served on 127.0.0.1."""
    from kb.translate.packages import import_argos, resolve_dirs

    site = env / "site"
    site.mkdir()
    shutil.copy(MODELS["en_pl"], site / "translate-en_pl-1_0.argosmodel")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    (site / "index.json").write_text(json.dumps([{
        "package_version": "1.0", "argos_version": "1.11", "from_code": "en", "from_name": "English",
        "to_code": "pl", "to_name": "Polish", "type": "translate", "links": [base + "translate-en_pl-1_0.argosmodel"],
    }]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        argos = import_argos(resolve_dirs())
        monkeypatch.setattr(argos.settings, "remote_package_index", base + "index.json")
        data = env / "kbdata"
        with pytest.raises(ModelInstallError, match="index has no en → fr model. Related pairs: en→pl"):
            install_from_index("en", "fr", data_dir=data)
        pkg = install_from_index("en", "pl", data_dir=data)
    finally:
        server.shutdown()
        server.server_close()
    assert pkg.pair == ("en", "pl")
    assert (data / "argos" / "share" / "argos-translate" / "index.json").is_file()  # kb's folder, not $HOME
    assert list((data / "argos" / "share" / "argos-translate" / "downloads").iterdir()) == []
    assert ArgosTranslator(use_memory=False).translate_text("Payment", "en", "pl") == "Płatność"
