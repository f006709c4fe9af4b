"""Signing in to the admin desk: sessions, CSRF tokens and the limit on failed attempts.

- The admin key is exchanged once for a session: a random token in the cookie `kb_admin`
  (HttpOnly, SameSite=Strict, Path=/admin, Secure when the request came over HTTPS, Max-Age the
  session's life: KB_ADMIN_SESSION_HOURS, default 8). The server keeps only the SHA-256 of the
  token, in `<data_dir>/admin_sessions.json` (mode 0600) with the editor's name, the session's
  CSRF token and its expiry: sessions survive a restart, and signing out ends one for good.
- Every form carries a synchronizer token, the session's CSRF token (scripts send it as the
  header X-CSRF-Token). The sign-in form, before any session exists, carries an HMAC of a random
  cookie under the server secret `<data_dir>/admin_secret` (made on first use, mode 0600).
- Wrong keys at sign-in count against the same budget per client address as wrong keys sent to
  the admin API (kb.web.auth.FailedAttempts, KB_ADMIN_FAILURES): guessing through the form buys
  nothing the API does not allow.
- Whose key it is: `editor_for`, the one place here that checks a key.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kb.errors import KbError
from kb.translate.sources import write_atomic
from kb.web.auth import KeyFileError, identify, load_keys

log = logging.getLogger("kb.admin")

COOKIE, SIGNIN_COOKIE = "kb_admin", "kb_admin_signin"
COOKIE_PATH = "/admin"
SESSIONS_FILE, SECRET_FILE = "admin_sessions.json", "admin_secret"
HOURS_ENV = "KB_ADMIN_SESSION_HOURS"
DEFAULT_HOURS = 8.0
SIGNIN_SECONDS = 3600  # how long a sign-in form stays valid


def editor_for(key: str, data_dir: Path | str, admin_key: str | None = None,
               admin_key_file: Path | str | None = None) -> str | None:
    """The editor name that `key` signs in as (its name in the key file: `kb admin-key --name`),
    None when it is not an admin key or no usable key is configured."""
    try:
        keys = load_keys(data_dir, admin_key, admin_key_file)
    except KeyFileError as exc:
        log.warning("kb: %s", exc)
        return None
    return identify(keys, key)


def session_hours(env: dict[str, str] | None = None) -> float:
    raw = (os.environ if env is None else env).get(HOURS_ENV, "").strip()
    try:
        hours = float(raw) if raw else DEFAULT_HOURS
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 30:
        raise KbError(f"{HOURS_ENV}={raw!r}: give the session's life in hours, more than 0 and at most 720")
    return hours


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    editor: str
    csrf: str
    created: float
    expires: float

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(str(sent).encode("utf-8"), self.csrf.encode("utf-8"))


class SessionStore:
    """Sessions by token hash in one small JSON file; a lock file orders processes, a mutex threads."""

    def __init__(self, data_dir: Path | str, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(data_dir) / SESSIONS_FILE
        self.ttl, self.clock = ttl_seconds, clock
        self._mutex = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._mutex, open(self.path.with_name(SESSIONS_FILE + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            found = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("kb: %s unreadable (%s): every editor signs in again", self.path, exc)
            return {}
        return found if isinstance(found, dict) else {}

    def _write(self, sessions: dict[str, dict[str, Any]]) -> None:
        now = self.clock()
        kept = {k: v for k, v in sessions.items() if isinstance(v, dict) and float(v.get("expires", 0)) > now}
        write_atomic(self.path, json.dumps(kept, indent=1, sort_keys=True))
        os.chmod(self.path, 0o600)

    def create(self, editor: str) -> tuple[str, Session]:
        token, now = secrets.token_urlsafe(32), self.clock()
        session = Session(editor=editor, csrf=secrets.token_urlsafe(32), created=now, expires=now + self.ttl)
        with self._locked() as sessions:
            sessions[_digest(token)] = asdict(session)
            self._write(sessions)
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._locked() as sessions:
            found = sessions.get(_digest(token))
        try:
            session = Session(**found) if found else None
        except TypeError:
            return None
        return session if session is not None and session.expires > self.clock() else None

    def drop(self, token: str | None) -> bool:
        if not token:
            return False
        with self._locked() as sessions:
            gone = sessions.pop(_digest(token), None) is not None
            self._write(sessions)
        return gone


def server_secret(data_dir: Path | str) -> bytes:
    """The desk's secret (HMAC key of sign-in forms), made on first use."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    for _ in range(50):  # another process may be writing it this instant
        text = path.read_text(encoding="ascii").strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)
    raise OSError(f"{path} is empty: delete it and it is made again")


def signin_token(secret: bytes, nonce: str) -> str:
    """The CSRF token of a sign-in form, bound to the random value of its cookie."""
    return hmac.new(secret, b"kb-admin-sign-in\0" + nonce.encode("utf-8"), hashlib.sha256).hexdigest()


def signin_ok(secret: bytes, nonce: str | None, sent: str | None) -> bool:
    if not nonce or not sent:
        return False
    return hmac.compare_digest(signin_token(secret, nonce).encode("ascii"), str(sent).encode("utf-8", "replace"))
