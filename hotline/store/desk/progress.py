"""Queries behind progress tracking: stale issues, at-risk lists, digests already sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotline.store.db import Database, utc_text
from hotline.store.desk.outbox import OutboxDraft, enqueue

__all__ = ["ProgressStore"]


class ProgressStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def stale(self, states: Sequence[str], before: datetime) -> list[dict[str, Any]]:
        """Owned issues in ``states`` whose last note (or, without one, dispatch) is before ``before``."""
        marks = ",".join("?" * len(states))
        rows = await self._db.fetch_all(
            "SELECT * FROM (SELECT i.id, i.number, i.owner, i.priority, i.description, i.planned_at,"
            " COALESCE(d.last_note_at, (SELECT MAX(l.at) FROM desk_dispatch_log l"
            "   WHERE l.issue_id = i.id AND l.person_id IS NOT NULL), i.created_at) AS last_activity"
            f" FROM issues i LEFT JOIN desk_issue d ON d.issue_id = i.id WHERE i.status IN ({marks})"
            " AND i.owner IS NOT NULL) WHERE last_activity < ? ORDER BY owner, id",
            (*states, utc_text(before)))
        return [dict(r) for r in rows]

    async def at_risk(self, states: Sequence[str]) -> list[dict[str, Any]]:
        """Owned issues in ``states`` whose stored SLA state is at risk or breached."""
        marks = ",".join("?" * len(states))
        rows = await self._db.fetch_all(
            "SELECT i.id, i.number, i.owner, i.priority, i.description, i.planned_at, d.sla_state"
            " FROM issues i JOIN desk_issue d ON d.issue_id = i.id"
            f" WHERE i.status IN ({marks}) AND i.owner IS NOT NULL"
            " AND d.sla_state IN ('at_risk', 'breached') ORDER BY i.owner, i.id", tuple(states))
        return [dict(r) for r in rows]

    async def digest_recipients_since(self, since: datetime) -> set[str]:
        rows = await self._db.fetch_all(
            "SELECT DISTINCT recipient FROM desk_outbox WHERE event = 'stale_digest' AND created_at >= ?",
            (utc_text(since),))
        return {r[0] for r in rows}

    async def enqueue(self, drafts: Sequence[OutboxDraft], at: datetime) -> None:
        """Outbox rows not tied to an issue change (digests)."""
        async with self._db.transaction() as conn:
            await enqueue(conn, drafts, at)
