"""The translation workflow end to end, with real argostranslate and the tiny fixture models, offline.

Machine drafts (`kb translate --missing/--stale`), the review queue (`kb review list/diff/approve`),
on-the-fly translation in search, the admin API, and what every command says without a model.
The help center uses only sentences the fixture models know (tests/fixtures/argos/README.md).
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib.util
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import FIXTURES as TEST_FIXTURES

from kb import cli
from kb.analytics.store import logged_demand
from kb.content.article import content_hash
from kb.content.frontmatter import parse
from kb.content.library import Library
from kb.translate import ArgosTranslator, install_from_file
from kb.translate.drafts import draft_missing, refresh_stale
from kb.translate.live import ArticleTranslator, live_translator

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("argostranslate", "ctranslate2", "sentencepiece")),
    reason="needs the translate extra (argostranslate, ctranslate2, sentencepiece)",
)

FIXTURES = TEST_FIXTURES / "argos"
EN_DE, EN_PL, DE_EN = (FIXTURES / f"{name}.argosmodel" for name in ("en_de", "en_pl", "de_en"))
TODAY = dt.date.today().isoformat()
NO_NETWORK = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}

KB_TOML = """\
name = "Fixture Shop Help"
source_locale = "en"
locales = ["en", "de", "pl"]
base_url = "https://help.example"

[categories.orders]
title = { en = "Orders", de = "Bestellungen" }
[categories.shipping]
title = { en = "Shipping", de = "Versand" }
[categories.returns]
title = { en = "Returns", de = "Rücksendungen" }
[categories.payments]
title = { en = "Payment", de = "Zahlung" }
[categories.account]
title = { en = "Account", de = "Konto" }
"""

# id: (category, title, questions, tags, body)
EN: dict[str, tuple[str, str, list[str], list[str], str]] = {
    "cancel-order": ("orders", "Cancel an order", ["Where is my parcel?"], [],
                     "Orders can be cancelled before they ship.\n\nContact our support team.\n"),
    "track-order": ("shipping", "Track your order", ["Where is my parcel?"], ["Shipping"], textwrap.dedent("""\
        Your order has shipped. Track your order.

        ## Delivery time

        Delivery takes three to five days.

        - Enter the tracking number.
        - [See the help page](../returns/return-item.md) for more details.
        """)),
    "return-item": ("returns", "Returns", ["How do I return an item?"], ["Returns"], textwrap.dedent("""\
        Returns are free within 30 days.

        1. Pack the item securely.
        2. Print the return label.
        3. Hand the parcel to the carrier.

        Run this command:

        ```bash
        echo "Your order has shipped."
        ```
        """)),
    "payment-methods": ("payments", "Payment", ["Choose a payment method."], [], textwrap.dedent("""\
        We accept credit cards and PayPal.

        | Country | Delivery time |
        | --- | --- |
        | Germany | Three days |
        | Poland | Five days |
        """)),
    "change-password": ("account", "Help", [], [], "Change your password.\n\nSign in to your account.\n"),
}

TRACK_ORDER_DE = textwrap.dedent("""\
    ---
    id: track-order
    title: Bestellung verfolgen
    category: shipping
    tags: [Versand]
    questions:
      - Wo ist mein Paket?
    updated: {today}
    source_locale: en
    source_hash: {hash}
    review: machine
    ---
    Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung.

    ## Lieferzeit

    Die Lieferung dauert drei bis fünf Tage.

    - Geben Sie die Sendungsnummer ein.
    - [Siehe die Hilfeseite](../returns/return-item.md) für weitere Informationen.
    """)


def article(aid: str, category: str, title: str, questions: list[str], tags: list[str], body: str,
            extra: str = "") -> str:
    lines = ["---", f"id: {aid}", f"title: {title}", f"category: {category}"]
    if tags:
        lines.append(f"tags: [{', '.join(tags)}]")
    if questions:
        lines += ["questions:", *(f"  - {q}" for q in questions)]
    lines.append("updated: 2026-10-01")
    return "\n".join(lines) + "\n" + extra + "---\n" + body


def source_hash(aid: str) -> str:
    _, title, _, _, body = EN[aid]
    return content_hash(title, body)


def write_help_center(root: Path) -> Path:
    """English sources; German: a person's translation of cancel-order, a reviewed draft of change-password."""
    root.mkdir(parents=True)
    (root / "kb.toml").write_text(KB_TOML)
    for aid, (category, title, questions, tags, body) in EN.items():
        path = root / "en" / category / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article(aid, category, title, questions, tags, body))
    human = root / "de" / "orders" / "cancel-order.md"
    human.parent.mkdir(parents=True)
    human.write_text(article("cancel-order", "orders", "Bestellung stornieren", [], [],
                             "Bestellungen können vor dem Versand storniert werden.\n",
                             f"source_locale: en\nsource_hash: {source_hash('cancel-order')}\nreview: human\n"))
    reviewed = root / "de" / "account" / "change-password.md"
    reviewed.parent.mkdir(parents=True)
    reviewed.write_text(article("change-password", "account", "Hilfe", [], [], "Ändern Sie Ihr Passwort.\n",
                                f"source_locale: en\nsource_hash: {source_hash('change-password')}\nreview: reviewed\n"
                                "reviewed_by: Jana\nreviewed_on: 2026-10-02\n"))
    return root


def line_changes(before: list[str], after: list[str]) -> list[tuple[list[str], list[str]]]:
    """(old lines, new lines) of each changed run."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    return [(before[i1:i2], after[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A help center in tmp_path/content, the working directory tmp_path; HOME, caches and models in tmp_path."""
    for name in ("home", "cache"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "packages"))
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "KB_DATABASE_URL", "KB_ADMIN_KEY", "KB_ADMIN_KEY_FILE", "KB_REVIEWER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in NO_NETWORK.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    write_help_center(tmp_path / "content")
    return tmp_path


@pytest.fixture
def installed(env: Path) -> Path:
    for model in (EN_DE, EN_PL, DE_EN):
        install_from_file(model)
    return env


def kb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- without a model -------------------------------------------------------------------------------
def test_without_a_model_every_translate_command_says_how_to_install_one(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = files(env / "content")
    for args in (["translate", "--missing", "--locale", "de"], ["translate", "--missing"], ["translate", "--stale"],
                 ["translate", "models", "list"]):
        code, out, err = kb(capsys, *args)
        assert code == 1, args
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1, (args, err)
        assert lines[0].startswith("kb: error: no translation model is installed"), err
        assert "kb translate models install" in lines[0] and "--file PATH.argosmodel" in lines[0]
    assert "`kb translate models install en de`" in kb(capsys, "translate", "--missing", "--locale", "de")[2]
    assert files(env / "content") == before


def test_install_from_file_with_the_cli(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = kb(capsys, "translate", "models", "install", "--file", str(EN_DE))
    assert code == 0 and out.startswith("installed en → de (English → German), version 1.0 in ")
    assert (env / "packages" / "translate-en_de-1_0" / "metadata.json").is_file()
    kb(capsys, "translate", "models", "install", "--file", str(DE_EN))
    kb(capsys, "translate", "models", "install", "--file", str(EN_PL))
    code, out, _ = kb(capsys, "translate", "models", "list")
    assert code == 0
    assert [line.split("  (")[0] for line in out.splitlines()] == [
        "de → en (German → English), version 1.0", "en → de (English → German), version 1.0",
        "en → pl (English → Polish), version 1.0", "through English: de → pl"]
    assert kb(capsys, "translate", "models", "install")[0] == 2
    assert kb(capsys, "translate", "models", "install", "en", "de", "--file", str(EN_DE))[0] == 2
    (env / "junk.argosmodel").write_text("no zip")
    code, _, err = kb(capsys, "translate", "models", "install", "--file", "junk.argosmodel")
    assert code == 1 and len(err.splitlines()) == 1 and "not a zip archive" in err


# -- drafts --------------------------------------------------------------------------------------------
def test_missing_drafts_are_flagged_written_where_they_belong_and_pass_check(
        installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = installed / "content"
    before = files(content)
    code, out, err = kb(capsys, "translate", "--missing", "--locale", "de")
    assert code == 0, err
    assert "3 machine draft(s) written (review: machine), 0 skipped, 0 failed" in out
    after = files(content)
    new = sorted(set(after) - set(before))
    assert new == ["de/payments/payment-methods.md", "de/returns/return-item.md", "de/shipping/track-order.md"]
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else touched
    assert not [p for p in content.rglob("*") if p.name.startswith(".")]  # no temporary files left
    assert after["de/shipping/track-order.md"].decode() == TRACK_ORDER_DE.format(today=TODAY, hash=source_hash("track-order"))
    returns = parse(after["de/returns/return-item.md"].decode())
    assert returns.meta["title"] == "Rücksendungen"
    assert returns.meta["questions"] == ["Wie sende ich einen Artikel zurück?"]
    assert returns.body == textwrap.dedent("""\
        Rücksendungen sind innerhalb von 30 Tagen kostenlos.

        1. Verpacken Sie den Artikel sicher.
        2. Drucken Sie das Rücksendeetikett aus.
        3. Übergeben Sie das Paket dem Zustelldienst.

        Führen Sie diesen Befehl aus:

        ```bash
        echo "Your order has shipped."
        ```
        """)
    assert "| Deutschland | Drei Tage |" in after["de/payments/payment-methods.md"].decode()

    library = Library.load(content)
    for aid in ("track-order", "return-item", "payment-methods"):
        draft = library.get(aid, "de")
        assert draft is not None and draft.review == "machine" and draft.meta.source_locale == "en"
        assert draft.meta.source_hash == library.get(aid, "en").hash and not library.is_stale(draft)  # type: ignore[union-attr]
        assert draft.meta.updated.isoformat() == TODAY
    code, out, _ = kb(capsys, "check", "content")
    assert code == 0, out
    assert "0 error(s), 0 warning(s)" in out
    assert "[missing-translation] 5 article(s) not yet in pl" in out and "not yet in de" not in out

    code, out, _ = kb(capsys, "translate", "--missing", "--locale", "de")  # again: nothing left to do
    assert code == 0 and "0 machine draft(s) written" in out
    assert files(content) == after


def test_missing_without_locale_drafts_every_locale_with_a_model(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = kb(capsys, "translate", "--missing")
    assert code == 0, err
    assert "8 machine draft(s) written" in out
    assert parse((installed / "content/pl/shipping/track-order.md").read_text()).meta["title"] == "Śledź zamówienie"


def test_missing_locale_without_a_model_is_an_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install_from_file(EN_DE)
    code, out, err = kb(capsys, "translate", "--missing", "--locale", "pl")
    assert code == 1
    assert "pl: 5 article(s) not drafted: no translation model for en → pl" in err
    assert "kb translate models install en pl" in err
    assert not (env / "content" / "pl").exists()
    assert kb(capsys, "translate", "--missing", "--locale", "fr")[0] == 1  # not enabled in kb.toml


def test_human_and_reviewed_articles_are_never_overwritten(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = installed / "content"
    kb(capsys, "translate", "--missing", "--locale", "de")
    for aid in EN:  # every source changes: every translation is stale
        path = content / "en" / EN[aid][0] / f"{aid}.md"
        path.write_text(path.read_text() + "\nCheck your spam folder.\n")
    human, reviewed = content / "de/orders/cancel-order.md", content / "de/account/change-password.md"
    kept = {p: p.read_bytes() for p in (human, reviewed)}
    code, out, err = kb(capsys, "translate", "--stale", "--locale", "de")
    assert code == 0, err
    assert "stale     content/de/orders/cancel-order.md (review: human; not overwritten)" in out
    assert "stale     content/de/account/change-password.md (review: reviewed; not overwritten)" in out
    assert "3 stale machine draft(s) refreshed, 2 stale translation(s) by people left for review" in out
    assert {p: p.read_bytes() for p in kept} == kept
    library = Library.load(content)
    draft = library.get("track-order", "de")
    assert draft is not None and not library.is_stale(draft) and draft.review == "machine"
    assert draft.body.rstrip().endswith("Prüfen Sie Ihren Spam-Ordner.")
    assert library.is_stale(library.get("cancel-order", "de"))  # type: ignore[arg-type]

    # a draft a person approved after it was read is not overwritten either
    path = content / "en/returns/return-item.md"
    path.write_text(path.read_text() + "\nKeep the receipt.\n")
    library = Library.load(content)
    draft_path = content / "de/returns/return-item.md"
    approved = draft_path.read_text().replace("review: machine", "review: reviewed\nreviewed_by: Ole\nreviewed_on: 2026-11-01")
    draft_path.write_text(approved)
    report = refresh_stale(library, ArgosTranslator(installed / ".kb"), ["de"])
    assert [(o.id, o.action) for o in report.outcomes if o.id == "return-item"] == [("return-item", "skipped")]
    assert draft_path.read_text() == approved


def test_a_file_in_the_way_is_not_replaced(installed: Path) -> None:
    content = installed / "content"
    broken = content / "de/shipping/track-order.md"
    broken.parent.mkdir(parents=True)
    broken.write_text("---\nid: track-order\ntitle: [unclosed\n---\nHallo\n")
    steps: list[tuple[int, int, str]] = []
    report = draft_missing(Library.load(content), ArgosTranslator(installed / ".kb"), ["de"],
                           lambda done, total, item: steps.append((done, total, item)))
    assert [(o.id, o.action) for o in report.outcomes if o.id == "track-order"] == [("track-order", "skipped")]
    assert broken.read_text() == "---\nid: track-order\ntitle: [unclosed\n---\nHallo\n"
    assert report.counts()["drafted"] == 2
    assert steps == [(1, 3, "de/payment-methods"), (2, 3, "de/return-item"), (3, 3, "de/track-order")]


def test_a_regional_locale_gets_drafts_only_where_its_language_lacks_the_article(installed: Path) -> None:
    content = installed / "content"
    toml = content / "kb.toml"
    toml.write_text(toml.read_text().replace('["en", "de", "pl"]', '["en", "de", "de-AT", "pl"]'))
    report = draft_missing(Library.load(content), ArgosTranslator(installed / ".kb"), ["de-AT"])
    assert sorted(o.id for o in report.of("drafted")) == ["payment-methods", "return-item", "track-order"]
    assert (content / "de-AT/shipping/track-order.md").is_file()
    assert not (content / "de-AT/orders").exists()  # cancel-order: the German version serves de-AT


def test_a_stale_draft_follows_its_source_into_another_category(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = installed / "content"
    kb(capsys, "translate", "--missing", "--locale", "de")
    src = content / "en/shipping/track-order.md"
    moved = content / "en/orders/track-order.md"
    moved.write_text(src.read_text().replace("category: shipping", "category: orders").replace("Track your order.", ""))
    src.unlink()
    code, out, _ = kb(capsys, "translate", "--stale", "--locale", "de")
    assert code == 0 and "refreshed content/de/orders/track-order.md (moved from shipping/" in out
    assert not (content / "de/shipping/track-order.md").exists()
    assert kb(capsys, "check", "content")[0] == 0
    assert kb(capsys, "translate")[0] == 2  # neither --missing nor --stale: a usage error


def test_translation_memory_hit_on_the_second_run(installed: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    content = installed / "content"
    kb(capsys, "translate", "--missing", "--locale", "de")
    first = files(content / "de")
    assert (installed / ".kb" / "translate" / "memory.sqlite").is_file()
    for name in ("payments/payment-methods.md", "returns/return-item.md", "shipping/track-order.md"):
        (content / "de" / name).unlink()

    from kb.translate import argos as backend

    def no_model(self: object, texts: list[str], batch_size: int) -> list[str]:
        raise AssertionError(f"the model was asked for {texts}")

    monkeypatch.setattr(backend._Engine, "translate", no_model)
    code, out, err = kb(capsys, "translate", "--missing", "--locale", "de")
    assert code == 0, err
    assert "3 machine draft(s) written" in out
    assert files(content / "de") == first


# -- review ---------------------------------------------------------------------------------------------
def test_review_list_diff_and_approve(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = installed / "content"
    kb(capsys, "translate", "--missing", "--locale", "de")
    src = content / "en/orders/cancel-order.md"
    src.write_text(src.read_text().replace("Contact our support team.", "Check your spam folder."))

    code, out, _ = kb(capsys, "review", "list", "--locale", "de", "--format", "json")
    import json

    queue = json.loads(out)
    assert code == 0 and queue["ordering"] == "heuristic"
    order = [(i["id"], i["reasons"]) for i in queue["items"]]
    # stale first; then category order of kb.toml: shipping, returns, payments
    assert order == [("cancel-order", ["stale"]), ("track-order", ["machine"]), ("return-item", ["machine"]),
                     ("payment-methods", ["machine"])]
    assert all(i["demand"] is None for i in queue["items"])
    code, out, _ = kb(capsys, "review", "list")
    assert "4 to review, ordered no query log yet" in out
    assert "de     cancel-order" in out and "content/de/shipping/track-order.md" in out

    code, out, _ = kb(capsys, "review", "diff", "cancel-order", "--locale", "de")
    assert code == 0
    assert f"source_hash {source_hash('cancel-order')} → " in out
    assert "-Contact our support team.\n+Check your spam folder." in out
    code, out, _ = kb(capsys, "review", "diff", "track-order", "--locale", "de")
    assert "nothing changed since" in out

    # a translation made from a source text kb never saw: said so, and the current source shown
    odd = content / "de/account/change-password.md"
    odd.write_text(odd.read_text().replace(f"source_hash: {source_hash('change-password')}", "source_hash: 0123456789abcdef"))
    code, out, _ = kb(capsys, "review", "diff", "change-password", "--locale", "de")
    assert code == 0 and "its text as translated is unknown" in out and "Change your password." in out
    assert kb(capsys, "review", "diff", "nope", "--locale", "de")[0] == 1

    draft = content / "de/shipping/track-order.md"
    before = draft.read_text().splitlines()
    code, out, _ = kb(capsys, "review", "approve", "track-order", "--locale", "de", "--by", "Anna Berg")
    assert code == 0 and "approved content/de/shipping/track-order.md: review reviewed, reviewed_by Anna Berg" in out
    assert line_changes(before, draft.read_text().splitlines()) == [
        (["review: machine"], ["review: reviewed", "reviewed_by: Anna Berg", f"reviewed_on: {TODAY}"])]

    human = content / "de/orders/cancel-order.md"
    before = human.read_text().splitlines()
    kb(capsys, "review", "approve", "cancel-order", "--locale", "de", "--by", "Jana")
    new_hash = Library.load(content).get("cancel-order", "en").hash  # type: ignore[union-attr]
    assert line_changes(before, human.read_text().splitlines()) == [  # a person's translation stays human
        ([f"source_hash: {source_hash('cancel-order')}"], [f"source_hash: {new_hash}"]),
        ([], ["reviewed_by: Jana", f"reviewed_on: {TODAY}"])]

    code, out, _ = kb(capsys, "review", "list", "--locale", "de", "--format", "json")
    assert [i["id"] for i in json.loads(out)["items"]] == ["change-password", "return-item", "payment-methods"]
    assert kb(capsys, "review", "approve", "track-order", "--locale", "en", "--by", "x")[0] == 1  # the source itself
    code, out, _ = kb(capsys, "check", "content")
    stale = [line for line in out.splitlines() if "[stale]" in line]
    assert code == 0 and len(stale) == 1 and "content/de/account/change-password.md" in stale[0]


def test_review_queue_ordered_by_shopper_demand(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from kb.analytics.store import open_store

    kb(capsys, "translate", "--missing", "--locale", "de")
    store = open_store(installed / ".kb")
    try:
        rows = [("de", ["payment-methods", "track-order"]), ("de", ["payment-methods"]), ("de-AT", ["payment-methods"]),
                ("de", ["return-item"]), ("pl", ["return-item", "return-item"]), ("en", ["return-item"])]
        for locale, ids in rows:
            store.log_query(endpoint="search", locale=locale, query="q", decision="answer", confidence=0.9,
                            top_ids=ids, top_scores=[0.5] * len(ids), served_machine=True, served_fallback=False,
                            generation="g")
    finally:
        store.close()
    code, out, _ = kb(capsys, "review", "list", "--format", "json")
    queue = json.loads(out)
    assert queue["ordering"] == "demand" and "6 logged" in queue["note"]
    assert [(i["id"], i["locale"], i["demand"]) for i in queue["items"]] == [
        ("payment-methods", "de", 3), ("track-order", "de", 1), ("return-item", "de", 1)]  # ties: category order


# -- search: on the fly -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture help center indexed with the default embedder (no German track-order)."""
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index

    base = tmp_path_factory.mktemp("translate-index")
    content = write_help_center(base / "content")
    build_index(Library.load(content), base / "data", get_embedder())
    return base / "data"


@pytest.mark.slow
def test_search_serves_a_missing_article_machine_translated(installed: Path, index_dir: Path) -> None:
    from kb.search.engine import Engine

    translator = ArticleTranslator(ArgosTranslator(installed / ".kb"))
    engine = Engine(index_dir, translator=translator)
    result = engine.search("Where is my parcel?", lang="de", k=5)
    hit = next(h for h in result.hits if h.id == "track-order")
    assert (hit.locale, hit.machine_translated, hit.review, hit.fallback) == ("de", True, "machine", False)
    assert hit.title == "Bestellung verfolgen"
    assert hit.url == "https://help.example/de/shipping/track-order/"
    human = next(h for h in result.hits if h.id == "cancel-order")
    assert (human.locale, human.machine_translated, human.review) == ("de", False, "human")
    record, machine, fallback = engine.article("track-order", "de")
    assert machine and not fallback and record.review == "machine" and record.machine
    assert record.body.startswith("Ihre Bestellung wurde versandt. Verfolgen Sie Ihre Bestellung.")

    from kb.translate import argos as backend

    calls: list[int] = []
    original = backend._Engine.translate
    backend._Engine.translate = lambda self, texts, batch_size: calls.append(1) or original(self, texts, batch_size)  # type: ignore[method-assign]
    try:
        assert engine.article("track-order", "de")[0] is record  # cached: no model call
    finally:
        backend._Engine.translate = original  # type: ignore[method-assign]
    assert calls == []


@pytest.mark.slow
def test_search_without_a_model_falls_back_to_the_source_locale(env: Path, index_dir: Path) -> None:
    from kb.web.app import create_app

    assert live_translator(env / ".kb") is None
    app = create_app(index_dir, log_queries=False, content_dir=env / "content")
    assert app.state.engine.translator is None
    with TestClient(app) as client:
        hits = client.get("/v1/search", params={"q": "Where is my parcel?", "lang": "de"}).json()["hits"]
    hit = next(h for h in hits if h["id"] == "track-order")
    assert (hit["locale"], hit["fallback"], hit["machine_translated"]) == ("en", True, False)
    assert hit["title"] == "Track your order"


@pytest.mark.slow
def test_api_translates_on_the_fly_and_logs_the_demand(installed: Path, index_dir: Path, tmp_path: Path) -> None:
    from kb.web.app import create_app

    data = tmp_path / "data"
    shutil.copytree(index_dir, data)
    app = create_app(data, content_dir=installed / "content")
    assert isinstance(app.state.engine.translator, ArticleTranslator)
    with TestClient(app) as client:
        body = client.get("/v1/search", params={"q": "Track your order", "lang": "de", "k": 1}).json()
        article = client.get("/v1/articles/track-order", params={"lang": "de"}).json()
    assert body["hits"][0]["id"] == "track-order"
    assert (body["hits"][0]["locale"], body["hits"][0]["machine_translated"], body["hits"][0]["review"]) == ("de", True, "machine")
    assert (article["locale"], article["machine_translated"], article["review"], article["title"]) == (
        "de", True, "machine", "Bestellung verfolgen")
    rows = app.state.store.list_queries() if app.state.store else []
    assert [(r["locale"], r["top_ids"], r["served_machine"]) for r in rows] == [("de", ["track-order"], True)]
    assert logged_demand(data) == ({("track-order", "de"): 1}, 1)


@pytest.mark.slow
def test_kb_search_translates_on_the_fly(installed: Path, index_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json

    data = tmp_path / "data"
    shutil.copytree(index_dir, data)
    code, out, _ = kb(capsys, "search", "Track your order", "--lang", "de", "--k", "1", "--json", "--data", str(data))
    hit = json.loads(out)["hits"][0]
    assert code == 0 and (hit["id"], hit["locale"], hit["machine_translated"], hit["fallback"]) == ("track-order", "de", True, False)


# -- admin API ------------------------------------------------------------------------------------------------
@pytest.fixture
def admin(installed: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[TestClient]:
    from kb.search.engine import Engine
    from kb.web.app import create_app

    kb(capsys, "translate", "--missing", "--locale", "de")
    app = create_app(installed / ".kb", engine=Engine(index_dir), log_queries=False, content_dir=installed / "content")
    with TestClient(app) as client:
        yield client


@pytest.mark.slow
def test_admin_api_needs_the_key(admin: TestClient, monkeypatch: pytest.MonkeyPatch, installed: Path) -> None:
    r = admin.get("/v1/admin/review")
    assert r.status_code == 503
    assert r.json() == {"error": {"param": None, "message": "admin API disabled: run 'kb admin-key' or set KB_ADMIN_KEY"}}
    monkeypatch.setenv("KB_ADMIN_KEY", "s3cret-key")
    r = admin.get("/v1/admin/review")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert admin.get("/v1/admin/review", headers={"Authorization": "Basic s3cret-key"}).status_code == 401
    assert admin.get("/v1/admin/review", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert admin.get("/v1/admin/review", headers={"X-API-Key": "s3cret-ke"}).status_code == 403
    r = admin.post("/v1/admin/review/track-order/de/approve", json={"by": "Anna"}, headers={"X-API-Key": "nope"})
    assert r.status_code == 403 and "review: machine" in (installed / "content/de/shipping/track-order.md").read_text()
    r = admin.get("/v1/admin/review", headers={"Authorization": "Bearer s3cret-key"})
    assert r.status_code == 200
    assert r.json()["ordering"] == "heuristic"
    assert [i["id"] for i in r.json()["items"]] == ["track-order", "return-item", "payment-methods"]

    monkeypatch.delenv("KB_ADMIN_KEY")
    key_file = installed / "admin.key"
    key_file.write_text("from-a-file\n")
    monkeypatch.setenv("KB_ADMIN_KEY_FILE", str(key_file))
    assert admin.get("/v1/admin/review", headers={"X-API-Key": "from-a-file"}).status_code == 200
    assert admin.get("/v1/admin/review", headers={"X-API-Key": "s3cret-key"}).status_code == 403


@pytest.mark.slow
def test_admin_api_approve(admin: TestClient, monkeypatch: pytest.MonkeyPatch, installed: Path) -> None:
    monkeypatch.setenv("KB_ADMIN_KEY", "k")
    auth = {"Authorization": "Bearer k"}
    r = admin.post("/v1/admin/review/track-order/de/approve", json={"by": "Anna"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "track-order", "locale": "de", "path": str(Path("content/de/shipping/track-order.md")),
                        "review": "reviewed", "reviewed_by": "Anna", "reviewed_on": TODAY,
                        "source_hash": source_hash("track-order"), "previous_hash": source_hash("track-order")}
    text = (installed / "content/de/shipping/track-order.md").read_text()
    assert "review: reviewed\n" in text and "reviewed_by: Anna\n" in text
    queue = admin.get("/v1/admin/review", params={"locale": "de"}, headers=auth).json()
    assert [i["id"] for i in queue["items"]] == ["return-item", "payment-methods"]
    assert admin.post("/v1/admin/review/nope/de/approve", json={"by": "Anna"}, headers=auth).status_code == 404
    assert admin.post("/v1/admin/review/track-order/en/approve", json={"by": "Anna"}, headers=auth).status_code == 409
    assert admin.post("/v1/admin/review/track-order/xx-!!/approve", json={"by": "A"}, headers=auth).status_code == 422
    for nobody in ("", "\u200b", "\x00\u2060", "\U000e0001"):  # a name needs a visible character
        r = admin.post("/v1/admin/review/return-item/de/approve", json={"by": nobody}, headers=auth)
        assert r.status_code == 422 and r.json()["error"]["param"] == "by", nobody
    assert admin.get("/v1/admin/review", params={"locale": "fr"}, headers=auth).status_code == 422
    schema = admin.get("/openapi.json").json()
    assert "/v1/admin/review/{id}/{locale}/approve" in schema["paths"]
