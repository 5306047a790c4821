"""Console accounts, server-side sessions and the console's own audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from hotline.store.convert import parse_time
from hotline.store.db import Database, StoreError, utc_text

__all__ = ["Account", "AccountStore", "AuditEntry", "SessionRow", "append_audit"]


@dataclass(frozen=True)
class Account:
    """A person who may log in to the console."""

    person_id: str
    password_hash: str
    language: str
    desk_phone: str | None
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True)
class SessionRow:
    id: str
    """Hex SHA-256 of the cookie's token."""
    person_id: str
    csrf: str
    created_at: datetime
    last_seen: datetime
    address: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    detail: str = ""
    address: str = ""


async def append_audit(conn: aiosqlite.Connection, entry: AuditEntry) -> None:
    """Append ``entry`` inside the caller's transaction, so a change and its audit line commit together."""
    await conn.execute(
        "INSERT INTO console_audit (at, actor, action, detail, address) VALUES (?, ?, ?, ?, ?)",
        (utc_text(entry.at), entry.actor[:100], entry.action, entry.detail[:1000], entry.address))


def _time(text: str) -> datetime:
    value = parse_time(text)
    assert value is not None
    return value


class AccountStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- accounts ----------------------------------------------------------------------------

    async def get(self, person_id: str) -> Account | None:
        row = await self._db.fetch_one("SELECT * FROM accounts WHERE person_id = ?", (person_id,))
        if row is None:
            return None
        return Account(row["person_id"], row["password_hash"], row["language"], row["desk_phone"],
                       _time(row["created_at"]), _time(row["password_changed_at"]))

    async def set_password(self, person_id: str, password_hash: str, at: datetime) -> bool:
        """Create the account or change its password; True if it was created."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE person_id = ?",
                (password_hash, utc_text(at), person_id))
            if cur.rowcount == 1:
                return False
            try:
                await conn.execute(
                    "INSERT INTO accounts (person_id, password_hash, created_at, password_changed_at)"
                    " VALUES (?, ?, ?, ?)", (person_id, password_hash, utc_text(at), utc_text(at)))
            except Exception as exc:
                raise StoreError(f"accounts: no staff member {person_id!r}") from exc
            return True

    async def set_language(self, person_id: str, language: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET language = ? WHERE person_id = ?", (language, person_id))

    async def set_desk_phone(self, person_id: str, phone: str | None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE accounts SET desk_phone = ? WHERE person_id = ?", (phone, person_id))

    # -- sessions ----------------------------------------------------------------------------

    async def open_session(self, row: SessionRow) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO web_sessions (id, person_id, csrf, created_at, last_seen, address, user_agent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.id, row.person_id, row.csrf, utc_text(row.created_at), utc_text(row.last_seen),
                 row.address, row.user_agent[:300]))

    async def session(self, session_id: str) -> SessionRow | None:
        row = await self._db.fetch_one("SELECT * FROM web_sessions WHERE id = ?", (session_id,))
        if row is None:
            return None
        return SessionRow(row["id"], row["person_id"], row["csrf"], _time(row["created_at"]),
                          _time(row["last_seen"]), row["address"], row["user_agent"])

    async def touch_session(self, session_id: str, at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE web_sessions SET last_seen = ? WHERE id = ?",
                               (utc_text(at), session_id))

    async def close_session(self, session_id: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM web_sessions WHERE id = ?", (session_id,))

    async def close_sessions_of(self, person_id: str) -> int:
        async with self._db.transaction() as conn:
            cur = await conn.execute("DELETE FROM web_sessions WHERE person_id = ?", (person_id,))
            return cur.rowcount

    async def expire_sessions(self, idle_before: datetime, created_before: datetime) -> int:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
                (utc_text(idle_before), utc_text(created_before)))
            return cur.rowcount

    # -- audit -------------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> None:
        async with self._db.transaction() as conn:
            await append_audit(conn, entry)

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self._db.fetch_all("SELECT * FROM console_audit ORDER BY id DESC LIMIT ?", (limit,))
        return [AuditEntry(_time(r["at"]), r["actor"], r["action"], r["detail"], r["address"]) for r in rows]
