"""Major incidents: one outage, one parent issue, many callers.

Theory of operation. When the mail system is down, a hundred employees call about it within
the hour. :meth:`IncidentService.declare` records the outage once -- a title, the categories it
affects, the sentence the IVR says -- with a parent issue (recorded, priority P1, ready to
dispatch). While it is active the IVR plays the announcement before the menu and asks whether
the caller is calling about it (``major_incident`` condition, ``announce_incident`` node); a
caller who says yes has the issue created at their call's arrival merged into the parent
(:meth:`link_call`: the call keeps its own record, closed and marked ``merged_into``; the
incident counts the call) and is not dispatched again. :meth:`clear` ends it and can queue a
notification to every caller linked to it through the desk's outbox.

The CLI (``hotline incident``), the console's JSON endpoint and the IVR all use this service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hotline.desk.service import Desk
from hotline.issues import IssueError, IssueService, Status, check_transition
from hotline.store import Store, StoreError
from hotline.store.incidents import Incident

__all__ = ["Cleared", "Incident", "IncidentError", "IncidentService"]

MAX_TITLE = 200
MAX_ANNOUNCEMENT = 300
"""Characters: the announcement is spoken before the menu, so it must stay a sentence or two."""
PRIORITY = "P1"


class IncidentError(Exception):
    """A request about an incident that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class Cleared:
    incident: Incident
    notified: tuple[str, ...]
    """Recipients of the "incident over" notification (empty without ``notify``)."""


class IncidentService:
    """Declares, lists, links calls to and clears major incidents (see the module doc)."""

    def __init__(self, store: Store, issues: IssueService, tz: ZoneInfo,
                 clock: Callable[[], datetime] | None = None, desk: Desk | None = None) -> None:
        self.store = store
        self.issues = issues
        self.tz = tz
        self.desk = desk
        """Needed only to notify callers when an incident is cleared."""
        self._clock = clock or (lambda: datetime.now(UTC))

    async def declare(self, title: str, *, categories: Sequence[str], announcement: str,
                      by: str) -> Incident:
        """Record an incident and its parent issue; IncidentError for bad input."""
        title, announcement = title.strip(), " ".join(announcement.split())
        if not title:
            raise IncidentError("the incident needs a title")
        if len(title) > MAX_TITLE:
            raise IncidentError(f"title of {len(title)} characters: at most {MAX_TITLE}")
        if not announcement:
            raise IncidentError("the incident needs an announcement (what callers hear)")
        if len(announcement) > MAX_ANNOUNCEMENT:
            raise IncidentError(f"announcement of {len(announcement)} characters: at most "
                                f"{MAX_ANNOUNCEMENT} (callers hear it before the menu)")
        known = {c.id for c in await self.store.people.categories()}
        unknown = [c for c in categories if c not in known]
        if unknown:
            raise IncidentError(f"no category {', '.join(map(repr, unknown))} "
                                f"(known: {', '.join(sorted(known)) or 'none'})")
        now = self._clock()
        return await self.store.incidents.declare(
            title=title, categories=list(dict.fromkeys(categories)), announcement=announcement, at=now,
            by=by, local_year=now.astimezone(self.tz).year, priority=PRIORITY)

    async def active(self) -> list[Incident]:
        """Incidents not cleared, newest first."""
        return await self.store.incidents.active()

    async def recent(self, limit: int = 50) -> list[Incident]:
        return await self.store.incidents.recent(limit)

    async def get(self, incident_id: int) -> Incident:
        incident = await self.store.incidents.get(incident_id)
        if incident is None:
            raise IncidentError(f"no incident with id {incident_id}")
        return incident

    async def link_call(self, incident_id: int, call_issue_id: int, *, actor: str = "ivr") -> Incident:
        """The caller is calling about the incident: merge their call's issue into its parent."""
        incident = await self.get(incident_id)
        if not incident.active:
            raise IncidentError(f"incident {incident_id} was cleared")
        issue = await self.store.issues.get(call_issue_id)
        parent = await self.store.issues.get(incident.issue_id)
        if issue is None or parent is None:
            raise IncidentError(f"no issue with id {call_issue_id if issue is None else incident.issue_id}")
        if issue.id == parent.id or issue.merged_into is not None:
            raise IncidentError(f"issue {issue.number} is already linked")
        try:
            check_transition(issue.status, Status.CLOSED)
            return await self.store.incidents.link_call(incident, issue, parent, status=Status.CLOSED.value,
                                                        at=self._clock(), actor=actor)
        except (IssueError, StoreError) as exc:
            raise IncidentError(str(exc)) from exc

    async def clear(self, incident_id: int, *, by: str, notify: bool = False, note: str = "") -> Cleared:
        """End the incident; with ``notify``, queue "it is over" to every linked caller."""
        incident = await self.get(incident_id)
        if not incident.active:
            raise IncidentError(f"incident {incident_id} was already cleared")
        try:
            cleared = await self.store.incidents.clear(incident_id, at=self._clock(), by=by,
                                                       note=note or "major incident over")
        except StoreError as exc:
            raise IncidentError(str(exc)) from exc
        if not notify:
            return Cleared(cleared, ())
        if self.desk is None:
            raise IncidentError("cleared, but no desk to notify the callers through")
        callers = await self.store.incidents.linked_callers(incident.issue_id)
        contacts = {c.recipient: {"name": c.name, "email": c.email, "mobile": c.mobile} for c in callers}
        notified = await self.desk.notify_callers(
            incident.issue_id, "incident_cleared", contacts, actor=by,
            details={"incident": incident.id, "title": incident.title},
            note=f"major incident over: {len(contacts)} caller(s) told") if contacts else []
        return Cleared(cleared, tuple(notified))
