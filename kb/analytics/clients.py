"""Pseudonymous client keys: the analytics store never holds an address or a user agent, only a
keyed hash of them, enough to tell that two searches came from the same client (resolved
searches, kb/analytics/questions.py) and never enough to say who it was.

The key is HMAC-SHA256 under a secret: KB_CLIENT_SECRET when set (set the same value on every
replica that shares one store, else one shopper on two replicas counts as two clients), else a
random secret of this process (keys then change at each restart: two searches of one shopper
before and after a restart count as two clients). Without the secret a key cannot be turned back
into an address by trying all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

SECRET_ENV = "KB_CLIENT_SECRET"
KEY_CHARS = 32
_PROCESS_SECRET = secrets.token_bytes(32)


def client_secret() -> bytes:
    raw = os.environ.get(SECRET_ENV, "")
    return raw.encode("utf-8") if raw else _PROCESS_SECRET


def client_key(raw: str, secret: bytes | None = None) -> str:
    """The pseudonym of a client described by `raw` (for example its address and user agent)."""
    digest = hmac.new(secret if secret is not None else client_secret(), raw.encode("utf-8", "replace"),
                      hashlib.sha256)
    return digest.hexdigest()[:KEY_CHARS]
