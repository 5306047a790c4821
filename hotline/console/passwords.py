"""Password hashing for console accounts: scrypt, a memory-hard KDF from the standard library.

A hash is stored as ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in URL-safe base64), so
the cost can be raised later and old hashes still verify (:func:`needs_rehash` tells when to
store a new one at the next login). Pure functions; hashing takes ~50 ms and 16 MiB by design,
so callers on the event loop run them in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["MIN_LENGTH", "PasswordError", "check_strength", "hash_password", "needs_rehash",
           "verify_password"]

N, R, P = 2**14, 8, 1
"""scrypt cost: 16 MiB of memory per hash (128 · r · n bytes)."""
KEY_BYTES = 32
MIN_LENGTH = 10


class PasswordError(ValueError):
    """A password that must not be set; the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n + 1024 * 1024, dklen=KEY_BYTES)


def check_strength(password: str, *, user: str = "") -> None:
    """Refuse passwords that are too short, all one character, or the user's id."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(set(password)) < 4:
        raise PasswordError("a password needs more than a few different characters")
    if user and user.lower() in password.lower():
        raise PasswordError("a password must not contain the user id")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed ``stored`` never matches."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(derived, _unb64(key))


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${N}${R}${P}$")
