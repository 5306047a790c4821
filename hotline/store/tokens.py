"""The JSON API's bearer tokens (``api_tokens``): create, find by hash, revoke, note their use.

Only the SHA-256 of a token's secret is stored (see :mod:`hotline.api.tokens`); creating and
revoking a token append a line to the console's audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.accounts import AuditEntry, append_audit
from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, StoreError, utc_text

__all__ = ["TokenRow", "TokenStore"]


@dataclass(frozen=True)
class TokenRow:
    """A stored token (never its secret)."""

    id: int
    person_id: str
    name: str
    roles: tuple[str, ...] | None
    """The roles it is narrowed to; None: all of its person's roles."""
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None


def _row(r: object) -> TokenRow:
    d = dict(r)  # type: ignore[call-overload]
    created = parse_time(d["created_at"])
    assert created is not None
    roles = from_json(d["roles"])
    return TokenRow(d["id"], d["person_id"], d["name"], tuple(roles) if roles is not None else None,
                    created, d["created_by"], parse_time(d["expires_at"]), parse_time(d["revoked_at"]),
                    d["revoked_by"], parse_time(d["last_used_at"]))


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, token_hash: str, person_id: str, name: str, roles: Sequence[str] | None,
                     at: datetime, by: str, expires_at: datetime | None) -> TokenRow:
        """Store a new token (audited); raises :class:`StoreError` for an unknown person."""
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)) as cur:
                if await cur.fetchone() is None:
                    raise StoreError(f"no staff member {person_id!r}")
            async with conn.execute(
                "INSERT INTO api_tokens (token_hash, person_id, name, roles, created_at, created_by,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (token_hash, person_id, name, to_json(list(roles)) if roles is not None else None,
                 utc_text(at), by, utc_text(expires_at) if expires_at else None),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            token = _row(row)
            expires = token.expires_at.isoformat() if token.expires_at else "-"
            await append_audit(conn, AuditEntry(at, by, "add_token", f"token {token.id} for {person_id}"
                                                f" name={name!r} roles={','.join(roles or ()) or '*'}"
                                                f" expires={expires}"))
        return token

    async def by_hash(self, token_hash: str) -> TokenRow | None:
        row = await self._db.fetch_one("SELECT * FROM api_tokens WHERE token_hash = ?", (token_hash,))
        return None if row is None else _row(row)

    async def get(self, token_id: int) -> TokenRow | None:
        row = await self._db.fetch_one("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
        return None if row is None else _row(row)

    async def all(self) -> list[TokenRow]:
        return [_row(r) for r in await self._db.fetch_all("SELECT * FROM api_tokens ORDER BY id")]

    async def revoke(self, token_id: int, *, at: datetime, by: str) -> TokenRow:
        """Revoke a token (audited); raises :class:`StoreError` if there is none or it was revoked."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL"
                " RETURNING *", (utc_text(at), by, token_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                async with conn.execute("SELECT 1 FROM api_tokens WHERE id = ?", (token_id,)) as cur:
                    exists = await cur.fetchone() is not None
                raise StoreError(f"token {token_id} was revoked already" if exists
                                 else f"no token {token_id}")
            await append_audit(conn, AuditEntry(at, by, "revoke_token", f"token {token_id}"))
        return _row(row)

    async def touch(self, token_id: int, at: datetime) -> None:
        await self._db.execute_many("UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                                    [(utc_text(at), token_id)])
