"""The admin API key: where it comes from, how it is kept, how a request is checked.

The key is `KB_ADMIN_KEY`, else the file named by `KB_ADMIN_KEY_FILE` (or given to the app), else
`<data_dir>/admin_key`. A file holds either the key itself or, as `kb admin-key` writes it, only
its scrypt hash (`scrypt$n$r$p$salt$hash`): kb never persists a key in the clear. Requests send
it as `Authorization: Bearer KEY` or `X-API-Key: KEY`; it is compared in constant time
(hmac.compare_digest on digests of equal length). Without any key the admin API answers 503.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Header
from starlette.exceptions import HTTPException

from kb.web.errors import ApiError

KEY_ENV = "KB_ADMIN_KEY"
KEY_FILE_ENV = "KB_ADMIN_KEY_FILE"
KEY_FILE = "admin_key"
HASH_SCHEME = "scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_key(key: str, *, salt: bytes | None = None) -> str:
    """The storable form of `key`: `scrypt$n$r$p$salt$hash`."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"{HASH_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def is_hashed(stored: str) -> bool:
    return stored.startswith(HASH_SCHEME + "$")


def verify(sent: str, stored: str) -> bool:
    """True when `sent` is the key that `stored` (the key itself, or its hash) stands for."""
    if is_hashed(stored):
        try:
            _, n, r, p, salt, digest = stored.split("$")
            expected = _unb64(digest)
            got = hashlib.scrypt(sent.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                 dklen=len(expected), maxmem=128 * 1024 * 1024)
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(got, expected)
    return hmac.compare_digest(hashlib.sha256(sent.encode("utf-8")).digest(),
                               hashlib.sha256(stored.encode("utf-8")).digest())


def configured(data_dir: Path | str, admin_key: str | None = None,
               admin_key_file: Path | str | None = None) -> str | None:
    """The stored key (clear or hashed): `admin_key`, KB_ADMIN_KEY, else the first key file found
    (KB_ADMIN_KEY_FILE, `admin_key_file`, `<data_dir>/admin_key`); None when the admin API is off."""
    key = (admin_key or os.environ.get(KEY_ENV, "")).strip()
    if key:
        return key
    for candidate in (os.environ.get(KEY_FILE_ENV), admin_key_file, Path(data_dir) / KEY_FILE):
        if candidate and Path(candidate).is_file():
            text = Path(candidate).read_text(encoding="utf-8").strip()
            if text:
                return text
    return None


def new_key() -> str:
    return secrets.token_urlsafe(32)


def write_key_file(path: Path | str, key: str) -> Path:
    """Store only the hash of `key` in `path` (mode 0600, replaced atomically)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(hash_key(key) + "\n")
    os.replace(tmp, target)
    return target


def sent_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def require_admin(data_dir: Path | str, admin_key: str | None = None,
                  admin_key_file: Path | str | None = None) -> Callable[..., None]:
    """A FastAPI dependency: 503 when no key is configured, 401 when none is sent, 403 when wrong.
    The configuration is read on every request, so a new key works without a restart."""

    def check(authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
              x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
        stored = configured(data_dir, admin_key, admin_key_file)
        if stored is None:
            raise ApiError(503, None, f"admin API disabled: set {KEY_ENV}")
        sent = sent_key(authorization, x_api_key)
        if not sent:
            raise HTTPException(401, "admin key required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not verify(sent, stored):
            raise ApiError(403, None, "wrong admin key")

    return check
