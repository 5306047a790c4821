"""The issue-event webhook relay's SQL: new ``issue_events`` become ``desk_outbox`` rows.

Every change of an issue — from the console, the IVR, the API, the SLA sweeps — appends to
``issue_events``; the relay reads the events after its cursor (``api_webhook_cursor``), lets
the caller turn them into outbox drafts, and enqueues those and moves the cursor in one
transaction. So an event is never skipped (at least once, as the outbox delivers) and the
desk's code paths need not know webhooks exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.convert import from_json, parse_time
from hotline.store.db import Database
from hotline.store.desk.outbox import OutboxDraft, enqueue
from hotline.store.issues import issue_record
from hotline.store.records import IssueEvent, IssueRecord

__all__ = ["RelayedEvent", "WebhookRelayStore"]


@dataclass(frozen=True)
class RelayedEvent:
    """An audit event and its issue as it is when the event is relayed."""

    event: IssueEvent
    issue: IssueRecord


class WebhookRelayStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def latest_event(self) -> int:
        """The id of the newest issue event (0: none); a cheap read to skip idle transactions."""
        return int(await self._db.fetch_value("SELECT COALESCE(MAX(id), 0) FROM issue_events"))

    async def relay(self, build: Callable[[Sequence[RelayedEvent]], Sequence[OutboxDraft]], *,
                    at: datetime, limit: int = 500) -> int:
        """Turn up to ``limit`` events after the cursor into outbox rows; returns the events read.

        The first run starts at the newest event: a webhook added today is not flooded with
        the history. ``build`` is pure (it runs inside the transaction).
        """
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT last_event FROM api_webhook_cursor WHERE id = 1") as cur:
                row = await cur.fetchone()
            if row is None:
                await conn.execute("INSERT INTO api_webhook_cursor (id, last_event)"
                                   " SELECT 1, COALESCE(MAX(id), 0) FROM issue_events")
                return 0
            async with conn.execute(
                "SELECT e.id AS event_id, e.issue_id AS event_issue, e.at AS event_at,"
                " e.actor AS event_actor,"
                " e.kind AS event_kind, e.before AS event_before, e.after AS event_after,"
                " e.note AS event_note, i.* FROM issue_events e JOIN issues i ON i.id = e.issue_id"
                " WHERE e.id > ? ORDER BY e.id LIMIT ?", (int(row[0]), limit),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return 0
            events = []
            for r in rows:
                event_at = parse_time(r["event_at"])
                assert event_at is not None
                events.append(RelayedEvent(
                    IssueEvent(r["event_id"], r["event_issue"], event_at, r["event_actor"], r["event_kind"],
                               from_json(r["event_before"]), from_json(r["event_after"]), r["event_note"]),
                    issue_record(r)))
            await enqueue(conn, build(events), at)
            await conn.execute("UPDATE api_webhook_cursor SET last_event = ? WHERE id = 1",
                               (events[-1].event.id,))
        return len(events)
