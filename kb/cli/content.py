"""`kb check` and `kb stats`: the help center's content, linted and summarized."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_CONTENT, ContentArg, FormatOpt, check_format


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
