"""`kb admin-key`: a new key for the admin API (the review queue and the gaps under /v1/admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kb.cli.options import DEFAULT_DATA, DataOpt


def admin_key(data: DataOpt = DEFAULT_DATA,
              file: Annotated[Path | None, typer.Option("--file", help="Where to store the hash (default <data>/admin_key).")] = None) -> None:
    """Make a new admin API key: printed once; only its scrypt hash is stored."""
    from kb.web.auth import KEY_FILE, new_key, write_key_file

    key = new_key()
    path = write_key_file(file or data / KEY_FILE, key)
    typer.echo(key)
    typer.echo(f"kb: stored only the key's hash in {path}; keep the key above, it is not shown again", err=True)
