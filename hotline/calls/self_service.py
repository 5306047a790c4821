"""The flow nodes that use what the hotline knows of the caller: open issues, status, incidents.

:class:`SelfService` runs three node kinds for a :class:`~hotline.calls.interpreter.CallRun`:

* ``offer_open_issue`` -- a repeat caller hears their newest open issue(s) (number read digit by
  digit, category) and may add to one: the call's own issue is merged into it
  (:meth:`IssueService.merge_call_issue`) and the run goes on with that issue, so a following
  ``route`` to ``owner`` rings its owner, the whisper names it, and a missed call flags it;
* ``status_lookup`` -- the caller's latest issue read back: number, status in words, owner's
  name, planned completion date, the date of the last progress note;
* ``announce_incident`` -- while a major incident is active, its announcement and "press 1 if
  you are calling about this": the call is linked to the incident's parent issue
  (:meth:`IncidentService.link_call`) and ends as ``linked``, not dispatched again.

Everything spoken is assembled from cached fragments (``hotline.calls.speech.FRAGMENTS``: digits,
months, days, statuses, the fixed sentences) and, for names and announcements, text synthesised
once and cached. A fragment that cannot be found or synthesised is left out -- the caller hears
a shorter sentence, never a dropped call.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.calls.flows import AnnounceIncidentNode, OfferOpenIssueNode, StatusLookupNode
from hotline.calls.outcome import shielded
from hotline.calls.speech import SpeechError, issue_digits
from hotline.issues import IssueError
from hotline.store import StoreError
from hotline.store.records import IssueRecord

if TYPE_CHECKING:
    from hotline.calls.interpreter import CallRun

__all__ = ["LINKED", "SelfService"]

log = logging.getLogger(__name__)

LINKED = "linked"
"""Disposition of a call linked to a major incident: handled by the IVR, nobody rung."""

Part = tuple[str, Path]


class SelfService:
    """Runs the self-service nodes for one call (see the module doc)."""

    def __init__(self, run: CallRun) -> None:
        self.run = run
        self.s = run.s

    # -- speaking ---------------------------------------------------------------------------

    async def fragment(self, prompt_id: str) -> list[Part]:
        speech = self.s.speech
        path = (await speech.fragment(prompt_id, self.run.language) if speech is not None
                else self.s.library.resolve(prompt_id, self.run.language))
        return [(prompt_id, path)] if path is not None else []

    async def digits(self, digits: str) -> list[Part]:
        parts: list[Part] = []
        for digit in digits:
            parts += await self.fragment(f"digit-{digit}")
        return parts

    async def text(self, text: str, what: str) -> list[Part]:
        """A name or announcement, synthesised once and cached."""
        if self.s.speech is None:
            return []
        try:
            return [(f"{what}:{text}", await self.s.speech.say(text, self.run.language))]
        except (SpeechError, ValueError) as exc:
            log.warning("call %d: cannot say the %s %r: %s", self.run.record.id, what, text, exc)
            return []

    async def issue_number(self, issue: IssueRecord) -> list[Part]:
        return await self.digits(issue_digits(issue.number))

    async def date(self, at: datetime) -> list[Part]:
        local = at.astimezone(self.s.calendar.tz)
        return [*await self.fragment(f"month-{local.month}"), *await self.fragment(f"day-{local.day}")]

    # -- the nodes --------------------------------------------------------------------------

    async def offer_open_issue(self, node: OfferOpenIssueNode) -> str:
        run, s = self.run, self.s
        if run.linked is not None:
            return node.next
        issues = await s.issues.open_issues_of_caller(
            caller_key=run.record.caller_key, employee_id=run.issue.employee_id, besides=run.issue.id,
            limit=2)
        if not issues:
            return node.next
        parts = await self.fragment("offer-one" if len(issues) == 1 else "offer-two")
        for key, issue in enumerate(issues, 1):
            parts += await self.fragment("issue-number") + await self.issue_number(issue)
            if issue.category:
                parts += await self.fragment(f"category-{issue.category}")
            parts += await self.fragment(f"offer-add-{key}")
        parts += await self.fragment(f"offer-new-{len(issues) + 1}")
        digit = await run.speak(parts, key_within=node.timeout)
        keys = {str(key): issue for key, issue in enumerate(issues, 1)}
        chosen = keys.get(digit or "")
        if chosen is None:
            await run.note_choice(node.id, digit or "", "new_issue" if digit else "timeout")
            return node.next
        try:
            parent = await shielded(s.issues.merge_call_issue(
                run.issue.id, chosen.id, actor="ivr",
                note=f"caller chose to add to {chosen.number} in the IVR (call #{run.record.id})"))
        except (IssueError, StoreError) as exc:
            log.warning("call %d: could not link to %s: %s", run.record.id, chosen.number, exc)
            return node.next
        await run.note_choice(node.id, digit or "", f"linked:{chosen.number}")
        log.info("call %d: issue %s merged into %s", run.record.id, run.issue.number, chosen.number)
        run.linked = run.issue = parent
        return node.linked_next

    async def status_lookup(self, node: StatusLookupNode) -> str:
        run, s = self.run, self.s
        issue = run.linked or await s.issues.latest_issue_of_caller(
            caller_key=run.record.caller_key, employee_id=run.issue.employee_id, besides=run.issue.id)
        await run.note_choice(node.id, "", f"status:{issue.number}" if issue else "status:none")
        if issue is None:
            await run.speak(await self.fragment("status-none"))
            return node.next
        parts = await self.fragment("status-intro") + await self.issue_number(issue)
        parts += await self.fragment("status-is") + await self.fragment(f"status-{issue.status}")
        owner = await s.store.people.get(issue.owner) if issue.owner else None
        if owner is not None:
            parts += await self.fragment("status-owner") + await self.text(owner.name, "name")
        else:
            parts += await self.fragment("status-unassigned")
        if issue.planned_at is not None:
            parts += await self.fragment("status-planned") + await self.date(issue.planned_at)
            parts += await self.fragment("status-planned-end")
        notes = await s.desk.notes(issue.id)
        if notes:
            parts += await self.fragment("status-progress") + await self.date(notes[-1].at)
        await run.speak(parts)
        return node.next

    async def announce_incident(self, node: AnnounceIncidentNode) -> str:
        run, s = self.run, self.s
        incidents = await s.active_incidents()
        if not incidents or s.incidents is None or run.linked is not None:
            return node.next
        incident = incidents[0]
        parts = await self.text(incident.announcement, f"incident {incident.id}")
        if not parts:  # "press 1 if you are calling about this" means nothing without it
            return node.next
        parts += await self.fragment("incident-press")
        digit = await run.speak(parts, key_within=node.timeout)
        if digit != "1":
            await run.note_choice(node.id, digit or "", "not_incident" if digit else "timeout")
            return node.next
        try:
            linked = await shielded(s.incidents.link_call(incident.id, run.issue.id))
        except Exception as exc:  # cleared meanwhile, or the issue moved on: the call goes on
            log.warning("call %d: could not link to incident %d: %s", run.record.id, incident.id, exc)
            return node.next
        await run.note_choice(node.id, digit, f"incident:{incident.id}")
        parent = await s.store.issues.get(linked.issue_id)
        if parent is not None:
            run.linked = run.issue = parent
        run.outcome.disposition = LINKED
        log.info("call %d: linked to incident %d (%d caller(s))", run.record.id, incident.id, linked.callers)
        return node.linked_next
