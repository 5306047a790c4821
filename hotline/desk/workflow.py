"""Status changes made through the desk, and the SLA sweep that warns and escalates.

Every change goes through :meth:`Workflow.change`: it checks the life cycle
(:func:`hotline.issues.check_transition`, the same rules as
:class:`hotline.issues.IssueService`), appends the audit event, refreshes the
issue's SLA projection (``desk_issue``) from the timeline *including* the new
event, and writes any notifications — all in one transaction.

:meth:`Workflow.sweep` is run periodically (every minute is plenty): it reads the
clocks of every open issue and, on the first move into *at risk*, tells the owner;
on the first move into *breached*, escalates to the post's next B role and the
managers. Each warning is an audit event, so it is sent once per issue and state.

Outside business hours, an urgent issue's breach goes to the on-call chain's next
person after the owner instead of the post's next B role (who is off duty and not
woken); the managers are told as always. The reason then reads ``SLA response
breached (owner luoyu): escalated to liuyang, boss — after hours (Sat 2026-11-28
22:05): on call it-oncall after luoyu → liuyang (rotation)``; if the whole chain
is away, the next B role is told after all. See :mod:`hotline.desk.oncall`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.desk.context import DeskContext
from hotline.desk.notify import drafts, issue_payload
from hotline.desk.oncall import OnCallService, describe, when_label
from hotline.desk.sla import SlaReading, SlaState, add_minutes, read_sla
from hotline.desk.timeline import timeline_of
from hotline.issues import REQUIRED_NOTE, IssueError, Status, check_transition
from hotline.store import EventDraft
from hotline.store.desk.callbacks import Callback
from hotline.store.desk.changes import DeskChange
from hotline.store.desk.dispatch import DispatchEntry
from hotline.store.desk.outbox import OutboxDraft
from hotline.store.records import IssueEvent, IssueRecord

log = logging.getLogger(__name__)

__all__ = ["SweepResult", "Workflow", "projection_of"]

SWEPT_STATES = ("new", "recorded", "dispatched", "in_progress", "pending_caller", "reopened")


def projection_of(reading: SlaReading) -> dict[str, Any]:
    """The ``desk_issue`` SLA columns for a reading."""
    resp, res = reading.response, reading.resolution
    return {
        "response_due": resp.due, "resolution_due": res.due if res.due else None,
        "first_response_at": resp.stopped_at, "resolved_at": res.stopped_at,
        "response_minutes": resp.used if resp.stopped_at else None,
        "resolution_minutes": res.used if res.stopped_at else None,
        "response_met": None if resp.stopped_at is None else int(resp.state is SlaState.MET),
        "resolution_met": None if res.stopped_at is None else int(res.state is SlaState.MET),
        "sla_state": reading.state.value,
    }


@dataclass(frozen=True)
class SweepResult:
    at_risk: tuple[int, ...]
    breached: tuple[int, ...]


class Workflow:
    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx
        self.on_call = OnCallService(ctx)

    async def issue(self, issue_id: int) -> IssueRecord:
        issue = await self.ctx.store.issues.get(issue_id)
        if issue is None:
            raise IssueError(f"no issue with id {issue_id}")
        return issue

    async def reading(self, issue: IssueRecord, extra: Sequence[EventDraft] = (),
                      now: datetime | None = None) -> SlaReading:
        """The SLA reading of ``issue``, as if ``extra`` events were appended at ``now``."""
        now = now or self.ctx.now()
        events = await self.ctx.store.issues.events(issue.id)
        last = events[-1].id if events else 0
        events += [IssueEvent(last + i + 1, issue.id, now, e.actor, e.kind,
                              dict(e.before) if e.before else None,
                              dict(e.after) if e.after else None, e.note)
                   for i, e in enumerate(extra)]
        priority = issue.priority
        for e in extra:
            if e.after and "priority" in e.after:
                priority = e.after["priority"]
        return read_sla(timeline_of(events), priority, self.ctx.settings, self.ctx.calendar, now)

    async def change(
        self, issue_id: int, target: str | None, *, actor: str, note: str = "",
        changes: Mapping[str, Any] | None = None, kind: str | None = None,
        outbox: Sequence[OutboxDraft] = (), projection: Mapping[str, Any] | None = None,
        callback: Callback | None = None, first: Sequence[EventDraft] = (),
    ) -> IssueRecord:
        """Change status to ``target`` (None: fields only) with SLA projection and outbox, atomically.

        ``first`` are audit events written before the change's own event (e.g. the callback).
        """
        ctx, now = self.ctx, self.ctx.now()
        issue = await self.issue(issue_id)
        fields = dict(changes or {})
        if target is not None:
            dest = check_transition(issue.status, target)
            if dest in REQUIRED_NOTE and not note.strip():
                raise IssueError(f"{dest.value}: say why (a note is required)")
            if dest is Status.RESOLVED and not str(fields.get("resolution", issue.resolution)).strip():
                raise IssueError("resolved: a resolution text is required")
            if dest is Status.RECORDED:
                merged = {"category": issue.category, "description": issue.description, **fields}
                if not merged["category"] or not str(merged["description"] or "").strip():
                    raise IssueError("recorded: category and description are required")
                fields.setdefault("recorded_at", now)
            fields = {"status": dest.value, **fields}
        before = {k: (issue.status if k == "status" else getattr(issue, k)) for k in fields}
        event = EventDraft(actor, kind or ("status" if target else "fields"), before, fields, note)
        reading = await self.reading(issue, [*first, event], now)
        return await ctx.desk.changes.commit(DeskChange(
            issue_id, issue.status, fields, events=[*first, event],
            projection={**projection_of(reading), **(projection or {})}, outbox=outbox,
            callback=callback,
        ), now)

    async def refresh(self, issue_id: int) -> dict[str, Any]:
        """Recompute an issue's SLA projection from its events (repairs changes made elsewhere)."""
        issue = await self.issue(issue_id)
        values = projection_of(await self.reading(issue))
        await self.ctx.desk.changes.set_projections([(issue_id, values)])
        return values

    def _needs_reading(self, row: dict[str, Any], now: datetime) -> bool:
        """Whether an issue's clocks may have changed state since its projection was stored.

        The projection holds each running clock's due instant; a clock turns at risk at
        ``due - (1 - at_risk_fraction) × target`` of its own clock, so an issue whose
        instants all lie ahead needs no reading of its events.
        """
        if not row["projected"] or row["sla_state"] == SlaState.AT_RISK.value:
            return True
        if row["sla_state"] == SlaState.BREACHED.value:
            return not row["escalated"] and row["owner"] is not None  # else nothing left to do
        policy = self.ctx.settings.policy(row["priority"])
        spare = 1 - self.ctx.settings.at_risk_fraction
        clocks = [(row["resolution_due"], policy.resolution)]
        if row["first_response_at"] is None:
            clocks.append((row["response_due"], policy.response))
        for due_text, target in clocks:
            if due_text is None:
                continue
            due = datetime.fromisoformat(due_text)
            if add_minutes(self.ctx.calendar, due, -spare * target.minutes, target.business) <= now:
                return True
        return False

    async def sweep(self) -> SweepResult:
        """Warn owners of issues newly at risk; escalate issues newly breached."""
        ctx, now = self.ctx, self.ctx.now()
        at_risk: list[int] = []
        breached: list[int] = []
        refresh: list[tuple[int, dict[str, Any]]] = []
        for row in await ctx.desk.changes.sla_rows(SWEPT_STATES):
            if not self._needs_reading(row, now):
                continue
            issue = await self.issue(row["id"])
            if issue.status != row["status"]:
                continue
            reading = await self.reading(issue, now=now)
            state = reading.state
            if state is SlaState.BREACHED and not row["escalated"] and issue.owner:
                await self._escalate(issue, reading, now)
                breached.append(issue.id)
            elif state is SlaState.AT_RISK and row["sla_state"] != SlaState.AT_RISK.value and issue.owner:
                await self._warn(issue, reading, now)
                at_risk.append(issue.id)
            elif row["sla_state"] != state.value or not row["projected"]:
                refresh.append((issue.id, projection_of(reading)))
        if refresh:
            await ctx.desk.changes.set_projections(refresh)
        return SweepResult(tuple(at_risk), tuple(breached))

    async def _warn(self, issue: IssueRecord, reading: SlaReading, now: datetime) -> None:
        ctx = self.ctx
        assert issue.owner is not None
        contacts = await ctx.desk.dispatch.contacts([issue.owner])
        which = "resolution" if reading.resolution.state is SlaState.AT_RISK else "response"
        clock = reading.resolution if which == "resolution" else reading.response
        payload = {**issue_payload(issue), "clock": which,
                   "due": clock.due.isoformat() if clock.due else None}
        note = f"{which} {clock.used:.0f} of {clock.target:.0f} min used"
        await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status, events=[EventDraft("system", "sla", None, {"sla": "at_risk"}, note)],
            projection=projection_of(reading),
            outbox=drafts(ctx.settings, "at_risk", [issue.owner], contacts, payload, issue.id),
        ), now)

    async def _escalate(self, issue: IssueRecord, reading: SlaReading, now: datetime) -> None:
        """Breach: tell the owner, the post's next B role and the managers; log the escalation."""
        ctx = self.ctx
        assert issue.owner is not None
        post_id = await ctx.desk.dispatch.post_of_category(issue.category) if issue.category else None
        assignments = await ctx.store.people.assignments(post_id) if post_id else []
        backups = [a.person_id for a in assignments if a.role == "B"]
        # The next B after the owner (the first B if the owner holds the A role).
        nxt = backups[backups.index(issue.owner) + 1:] if issue.owner in backups else backups
        next_b = nxt[0] if nxt else None
        # Outside business hours an urgent issue goes up the on-call chain instead.
        on_call = await self.on_call.pick(issue.priority, now, after=issue.owner)
        why = ""
        if on_call is not None:
            why = f" — after hours ({when_label(ctx.calendar, now)}): {describe(on_call)}"
            if on_call.person_id is not None:
                next_b = on_call.person_id
            else:
                why += ", so the post's next B role"
        managers = await ctx.desk.dispatch.managers()
        targets = list(dict.fromkeys(p for p in [next_b, *managers] if p and p != issue.owner))
        contacts = await ctx.desk.dispatch.contacts([issue.owner, *targets])
        which = "response" if reading.response.state is SlaState.BREACHED else "resolution"
        reason = (f"SLA {which} breached (owner {issue.owner}): escalated to "
                  + (", ".join(targets) if targets else "nobody (no next B role or manager)") + why)
        payload = {**issue_payload(issue), "clock": which, "reason": reason}
        outbox = [*drafts(ctx.settings, "breached", [issue.owner], contacts, payload, issue.id),
                  *drafts(ctx.settings, "escalated", targets, contacts, payload, issue.id)]
        await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status,
            events=[EventDraft("system", "escalated", None, {"sla": "breached", "to": targets}, reason)],
            dispatch=DispatchEntry(issue.id, now, post_id, next_b, "escalation", reason, "system"),
            projection={**projection_of(reading), "escalated_at": now}, outbox=outbox,
        ), now)
        log.info("%s: %s", issue.number, reason)
