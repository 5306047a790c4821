"""What the live panel shows of a call beyond its event: the screen pop, names, labels.

The live feed (``hotline.console.live``) hands every bus event to :meth:`ScreenPop.message`,
which returns the JSON message to publish: the event's own fields (``CallEvent.as_dict``) and

* on ``call_arrived`` of an incoming call, ``pop``: the caller as the directory knows them
  (name, department, location, number, employee id, extension), their open issues and their
  recent issues (five each, without the one opened for this call) and that record (issue id and
  number). An outbound call (a call back, a survey call: ``direction`` "out") pops no screen —
  nobody is calling the operator — so its ``pop`` is null and it costs no query;
* on ``ivr_choice``, ``label`` and ``label_en``: the category a menu key chose, by name;
* on events naming a staff member (``person``, ``answered_by``, ``placed_by``), ``person_name``,
  ``answered_by_name`` or ``placed_by_name``.

It also reads the calls in progress from the database for the feed's reconciliation
(:meth:`ScreenPop.open_calls`). Staff names and categories are cached for a minute: an arriving
call costs four small indexed queries, any other event none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from hotline.callerid import display_key
from hotline.events import CallArrived, CallEvent, IvrChoice
from hotline.store import Store
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import CallRecord, IssueRecord

__all__ = ["POP_ISSUES", "ScreenPop", "issue_summary", "view_from_record"]

POP_ISSUES = 5
"""Open issues, and recent issues, shown with an arriving call."""
CACHE_SECONDS = 60.0
"""How long staff names and category names are reused."""
LONGEST_CALL = timedelta(days=1)
"""Calls open for longer are a crash's leftovers, not calls in progress."""
SUMMARY_CHARS = 120


def issue_summary(issue: IssueRecord) -> dict[str, Any]:
    """An issue as the screen pop lists it."""
    first_line = issue.description.strip().splitlines()[0] if issue.description.strip() else ""
    return {
        "id": issue.id, "number": issue.number, "status": issue.status, "category": issue.category,
        "priority": issue.priority, "summary": first_line[:SUMMARY_CHARS],
        "created_at": issue.created_at.isoformat(), "call_back": issue.call_back,
    }


def view_from_record(call: CallRecord, issue: IssueRecord | None, pop: dict[str, Any] | None,
                     labels: Callable[[str], dict[str, str | None]], *,
                     placed_by: str | None = None) -> dict[str, Any]:
    """A call in progress as the panel shows it, from its database row (the last state the row
    tells: IVR keys, attempts to reach someone, who answered, voicemail). ``issue`` is the call's
    record, or the issue an outbound call was placed for (``placed_by``: the console user)."""
    ivr = [{"node": m.get("node"), "digits": m.get("digit") or "", "choice": m.get("choice"),
            **labels(str(m.get("choice")))} for m in call.menu]
    last = call.attempts[-1] if call.attempts else {}
    if call.answered_by:
        state = "answered"
    elif call.voicemail:
        state = "voicemail"
    elif call.attempts:
        state = "forwarding"
    elif ivr:
        state = "ivr"
    else:
        state = "arrived"
    return {
        "call": call.id, "issue": issue.id if issue else None,
        "issue_number": issue.number if issue else None,
        "started_at": call.started_at.isoformat(),
        "caller": display_key(call.caller_key) if call.caller_key else "",
        "caller_name": issue.caller_name if issue else call.from_display,
        "employee_id": call.employee_id, "flow": call.flow or "",
        "direction": "out" if call.direction == "out" else "in", "placed_by": placed_by,
        "placed_by_name": None, "state": state, "ivr": ivr,
        "route": call.route, "target": last.get("target"), "person": last.get("person"),
        "person_name": None, "outcome": None if state == "answered" else last.get("outcome"),
        "answered_by": call.answered_by, "answered_by_name": None, "voicemail_seconds": None,
        "disposition": None, "ended_at": None, "seq": 0, "pop": pop,
    }


class ScreenPop:
    """Reads what a call's messages carry beyond the event (see the module doc)."""

    def __init__(self, store: Store, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.outbound = OutboundCallStore(store.db)
        self._monotonic = monotonic
        self._categories: dict[str, tuple[str, str | None]] = {}
        self._categories_at = -1e9
        self._names: dict[str, tuple[float, str | None]] = {}

    async def message(self, event: CallEvent) -> dict[str, Any]:
        """The JSON message for ``event`` (without ``seq``: the feed numbers it)."""
        message = event.as_dict()
        if isinstance(event, CallArrived) and event.direction == "out":
            message["pop"] = None
        elif isinstance(event, CallArrived):
            issue = await self.store.issues.get(event.issue)
            message["pop"] = await self.pop(issue, number=event.caller, name=event.caller_name,
                                            employee_id=event.employee_id)
        elif isinstance(event, IvrChoice):
            await self._refresh_categories()
            message.update(self.labels(event.choice))
        for field, name_field in (("person", "person_name"), ("answered_by", "answered_by_name"),
                                  ("placed_by", "placed_by_name")):
            who = message.get(field)
            if isinstance(who, str) and who:
                message[name_field] = await self.person_name(who)
        return message

    async def pop(self, issue: IssueRecord | None, *, number: str, name: str | None,
                  employee_id: str | None) -> dict[str, Any]:
        """The screen pop of a call whose record is ``issue``."""
        caller_key = issue.caller_key if issue else None
        employee_id = employee_id or (issue.employee_id if issue else None)
        employee, open_issues, recent = await asyncio.gather(
            self.store.directory.get(employee_id) if employee_id else _none(),
            self.store.issues.open_for_caller(caller_key=caller_key, employee_id=employee_id,
                                              limit=POP_ISSUES + 1),
            self.store.issues.history_for_caller(caller_key=caller_key, employee_id=employee_id,
                                                 limit=POP_ISSUES + 1),
        )
        this = issue.id if issue else None
        return {
            "issue": {"id": this, "number": issue.number if issue else None},
            "caller": {
                "number": number, "key": caller_key,
                "name": employee.name if employee else (name or (issue.caller_name if issue else None)),
                "employee_id": employee_id,
                "department": (employee.department or None) if employee else None,
                "location": (employee.location or None) if employee else None,
                "extension": employee.extension if employee else None,
            },
            "open_issues": [issue_summary(i) for i in open_issues if i.id != this][:POP_ISSUES],
            "recent_issues": [issue_summary(i) for i in recent if i.id != this][:POP_ISSUES],
        }

    def labels(self, choice: str) -> dict[str, str | None]:
        """``label``/``label_en`` of an IVR choice that is a category (None otherwise)."""
        name, name_en = self._categories.get(choice, (None, None))
        return {"label": name, "label_en": name_en or name}

    async def _refresh_categories(self) -> None:
        if self._monotonic() - self._categories_at < CACHE_SECONDS:
            return
        self._categories = {c.id: (c.name, c.name_en) for c in await self.store.people.categories()}
        self._categories_at = self._monotonic()

    async def person_name(self, person_id: str) -> str | None:
        now = self._monotonic()
        cached = self._names.get(person_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        person = await self.store.people.get(person_id)
        name = person.name if person is not None else None
        if len(self._names) > 1000:
            self._names.clear()
        self._names[person_id] = (now, name)
        return name

    async def open_calls(self, now: datetime, known: Collection[int] = ()) -> list[dict[str, Any]]:
        """The calls in progress by the database, as views; those in ``known`` (already on the
        board) without their screen pop, which costs queries."""
        calls = await self.store.calls.in_progress(now - LONGEST_CALL)
        if not calls:
            return []
        issues = await self.store.issues.for_calls([c.id for c in calls])
        outbound = await self.outbound.of_calls([c.id for c in calls if c.direction == "out"])
        await self._refresh_categories()
        views = []
        for call in calls:
            issue = issues.get(call.id)
            placed = outbound.get(call.id)
            if placed is not None:
                issue = await self.store.issues.get(placed.issue_id)
                view = view_from_record(call, issue, None, self.labels, placed_by=placed.placed_by)
                if placed.placed_by:
                    view["placed_by_name"] = await self.person_name(placed.placed_by)
                views.append(view)
                continue
            pop = None
            if call.id not in known:
                number = display_key(call.caller_key) if call.caller_key else ""
                pop = await self.pop(issue, number=number, name=issue.caller_name if issue else None,
                                     employee_id=call.employee_id)
            views.append(view_from_record(call, issue, pop, self.labels))
        return views


async def _none() -> None:
    return None
