"""`kb build`: render the static help center."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_CONTENT, DEFAULT_SITE, ContentOpt

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder to write the site into.")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Public URL of the site (default: base_url in kb.toml).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Render every page, even unchanged ones.")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", min=1, help="Processes to render with (default: every CPU for large sites; 1: no workers).")]


def build(content: ContentOpt = DEFAULT_CONTENT, out: OutOpt = DEFAULT_SITE, base_url: BaseUrlOpt = None,
          force: ForceOpt = False, jobs: JobsOpt = None) -> None:
    """Render the static help center: every locale, every article, search index, sitemaps."""
    from kb.content.library import Library
    from kb.site.build import build_site

    library = Library.load(content)
    for problem in library.problems:
        typer.echo(f"skipped: {problem}", err=True)
    report = build_site(library, out, base_url=base_url, force=force, jobs=jobs)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(report.summary())
