"""The notification outbox: claim under an expiring lease, mark sent, schedule retries.

Delivery is at least once: a row is claimed (``attempts`` counted, ``lease_until``
set) before it is sent and marked ``sent`` after the peer accepted it. A worker
that dies in between leaves the lease to expire, and the row is sent again — the
receiver can tell by the row id carried in every message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, utc_text

__all__ = ["OutboxDraft", "OutboxRow", "OutboxStore", "enqueue"]


@dataclass(frozen=True)
class OutboxDraft:
    """A notification to enqueue in the transaction of the event that causes it."""

    event: str
    recipient: str
    channel: str
    payload: Mapping[str, Any]
    issue_id: int | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A notification as stored, with its delivery state."""

    id: int
    created_at: datetime
    issue_id: int | None
    event: str
    recipient: str
    channel: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    sent_at: datetime | None


async def enqueue(conn: aiosqlite.Connection, drafts: Sequence[OutboxDraft], at: datetime) -> None:
    """Insert outbox rows on an open transaction (the desk change or digest that causes them)."""
    stamp = utc_text(at)
    await conn.executemany(
        "INSERT INTO desk_outbox (created_at, issue_id, event, recipient, channel, payload,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(stamp, d.issue_id, d.event, d.recipient, d.channel, to_json(dict(d.payload)), stamp)
         for d in drafts],
    )


def _row(r: object) -> OutboxRow:
    d = dict(r)  # type: ignore[call-overload]
    created, due = parse_time(d["created_at"]), parse_time(d["next_attempt_at"])
    assert created is not None and due is not None
    return OutboxRow(d["id"], created, d["issue_id"], d["event"], d["recipient"], d["channel"],
                     from_json(d["payload"]), d["state"], d["attempts"], due, d["lease_owner"],
                     parse_time(d["lease_until"]), d["last_error"], parse_time(d["sent_at"]))


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxRow]:
        """Lease up to ``limit`` due rows to ``owner`` (rows whose lease expired are due again)."""
        n = utc_text(now)
        async with self._db.transaction() as conn, conn.execute(
            "UPDATE desk_outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
            " WHERE id IN (SELECT id FROM desk_outbox WHERE state = 'pending'"
            "   AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
            "   ORDER BY next_attempt_at, id LIMIT ?) RETURNING *",
            (owner, utc_text(lease_until), n, n, limit),
        ) as cur:
            rows = await cur.fetchall()
        return sorted((_row(r) for r in rows), key=lambda r: r.id)

    async def mark_sent(self, row_id: int, owner: str, at: datetime) -> bool:
        """Record a delivery; False if the lease was lost meanwhile (someone else may send too)."""
        async with self._db.transaction() as conn, conn.execute(
            "UPDATE desk_outbox SET state = 'sent', sent_at = ?, lease_owner = NULL,"
            " lease_until = NULL, last_error = NULL WHERE id = ? AND lease_owner = ?"
            " AND state = 'pending' RETURNING id", (utc_text(at), row_id, owner),
        ) as cur:
            return await cur.fetchone() is not None

    async def mark_failed(self, row_id: int, owner: str, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: retry at ``retry_at``, or give up (``dead``) if None."""
        async with self._db.transaction() as conn:
            if retry_at is None:
                await conn.execute(
                    "UPDATE desk_outbox SET state = 'dead', last_error = ?, lease_owner = NULL,"
                    " lease_until = NULL WHERE id = ? AND lease_owner = ?", (error[:500], row_id, owner))
            else:
                await conn.execute(
                    "UPDATE desk_outbox SET next_attempt_at = ?, last_error = ?, lease_owner = NULL,"
                    " lease_until = NULL WHERE id = ? AND lease_owner = ?",
                    (utc_text(retry_at), error[:500], row_id, owner))

    async def release(self, owner: str) -> int:
        """Give back this worker's leases (orderly stop): they are due again at once."""
        async with self._db.transaction() as conn, conn.execute(
            "UPDATE desk_outbox SET lease_owner = NULL, lease_until = NULL"
            " WHERE lease_owner = ? AND state = 'pending' RETURNING id", (owner,),
        ) as cur:
            return len(list(await cur.fetchall()))

    async def next_due(self) -> datetime | None:
        """The earliest moment a pending row becomes claimable."""
        value = await self._db.fetch_value(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, ''))) FROM desk_outbox"
            " WHERE state = 'pending'")
        return parse_time(value)

    async def for_issue(self, issue_id: int) -> list[OutboxRow]:
        rows = await self._db.fetch_all(
            "SELECT * FROM desk_outbox WHERE issue_id = ? ORDER BY id", (issue_id,))
        return [_row(r) for r in rows]

    async def all(self, limit: int = 1000) -> list[OutboxRow]:
        rows = await self._db.fetch_all("SELECT * FROM desk_outbox ORDER BY id LIMIT ?", (limit,))
        return [_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetch_all("SELECT state, COUNT(*) FROM desk_outbox GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}
