"""`kb admin-key`: keys for the admin API and pages (the review queue and the gaps under /v1/admin),
one per editor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_DATA, DataOpt


def admin_key(data: DataOpt = DEFAULT_DATA,
              file: Annotated[Path | None, typer.Option("--file", help="The key file (default <data>/admin_key).")] = None,
              name: Annotated[str, typer.Option("--name", help="The editor the key is for; a new key for a name "
                                                               "replaces its old one.")] = "admin",
              list_: Annotated[bool, typer.Option("--list", help="List the names that have a key.")] = False,
              revoke: Annotated[str | None, typer.Option("--revoke", help="Remove this name's key.", metavar="NAME")] = None,
              ) -> None:
    """Make a new admin key for an editor: printed once; only its SHA-256 is stored, one line per editor."""
    from kb.errors import KbError
    from kb.web.auth import KEY_FILE, check_name, named_lines, new_key, write_key_file
    from kb.web.auth import revoke as revoke_key

    path = file or data / KEY_FILE
    if list_ or revoke is not None:
        if list_ and revoke is not None:
            raise KbError("--list and --revoke: give one of them")
        if revoke is not None:
            if not revoke_key(path, revoke):
                raise KbError(f"--revoke {revoke!r}: {path} has no key of that name (see 'kb admin-key --list')")
            typer.echo(f"kb: removed {revoke}'s key from {path}", err=True)
            return
        names, old = named_lines(path)
        for editor in names:
            typer.echo(editor)
        if old:
            typer.echo(f"kb: {path} also holds {old} line(s) in an old form: run 'kb admin-key' to replace them", err=True)
        return
    check_name(name)
    _, old = named_lines(path)
    key = new_key()
    written = write_key_file(path, key, name)
    typer.echo(key)
    if old:
        typer.echo(f"kb: replaced {old} old-style line(s) of {written}: the old key no longer works", err=True)
    typer.echo(f"kb: stored only the hash of {name}'s key in {written}; keep the key above, it is not shown again",
               err=True)
