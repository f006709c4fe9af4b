"""The real sample help center in content/: it must pass `kb check` and cover what it promises."""

from __future__ import annotations

import json
import tomllib

import pytest
from helpers import ROOT

from kb.cli import main
from kb.content.check import check
from kb.content.library import Library

REPO = ROOT
CONTENT = REPO / "content"
INTENTS_FILE = REPO / "benchmarks" / "bitext_intents.toml"
BITEXT_CORPUS = REPO.parent / "shared" / "eval" / "bitext-en" / "corpus.jsonl"


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(CONTENT)


def test_kb_check_content_has_no_errors(library: Library) -> None:
    errors = [p for p in check(library) if p.severity == "error"]
    assert not errors, f"{len(errors)} error(s) in content/:\n" + "\n".join(str(p) for p in errors)


def test_kb_check_command_passes_on_content(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(CONTENT), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, [p for p in data["problems"] if p["severity"] == "error"]
    assert data["summary"]["error"] == 0


def test_at_least_30_english_articles(library: Library) -> None:
    english = [a for a in library.in_locale("en") if not a.is_translation]
    assert len(english) >= 30, f"only {len(english)} English source articles"
    assert library.source_locale == "en"


def test_every_article_is_in_a_configured_category(library: Library) -> None:
    categories = set(library.config.categories)
    outside = [f"{a.locale}/{a.id}: {a.category}" for a in library.articles if a.category not in categories]
    assert not outside, f"articles in categories not defined in kb.toml: {outside}"


def test_every_category_has_english_articles(library: Library) -> None:
    used = {a.category for a in library.in_locale("en")}
    empty = [key for key in library.config.categories if key not in used]
    assert not empty, f"categories in kb.toml with no English article: {empty}"


def test_sample_has_translation_work_to_do(library: Library) -> None:
    """Issue 2: most articles translated, some missing per locale, at least one stale translation."""
    others = [code for code in library.config.locales if code != library.source_locale]
    assert others, "no locale besides the source locale is enabled"
    assert any(library.missing(code) for code in others), "no locale has a missing translation"
    assert any(library.is_stale(a) for a in library.articles), "no stale translation"
    for code in others:
        assert library.in_locale(code), f"no articles in {code}"


def _bitext_intents() -> list[str]:
    if not BITEXT_CORPUS.is_file():
        pytest.skip(f"{BITEXT_CORPUS} is absent: the shared eval data is not checked out next to the repo")
    with BITEXT_CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line)["id"] for line in fh if line.strip()]


def test_bitext_intents_map_to_english_articles(library: Library) -> None:
    intents = _bitext_intents()
    assert len(intents) == 27 and len(set(intents)) == 27
    if not INTENTS_FILE.is_file():
        pytest.fail(f"{INTENTS_FILE.relative_to(REPO)} does not exist yet: it must map every bitext intent to articles")
    mapping = tomllib.loads(INTENTS_FILE.read_text(encoding="utf-8"))["intents"]
    english_ids = {a.id for a in library.in_locale("en")}
    unmapped = [i for i in intents if not mapping.get(i)]
    assert not unmapped, f"intents with no article in {INTENTS_FILE.name}: {unmapped}"
    unknown = {}
    for intent in intents:
        ids = [mapping[intent]] if isinstance(mapping[intent], str) else list(mapping[intent])
        missing = [i for i in ids if i not in english_ids]
        if missing:
            unknown[intent] = missing
    assert not unknown, f"intents mapped to ids with no English article: {unknown}"
    extra = set(mapping) - set(intents)
    assert not extra, f"{INTENTS_FILE.name} names intents that are not in the corpus: {sorted(extra)}"
