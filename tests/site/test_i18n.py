"""The site's interface-string catalogs: complete in every locale, problems found, compiled on first use."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po
from jinja2 import DictLoader, Environment, select_autoescape

from kb.site import catalogs, i18n

LOCALES = ("de", "es", "fr", "it", "pl", "tr")


def test_every_locale_has_every_message() -> None:
    assert i18n.catalog_locales() == LOCALES
    used = [m.id for m in catalogs.extract_messages() if m.id]
    assert len(used) >= 40 and "Was this helpful?" in used and "Link to this section" in used
    assert [str(problem) for problem in catalogs.check()] == []


def _copy(tmp_path: Path, code: str = "de") -> Path:
    path = tmp_path / code / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    shutil.copyfile(i18n.po_file(code), path)
    return path


def _edit(path: Path, change: Callable[[Catalog], object]) -> None:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=path.parent.parent.name)
    change(catalog)
    with path.open("wb") as fh:
        write_po(fh, catalog)


def _set(msgid: str, text: str) -> Callable[[Catalog], None]:
    def change(catalog: Catalog) -> None:
        catalog[msgid].string = text
    return change


BROKEN = {
    "missing": (lambda c: c.delete("Was this helpful?"), "'Was this helpful?': missing"),
    "empty": (_set("Yes", ""), "'Yes': not translated"),
    "fuzzy": (lambda c: c["No"].flags.add("fuzzy"), "'No': fuzzy"),
    "renamed placeholder": (_set("Last updated: {date}", "Zuletzt aktualisiert: {datum}"),
                            "'Last updated: {date}': msgstr[0] has placeholders ['{datum}'], the msgid ['{date}']"),
    "lost placeholder": (_set("Read the original ({language})", "Original lesen"), "placeholders [], the msgid"),
    "%-placeholder": (_set("Send", "Senden %s"), "'Send': msgstr[0] has placeholders ['%s']"),
    "unused": (lambda c: c.add("Nobody uses this", "Niemand"), "'Nobody uses this': not used by the site"),
}


def test_an_intact_copy_has_no_problems(tmp_path: Path) -> None:
    assert catalogs.check([_copy(tmp_path)], catalogs.extract_messages()) == []


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_catalog_is_reported(tmp_path: Path, name: str) -> None:
    change, expected = BROKEN[name]
    path = _copy(tmp_path)
    _edit(path, change)
    problems = [str(p) for p in catalogs.check([path], catalogs.extract_messages())]
    assert len(problems) == 1 and str(path) in problems[0] and expected in problems[0], problems


def test_wrong_plural_forms_header_is_reported(tmp_path: Path) -> None:
    path = _copy(tmp_path, "pl")
    text = path.read_text(encoding="utf-8")
    start = text.index('"Plural-Forms:')
    end = text.index('"MIME-Version')
    path.write_text(text[:start] + '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n' + text[end:], encoding="utf-8")
    problems = [str(p) for p in catalogs.check([path], catalogs.extract_messages())]
    assert len(problems) == 1 and "Plural-Forms has 2 forms, pl has 3" in problems[0], problems


PL_HEADER = """msgid ""
msgstr ""
"Language: pl\\n"
"Plural-Forms: nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\\n"

msgid "{n} article"
msgid_plural "{n} articles"
"""


@pytest.mark.parametrize(("forms", "problem"), [
    (("{n} artykuł", "{n} artykuły", "{n} artykułów"), None),
    (("jeden artykuł", "{n} artykuły", "{n} artykułów"), None),  # the form for one may leave the number out
    (("{n} artykuł", "{n} artykuły"), "not translated: msgstr[2] empty (the locale has 3 plural forms)"),
    (("{n} artykuł", "", "{n} artykułów"), "not translated: msgstr[1] empty"),
    (("{n} artykuł", "{liczba} artykuły", "{n} artykułów"), "msgstr[1] has placeholders ['{liczba}']"),
    (("jeden artykuł", "artykuły", "{n} artykułów"), "msgstr[1] has placeholders [], the msgid ['{n}']"),
])
def test_plural_messages_are_checked_form_by_form(tmp_path: Path, forms: tuple[str, ...], problem: str | None) -> None:
    template = Catalog(fuzzy=False)
    template.add(("{n} article", "{n} articles"), flags=["python-brace-format"])
    path = tmp_path / "pl" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    path.write_text(PL_HEADER + "".join(f'msgstr[{i}] "{form}"\n' for i, form in enumerate(forms)), encoding="utf-8")
    problems = [str(p) for p in catalogs.check([path], template)]
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


# -- loading and compiling ------------------------------------------------------------------------
@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the catalogs (without compiled files) that i18n and catalogs use instead."""
    folder = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES_DIR, folder, ignore=shutil.ignore_patterns("*.mo", ".tmp-*"))
    monkeypatch.setattr(i18n, "LOCALES_DIR", folder)
    monkeypatch.setattr(catalogs, "TEMPLATE_FILE", folder / "messages.pot")
    i18n.refresh()
    yield folder
    i18n.refresh()


def test_compiled_on_first_use_and_again_when_the_po_changes(locales: Path) -> None:
    mo = locales / "de" / "LC_MESSAGES" / "messages.mo"
    assert not mo.exists()
    assert i18n.translations("de-AT").gettext("Was this helpful?") == "War dieser Artikel hilfreich?"
    assert mo.is_file() and list(locales.rglob(".tmp-*")) == []
    assert i18n.compile_catalog("de") is None  # fresh: left alone

    _edit(i18n.po_file("de"), _set("Yes", "Jawohl"))
    old = i18n.po_file("de").stat().st_mtime - 60
    os.utime(mo, (old, old))  # the .mo is now older than the .po
    i18n.refresh()
    assert i18n.translations("de").gettext("Yes") == "Jawohl"
    assert mo.stat().st_mtime > old


def test_compiled_in_memory_when_the_folder_is_read_only(locales: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(i18n.tempfile, "mkstemp", refuse)
    assert i18n.translations("fr").gettext("Yes") == "Oui"
    assert not (locales / "fr" / "LC_MESSAGES" / "messages.mo").exists()


def test_a_message_a_catalog_lacks_shows_in_english(locales: Path) -> None:
    _edit(i18n.po_file("it"), lambda c: c.delete("Was this helpful?"))
    tr = i18n.translations("it")
    assert tr.gettext("Was this helpful?") == "Was this helpful?"
    assert tr.gettext("Yes") == "Sì"


@pytest.mark.parametrize(("locale", "ui"), [("de", "de"), ("de-CH", "de"), ("pt-BR", "en"), ("ar", "en"), ("en-GB", "en")])
def test_ui_locale(locale: str, ui: str) -> None:
    assert i18n.ui_locale(locale) == ui


def test_compile_and_check_commands(locales: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert catalogs.main(["compile"]) == 0
    assert sorted(p.parent.parent.name for p in locales.rglob("messages.mo")) == list(LOCALES)
    assert catalogs.main(["check"]) == 0
    _edit(i18n.po_file("tr"), _set("Send", ""))
    assert catalogs.main(["check"]) == 1
    assert "'Send': not translated" in capsys.readouterr().err
    assert catalogs.main([]) == 2


def test_update_adds_new_messages_untranslated(locales: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert catalogs.update() == []  # the sources use what the catalogs hold: nothing to write
    real = catalogs.extract_messages

    def with_a_new_message() -> Catalog:
        template = real()
        template.add("Print this article", locations=[("kb/site/templates/article.html", None)])
        return template
    monkeypatch.setattr(catalogs, "extract_messages", with_a_new_message)
    written = catalogs.update()
    assert sorted(p.relative_to(locales).as_posix() for p in written) == sorted(
        ["messages.pot"] + [f"{code}/LC_MESSAGES/messages.po" for code in LOCALES])
    problems = [str(p) for p in catalogs.check()]
    assert len(problems) == len(LOCALES) and all("'Print this article': not translated" in p for p in problems)
    assert i18n.translations("pl").gettext("Yes") == "Tak"  # the translations already there are kept


def test_templates_translate_into_the_page_language_and_escape_the_result() -> None:
    env = Environment(loader=DictLoader({"t.html": '<b title="{{ _("Read the original ({language})") }}">'
                                                   '{{ _("Yes") }}</b>'}), autoescape=select_autoescape(["html"]))
    i18n.install(env)
    template = env.get_template("t.html")
    assert template.render(lang="fr") == '<b title="Lire l&#39;original ({language})">Oui</b>'
    assert template.render(lang="tr") == '<b title="Orijinalini okuyun ({language})">Evet</b>'
    assert template.render(lang="ar") == '<b title="Read the original ({language})">Yes</b>'


def test_a_new_locale_starts_from_the_template(locales: Path) -> None:
    """The steps kb/site/catalogs.py gives for a new locale, with a regional one (gettext's folder name)."""
    po = locales / "pt_BR" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    shutil.copyfile(locales / "messages.pot", po)
    i18n.refresh()
    assert catalogs.update() == [po]
    text = po.read_text(encoding="utf-8")
    assert '"Language: pt_BR\\n"' in text and '"Plural-Forms: nplurals=' in text
    problems = catalogs.check()
    assert len(problems) == len(catalogs.extract_messages())  # every message
    forms = get_plural("pt_BR").num_plurals
    plural = f"not translated: {', '.join(f'msgstr[{i}]' for i in range(forms))} empty (the locale has {forms} plural forms)"
    assert {p.what for p in problems} == {"not translated (empty msgstr)", plural} and {p.file for p in problems} == {po}
    _edit(po, _set("Yes", "Sim"))
    assert i18n.ui_locale("pt-BR") == "pt_BR" and i18n.ui_locale("pt-PT") == "en"
    assert i18n.translations("pt-BR").gettext("Yes") == "Sim"
    assert i18n.translations("pt-BR").gettext("No") == "No"  # untranslated yet: English
