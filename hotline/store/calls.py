"""Call detail records."""

from __future__ import annotations

import sqlite3
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


def _update_one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], call_id: int) -> None:
    if conn.execute(sql, params).rowcount != 1:
        raise StoreError(f"calls: no call {call_id}")


def _issue_call_ended(conn: sqlite3.Connection, call_id: int, ended_at: str) -> None:
    """The call's issue may now start its 30-minute recording clock (if it has not already)."""
    conn.execute("UPDATE issues SET call_ended_at = ? WHERE call_id = ? AND call_ended_at IS NULL",
                 (ended_at, call_id))


def _end(conn: sqlite3.Connection, call_id: int, ended_at: str, disposition: str) -> None:
    _update_one(conn, "UPDATE calls SET ended_at = ?, disposition = COALESCE(disposition, ?)"
                " WHERE id = ?", (ended_at, disposition, call_id), call_id)
    _issue_call_ended(conn, call_id, ended_at)


def _close_interrupted(conn: sqlite3.Connection, at: str) -> list[int]:
    ids = [int(r[0]) for r in conn.execute(
        "UPDATE calls SET ended_at = ?, disposition = 'interrupted' WHERE ended_at IS NULL"
        " RETURNING id", (at,)).fetchall()]
    for call_id in ids:
        _issue_call_ended(conn, call_id, at)
    return ids


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

    # Each write below is one transaction run whole on the write thread (Database.write): a
    # call makes several of them, and each aiosqlite statement would be a thread hop of its own.
    async def update(self, call_id: int, **changes: Any) -> None:
        """Set answer/end times, disposition, route, who answered, recording path."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise StoreError(f"calls: cannot update {sorted(unknown)}")
        values = [utc_text(v) if isinstance(v, datetime) else v for v in changes.values()]
        sets = ", ".join(f"{k} = ?" for k in changes)
        await self._db.write(_update_one, f"UPDATE calls SET {sets} WHERE id = ?", (*values, call_id),
                             call_id)

    async def end(self, call_id: int, ended_at: datetime, disposition: str) -> None:
        """Record the end of a call, and let its issue's 30-minute recording clock start."""
        await self._db.write(_end, call_id, utc_text(ended_at), disposition)

    async def add_digits(self, call_id: int, digits: str) -> None:
        await self._db.write(_update_one, "UPDATE calls SET digits = digits || ? WHERE id = ?",
                             (digits, call_id), call_id)

    async def add_menu_choice(self, call_id: int, choice: dict[str, Any], digits: str = "") -> None:
        """Append one IVR choice ({"node", "digit", "choice"}) to the call's menu trail, and the
        keys pressed to its digits, in one transaction."""
        await self._db.write(
            _update_one, "UPDATE calls SET menu = json_insert(menu, '$[#]', json(?)),"
            " digits = digits || ? WHERE id = ?", (to_json(choice), digits, call_id), call_id)

    async def add_attempt(self, call_id: int, attempt: dict[str, Any]) -> None:
        """Append one attempt to reach someone (who was rung, when, the outcome)."""
        await self._db.write(
            _update_one, "UPDATE calls SET attempts = json_insert(attempts, '$[#]', json(?))"
            " WHERE id = ?", (to_json(attempt), call_id), call_id)

    async def close_interrupted(self, at: datetime) -> list[int]:
        """Close calls a crash left open (no ``ended_at``) as ``interrupted``; their ids.

        Their issues' ``call_ended_at`` is set too, so the 30-minute recording rule applies to
        them like to any other call.
        """
        return await self._db.write(_close_interrupted, utc_text(at))

    async def set_media_stats(self, call_id: int, stats: dict[str, Any]) -> None:
        await self._db.write(_update_one, "UPDATE calls SET media_stats = ? WHERE id = ?",
                             (to_json(stats), call_id), call_id)

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
