"""Run-time changes of the on-call rota (overrides and swaps)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hotline.store.convert import parse_time
from hotline.store.db import Database, utc_text
from hotline.store.records import RotaChange, WithdrawnRotaChange

__all__ = ["HORIZON", "RotaStore"]

HORIZON = timedelta(days=400)
"""How far ahead the rota is built with its overrides and swaps (a year's plans and then some)."""


class RotaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, change: RotaChange) -> int:
        async with self._db.transaction() as conn, conn.execute(
            "INSERT INTO rota_changes (rota, kind, starts_at, ends_at, person, other, level,"
            " made_by, reason, made_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (change.rota, change.kind, utc_text(change.starts_at), utc_text(change.ends_at),
             change.person, change.other, change.level, change.made_by, change.reason,
             utc_text(change.made_at)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def between(self, rota: str, start: datetime, end: datetime) -> list[RotaChange]:
        """Changes of ``rota`` in force (not withdrawn) overlapping [start, end), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM rota_changes WHERE rota = ? AND starts_at < ? AND ends_at > ?"
            " AND withdrawn_at IS NULL ORDER BY made_at, id", (rota, utc_text(end), utc_text(start)),
        )
        return self._changes(rows)

    async def around(self, now: datetime) -> list[RotaChange]:
        """The changes a rota is built with at `now`: every rota's, in force from a day before
        (a shift that began yesterday) to `HORIZON` ahead, in the order they were made."""
        return await self.between_all(now - timedelta(days=1), now + HORIZON)

    async def between_all(self, start: datetime, end: datetime) -> list[RotaChange]:
        """Changes of every rota in force (not withdrawn) overlapping [start, end), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM rota_changes WHERE starts_at < ? AND ends_at > ? AND withdrawn_at IS NULL"
            " ORDER BY made_at, id",
            (utc_text(end), utc_text(start)),
        )
        return self._changes(rows)

    async def in_force(self, change_id: int) -> RotaChange | None:
        """Change ``change_id`` unless it was withdrawn (or never made)."""
        row = await self._db.fetch_one(
            "SELECT * FROM rota_changes WHERE id = ? AND withdrawn_at IS NULL", (change_id,))
        return self._changes([row])[0] if row is not None else None

    async def withdrawn_since(self, since: datetime) -> list[WithdrawnRotaChange]:
        """Changes withdrawn at or after ``since``, the latest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM rota_changes WHERE withdrawn_at >= ? ORDER BY withdrawn_at DESC, id DESC",
            (utc_text(since),))
        out = []
        for row, change in zip(rows, self._changes(rows), strict=True):
            at = parse_time(row["withdrawn_at"])
            assert at is not None
            out.append(WithdrawnRotaChange(change, at, row["withdrawn_by"] or "",
                                           row["withdraw_reason"] or ""))
        return out

    async def withdraw(self, change_id: int, *, by: str, reason: str, at: datetime) -> RotaChange | None:
        """Take back a change that is in force; the row stays, with who withdrew it, when and why.

        None if there is no such change or it was withdrawn already (someone was faster).
        """
        async with self._db.transaction() as conn, conn.execute(
            "UPDATE rota_changes SET withdrawn_at = ?, withdrawn_by = ?, withdraw_reason = ?"
            " WHERE id = ? AND withdrawn_at IS NULL RETURNING *",
            (utc_text(at), by, reason, change_id),
        ) as cur:
            row = await cur.fetchone()
        return self._changes([row])[0] if row is not None else None

    @staticmethod
    def _changes(rows: list[Any]) -> list[RotaChange]:
        out = []
        for r in rows:
            s, e, m = parse_time(r["starts_at"]), parse_time(r["ends_at"]), parse_time(r["made_at"])
            assert s is not None and e is not None and m is not None
            out.append(RotaChange(r["rota"], r["kind"], s, e, r["person"], r["other"], r["made_by"],
                                  r["reason"], m, r["level"], id=r["id"]))
        return out
