"""The desk's unit of work: an issue change, its audit events and its consequences, atomically.

A desk action (dispatch, escalation, resolution, callback) changes an issue and
must leave, *in the same transaction*, the audit event, the dispatch log line,
the SLA projection and the outbox rows of the notifications it causes — so a
crash can never leave a dispatched issue whose owner was not told, or a
notification about a change that was rolled back.  The issue update and the
audit event are written by :func:`hotline.store.issues.apply_change`, the same code
:meth:`~hotline.store.issues.IssueStore.apply` uses, so the audit trail stays one
format in one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.store.db import Database, StoreError, utc_text
from hotline.store.desk.callbacks import Callback
from hotline.store.desk.dispatch import DispatchEntry
from hotline.store.desk.outbox import OutboxDraft, enqueue
from hotline.store.issues import EventDraft, apply_change, db_value
from hotline.store.records import IssueRecord

__all__ = ["PROJECTION_FIELDS", "DeskChange", "DeskChangeStore"]

PROJECTION_FIELDS = {
    "response_due", "resolution_due", "first_response_at", "resolved_at", "response_minutes",
    "resolution_minutes", "response_met", "resolution_met", "sla_state", "escalated_at",
    "unassigned", "last_note_at",
}


@dataclass(frozen=True)
class DeskChange:
    """Everything one desk action writes."""

    issue_id: int
    expect_status: str
    """The status the caller saw; the change is refused (StaleIssue) if it moved on."""
    changes: Mapping[str, Any] = field(default_factory=dict)
    """Issue fields to set (may be empty: then only ``updated_at`` moves)."""
    events: Sequence[EventDraft] = ()
    """Audit events to append, in order."""
    dispatch: DispatchEntry | None = None
    projection: Mapping[str, Any] | None = None
    """Columns of ``desk_issue`` to set."""
    outbox: Sequence[OutboxDraft] = ()
    callback: Callback | None = None


async def set_projection(conn: aiosqlite.Connection, issue_id: int, values: Mapping[str, Any]) -> None:
    unknown = set(values) - PROJECTION_FIELDS
    if unknown:
        raise StoreError(f"desk_issue: unknown columns {sorted(unknown)}")
    await conn.execute("INSERT OR IGNORE INTO desk_issue (issue_id) VALUES (?)", (issue_id,))
    if values:
        sets = ", ".join(f"{k} = ?" for k in values)
        await conn.execute(f"UPDATE desk_issue SET {sets} WHERE issue_id = ?",
                           (*(db_value(v) for v in values.values()), issue_id))


class DeskChangeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def commit(self, change: DeskChange, at: datetime) -> IssueRecord:
        """Write ``change`` in one transaction; return the issue as it is afterwards."""
        async with self._db.transaction() as conn:
            issue = await apply_change(conn, change.issue_id, expect_status=change.expect_status,
                                       changes=change.changes, at=at, events=change.events)
            if change.dispatch is not None:
                d = change.dispatch
                await conn.execute(
                    "INSERT INTO desk_dispatch_log (issue_id, at, post_id, person_id, role, reason,"
                    " actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (d.issue_id, utc_text(d.at), d.post_id, d.person_id, d.role, d.reason, d.actor),
                )
            if change.projection is not None:
                await set_projection(conn, change.issue_id, change.projection)
            if change.callback is not None:
                c = change.callback
                await conn.execute(
                    "INSERT INTO desk_callbacks (issue_id, at, by, efficiency, result, attitude,"
                    " fixed, comment, reopened) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (c.issue_id, utc_text(c.at), c.by, c.efficiency, c.result, c.attitude,
                     int(c.fixed), c.comment, int(c.reopened)),
                )
            await enqueue(conn, change.outbox, at)
        return issue

    async def projection(self, issue_id: int) -> dict[str, Any] | None:
        """The ``desk_issue`` row of an issue, as stored (times as UTC text)."""
        row = await self._db.fetch_one("SELECT * FROM desk_issue WHERE issue_id = ?", (issue_id,))
        return None if row is None else dict(row)

    async def sla_rows(self, states: Sequence[str]) -> list[dict[str, Any]]:
        """Issues in ``states`` with their stored SLA projection (columns NULL if none yet).

        Every open issue (thousands at a large site, tens of milliseconds): on the background
        reader, so that the console's pages do not wait behind the once-a-minute sweep.
        """
        marks = ",".join("?" * len(states))
        rows = await self._db.fetch_all(
            "SELECT i.id, i.status, i.priority, i.owner, d.issue_id IS NOT NULL AS projected, d.sla_state,"
            " d.escalated_at IS NOT NULL AS escalated, d.response_due, d.resolution_due,"
            " d.first_response_at FROM issues i LEFT JOIN desk_issue d ON d.issue_id = i.id"
            f" WHERE i.status IN ({marks}) ORDER BY i.id", tuple(states), background=True)
        return [dict(r) for r in rows]

    async def set_projections(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Update several issues' projections in one transaction (periodic SLA sweeps)."""
        async with self._db.transaction() as conn:
            for issue_id, values in rows:
                await set_projection(conn, issue_id, values)
