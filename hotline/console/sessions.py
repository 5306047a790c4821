"""Console sessions: signed cookies naming server-side sessions, and the login rate limit.

Theory of operation. Logging in draws a random token; the cookie carries ``token.signature``
(HMAC-SHA256 with ``[web] secret``) and the database keeps only SHA-256(token) with the person,
a CSRF token and the times. A cookie is honoured when its signature is ours, its session row
exists, it was used within the idle limit and opened within the absolute limit. Every login
opens a new session (a cookie planted before the login is worthless: no fixation); logout and
a password change delete rows, so they end sessions at once.

:class:`LoginLimiter` slows password guessing: after a few failures for one user id or from
one address, further attempts are refused for a time that doubles with each failure. It is
pure (time is an argument) and kept in memory: a restart forgives, which costs an attacker a
restart they cannot cause.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hotline.store import Store
from hotline.store.accounts import SessionRow

__all__ = ["COOKIE", "LoginLimiter", "SessionManager", "User"]

COOKIE = "hotline_session"
TOUCH_EVERY = timedelta(seconds=60)
"""A session's ``last_seen`` is written at most this often (not on every request)."""


@dataclass(frozen=True, slots=True)
class User:
    """The person behind a request."""

    id: str
    name: str
    roles: frozenset[str]
    language: str
    csrf: str
    session_id: str

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionManager:
    """Opens, resolves and closes console sessions (see the module doc)."""

    def __init__(self, store: Store, secret: str, clock: Callable[[], datetime], *,
                 idle: timedelta = timedelta(hours=1), absolute: timedelta = timedelta(hours=12)) -> None:
        self.store = store
        self._key = hashlib.sha256(b"console-session:" + secret.encode()).digest()
        self.clock = clock
        self.idle = idle
        self.absolute = absolute

    def _sign(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def cookie_value(self, token: str) -> str:
        return f"{token}.{self._sign(token)}"

    def token_of(self, cookie: str | None) -> str | None:
        """The token of a cookie we signed; None for anything else."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
            return None
        token, signature = cookie.split(".")
        if not token or not hmac.compare_digest(signature, self._sign(token)):
            return None
        return token

    async def open(self, person_id: str, *, address: str = "", user_agent: str = "") -> str:
        """A new session for ``person_id``; returns the cookie value."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        await self.store.accounts.open_session(SessionRow(
            _hash(token), person_id, secrets.token_urlsafe(32), now, now, address, user_agent))
        return self.cookie_value(token)

    async def resolve(self, cookie: str | None) -> User | None:
        """The user of a valid, live session; None otherwise (expired sessions are deleted)."""
        token = self.token_of(cookie)
        if token is None:
            return None
        row = await self.store.accounts.session(_hash(token))
        if row is None:
            return None
        now = self.clock()
        if now - row.last_seen > self.idle or now - row.created_at > self.absolute:
            await self.store.accounts.close_session(row.id)
            return None
        person = await self.store.people.get(row.person_id)
        account = await self.store.accounts.get(row.person_id)
        if person is None or account is None or not person.active:
            await self.store.accounts.close_session(row.id)
            return None
        if now - row.last_seen >= TOUCH_EVERY:
            await self.store.accounts.touch_session(row.id, now)
        return User(person.id, person.name, frozenset(person.roles), account.language, row.csrf, row.id)

    async def close(self, cookie: str | None) -> None:
        token = self.token_of(cookie)
        if token is not None:
            await self.store.accounts.close_session(_hash(token))

    async def expire(self) -> int:
        now = self.clock()
        return await self.store.accounts.expire_sessions(now - self.idle, now - self.absolute)


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


@dataclass
class LoginLimiter:
    """Failed logins per user id and per address, with a doubling lock-out (see the module doc)."""

    free_attempts: int = 5
    """Failures allowed before the first lock-out."""
    first_lock: float = 30.0
    """Seconds of the first lock-out; each further failure doubles it."""
    max_lock: float = 900.0
    forget_after: float = 3600.0
    """A key with no failure for this long starts afresh."""
    max_keys: int = 10_000
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        wait = 0.0
        for key in keys:
            f = self._keys.get(key)
            if f is not None:
                wait = max(wait, f.blocked_until - now)
        return max(0.0, wait)

    def failed(self, keys: list[str], now: float) -> None:
        if len(self._keys) > self.max_keys:
            self._forget(now)
        for key in keys:
            f = self._keys.get(key)
            if f is None or now - f.last > self.forget_after:
                f = self._keys[key] = _Failures()
            f.count += 1
            f.last = now
            if f.count >= self.free_attempts:
                lock = min(self.max_lock, self.first_lock * 2 ** (f.count - self.free_attempts))
                f.blocked_until = now + lock

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)

    def _forget(self, now: float) -> None:
        for key in [k for k, f in self._keys.items() if now - f.last > self.forget_after]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:  # still full: drop the oldest
            oldest = min(self._keys, key=lambda k: self._keys[k].last)
            del self._keys[oldest]
