"""The `kb` command line. Each command is a thin layer over the library; errors are one line."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_CONTENT, ContentArg, FormatOpt, check_format, click_exc
from kb.errors import KbError

app = typer.Typer(
    name="kb",
    help="kb: a multilingual self-service help center (check, index, search, translate, build, serve).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.command()
def check(
    content: ContentArg = DEFAULT_CONTENT,
    fmt: FormatOpt = "text",
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
) -> None:
    """Lint the content: every problem with file, line and a fix hint. Exit 1 on errors."""
    from kb.content.check import check as run_check
    from kb.content.check import summary
    from kb.content.library import Library

    check_format(fmt)
    library = Library.load(content)
    problems = run_check(library)
    counts = summary(problems)
    if fmt == "json":
        typer.echo(json.dumps({"problems": [p.to_dict() for p in problems], "summary": counts,
                               "articles": len(library.articles)}, ensure_ascii=False, indent=2))
    else:
        for problem in problems:
            typer.echo(str(problem))
        typer.echo(f"{len(library.articles)} files checked: {counts['error']} error(s), "
                   f"{counts['warning']} warning(s), {counts['info']} note(s)")
    failed = counts["error"] > 0 or (strict and counts["warning"] > 0)
    raise typer.Exit(1 if failed else 0)


@app.command()
def stats(
    content: ContentArg = DEFAULT_CONTENT,
    fmt: FormatOpt = "text",
) -> None:
    """Summarize the help center: articles and translation coverage per locale."""
    from kb.content.library import Library

    check_format(fmt)
    library = Library.load(content)
    coverage = library.coverage()
    if fmt == "json":
        typer.echo(json.dumps({"name": library.config.name, "ids": library.ids(), "coverage": coverage}, indent=2))
        return
    typer.echo(f"{library.config.name}: {len(library.ids())} articles, source locale {library.source_locale}")
    typer.echo(f"{'locale':8}{'present':>9}{'human':>7}{'reviewed':>10}{'machine':>9}{'stale':>7}{'missing':>9}")
    for locale, c in coverage.items():
        typer.echo(f"{locale:8}{c['present']:>9}{c['human']:>7}{c['reviewed']:>10}{c['machine']:>9}{c['stale']:>7}{c['missing']:>9}")
    for category in library.config.categories:
        ids = sorted({a.id for a in library.articles if a.category == category})
        typer.echo(f"  {category}: {', '.join(ids)}")


# Commands of the other parts of kb register themselves on `app` here.
from kb.cli import analytics as _analytics_cli  # noqa: E402
from kb.cli import search as _search_cli  # noqa: E402
from kb.cli import site as _site_cli  # noqa: E402
from kb.cli import translate as _translate_cli  # noqa: E402

_search_cli.register(app)
_site_cli.register(app)
_translate_cli.register(app)
_analytics_cli.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors exit 2 with one line; KbError exits 1 with one line."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    try:
        result = command.main(args=args, prog_name="kb", standalone_mode=False)
    except click_exc.UsageError as exc:
        hint = f" (see 'kb {exc.ctx.command_path.partition(' ')[2]} --help')".replace("kb  ", "kb ") if exc.ctx else ""
        typer.echo(f"kb: error: {exc.format_message()}{hint}", err=True)
        return 2
    except typer.Exit as exc:  # typer._click.exceptions has no Exit/Abort; typer's own are raised
        return exc.exit_code
    except typer.Abort:
        typer.echo("kb: aborted", err=True)
        return 130
    except KbError as exc:
        typer.echo(f"kb: error: {exc}", err=True)
        return 1
    return result if isinstance(result, int) else 0
