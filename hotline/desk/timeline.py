"""An issue's history as the desk reads it: status, owner and responses over time.

Pure: built from the audit events (``issue_events``) alone, so every figure the
desk derives from it — SLA clocks, overdue days, scores — can be recomputed
from the log at any time and must come out the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hotline.store.records import IssueEvent

__all__ = ["DONE_STATES", "OPEN_STATES", "PAUSED_STATES", "Mark", "Timeline", "timeline_of"]

PAUSED_STATES = frozenset({"pending_caller", "resolved", "callback_done", "closed"})
"""States in which the resolution clock does not run (waiting for the caller, or done)."""
DONE_STATES = frozenset({"resolved", "callback_done", "closed"})
OPEN_STATES = ("dispatched", "in_progress", "pending_caller", "reopened")
"""States that count as an owner's open work (dispatch load)."""
RESPONDED_STATES = frozenset({"in_progress", "pending_caller", "resolved", "callback_done"})


@dataclass(frozen=True)
class Mark:
    """One moment of the history: the status and owner from then on."""

    at: datetime
    status: str
    owner: str | None
    responded: bool
    """True if this moment is a response (work started, a progress note, a resolution)."""


@dataclass(frozen=True)
class Timeline:
    marks: tuple[Mark, ...]

    @property
    def created_at(self) -> datetime:
        return self.marks[0].at

    def status_at(self, t: datetime) -> str:
        """Status in force at ``t`` (the creation status before the first mark)."""
        status = self.marks[0].status
        for m in self.marks:
            if m.at > t:
                break
            status = m.status
        return status

    def owner_at(self, t: datetime) -> str | None:
        owner = None
        for m in self.marks:
            if m.at > t:
                break
            owner = m.owner
        return owner

    def first_response(self) -> datetime | None:
        return next((m.at for m in self.marks if m.responded), None)

    def resolved_at(self) -> datetime | None:
        """When the issue last became resolved, if it is done now."""
        if self.marks[-1].status not in DONE_STATES:
            return None
        t, prev = None, ""
        for m in self.marks:
            if m.status == "resolved" and prev != "resolved":
                t = m.at
            prev = m.status
        return t

    def running(self, until: datetime) -> list[tuple[datetime, datetime]]:
        """Intervals before ``until`` in which the resolution clock runs."""
        out: list[tuple[datetime, datetime]] = []
        for m, nxt in zip(self.marks, [*self.marks[1:], None], strict=True):
            if m.at >= until:
                break
            end = min(nxt.at, until) if nxt is not None else until
            if m.status not in PAUSED_STATES and end > m.at:
                out.append((m.at, end))
        return out


def timeline_of(events: Iterable[IssueEvent]) -> Timeline:
    """Fold audit events into marks: one per change of status, owner or a response."""
    marks: list[Mark] = []
    status, owner = "new", None
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        after = e.after or {}
        changed = False
        if "status" in after and after["status"] != status:
            status, changed = str(after["status"]), True
        if "owner" in after and after["owner"] != owner:
            owner, changed = after["owner"], True
        responded = e.kind == "progress" or (
            e.kind == "status" and status in RESPONDED_STATES and "status" in after)
        if changed or responded or not marks:
            marks.append(Mark(e.at, status, owner, responded))
    if not marks:
        raise ValueError("an issue without events has no timeline")
    return Timeline(tuple(marks))
