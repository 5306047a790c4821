"""Calls the hotline places itself (a call back from the console), filed under their issue.

An outbound call is an ordinary ``calls`` row with ``direction = 'out'``, the issue it was made
for (``issue_id``) and the console user who placed it (``placed_by``); its attempts, who
answered, ring and talk seconds and disposition are written with :class:`CallStore` like those
of any call. The row and an entry in the issue's audit trail are committed together, before
the first phone rings; a call back refused before anything was dialled leaves an audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.store.calls import call_record
from hotline.store.db import Database, StoreError, utc_text
from hotline.store.issues import EventDraft, append_event
from hotline.store.records import CallRecord, NewCall

__all__ = ["OutboundCall", "OutboundCallStore"]


@dataclass(frozen=True)
class OutboundCall:
    """An outbound call and what ties it to the desk."""

    call: CallRecord
    issue_id: int
    placed_by: str | None


class OutboundCallStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, call: NewCall, *, issue_id: int, placed_by: str | None, employee_id: str | None,
                     note: dict[str, Any], flow: str = "callback") -> OutboundCall:
        """Commit the call row (``direction = 'out'``) and a ``call_back`` issue event together;
        ``flow`` names what placed the call, as the IVR flow does for incoming calls, and is the
        event's actor when no console user placed it (``placed_by`` None: the survey caller)."""
        if call.direction != "out":
            raise StoreError("outbound calls have direction 'out'")
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO calls (sip_call_id, direction, from_uri, from_display, caller_raw, caller_key,"
                " employee_id, to_uri, started_at, issue_id, placed_by, flow)"
                " VALUES (?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (call.sip_call_id, call.from_uri, call.from_display, call.caller_raw, call.caller_key,
                 employee_id, call.to_uri, utc_text(call.started_at), issue_id, placed_by, flow),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            await append_event(conn, issue_id, call.started_at, EventDraft(
                actor=placed_by or flow, kind="call_back", after={"call": row["id"], **note}))
        return OutboundCall(call_record(row), issue_id, placed_by)

    async def refused(self, issue_id: int, at: datetime, *, actor: str, reason: str,
                      note: dict[str, Any]) -> None:
        """Put a call back refused before anything was dialled on the issue's audit trail."""
        async with self._db.transaction() as conn:
            await append_event(conn, issue_id, at, EventDraft(
                actor=actor, kind="call_back_refused", after=note, note=reason))

    async def for_issue(self, issue_id: int, limit: int = 20) -> list[OutboundCall]:
        """The issue's outbound calls, newest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM calls WHERE issue_id = ? AND direction = 'out' ORDER BY id DESC LIMIT ?",
            (issue_id, limit))
        return [OutboundCall(call_record(r), r["issue_id"], r["placed_by"]) for r in rows]

    async def of_calls(self, call_ids: Sequence[int]) -> dict[int, OutboundCall]:
        """The outbound calls among ``call_ids``, by call id (incoming calls are left out)."""
        ids = list(call_ids)[:500]
        if not ids:
            return {}
        rows = await self._db.fetch_all(
            f"SELECT * FROM calls WHERE id IN ({','.join('?' * len(ids))}) AND direction = 'out'"
            " AND issue_id IS NOT NULL", ids)
        return {int(r["id"]): OutboundCall(call_record(r), r["issue_id"], r["placed_by"]) for r in rows}

    async def open_for_issue(self, issue_id: int) -> list[int]:
        """Outbound calls of the issue that have not ended (a call back in progress)."""
        rows = await self._db.fetch_all(
            "SELECT id FROM calls WHERE issue_id = ? AND direction = 'out' AND ended_at IS NULL",
            (issue_id,))
        return [int(r["id"]) for r in rows]
