"""Rows the desk's store modules hand out and take in: frozen dataclasses, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "Callback",
    "DispatchEntry",
    "Leave",
    "OutboxDraft",
    "OutboxRow",
    "Shift",
]


@dataclass(frozen=True)
class Leave:
    """A person away for the local days ``starts_on``..``ends_on`` inclusive."""

    person_id: str
    starts_on: date
    ends_on: date
    reason: str = ""
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Shift:
    """A weekly working window in site-local time; ``ends`` "24:00" is the end of the day."""

    person_id: str
    weekday: int
    starts: str
    ends: str


@dataclass(frozen=True)
class DispatchEntry:
    """One line of the dispatch log."""

    issue_id: int
    at: datetime
    post_id: str | None
    person_id: str | None
    role: str | None
    reason: str
    actor: str
    id: int | None = field(default=None, compare=False)


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


@dataclass(frozen=True)
class Callback:
    """A callback (回访) to the employee after resolution."""

    issue_id: int
    at: datetime
    by: str
    efficiency: int
    result: int
    attitude: int
    fixed: bool
    comment: str
    reopened: bool
    id: int | None = field(default=None, compare=False)
