"""Call detail records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, StoreError, utc_text
from hotline.store.records import CallRecord

__all__ = ["CallStore"]

_FIELDS = {"answered_at", "ended_at", "disposition", "route", "answered_by", "recording", "flow",
           "language", "ring_seconds", "talk_seconds", "voicemail"}


def call_record(row: object) -> CallRecord:
    r = dict(row)  # type: ignore[call-overload]
    started = parse_time(r["started_at"])
    assert started is not None
    return CallRecord(
        id=r["id"], sip_call_id=r["sip_call_id"], direction=r["direction"], from_uri=r["from_uri"],
        from_display=r["from_display"], caller_raw=r["caller_raw"], caller_key=r["caller_key"],
        employee_id=r["employee_id"], to_uri=r["to_uri"], started_at=started,
        answered_at=parse_time(r["answered_at"]), ended_at=parse_time(r["ended_at"]),
        disposition=r["disposition"], route=r["route"], answered_by=r["answered_by"],
        digits=r["digits"], recording=r["recording"], media_stats=from_json(r["media_stats"]),
        flow=r["flow"], language=r["language"], menu=tuple(from_json(r["menu"]) or ()),
        attempts=tuple(from_json(r["attempts"]) or ()), ring_seconds=r["ring_seconds"],
        talk_seconds=r["talk_seconds"], voicemail=r["voicemail"],
    )


class CallStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, call_id: int) -> CallRecord | None:
        row = await self._db.fetch_one("SELECT * FROM calls WHERE id = ?", (call_id,))
        return None if row is None else call_record(row)

    async def by_sip_call_id(self, sip_call_id: str) -> list[CallRecord]:
        rows = await self._db.fetch_all(
            "SELECT * FROM calls WHERE sip_call_id = ? ORDER BY id", (sip_call_id,)
        )
        return [call_record(r) for r in rows]

    async def update(self, call_id: int, **changes: Any) -> None:
        """Set answer/end times, disposition, route, who answered, recording path."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise StoreError(f"calls: cannot update {sorted(unknown)}")
        values = [utc_text(v) if isinstance(v, datetime) else v for v in changes.values()]
        sets = ", ".join(f"{k} = ?" for k in changes)
        async with self._db.transaction() as conn:
            cur = await conn.execute(f"UPDATE calls SET {sets} WHERE id = ?", (*values, call_id))
            if cur.rowcount != 1:
                raise StoreError(f"calls: no call {call_id}")

    async def end(self, call_id: int, ended_at: datetime, disposition: str) -> None:
        """Record the end of a call, and let its issue's 30-minute recording clock start."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE calls SET ended_at = ?, disposition = COALESCE(disposition, ?) WHERE id = ?",
                (utc_text(ended_at), disposition, call_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"calls: no call {call_id}")
            await conn.execute(
                "UPDATE issues SET call_ended_at = ? WHERE call_id = ? AND call_ended_at IS NULL",
                (utc_text(ended_at), call_id),
            )

    async def add_digits(self, call_id: int, digits: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE calls SET digits = digits || ? WHERE id = ?", (digits, call_id)
            )

    async def add_menu_choice(self, call_id: int, choice: dict[str, Any], digits: str = "") -> None:
        """Append one IVR choice ({"node", "digit", "choice"}) to the call's menu trail, and the
        keys pressed to its digits, in one transaction."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE calls SET menu = json_insert(menu, '$[#]', json(?)), digits = digits || ?"
                " WHERE id = ?", (to_json(choice), digits, call_id))
            if cur.rowcount != 1:
                raise StoreError(f"calls: no call {call_id}")

    async def add_attempt(self, call_id: int, attempt: dict[str, Any]) -> None:
        """Append one attempt to reach someone (who was rung, when, the outcome)."""
        await self._append_json(call_id, "attempts", attempt)

    async def _append_json(self, call_id: int, column: str, item: dict[str, Any]) -> None:
        assert column in ("menu", "attempts")
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE calls SET {column} = json_insert({column}, '$[#]', json(?)) WHERE id = ?",
                (to_json(item), call_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"calls: no call {call_id}")

    async def close_interrupted(self, at: datetime) -> list[int]:
        """Close calls a crash left open (no ``ended_at``) as ``interrupted``; their ids.

        Their issues' ``call_ended_at`` is set too, so the 30-minute recording rule applies to
        them like to any other call.
        """
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE calls SET ended_at = ?, disposition = 'interrupted' WHERE ended_at IS NULL"
                " RETURNING id", (utc_text(at),),
            ) as cur:
                ids = [int(r[0]) for r in await cur.fetchall()]
            for call_id in ids:
                await conn.execute(
                    "UPDATE issues SET call_ended_at = ? WHERE call_id = ? AND call_ended_at IS NULL",
                    (utc_text(at), call_id),
                )
        return ids

    async def set_media_stats(self, call_id: int, stats: dict[str, Any]) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE calls SET media_stats = ? WHERE id = ?", (to_json(stats), call_id)
            )

    async def recent(self, limit: int = 50) -> list[CallRecord]:
        rows = await self._db.fetch_all("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (limit,))
        return [call_record(r) for r in rows]

    async def in_progress(self, started_after: datetime, limit: int = 1000) -> list[CallRecord]:
        """Calls not ended yet (no ``ended_at``) that started after ``started_after``, oldest first.

        The bound keeps the query on the ``calls_started`` index; a call open for longer than
        any call lasts is a crash's leftover (closed as interrupted at the next start). The
        limit is far above ``sip.max_calls``: the live panel takes a call missing here as ended.
        """
        rows = await self._db.fetch_all(
            "SELECT * FROM calls WHERE started_at > ? AND ended_at IS NULL ORDER BY id LIMIT ?",
            (utc_text(started_after), limit),
        )
        return [call_record(r) for r in rows]
