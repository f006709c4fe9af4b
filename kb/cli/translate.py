"""`kb translate --missing/--stale`, `kb translate models …` and `kb review …`: machine drafts and their review."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kb.cli.options import DEFAULT_CONTENT, DEFAULT_DATA, ContentOpt, DataOpt, FormatOpt, check_format, click_exc
from kb.errors import KbError

if TYPE_CHECKING:
    from kb.content.library import Library
    from kb.translate.argos import ArgosTranslator
    from kb.translate.drafts import DraftReport

LocalesOpt = Annotated[list[str] | None, typer.Option("--locale", "-l", metavar="LOCALE", help="Only this locale (repeat, or de,pl).")]
LocaleOpt = Annotated[str, typer.Option("--locale", "-l", help="The translation's locale.")]

translate_app = typer.Typer(name="translate", invoke_without_command=True, add_completion=False, rich_markup_mode=None,
                            help="Machine translation: drafts of missing articles, refreshing stale drafts, models.")
models_app = typer.Typer(name="models", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                         help="Translation models: list the installed ones, install one.")
review_app = typer.Typer(name="review", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                         help="The review queue of machine drafts and stale translations: list, diff, approve.")


def _split(locales: list[str] | None) -> list[str]:
    return [code.strip() for raw in locales or [] for code in raw.split(",") if code.strip()]


def none_installed(translator: ArgosTranslator, src: str = "SRC", dst: str = "DST") -> KbError:
    from kb.translate.errors import INSTALL_FILE_HINT, INSTALL_HINT, TranslationUnavailable

    return TranslationUnavailable(src, dst, (
        f"no translation model is installed (looked in {translator.dirs.packages}); install one with "
        f"`{INSTALL_HINT.format(src=src, dst=dst)}` (downloads from the Argos index) or `{INSTALL_FILE_HINT}`"))


class _Progress:
    """A progress bar on stderr, opened on the first step (click draws it only on a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int, item: str) -> None:
        if self.bar is None:
            self.bar = typer.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True,
                                         item_show_func=lambda current: current)
            self.bar.__enter__()
        self.bar.current_item = item
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


# -- kb translate ---------------------------------------------------------------------------------
@translate_app.callback()
def translate(ctx: typer.Context,
              missing: Annotated[bool, typer.Option("--missing", help="Write machine drafts of articles missing in a locale.")] = False,
              stale: Annotated[bool, typer.Option("--stale", help="Translate stale machine drafts again; report stale human ones.")] = False,
              locale: LocalesOpt = None, content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA) -> None:
    """Draft missing translations (--missing) or refresh stale machine drafts (--stale).

    Drafts are flagged review: machine; articles reviewed by a person are never overwritten.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not (missing or stale):
        raise click_exc.UsageError("say what to translate: --missing, --stale, or 'models list|install'", ctx=ctx)
    from kb.content.library import Library
    from kb.translate.argos import ArgosTranslator
    from kb.translate.drafts import draft_missing, refresh_stale, target_locales
    from kb.translate.review import remember_sources
    from kb.translate.sources import SourceStore

    translator = ArgosTranslator(data)
    if not translator.pairs():
        raise none_installed(translator, *_example_pair(content))
    library = Library.load(content)
    locales = _usable_locales(library, translator, target_locales(library, _split(locale)), explicit=bool(locale))
    sources = SourceStore(data)
    remember_sources(library, sources)
    failed = False
    steps = [(draft_missing, "translating", "drafted")] if missing else []
    steps += [(refresh_stale, "refreshing", "refreshed")] if stale else []
    for step, doing, done in steps:
        bar = _Progress(doing)
        try:
            report = step(library, translator, locales, bar, sources=sources)
        finally:
            bar.close()
        failed |= _print_report(report, done, library)
        library = Library.load(content)  # the next step sees the drafts just written
    raise typer.Exit(1 if failed else 0)


def _example_pair(content: Path) -> tuple[str, str]:
    try:
        from kb.content.config import load_config

        config = load_config(content)
    except KbError:
        return "en", "de"
    others = [code for code in config.locales if code != config.source_locale]
    return config.source_locale, others[0] if others else "de"


def _usable_locales(library: Library, translator: ArgosTranslator, locales: list[str], *, explicit: bool) -> list[str]:
    """Without --locale, the locales a model exists for (the others are named on stderr)."""
    if explicit:
        return locales
    src = library.source_locale
    usable = [code for code in locales if translator.available(src, code)]
    skipped = [code for code in locales if code not in usable]
    if not usable:
        translator.route(src, locales[0] if locales else src)  # raises the message naming what to install
    if skipped:
        typer.echo(f"kb: no model for {src} → {', '.join(skipped)}: skipped (install one with "
                   f"'kb translate models install {src} {skipped[0]}')", err=True)
    return usable


def _print_report(report: DraftReport, done_word: str, library: Library) -> bool:
    """Print what happened; True when something failed."""
    from kb.content.reader import display_path

    for o in report.outcomes:
        if o.action in (done_word, "skipped"):
            extra = f" ({o.message})" if o.message else ""
            typer.echo(f"{o.action:9} {display_path(o.path, library.root)}{extra}")
        elif o.action == "stale":
            typer.echo(f"stale     {display_path(o.path, library.root)} (review: {o.review}; not overwritten): {o.message}")
    failures: dict[tuple[str, str], int] = {}
    for o in report.of("failed"):
        failures[(o.locale, o.message)] = failures.get((o.locale, o.message), 0) + 1
    for (locale, message), count in failures.items():
        typer.echo(f"kb: error: {locale}: {count} article(s) not {done_word}: {message}", err=True)
    c = report.counts()
    if done_word == "drafted":
        typer.echo(f"{c['drafted']} machine draft(s) written (review: machine), {c['skipped']} skipped, "
                   f"{c['failed']} failed" + ("; see them with 'kb review list'" if c["drafted"] else ""))
    else:
        typer.echo(f"{c['refreshed']} stale machine draft(s) refreshed, {c['stale']} stale translation(s) by people "
                   f"left for review, {c['skipped']} skipped, {c['failed']} failed")
    return bool(c["failed"])


# -- kb translate models ------------------------------------------------------------------------------
@models_app.command("list")
def models_list(data: DataOpt = DEFAULT_DATA) -> None:
    """The installed translation models (language pairs)."""
    from kb.translate.argos import ArgosTranslator

    translator = ArgosTranslator(data, use_memory=False)
    packages = translator.packages()
    if not packages:
        raise none_installed(translator)
    for pkg in packages:
        typer.echo(f"{pkg.describe()}  ({pkg.path})")
    pairs, pivot = translator.pairs(), translator.pivot
    pivots = sorted({(a, c) for a, b in pairs if b == pivot for b2, c in pairs
                     if b2 == pivot and a != c and (a, c) not in pairs})
    if pivots:
        typer.echo("through English: " + ", ".join(f"{a} → {c}" for a, c in pivots))


@models_app.command("install")
def models_install(src: Annotated[str | None, typer.Argument(help="Source language code, e.g. en.")] = None,
                   dst: Annotated[str | None, typer.Argument(help="Target language code, e.g. de.")] = None,
                   file: Annotated[Path | None, typer.Option("--file", "-f", help="Install this .argosmodel file (offline).")] = None,
                   data: DataOpt = DEFAULT_DATA) -> None:
    """Install a model: SRC DST from the Argos package index (online), or --file PATH.argosmodel."""
    from kb.translate.models import install_from_file, install_from_index

    if file is not None and (src or dst):
        raise click_exc.UsageError("give either SRC DST or --file, not both")
    if file is not None:
        pkg = install_from_file(file, data)
    elif src and dst:
        typer.echo(f"kb: downloading the {src} → {dst} model from the Argos package index…", err=True)
        pkg = install_from_index(src, dst, data)
    else:
        raise click_exc.UsageError("give SRC DST (e.g. 'en de') or --file PATH.argosmodel")
    typer.echo(f"installed {pkg.describe()} in {pkg.path}")


translate_app.add_typer(models_app, name="models")


# -- kb review ------------------------------------------------------------------------------------
@review_app.command("list")
def review_list(locale: LocalesOpt = None, fmt: FormatOpt = "text",
                content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA) -> None:
    """Machine drafts and stale translations, most wanted by shoppers first."""
    from kb.analytics.store import logged_demand
    from kb.content.library import Library
    from kb.translate.review import Demand, remember_sources, review_queue
    from kb.translate.sources import SourceStore

    check_format(fmt)
    library = Library.load(content)
    remember_sources(library, SourceStore(data))
    counts = logged_demand(data)
    queue = review_queue(library, _split(locale), Demand(*counts) if counts else None)
    if fmt == "json":
        typer.echo(json.dumps(queue.to_dict(), ensure_ascii=False, indent=2))
        return
    if not queue.items:
        typer.echo("nothing to review: no machine drafts and no stale translations")
        return
    typer.echo(f"{len(queue.items)} to review, ordered {queue.note}:")
    for item in queue.items:
        demand = f"  {item.demand} search(es)" if item.demand is not None else ""
        typer.echo(f"{item.locale:6} {item.id:32} {', '.join(item.reasons):15} {item.path}{demand}")
    typer.echo("see what changed with 'kb review diff ID --locale L'; approve with 'kb review approve ID --locale L'")


@review_app.command("diff")
def review_diff(article_id: Annotated[str, typer.Argument(metavar="ID", help="Article id.")], locale: LocaleOpt,
                content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA) -> None:
    """What changed in the source since the translation was made."""
    from kb.content.library import Library
    from kb.translate.review import source_diff
    from kb.translate.sources import SourceStore

    library = Library.load(content)
    typer.echo(source_diff(library, article_id, _one_locale(locale), SourceStore(data)).render().rstrip("\n"))


@review_app.command("approve")
def review_approve(article_id: Annotated[str, typer.Argument(metavar="ID", help="Article id.")], locale: LocaleOpt,
                   by: Annotated[str | None, typer.Option("--by", help="Who approves (default: KB_REVIEWER, git user.name, login).")] = None,
                   content: ContentOpt = DEFAULT_CONTENT, data: DataOpt = DEFAULT_DATA) -> None:
    """Mark a translation as checked: review reviewed, reviewed_by, reviewed_on, fresh source_hash."""
    from kb.content.library import Library
    from kb.translate.review import approve, default_reviewer
    from kb.translate.sources import SourceStore

    library = Library.load(content)
    done = approve(library, article_id, _one_locale(locale), by if by is not None else default_reviewer(),
                   sources=SourceStore(data))
    typer.echo(f"approved {done.path}: review {done.review}, reviewed_by {done.reviewed_by}, "
               f"reviewed_on {done.reviewed_on}, source_hash {done.source_hash}")


def _one_locale(raw: str) -> str:
    from kb.content.locales import UnknownLocale, normalize_locale

    try:
        return normalize_locale(raw)
    except UnknownLocale as exc:
        raise KbError(str(exc)) from exc
