"""Admin API keys: where they come from, how they are kept, how a request is checked.

A key is 32 random bytes (`kb admin-key` makes it and prints it once). The key file
(`KB_ADMIN_KEY_FILE`, else the file given to the app, else `<data_dir>/admin_key`) holds one line
per editor, `NAME sha256$HEX`: the SHA-256 of the key, never the key. A key of 256 random bits
cannot be guessed from its hash, so a plain SHA-256 is as safe as a slow password hash here, and a
wrong key costs one hash and a constant-time compare (hmac.compare_digest) instead of ~40 ms of
scrypt per request. Files written by older versions held one scrypt hash: they are refused with a
one-line message asking to run `kb admin-key` again (kb never kept the key, so it cannot be
converted, and keeping scrypt would keep the cost the change removes). `KB_ADMIN_KEY` (the key in
the clear, named "admin") and a key file holding a single key in the clear also work.

Requests send the key as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Without any key the
admin API answers 503, without a key sent 401, with a wrong one 403. Wrong keys are counted per
client address: past `KB_ADMIN_FAILURES` a minute (default 10; `off` counts none) that address
gets 429 with Retry-After on the admin API until the budget refills; other requests never wait.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Header, Request
from starlette.exceptions import HTTPException

from kb.errors import KbError
from kb.web.errors import ApiError
from kb.web.security import TokenBuckets

KEY_ENV = "KB_ADMIN_KEY"
KEY_FILE_ENV = "KB_ADMIN_KEY_FILE"
FAILURES_ENV = "KB_ADMIN_FAILURES"
KEY_FILE = "admin_key"
DEFAULT_NAME = "admin"
HASH_SCHEME = "sha256"
DEFAULT_FAILURES = 10.0  # wrong keys a minute per client address
NAME_RE = re.compile(r"[\w.@-]{1,64}")
_LINE = re.compile(rf"(\S+)\s+{HASH_SCHEME}\$([0-9a-f]{{64}})")


class KeyFileError(KbError):
    """A key file kb cannot use; the message names the file and what to do."""


@dataclass(frozen=True)
class AdminKey:
    name: str
    digest: bytes  # SHA-256 of the key

    def line(self) -> str:
        return f"{self.name} {HASH_SCHEME}${self.digest.hex()}"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def hash_key(key: str) -> str:
    """The storable form of `key`: `sha256$HEX`."""
    return f"{HASH_SCHEME}${digest(key).hex()}"


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise KbError(f"--name {name!r}: use 1 to 64 letters, digits, '.', '_', '-' or '@' (no spaces)")
    return name


def parse_keys(text: str, source: str) -> tuple[AdminKey, ...]:
    """The keys of a key file's `text`; KeyFileError naming `source` and the line when one is unusable."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    keys: dict[str, AdminKey] = {}
    for n, line in lines:
        if line.startswith("scrypt$"):
            raise KeyFileError(f"{source} holds an admin key hash in the old scrypt form, which costs ~40 ms of "
                               f"CPU per check: run 'kb admin-key' to make a new key (the old key stops working)")
        match = _LINE.fullmatch(line)
        if match is None:
            if len(lines) == 1:  # the key itself, e.g. a mounted secret
                return (AdminKey(DEFAULT_NAME, digest(line)),)
            raise KeyFileError(f"{source} line {n}: write 'NAME {HASH_SCHEME}$HASH' as 'kb admin-key --name NAME' does")
        name = match.group(1)
        if not NAME_RE.fullmatch(name) or name in keys:
            problem = "appears twice" if name in keys else "is not a valid name"
            raise KeyFileError(f"{source} line {n}: {name!r} {problem}: 'kb admin-key --revoke NAME' removes a key")
        keys[name] = AdminKey(name, bytes.fromhex(match.group(2)))
    return tuple(keys.values())


_cache: dict[str, tuple[tuple[int, int, int], tuple[AdminKey, ...]]] = {}


def read_key_file(path: Path | str) -> tuple[AdminKey, ...]:
    """The keys in `path`, parsed again only when the file changed (checked with one stat)."""
    path = Path(path)
    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    cached = _cache.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    keys = parse_keys(path.read_text(encoding="utf-8"), str(path))
    _cache[str(path)] = (stamp, keys)
    return keys


def key_file(data_dir: Path | str, admin_key_file: Path | str | None = None,
             env: Mapping[str, str] | None = None) -> Path | None:
    """The first key file that exists: KB_ADMIN_KEY_FILE, `admin_key_file`, `<data_dir>/admin_key`."""
    env = os.environ if env is None else env
    for candidate in (env.get(KEY_FILE_ENV), admin_key_file, Path(data_dir) / KEY_FILE):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_keys(data_dir: Path | str, admin_key: str | None = None, admin_key_file: Path | str | None = None,
              env: Mapping[str, str] | None = None) -> tuple[AdminKey, ...]:
    """The admin keys: `admin_key` or KB_ADMIN_KEY (named "admin"), else those of the key file;
    () when there are none (the admin API is off). KeyFileError when the file cannot be used."""
    env = os.environ if env is None else env
    clear = (admin_key or env.get(KEY_ENV, "")).strip()
    if clear:
        return (AdminKey(DEFAULT_NAME, digest(clear)),)
    path = key_file(data_dir, admin_key_file, env)
    if path is None:
        return ()
    try:
        return read_key_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the admin keys ({exc}): run 'kb admin-key' to write a new file") from exc


def identify(keys: tuple[AdminKey, ...] | list[AdminKey], presented_key: str | None) -> str | None:
    """The name of the editor whose key `presented_key` is, else None. One SHA-256, then a
    constant-time compare with every key (no early exit)."""
    if not presented_key:
        return None
    sent = digest(presented_key)
    found = None
    for key in keys:
        if hmac.compare_digest(sent, key.digest) and found is None:
            found = key.name
    return found


def new_key() -> str:
    return secrets.token_urlsafe(32)


def _write(target: Path, lines: list[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.replace(tmp, target)


def named_lines(path: Path) -> tuple[dict[str, str], int]:
    """The `NAME sha256$HEX` lines of `path` by name, and how many other (old-style) lines it has."""
    kept: dict[str, str] = {}
    other = 0
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    for line in (raw.strip() for raw in text.splitlines()):
        match = _LINE.fullmatch(line)
        if match:
            kept[match.group(1)] = line
        elif line and not line.startswith("#"):
            other += 1
    return kept, other


def write_key_file(path: Path | str, key: str, name: str = DEFAULT_NAME) -> Path:
    """Add `name`'s key to `path` as its hash, replacing that name's old key and any old-style line
    (mode 0600, replaced atomically)."""
    target = Path(path)
    kept, _ = named_lines(target)
    kept[check_name(name)] = AdminKey(name, digest(key)).line()
    _write(target, list(kept.values()))
    return target


def revoke(path: Path | str, name: str) -> bool:
    """Remove `name`'s key from `path`; False when it has none."""
    target = Path(path)
    kept, _ = named_lines(target)
    if kept.pop(name, None) is None:
        return False
    _write(target, list(kept.values()))
    return True


def sent_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


class FailedAttempts:
    """Wrong admin keys per client address, in memory: a token bucket of `per_minute` a minute."""

    def __init__(self, per_minute: float) -> None:
        self.buckets = TokenBuckets(per_minute / 60, max(per_minute, 1.0)) if per_minute > 0 else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FailedAttempts:
        env = os.environ if env is None else env
        raw = env.get(FAILURES_ENV, "").strip().lower()
        if raw in ("off", "none", "0"):
            return cls(0)
        try:
            number = float(raw) if raw else DEFAULT_FAILURES
        except ValueError:
            number = -1.0
        if not 0 < number < 1e9:
            raise KbError(f"{FAILURES_ENV}={raw!r}: use a number of wrong admin keys a minute per address, or 'off'")
        return cls(number)

    @classmethod
    def of(cls, app: Any) -> FailedAttempts:
        """The app's counter (made on first use, so the sign-in pages and the API share it)."""
        found = getattr(app.state, "admin_failures", None)
        if found is None:
            found = app.state.admin_failures = cls.from_env()
        return found

    def retry_after(self, address: str) -> int:
        """0 when `address` may try a key, else the whole seconds until it may."""
        wait = self.buckets.wait(address) if self.buckets is not None else 0.0
        return max(1, int(wait + 0.999)) if wait > 0 else 0

    def failed(self, address: str) -> None:
        if self.buckets is not None:
            self.buckets.take(address)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(seconds: int) -> HTTPException:
    return HTTPException(429, f"too many wrong admin keys from this address: try again in {seconds} s",
                         headers={"Retry-After": str(seconds)})


def require_admin(data_dir: Path | str, admin_key: str | None = None,
                  admin_key_file: Path | str | None = None) -> Callable[..., Any]:
    """A FastAPI dependency giving the editor's name (also in `request.state.admin`): 503 when no
    key is configured or the key file is unusable, 401 when no key is sent, 403 when it is wrong,
    429 after too many wrong keys from one address. The keys are read again when the file changes,
    so a new key works without a restart."""

    async def check(request: Request,
                    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
                    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> str:
        try:
            keys = load_keys(data_dir, admin_key, admin_key_file)
        except KeyFileError as exc:
            raise ApiError(503, None, f"admin API disabled: {exc}") from exc
        if not keys:
            raise ApiError(503, None, f"admin API disabled: run 'kb admin-key' or set {KEY_ENV}")
        sent = sent_key(authorization, x_api_key)
        if not sent:
            raise HTTPException(401, "admin key required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        failures, address = FailedAttempts.of(request.app), client_address(request)
        wait = failures.retry_after(address)
        if wait:
            raise too_many(wait)
        name = identify(keys, sent)
        if name is None:
            failures.failed(address)
            raise ApiError(403, None, "wrong admin key")
        request.state.admin = name
        return name

    return check
