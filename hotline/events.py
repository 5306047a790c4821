"""The in-process event bus: what happens to calls, for the console's live panel and metrics.

Call control publishes one small frozen event per thing that happens to a call (it arrived,
the caller chose, it was routed, a phone rings, someone answered, accepted or declined, a
voicemail was left, it ended). Subscribers read them from their own bounded queue.

Publishing never waits and never fails: a subscriber whose queue is full loses its *oldest*
event (the newest state matters most to a live panel) and the loss is counted on the
subscription, which can tell its reader to catch up from the database. So a slow or stuck
subscriber never delays a call.

Every event carries ``call`` (the call record's id) and ``at`` (wall-clock UTC), so a reader
can order them and look the call up.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Accepted",
    "Answered",
    "CallArrived",
    "CallEnded",
    "CallEvent",
    "Declined",
    "EventBus",
    "IvrChoice",
    "Ringing",
    "Routed",
    "Subscription",
    "Voicemail",
]


@dataclass(frozen=True, slots=True)
class CallEvent:
    call: int
    """The call record's id."""
    at: datetime
    """When it happened (the server's wall clock, UTC)."""

    @property
    def kind(self) -> str:
        """A short name for logs and JSON ("call_arrived", "ivr_choice", …)."""
        return _KINDS[type(self)]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with ``kind``."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True, slots=True)
class CallArrived(CallEvent):
    issue: int
    """The issue created for the call (its id)."""
    issue_number: str
    """Its number, as spoken and shown (HL-2026-000123)."""
    caller: str
    """The caller's number as presented ("" when withheld)."""
    caller_name: str | None = None
    """The directory's name for the number, or the display name."""
    employee_id: str | None = None
    """The directory match, if exactly one."""
    flow: str = ""
    """The IVR flow handling the call (of an outbound call: what placed it, "callback", "survey")."""
    direction: str = "in"
    """"in": someone calls the hotline; "out": the hotline calls an employee (no screen pop)."""
    placed_by: str | None = None
    """Of an outbound call: the console user who placed it (None: the hotline itself)."""


@dataclass(frozen=True, slots=True)
class IvrChoice(CallEvent):
    node: str
    """The menu or collect node."""
    digits: str
    """What the caller pressed."""
    choice: str
    """What it meant (a category id, "operator", the node it led to)."""


@dataclass(frozen=True, slots=True)
class Routed(CallEvent):
    route: str
    """"desk", "oncall", "post:<id>", a named target, or "voicemail"."""
    reason: str = ""
    """Why (business hours, overflow after the desk was busy, …)."""


@dataclass(frozen=True, slots=True)
class Ringing(CallEvent):
    target: str
    """The number or URI rung."""
    person: str | None = None
    """The staff member it belongs to, if any."""


@dataclass(frozen=True, slots=True)
class Answered(CallEvent):
    target: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted(CallEvent):
    target: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class Declined(CallEvent):
    target: str
    person: str | None = None
    outcome: str = ""
    """"busy", "no-answer", "declined", "not-accepted", "failed", …"""


@dataclass(frozen=True, slots=True)
class Voicemail(CallEvent):
    path: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    disposition: str
    """answered, abandoned, voicemail, missed, rejected, interrupted, failed."""
    answered_by: str | None = None


_KINDS: dict[type, str] = {
    CallArrived: "call_arrived", IvrChoice: "ivr_choice", Routed: "routed", Ringing: "ringing",
    Answered: "answered", Accepted: "accepted", Declined: "declined", Voicemail: "voicemail",
    CallEnded: "call_ended",
}


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue. Iterate it (``async for``) or ``await get()``."""

    bus: EventBus
    queue: asyncio.Queue[CallEvent]
    id: int
    dropped: int = 0
    """Events lost because the queue was full (oldest first): catch up from the database."""
    closed: bool = field(default=False)

    async def get(self) -> CallEvent:
        return await self.queue.get()

    def get_nowait(self) -> CallEvent | None:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CallEvent]:
        while not self.closed:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of call events to bounded per-subscriber queues (see the module doc)."""

    def __init__(self) -> None:
        self._subscribers: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self.published = 0
        """Events published since start."""

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        if maxsize < 1:
            raise ValueError("a subscription needs room for at least one event")
        sub = Subscription(self, asyncio.Queue(maxsize), next(self._ids))
        self._subscribers[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        self._subscribers.pop(sub.id, None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: CallEvent) -> None:
        """Hand ``event`` to every subscriber now; never waits (see the module doc)."""
        self.published += 1
        for sub in self._subscribers.values():
            queue = sub.queue
            if queue.full():
                queue.get_nowait()
                sub.dropped += 1
            queue.put_nowait(event)
