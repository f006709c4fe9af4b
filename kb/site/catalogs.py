"""Tools for the interface-string catalogs: extract, update, check, compile.

    python -m kb.site.catalogs update   # templates + site code -> messages.pot -> every messages.po
    python -m kb.site.catalogs check    # every locale has every message, placeholders and plurals right
    python -m kb.site.catalogs compile  # messages.po -> messages.mo (also done on first use)

A new locale: `mkdir -p kb/site/locales/<code>/LC_MESSAGES`, copy `messages.pot` there as
`messages.po`, set its `Language:` header, run `update` (it writes the right `Plural-Forms`),
translate every `msgstr`, run `check`.
"""

from __future__ import annotations

import gettext
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from kb.site import i18n

SITE_DIR = Path(__file__).parent
TEMPLATE_FILE = i18n.LOCALES_DIR / f"{i18n.DOMAIN}.pot"
COMMENT_TAGS = ("Translators:",)
HEADER = "Interface strings of the kb help center site.\nThis file is distributed under the same license as kb."
# Templates are parsed with the settings of the site's Environment (kb.site.build).
_JINJA = {"trim_blocks": "true", "lstrip_blocks": "true", "silent": "false"}
_PLACEHOLDER = re.compile(r"\{(\w*)\}|%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


@dataclass(frozen=True)
class Problem:
    file: Path
    message: str  # the msgid, shortened
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message!r}: {self.what}" if self.message else f"{self.file}: {self.what}"


def sources() -> list[Path]:
    """The files whose messages the catalogs hold: the templates, then the site's Python modules."""
    return sorted((SITE_DIR / "templates").glob("*.html")) + sorted(SITE_DIR.glob("*.py"))


def extract_messages(files: Iterable[Path] | None = None) -> Catalog:
    """The messages `files` (default: `sources()`) use, with their translator comments and places."""
    catalog = Catalog(project="kb", header_comment=_comment(HEADER), fuzzy=False)
    for path in files if files is not None else sources():
        method = "jinja2.ext:babel_extract" if path.suffix == ".html" else "python"
        with path.open("rb") as fh:
            found = list(extract(method, fh, DEFAULT_KEYWORDS, COMMENT_TAGS, _JINJA if path.suffix == ".html" else {},
                                 strip_comment_tags=True))
        for _lineno, message, comments, context in found:
            flags = ("python-brace-format",) if any(m[1] is None for m in _placeholders(message)) else ()
            where = path.relative_to(SITE_DIR.parent.parent).as_posix()
            catalog.add(message, locations=[(where, None)], auto_comments=comments, flags=flags, context=context)
    return catalog


def update() -> list[Path]:
    """Write `messages.pot` from the sources and merge it into every locale's `messages.po`: new
    messages get an empty msgstr, gone ones are dropped. Files whose messages did not change are
    left alone (no new dates). Returns the files written."""
    template = extract_messages()
    written = []
    if _changed(TEMPLATE_FILE, template):
        _write(TEMPLATE_FILE, template)
        written.append(TEMPLATE_FILE)
    else:
        template = _read(TEMPLATE_FILE, None)  # the same messages, with the dates the .po files have
    for code in i18n.catalog_locales():
        path = i18n.po_file(code)
        catalog = _read(path, code)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if _changed(path, catalog):
            _write(path, catalog)
            written.append(path)
    return written


def check(files: Iterable[Path] | None = None, template: Catalog | None = None) -> list[Problem]:
    """What is wrong with the catalogs `files` (default: every locale's) against `template` (default:
    the messages the sources use): a message missing, untranslated or fuzzy, one the sources no
    longer use, placeholders that differ from the msgid's, a wrong plural count; when both are the
    defaults, also a `messages.pot` that is not what the sources use."""
    problems = []
    if template is None:
        template = extract_messages()
        if files is None and _changed(TEMPLATE_FILE, template):
            problems.append(Problem(TEMPLATE_FILE, "", "not the messages the templates and code use (run update)"))
    paths = list(files) if files is not None else [i18n.po_file(code) for code in i18n.catalog_locales()]
    for path in paths:
        code = path.parent.parent.name
        catalog = _read(path, code)
        if catalog.locale is None or str(catalog.locale) != str(Locale.parse(code)):
            problems.append(Problem(path, "", f"the Language header says {catalog.locale_identifier!r}, "
                                              f"the folder {code!r}"))
        plurals = get_plural(code)
        if catalog.num_plurals != plurals.num_plurals:
            problems.append(Problem(path, "", f"Plural-Forms has {catalog.num_plurals} forms, {code} has "
                                              f"{plurals.num_plurals} ({plurals.plural_forms})"))
        single_forms = _single_number_forms(catalog.plural_expr)
        for wanted in template:
            if not wanted.id:
                continue
            found = catalog.get(wanted.id, context=wanted.context)
            problems += _message_problems(path, wanted, found, plurals.num_plurals, single_forms)
        for message in catalog:
            if message.id and template.get(message.id, context=message.context) is None:
                problems.append(Problem(path, _short(message.id), "not used by the site (run update)"))
    return problems


def _message_problems(path: Path, wanted: Message, found: Message | None, num_plurals: int,
                      single_forms: set[int]) -> list[Problem]:
    name = _short(wanted.id)
    if found is None:
        return [Problem(path, name, "missing (run update, then translate it)")]
    if found.fuzzy:
        return [Problem(path, name, "fuzzy: check the translation and remove the fuzzy flag")]
    ids = list(wanted.id) if isinstance(wanted.id, tuple | list) else [wanted.id]
    strs = list(found.string) if isinstance(found.string, tuple | list) else [found.string]
    empty = [i for i, text in enumerate(strs) if not text]
    if empty and len(ids) == 1:
        return [Problem(path, name, "not translated (empty msgstr)")]
    if empty:  # a form left out of the file reads as an empty one
        forms = ", ".join(f"msgstr[{i}]" for i in empty)
        return [Problem(path, name, f"not translated: {forms} empty (the locale has {num_plurals} plural forms)")]
    out = []
    expected = _placeholders(ids[-1]) | _placeholders(ids[0])
    for i, text in enumerate(strs):
        got = _placeholders(text)
        # a plural form used for one number only ("one article") may leave the number out
        if got != expected and not (len(ids) > 1 and i in single_forms and got < expected):
            out.append(Problem(path, name, f"msgstr[{i}] has placeholders {sorted(map(_show, got))}, "
                                           f"the msgid {sorted(map(_show, expected))}"))
    return out


def _single_number_forms(plural_expr: str) -> set[int]:
    """The plural forms the catalog's Plural-Forms rule picks for a single number (Polish: form 0, for 1)."""
    pick = gettext.c2py(plural_expr)
    used = Counter(pick(n) for n in range(1000))
    return {form for form, count in used.items() if count == 1}


def _placeholders(text: str | tuple[str, ...]) -> set[tuple[str, str | None]]:
    """`{name}` fields as (name, None) and %-conversions as (name or position, conversion); not `%%`."""
    out: set[tuple[str, str | None]] = set()
    for part in [text] if isinstance(text, str) else text:
        for match in _PLACEHOLDER.finditer(part):
            if match.group(0) == "%%":
                continue
            if match.group(0).startswith("{"):
                out.add((match.group(1), None))
            else:
                out.add((match.group(2) or "", match.group(0)[-1]))
    return out


def _show(placeholder: tuple[str, str | None]) -> str:
    name, conversion = placeholder
    return "{" + name + "}" if conversion is None else f"%({name}){conversion}" if name else f"%{conversion}"


def _short(text: str | tuple[str, ...]) -> str:
    first = text if isinstance(text, str) else text[0]
    return first if len(first) <= 50 else first[:47] + "..."


def _comment(text: str) -> str:
    return "\n".join(f"# {line}" for line in text.splitlines())


def _read(path: Path, code: str | None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=code, domain=i18n.DOMAIN)


def _render(catalog: Catalog) -> bytes:
    out = BytesIO()
    write_po(out, catalog, width=100, include_lineno=False, omit_header=False)
    return out.getvalue()


def _changed(path: Path, catalog: Catalog) -> bool:
    """Whether `catalog` differs from the file at `path` in anything but its dates."""
    dates = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.M)
    try:
        old = path.read_bytes()
    except OSError:
        return True
    return dates.sub(b"", old) != dates.sub(b"", _render(catalog))


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_render(catalog))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if len(args) == 1 else ""
    if command == "compile":
        for mo in i18n.compile_catalogs(force=True):
            print(f"compiled {mo}")
        return 0
    if command == "update":
        for path in update():
            print(f"wrote {path}")
        return 0
    if command == "check":
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(i18n.catalog_locales())} catalogs, {len(problems)} problem(s)")
        return 1 if problems else 0
    print("usage: python -m kb.site.catalogs {compile|update|check}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
