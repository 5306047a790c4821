"""Bearer tokens: made by ``hotline add-token``, checked on every API request.

A token is ``hl_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits),
shown once; the store keeps its SHA-256 only. A slow hash would add nothing: nobody can guess
256 random bits, so the hash only has to keep a stolen database from containing usable tokens.

A request's token is good when it exists, is not revoked, has not expired and its person is
still active staff; it then acts as that person with the person's *current* roles, narrowed
to the token's roles when it has some — taking a role from someone takes it from their tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.api.errors import ApiError
from hotline.console.sessions import User
from hotline.store import Store
from hotline.store.tokens import TokenRow

__all__ = ["TOUCH_EVERY", "TokenAuth", "hash_token", "new_token"]

PREFIX = "hl_"
_SHAPE = re.compile(r"hl_[A-Za-z0-9_-]{43}")
TOUCH_EVERY = timedelta(seconds=60)
"""A token's ``last_used_at`` is written at most this often (not on every request)."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a good token acts for."""

    token: TokenRow
    user: User


class TokenAuth:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    async def resolve(self, authorization: str) -> Principal:
        """The principal of an ``Authorization: Bearer …`` value; :class:`ApiError` 401 otherwise.

        The reasons differ in the message only: the code is ``unauthorized`` for all of them.
        """
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _refused("expected Authorization: Bearer <token>")
        if not _SHAPE.fullmatch(token):
            raise _refused("not a hotline API token")
        row = await self.store.tokens.by_hash(hash_token(token))
        if row is None:
            raise _refused("unknown token")
        now = self.clock()
        if row.revoked_at is not None:
            raise _refused("this token was revoked")
        if row.expires_at is not None and now >= row.expires_at:
            raise _refused("this token has expired")
        person = await self.store.people.get(row.person_id)
        if person is None or not person.active:
            raise _refused("the token's person is no longer active staff")
        roles = frozenset(person.roles)
        if row.roles is not None:
            roles &= frozenset(row.roles)
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            await self.store.tokens.touch(row.id, now)
        return Principal(row, User(person.id, person.name, roles, "en", "", f"token:{row.id}"))


def _refused(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="hotline"'})
