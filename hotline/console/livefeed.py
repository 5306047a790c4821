"""The live calls panel's feed, sans-IO: sequenced messages, replay, the board, send queues.

Theory of operation
-------------------
One :class:`LiveFeed` per server turns call events (already enriched for the screen pop, see
``hotline.console.screenpop``) into *messages*: JSON objects numbered by ``seq`` (1, 2, 3, …
with no gaps) within an ``epoch`` (a random name drawn at start, so that numbers from before a
restart are never taken for today's). Each message is encoded once and

* folded into the :class:`LiveBoard` (the calls in progress as a browser shows them, so a
  newcomer gets them in one ``snapshot``),
* kept in the :class:`ReplayRing` (the last 1,000 messages, bounded in bytes too), so a browser
  that lost its connection and comes back with the last ``seq`` it saw gets exactly what it
  missed,
* pushed to every connected socket's :class:`SendQueue`, without waiting: a queue that
  overflows is *overrun* and its socket is closed with a reason (the browser reconnects and
  resumes from the ring), so a slow browser never delays the others or a call.

Opening a socket (:meth:`LiveFeed.open`) puts its first messages in its queue in the same
step that registers it, so nothing published in between can be lost or doubled: either a
``resume`` header and the missed messages (when the ring still holds them all, same epoch), or
a ``snapshot`` of the board whose ``seq`` is the last message it accounts for.

The board is reconciled with the database (:meth:`LiveFeed.reconcile`): at start, when the
bus reports lost events, now and then, and when a browser connects. A change found that way
(a call missed, a call whose end was missed) is broadcast as a sequenced ``snapshot`` with
``reason: "resync"``.

Message kinds (every message has ``kind`` and ``seq``; the full format is in
``docs/live-calls.md``): ``snapshot``, ``resume``, ``tick`` (keep-alive carrying the current
``seq``: a client behind it knows it missed something) and the events of ``hotline.events``
(``call_arrived``, ``ivr_choice``, ``routed``, ``ringing``, ``answered``, ``accepted``,
``declined``, ``voicemail``, ``call_ended``). Nothing here touches a socket or a clock.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = [
    "LiveBoard",
    "LiveFeed",
    "ReplayRing",
    "SendQueue",
    "encode",
    "fold",
    "new_view",
]

Message = dict[str, Any]
CallView = dict[str, Any]
"""One call as the panel shows it (see :func:`fold`); JSON-ready."""


def encode(message: Mapping[str, Any]) -> str:
    """Compact JSON text; non-ASCII kept as is (names are Chinese)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


# -- the replay ring -----------------------------------------------------------------------


class ReplayRing:
    """The last sequenced messages (encoded), bounded in count and in bytes."""

    def __init__(self, max_messages: int = 1000, max_bytes: int = 8 * 1024 * 1024) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("a replay ring needs room for at least one message")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[tuple[int, str]] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def first_seq(self) -> int | None:
        """The oldest sequence number still held."""
        return self._items[0][0] if self._items else None

    @property
    def last_seq(self) -> int | None:
        return self._items[-1][0] if self._items else None

    def append(self, seq: int, text: str) -> None:
        if self._items and seq != self._items[-1][0] + 1:
            raise ValueError(f"sequence {seq} does not follow {self._items[-1][0]}")
        self._items.append((seq, text))
        self._bytes += len(text)
        while len(self._items) > self.max_messages or (self._bytes > self.max_bytes and len(self._items) > 1):
            _, old = self._items.popleft()
            self._bytes -= len(old)

    def since(self, seq: int, current: int) -> list[str] | None:
        """The messages after ``seq`` up to ``current`` (the feed's last), or None when the
        ring no longer holds all of them (or ``seq`` is not one of this feed's)."""
        if seq == current:
            return []
        if seq > current or seq < 0:
            return None
        first = self.first_seq
        if first is None or first > seq + 1:
            return None
        skip = seq + 1 - first
        return [text for _, text in list(self._items)[skip:]]


# -- per-socket send queue -----------------------------------------------------------------


class SendQueue:
    """What one socket still has to send; bounded, overrun instead of blocking.

    :meth:`push` never waits: past ``max_messages`` or ``max_bytes`` queued the queue is
    *overrun* — its content dropped, further pushes refused — and its owner closes the socket
    with a reason; the browser reconnects and resumes from the ring. ``on_ready`` is called when
    the queue goes from empty to non-empty (the adapter wakes its writer there).
    """

    def __init__(self, max_messages: int = 500, max_bytes: int = 4 * 1024 * 1024,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.on_ready = on_ready
        self._items: deque[str] = deque()
        self._bytes = 0
        self.overrun = False
        self.sent = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def fits(self, texts: list[str]) -> bool:
        """Whether ``texts`` would fit in what is left of the queue."""
        return (len(self._items) + len(texts) <= self.max_messages
                and self._bytes + sum(map(len, texts)) <= self.max_bytes)

    def push(self, text: str, *, force: bool = False) -> bool:
        """Queue ``text``; False when the queue is (or just became) overrun. ``force`` queues
        it whatever the limits (a socket's opening snapshot, however many calls it holds)."""
        if self.overrun:
            return False
        if not force and not self.fits([text]):
            self.overrun = True
            self._items.clear()
            self._bytes = 0
            return False
        was_empty = not self._items
        self._items.append(text)
        self._bytes += len(text)
        if was_empty and self.on_ready is not None:
            self.on_ready()
        return True

    def take(self) -> list[str]:
        """Everything queued, oldest first; the queue is empty afterwards."""
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self.sent += len(items)
        return items


# -- the board ------------------------------------------------------------------------------

STATES = ("arrived", "ivr", "forwarding", "answered", "voicemail", "ended")
"""A call's state on the panel, in the order a call usually goes through them."""


def new_view(message: Mapping[str, Any]) -> CallView:
    """The view of a call from its ``call_arrived`` message."""
    return {
        "call": message["call"], "issue": message.get("issue"), "issue_number": message.get("issue_number"),
        "started_at": message.get("at"), "caller": message.get("caller", ""),
        "caller_name": message.get("caller_name"), "employee_id": message.get("employee_id"),
        "flow": message.get("flow", ""), "direction": message.get("direction") or "in",
        "placed_by": message.get("placed_by"), "placed_by_name": message.get("placed_by_name"),
        "state": "arrived", "ivr": [], "route": None,
        "target": None, "person": None, "person_name": None, "outcome": None,
        "answered_by": None, "answered_by_name": None, "voicemail_seconds": None,
        "disposition": None, "ended_at": None, "seq": message.get("seq", 0),
        "pop": message.get("pop"),
    }


def fold(view: CallView | None, message: Mapping[str, Any]) -> CallView | None:
    """The view after ``message`` (a new dict; None for an event about a call not seen).

    The browser's ``live.js`` applies the same rules (``applyEvent``).
    """
    kind = message.get("kind")
    if kind == "call_arrived":
        return new_view(message)
    if view is None:
        return None
    v = dict(view)
    v["seq"] = message.get("seq", v.get("seq", 0))
    if kind == "ivr_choice":
        v["ivr"] = [*(v.get("ivr") or ()), {"node": message.get("node"), "digits": message.get("digits", ""),
                                "choice": message.get("choice"), "label": message.get("label"),
                                "label_en": message.get("label_en")}]
        if v["state"] in ("arrived", "ivr"):
            v["state"] = "ivr"
    elif kind == "routed":
        v["route"] = message.get("route")
        v["state"] = "voicemail" if message.get("route") == "voicemail" else "forwarding"
    elif kind in ("ringing", "answered", "declined"):
        v.update(state="forwarding", target=message.get("target"), person=message.get("person"),
                 person_name=message.get("person_name"),
                 outcome={"ringing": None, "answered": "answered"}.get(kind, message.get("outcome")))
    elif kind == "accepted":
        v.update(state="answered", target=message.get("target"), person=message.get("person"),
                 person_name=message.get("person_name"), outcome=None,
                 answered_by=message.get("person") or message.get("target"),
                 answered_by_name=message.get("person_name"))
    elif kind == "voicemail":
        v.update(state="voicemail", voicemail_seconds=message.get("seconds"))
    elif kind == "call_ended":
        v.update(state="ended", disposition=message.get("disposition"), ended_at=message.get("at"))
        if message.get("answered_by"):
            v["answered_by"] = message.get("answered_by")
            v["answered_by_name"] = message.get("answered_by_name") or v.get("answered_by_name")
    return v


class LiveBoard:
    """The calls in progress, as the panel shows them; an ended call leaves the board."""

    def __init__(self, remember_ended: int = 1000) -> None:
        self.calls: dict[int, CallView] = {}
        self._added_at: dict[int, int] = {}
        """Call id → the feed's seq when the call came on the board."""
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._remember = remember_ended

    def apply(self, message: Mapping[str, Any], seq: int) -> None:
        call = message.get("call")
        if not isinstance(call, int):
            return
        view = fold(self.calls.get(call), message)
        if view is None:
            return
        if view["state"] == "ended":
            self._forget(call)
            return
        if call not in self.calls:
            self._added_at[call] = seq
        self.calls[call] = view

    def _forget(self, call: int) -> None:
        self.calls.pop(call, None)
        self._added_at.pop(call, None)
        self._ended[call] = None
        while len(self._ended) > self._remember:
            self._ended.popitem(last=False)

    def reconcile(self, open_calls: Iterable[CallView], read_seq: int, seq: int, now: datetime,
                  grace_seconds: float = 5.0) -> bool:
        """Merge what the database says is in progress (read when the feed was at ``read_seq``);
        True when the board changed.

        A call on the board since before the read but not open in the database has ended (its
        ``call_ended`` was lost or is on its way): it leaves. A call open in the database but
        not on the board joins, unless the board saw it end after the read, or it started less
        than ``grace_seconds`` ago (its ``call_arrived`` is on its way, richer than the row).
        """
        store = {int(v["call"]): v for v in open_calls}
        changed = False
        for call in [c for c in self.calls if c not in store]:
            if self._added_at.get(call, 0) <= read_seq:
                self._forget(call)
                changed = True
        for call, view in store.items():
            if call in self.calls or call in self._ended:
                continue
            started = view.get("started_at")
            if isinstance(started, str):
                age = (now - datetime.fromisoformat(started)).total_seconds()
                if age < grace_seconds:
                    continue
            self.calls[call] = dict(view)
            self._added_at[call] = seq
            changed = True
        return changed

    def views(self) -> list[CallView]:
        return [self.calls[c] for c in sorted(self.calls)]


# -- the feed -------------------------------------------------------------------------------


class LiveFeed:
    """Sequencing, board, ring and fan-out to send queues (see the module doc)."""

    def __init__(self, epoch: str, *, ring: ReplayRing | None = None, board: LiveBoard | None = None) -> None:
        self.epoch = epoch
        self.seq = 0
        self.ring = ring if ring is not None else ReplayRing()
        self.board = board if board is not None else LiveBoard()
        self.queues: set[SendQueue] = set()

    def publish(self, message: Mapping[str, Any]) -> list[SendQueue]:
        """Number ``message``, keep it, fold it and queue it to every socket; the queues it
        overran (their sockets must be closed)."""
        numbered = {"seq": self.seq + 1, **message}
        text = encode(numbered)  # first: a message that cannot be encoded takes no number
        self.seq += 1
        self.board.apply(numbered, self.seq)
        self.ring.append(self.seq, text)
        overrun = []
        for queue in self.queues:
            if not queue.overrun and not queue.push(text):
                overrun.append(queue)
        return overrun

    def snapshot(self, reason: str, at: str) -> Message:
        """The board as one message; its ``seq`` is the last message it accounts for."""
        return {"seq": self.seq, "kind": "snapshot", "epoch": self.epoch, "reason": reason, "at": at,
                "calls": self.board.views()}

    def open(self, queue: SendQueue, *, since: int | None, epoch: str | None, at: str) -> str:
        """Register ``queue`` and put its first messages in it; how it starts ("resume" or the
        snapshot's reason: "connect", "epoch", "gap")."""
        self.queues.add(queue)
        if since is not None and epoch == self.epoch:
            missed = self.ring.since(since, self.seq)
            header = encode({"seq": since, "kind": "resume", "epoch": self.epoch, "at": at,
                             "missed": len(missed or ())})
            # More than the queue holds would overrun it at once, and again at every reconnect.
            if missed is not None and queue.fits([header, *missed]):
                queue.push(header)
                for text in missed:
                    queue.push(text)
                return "resume"
            reason = "gap"
        elif since is not None:
            reason = "epoch"
        else:
            reason = "connect"
        queue.push(encode(self.snapshot(reason, at)), force=True)
        return reason

    def close(self, queue: SendQueue) -> None:
        self.queues.discard(queue)

    def reconcile(self, open_calls: Iterable[CallView], read_seq: int, now: datetime, *,
                  grace: float = 5.0) -> list[SendQueue]:
        """Merge the database's calls in progress (see :meth:`LiveBoard.reconcile`); a change
        is broadcast as a ``resync`` snapshot. The queues that overran."""
        if not self.board.reconcile(open_calls, read_seq, self.seq + 1, now, grace_seconds=grace):
            return []
        snapshot = self.snapshot("resync", now.isoformat())
        del snapshot["seq"]
        return self.publish(snapshot)

    def tick(self, at: str) -> str:
        """The keep-alive for an idle socket: the current ``seq``, not itself sequenced."""
        return encode({"seq": self.seq, "kind": "tick", "epoch": self.epoch, "at": at})
