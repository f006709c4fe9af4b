"""The options several `kb` commands share, defined once, and the one way to reject a value.

Command modules import from here; this module imports nothing of kb's heavy parts (only
kb.search.names, which lists the embedders without numpy), so `kb --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

try:  # Typer 0.2x ships its own copy of Click; its exceptions are the ones raised
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older Typer on top of Click
    from click import exceptions as click_exc  # type: ignore[no-redef]

from kb.search.names import NAMES

DEFAULT_CONTENT = Path("content")
DEFAULT_DATA = Path(".kb")
DEFAULT_SITE = Path("site")  # where `kb build` writes and `kb serve` serves from
_CONTENT_HELP = "Help-center folder holding kb.toml."

ContentOpt = Annotated[Path, typer.Option("--content", "-c", help=_CONTENT_HELP)]
ContentArg = Annotated[Path, typer.Argument(help=_CONTENT_HELP)]  # `kb check` and `kb stats` take it as an argument
DataOpt = Annotated[Path, typer.Option("--data", "-d", help="kb's data folder (index, log, models).")]

TEXT_JSON = ("text", "json")
FormatOpt = Annotated[str, typer.Option("--format", help="text or json")]
ReportFormatOpt = Annotated[str, typer.Option("--format", help="text, json or csv")]


def _embedder(help_text: str) -> typer.models.OptionInfo:
    return typer.Option("--embedder", "-e", help=help_text)


EmbedderOpt = Annotated[str, _embedder(f"One of {', '.join(NAMES)}.")]
RayOpt = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS", help=("Embed the passages the cache lacks on a Ray cluster: HOST:PORT of its head node "
                                      "(what `ray start --head` prints), ray://HOST:PORT or auto (docs/deployment.md)."))]
ClusterEmbedderOpt = Annotated[str | None, _embedder("Embedder for clustering (default use-multilingual).")]


def bad_parameter(param: str, message: str) -> click_exc.BadParameter:
    """A usage error naming the option: `kb` prints it on one line and exits 2."""
    return click_exc.BadParameter(message, param_hint=f"'{param}'")


def check_format(fmt: str, allowed: tuple[str, ...] = TEXT_JSON) -> None:
    if fmt not in allowed:
        raise bad_parameter("--format", f"use one of {', '.join(allowed)}")
