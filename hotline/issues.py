"""The issue core: its life cycle as a table, and the service that records every call.

Theory of operation
-------------------
Every call becomes an issue the moment it arrives (:meth:`IssueService.create_issue_for_call`),
so a caller who hangs up in the IVR still leaves a record the duty desk can call back.
An issue then moves through::

    new ─► recorded ─► dispatched ─► in_progress ⇄ pending_caller
     │        │            │              │
     │        └────────────┴──────────────┴──► resolved ─► callback_done ─► closed
     └──► closed (nothing to do: misdial, test call)      ▲       │             │
                                   reopened ◄─────────────┴───────┴─────────────┘

Which moves are legal is the table :data:`TRANSITIONS` and nothing else; an illegal
move raises :class:`IllegalTransition` naming both states and the legal ones. Every
change appends an audit event in the same transaction (see ``hotline.store.issues``).

The seed's rule that hotline calls are entered within 30 minutes is
:meth:`IssueService.flag_recording_overdue`: an issue still ``new`` 30 minutes after
its call ended is flagged ``recording_overdue``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hotline.store import EventDraft, StaleIssue, Store
from hotline.store.records import CallRecord, IssueRecord, NewCall

__all__ = [
    "RECORDING_DEADLINE",
    "TRANSITIONS",
    "IllegalTransition",
    "IssueError",
    "IssueService",
    "Status",
    "check_transition",
]

RECORDING_DEADLINE = timedelta(minutes=30)


class Status(enum.StrEnum):
    NEW = "new"
    RECORDED = "recorded"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    PENDING_CALLER = "pending_caller"
    RESOLVED = "resolved"
    CALLBACK_DONE = "callback_done"
    CLOSED = "closed"
    REOPENED = "reopened"


S = Status
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.RECORDED, S.CLOSED}),
    # recorded → resolved: the duty desk solved it on the phone (first-call resolution).
    S.RECORDED: frozenset({S.DISPATCHED, S.RESOLVED, S.CLOSED}),
    S.DISPATCHED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.RECORDED}),
    S.IN_PROGRESS: frozenset({S.PENDING_CALLER, S.RESOLVED}),
    S.PENDING_CALLER: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CALLBACK_DONE, S.REOPENED}),
    S.CALLBACK_DONE: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}),
}
"""Legal moves: ``TRANSITIONS[from]`` is the set of states an issue may go to next."""

REQUIRED_NOTE = {S.CLOSED, S.REOPENED}
"""Moves that must say why (closing without work, reopening)."""


class IssueError(Exception):
    """A request about an issue that cannot be carried out; the message says why."""


class IllegalTransition(IssueError):
    """A status change the life cycle does not allow."""


def check_transition(current: str, target: str) -> Status:
    """Return ``target`` as a Status if ``current → target`` is legal, else raise."""
    try:
        source, dest = Status(current), Status(target)
    except ValueError as exc:
        raise IllegalTransition(f"unknown status: {exc}") from None
    allowed = TRANSITIONS[source]
    if dest not in allowed:
        legal = ", ".join(sorted(s.value for s in allowed))
        raise IllegalTransition(f"an issue that is {source.value} cannot become {dest.value} "
                                f"(it can become: {legal})")
    return dest


@dataclass(frozen=True)
class CallerInfo:
    """Who is calling, as far as the directory knows."""

    employee_id: str | None
    name: str | None


class IssueService:
    """Creates and changes issues; owns the life-cycle rules, the store owns persistence."""

    def __init__(self, store: Store, tz: ZoneInfo, clock: Callable[[], datetime] | None = None):
        self.store = store
        self.tz = tz
        self._clock = clock or (lambda: datetime.now(UTC))

    async def identify(self, caller_key: str | None) -> CallerInfo:
        if not caller_key:
            return CallerInfo(None, None)
        matches = await self.store.directory.lookup([caller_key])
        if not matches:
            return CallerInfo(None, None)
        # Several employees sharing a desk phone: link none, show the first name as a hint.
        if len(matches) > 1 and matches[0].mobile != caller_key:
            return CallerInfo(None, " / ".join(m.name for m in matches[:3]))
        return CallerInfo(matches[0].employee_id, matches[0].name)

    async def create_issue_for_call(self, call: NewCall) -> tuple[CallRecord, IssueRecord]:
        """Record an arriving call and open its issue; both are committed when this returns."""
        caller = await self.identify(call.caller_key)
        name = caller.name or call.from_display
        return await self.store.issues.create_for_call(
            call, employee_id=caller.employee_id, caller_name=name,
            local_year=call.started_at.astimezone(self.tz).year, status=Status.NEW.value,
        )

    async def create_issue(self, *, source: str, actor: str, fields: Mapping[str, Any]) -> IssueRecord:
        """Open a ``new`` issue that did not come from a call (web form, e-mail gateway, monitoring),
        audited as created by ``actor``; ``fields`` are issue fields (description, employee_id…)."""
        if source == "phone":
            raise IssueError("phone issues are opened by their call")
        now = self._clock()
        return await self.store.issues.create(source=source, at=now, local_year=now.astimezone(self.tz).year,
                                              status=Status.NEW.value, actor=actor, fields=fields)

    async def transition(
        self, issue_id: int, target: str, *, actor: str, note: str = "",
        changes: Mapping[str, Any] | None = None,
    ) -> IssueRecord:
        """Move an issue to ``target`` (with optional field changes) and audit it."""
        issue = await self._get(issue_id)
        dest = check_transition(issue.status, target)
        if dest in REQUIRED_NOTE and not note.strip():
            raise IssueError(f"{dest.value}: say why (a note is required)")
        changes = dict(changes or {})
        if dest is S.RECORDED:
            merged = {"category": issue.category, "description": issue.description, **changes}
            if not merged["category"] or not str(merged["description"] or "").strip():
                raise IssueError("recorded: category and description are required")
            changes.setdefault("recorded_at", self._clock())
        if dest is S.RESOLVED and not str(changes.get("resolution", issue.resolution)).strip():
            raise IssueError("resolved: a resolution text is required")
        before = {"status": issue.status, **{k: getattr(issue, k) for k in changes}}
        after = {"status": dest.value, **changes}
        return await self.store.issues.apply(
            issue_id, expect_status=issue.status, changes={"status": dest.value, **changes},
            at=self._clock(), event=EventDraft(actor, "status", before, after, note),
        )

    async def update_fields(
        self, issue_id: int, *, actor: str, changes: Mapping[str, Any], note: str = ""
    ) -> IssueRecord:
        """Change fields without changing status (e.g. correcting the description)."""
        if "status" in changes:
            raise IssueError("use transition() to change the status")
        issue = await self._get(issue_id)
        before = {k: getattr(issue, k) for k in changes}
        return await self.store.issues.apply(
            issue_id, expect_status=issue.status, changes=changes, at=self._clock(),
            event=EventDraft(actor, "fields", before, dict(changes), note),
        )

    async def clear_call_back(self, issue_id: int, *, actor: str, note: str) -> IssueRecord | None:
        """Take the issue off the operators' "callers to call back" queue: the caller was reached.

        Audited like any field change (``note`` says how they were reached); None, and nothing
        written, when the issue was not flagged. The status is not ours to check: one changed
        meanwhile by someone else is read again.
        """
        for _ in range(3):
            issue = await self._get(issue_id)
            if not issue.call_back:
                return None
            try:
                return await self.update_fields(issue_id, actor=actor, changes={"call_back": False},
                                                note=note)
            except StaleIssue:
                continue
        raise IssueError(f"{issue.number} keeps changing: its call-back flag was left as it is")

    async def open_issues_of_caller(
        self, *, caller_key: str | None, employee_id: str | None, besides: int | None = None,
        limit: int = 2,
    ) -> list[IssueRecord]:
        """The caller's open issues that someone is working on, newest first (a repeat caller's offer).

        Issues still ``new`` are left out (nobody has taken them on: an abandoned call's record
        is not "an issue in progress"), and so is ``besides`` (the call's own issue).
        """
        found = await self.store.issues.open_for_caller(
            caller_key=caller_key, employee_id=employee_id, limit=limit + 10)
        return [i for i in found if i.id != besides and i.status != S.NEW and i.merged_into is None][:limit]

    async def latest_issue_of_caller(
        self, *, caller_key: str | None, employee_id: str | None, besides: int | None = None,
    ) -> IssueRecord | None:
        """The caller's newest issue that is not ``besides`` and was not merged into another."""
        found = await self.store.issues.history_for_caller(
            caller_key=caller_key, employee_id=employee_id, limit=10)
        return next((i for i in found if i.id != besides and i.merged_into is None), None)

    async def merge_call_issue(self, issue_id: int, into_id: int, *, actor: str, note: str) -> IssueRecord:
        """Close a call's issue as merged into ``into_id``, the issue its caller called about.

        Nothing is deleted: the merged issue keeps its call and gets ``merged_into`` and status
        ``closed``; both audit trails say so. Returns the issue merged into.
        """
        issue, into = await self._get(issue_id), await self._get(into_id)
        if issue.id == into.id:
            raise IssueError(f"issue {issue.number} cannot be merged into itself")
        if into.merged_into is not None or into.status == S.CLOSED:
            raise IssueError(f"issue {into.number} is {into.status}: nothing can be merged into it")
        check_transition(issue.status, S.CLOSED)
        await self.store.issues.merge(issue, into, status=S.CLOSED.value, at=self._clock(),
                                      actor=actor, note=note or f"merged into {into.number}")
        return await self._get(into.id)

    async def flag_recording_overdue(self) -> list[int]:
        """Flag issues still ``new`` 30 minutes after their call ended; return their ids."""
        now = self._clock()
        return await self.store.issues.flag_recording_overdue(
            status=S.NEW.value, ended_before=now - RECORDING_DEADLINE, at=now
        )

    async def _get(self, issue_id: int) -> IssueRecord:
        issue = await self.store.issues.get(issue_id)
        if issue is None:
            raise IssueError(f"no issue with id {issue_id}")
        return issue
