"""The `kb` command line: one Typer app; its commands live in kb/cli/<area>.py and are registered here.

Each command is a thin layer over the library and imports the heavy parts (models, numpy,
FastAPI) inside its function, so `kb --help` stays fast. The shared options are in
kb/cli/options.py. Errors are one line: usage errors exit 2, a KbError (bad input) exits 1.
"""

from __future__ import annotations

import sys

import typer

from kb.cli import admin, analytics, content, questions, search, serve, site, translate
from kb.cli.options import click_exc
from kb.errors import KbError

app = typer.Typer(
    name="kb",
    help="kb: a multilingual self-service help center (check, index, search, translate, build, serve).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# The order here is the order `kb --help` lists them in (commands first, then the groups).
app.command(name="check")(content.check)
app.command(name="stats")(content.stats)
app.command(name="index")(search.index)
app.command(name="search")(search.search)
app.command(name="eval")(search.eval_)
app.command(name="serve")(serve.serve)
app.command(name="build")(site.build)
app.command(name="gaps")(analytics.gaps)
app.command(name="report")(analytics.report)
app.command(name="admin-key")(admin.admin_key)
app.add_typer(translate.translate_app, name="translate")
app.add_typer(translate.review_app, name="review")
app.add_typer(analytics.analytics_app, name="analytics")
app.add_typer(questions.questions_app, name="questions")


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
