"""The console's work queues: which issues wait on whom, each read walking an index.

A queue is a condition on issues (still ``new``; flagged for a call back and not closed; owned by
someone and being worked; in an SLA state; left unassigned by dispatch), read in a fixed order
with a limit, and the number of issues meeting it. Each condition is written so that one index
finds its issues (see 0006_queues.sql and the plans checked in the unit tests): the queues are
looked at all day long and must not cost more as the years of closed issues pile up.

The life-cycle states that make up "being worked" or "open" belong to the desk; the callers pass
them in, so the store keeps no rule of its own about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.store.convert import parse_time
from hotline.store.db import Database
from hotline.store.issues import issue_record
from hotline.store.records import IssueRecord

__all__ = ["Queue", "QueueQuery", "QueueRow", "QueueStore", "queue_count_sql", "queue_sql"]

_SELECT = (
    "SELECT i.*, (SELECT c.disposition FROM calls c WHERE c.id = i.call_id) AS q_disposition,"
    " d.sla_state AS q_sla_state, d.response_due AS q_response_due,"
    " d.resolution_due AS q_resolution_due, d.first_response_at AS q_first_response_at"
)


@dataclass(frozen=True)
class QueueQuery:
    """One queue's condition: the tables it reads, its WHERE clause and order."""

    source: str
    where: str
    params: tuple[Any, ...]
    order: str


def _marks(values: Sequence[str]) -> str:
    if not values:
        raise ValueError("a queue needs at least one status")
    return ",".join("?" * len(values))


def _issues_first(where: str, params: Sequence[Any], order: str, *, index: str = "") -> QueueQuery:
    # An index of issues finds the rows; each one's projection is one primary-key lookup.
    indexed = f" INDEXED BY {index}" if index else ""
    return QueueQuery(f"issues i{indexed} LEFT JOIN desk_issue d ON d.issue_id = i.id", where, tuple(params),
                      order)


def to_complete() -> QueueQuery:
    """Issues still ``new`` (the record not completed), oldest call first: ``issues_status``."""
    return _issues_first("i.status = 'new'", (), "i.created_at, i.id")


def overdue_recordings() -> QueueQuery:
    """``new`` issues flagged 30 minutes after their call: ``issues_status``, few rows."""
    return _issues_first("i.status = 'new' AND i.recording_overdue = 1", (), "i.created_at, i.id")


def to_call_back() -> QueueQuery:
    """Flagged calls whose issue is not closed, oldest first: ``issues_call_back_open``.

    Named, because without statistics SQLite prefers the index of every flagged issue (an
    equality on ``call_back``), and would step over the closed ones before the first open one.
    """
    return _issues_first("i.call_back = 1 AND i.status <> 'closed'", (), "i.id",
                         index="issues_call_back_open")


def owned(owner: str, states: Sequence[str]) -> QueueQuery:
    """``owner``'s issues in ``states``: ``issues_owner (owner, status)``."""
    return _issues_first(f"i.owner = ? AND i.status IN ({_marks(states)})", (owner, *states), "i.id")


def in_sla_state(sla_state: str, states: Sequence[str]) -> QueueQuery:
    """Issues in ``states`` whose stored SLA state is ``sla_state``, oldest first.

    Driven from ``issues_status``: the open issues are few, while the projections of closed
    issues keep the state they ended in (a breach stays a breach), so an index on the state
    would grow with every year of history.
    """
    return _issues_first(f"i.status IN ({_marks(states)}) AND d.sla_state = ?", (*states, sla_state),
                         "i.created_at, i.id")


def unassigned(states: Sequence[str]) -> QueueQuery:
    """Issues in ``states`` that dispatch left without anyone: ``desk_issue_unassigned``."""
    return QueueQuery("desk_issue d JOIN issues i ON i.id = d.issue_id",
                      f"d.unassigned = 1 AND i.status IN ({_marks(states)})", tuple(states),
                      "i.created_at, i.id")


def queue_sql(q: QueueQuery, limit: int) -> tuple[str, list[Any]]:
    """The rows of ``q``, at most ``limit``."""
    return f"{_SELECT} FROM {q.source} WHERE {q.where} ORDER BY {q.order} LIMIT ?", [*q.params, limit]


def queue_count_sql(q: QueueQuery) -> tuple[str, list[Any]]:
    """How many issues ``q`` holds."""
    return f"SELECT COUNT(*) FROM {q.source} WHERE {q.where}", list(q.params)


@dataclass(frozen=True)
class QueueRow:
    """An issue in a queue, with what the queues show beside it."""

    issue: IssueRecord
    disposition: str | None
    """How the issue's call ended (missed, rejected, voicemail…), if it came from a call."""
    sla_state: str | None
    """The desk's stored SLA state; None if the desk has not projected one yet."""
    response_due: datetime | None
    """When the response clock reaches its target, while it runs."""
    resolution_due: datetime | None
    """When the resolution clock reaches its target, while it runs."""
    first_response_at: datetime | None


@dataclass(frozen=True)
class Queue:
    rows: tuple[QueueRow, ...]
    total: int
    """Issues in the queue (``rows`` holds the first ``limit`` of them)."""


def _row(r: Any) -> QueueRow:
    return QueueRow(issue_record(r), r["q_disposition"], r["q_sla_state"], parse_time(r["q_response_due"]),
                    parse_time(r["q_resolution_due"]), parse_time(r["q_first_response_at"]))


class QueueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self, q: QueueQuery, limit: int = 50) -> Queue:
        """The first ``limit`` issues of queue ``q`` and how many it holds."""
        sql, params = queue_sql(q, limit)
        rows = tuple(_row(r) for r in await self._db.fetch_all(sql, params))
        if len(rows) < limit:
            return Queue(rows, len(rows))
        sql, params = queue_count_sql(q)
        return Queue(rows, int(await self._db.fetch_value(sql, params)))

    async def to_complete(self, limit: int = 50) -> Queue:
        return await self.read(to_complete(), limit)

    async def overdue_recordings(self, limit: int = 50) -> Queue:
        return await self.read(overdue_recordings(), limit)

    async def to_call_back(self, limit: int = 50) -> Queue:
        return await self.read(to_call_back(), limit)

    async def owned(self, owner: str, states: Sequence[str], limit: int = 500) -> Queue:
        return await self.read(owned(owner, states), limit)

    async def in_sla_state(self, sla_state: str, states: Sequence[str], limit: int = 50) -> Queue:
        return await self.read(in_sla_state(sla_state, states), limit)

    async def unassigned(self, states: Sequence[str], limit: int = 50) -> Queue:
        return await self.read(unassigned(states), limit)
