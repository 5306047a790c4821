"""Dispatch: who gets an issue, and why — A role first, else the least-loaded available B role.

Theory of operation
-------------------
A category belongs to a post; a post has one A role (the owner) and ranked B
roles (backups). Dispatch looks at the moment work can start — now for a 24×7
priority, the next business minute otherwise — and asks of each role holder
whether they are *available* then: active, not on leave that local day, and, if
they have shifts, inside one. The A role gets the issue if available. Otherwise
the available B role with the fewest open issues does, ties broken by who was
dispatched least recently (never beats any time), then by rank. If a 24×7 issue
finds nobody now, the next business start is tried before giving up.

Nobody available is not an error and never a silent drop: the issue stays
``recorded``, is flagged ``unassigned`` in the desk projection, the managers are
notified, and the dispatch log says why. Every decision — automatic, manual or
none — appends a log line whose reason reads like ``A zhangwei on leave
2026-11-20..22 → B lisi (fewest open issues: 1)``.

Outside business hours an *urgent* issue (``DeskSettings.urgent_priorities``)
goes to the person on call instead, from the same rota call routing forwards to
(see :mod:`hotline.desk.oncall`); the log reads ``after hours (Sat 2026-11-28
21:04): on call it-oncall → luoyu (rotation)`` and the role is ``on_call``.
Without a rota the desk dispatches by post at any hour.

:func:`choose` is the pure decision; :class:`DispatchService` gathers its facts
from the store and commits the result through the desk's unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from hotline.desk.availability import away_reason, format_span
from hotline.desk.context import DeskContext
from hotline.desk.notify import drafts, issue_payload
from hotline.desk.oncall import OnCallService, RotaGap, describe, when_label
from hotline.desk.sla import read_sla
from hotline.desk.timeline import OPEN_STATES, timeline_of
from hotline.issues import IssueError, check_transition
from hotline.store import EventDraft
from hotline.store.desk.changes import DeskChange
from hotline.store.desk.dispatch import DispatchEntry
from hotline.store.records import IssueRecord, PostAssignment

__all__ = [
    "Candidate",
    "CoverageGap",
    "CoverageReport",
    "Decision",
    "DispatchResult",
    "DispatchService",
    "away_reason",
    "choose",
    "format_span",
]


@dataclass(frozen=True)
class Candidate:
    """A role holder of the post, with the facts the decision needs."""

    person_id: str
    role: str
    """"A" or "B"."""
    rank: int
    away: str | None
    """Why the person is unavailable ("on leave 2026-11-20..22"), None if available."""
    open_issues: int
    last_dispatched: datetime | None


@dataclass(frozen=True)
class Decision:
    person_id: str | None
    role: str | None
    reason: str


def choose(candidates: Sequence[Candidate]) -> Decision:
    """The A role if available, else the least-loaded available B role (see module doc)."""
    skipped = [f"{c.role} {c.person_id} {c.away}" for c in sorted(candidates, key=_role_order)
               if c.away]
    a = next((c for c in candidates if c.role == "A" and c.away is None), None)
    if a is not None:
        return Decision(a.person_id, "A", f"A {a.person_id} available")
    available = [c for c in candidates if c.role == "B" and c.away is None]
    if not available:
        why = "; ".join(skipped) if skipped else "post has no A or B role"
        return Decision(None, None, f"nobody available: {why}")
    never = datetime.min.replace(tzinfo=None)
    best = min(available, key=lambda c: (
        c.open_issues, (c.last_dispatched.replace(tzinfo=None) if c.last_dispatched else never),
        c.rank, c.person_id))
    ties = [c for c in available if c.open_issues == best.open_issues]
    why = f"fewest open issues: {best.open_issues}"
    if len(ties) > 1:
        last = best.last_dispatched.isoformat(timespec="minutes") if best.last_dispatched else "never"
        why += f", least recently dispatched: {last}"
    prefix = "; ".join(skipped) + " → " if skipped else ""
    return Decision(best.person_id, "B", f"{prefix}B {best.person_id} ({why})")


def _role_order(c: Candidate) -> tuple[int, int]:
    return (0 if c.role == "A" else 1, c.rank)


@dataclass(frozen=True)
class DispatchResult:
    issue: IssueRecord
    person_id: str | None
    reason: str
    flagged: bool
    """True: nobody was available; the issue is flagged unassigned."""


@dataclass(frozen=True)
class CoverageGap:
    """A working day on which a post has no available A or B role."""

    day: date
    post_id: str
    reasons: str


@dataclass(frozen=True)
class CoverageReport:
    """Who is missing in a date range: posts with nobody available, and on-call rota gaps."""

    first: date
    last: date
    posts: tuple[CoverageGap, ...]
    """Working days on which a post has no available A or B role."""
    rota: tuple[RotaGap, ...]
    """On-call stretches whose primary is on leave or inactive, not covered by an override."""

    @property
    def data(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "first": self.first.isoformat(), "last": self.last.isoformat(),
            "posts": [{"day": g.day.isoformat(), "post": g.post_id, "reasons": g.reasons}
                      for g in self.posts],
            "rota": [{"rota": g.rota, "start": g.start.isoformat(), "end": g.end.isoformat(),
                      "primary": g.primary, "why": g.why, "chain": list(g.chain),
                      "source": g.source.value, "note": g.note} for g in self.rota],
        }


class DispatchService:
    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx
        self.on_call = OnCallService(ctx)

    async def candidates(self, post_id: str, at: datetime) -> list[Candidate]:
        """The post's role holders with their availability at ``at`` and their load."""
        st = self.ctx.desk.dispatch
        assignments: list[PostAssignment] = await self.ctx.store.people.assignments(post_id)
        ids = [a.person_id for a in assignments]
        local = at.astimezone(self.ctx.calendar.tz)
        leaves = await st.leaves(ids, local.date(), local.date())
        shifts = await st.shifts(ids)
        inactive = await st.inactive(ids)
        loads = await st.open_counts(ids, OPEN_STATES)
        last = await st.last_dispatched(ids)
        return [
            Candidate(a.person_id, a.role, a.rank, away_reason(
                local.date(), local.time(), inactive=a.person_id in inactive,
                leaves=[x for x in leaves if x.person_id == a.person_id],
                shifts=[s for s in shifts if s.person_id == a.person_id]),
                loads.get(a.person_id, 0), last.get(a.person_id))
            for a in assignments
        ]

    async def dispatch(self, issue_id: int, *, actor: str = "system", to: str | None = None,
                       note: str = "") -> DispatchResult:
        """Dispatch an issue automatically, or to ``to`` (manual: ``note`` says why)."""
        ctx, now = self.ctx, self.ctx.now()
        issue = await ctx.store.issues.get(issue_id)
        if issue is None:
            raise IssueError(f"no issue with id {issue_id}")
        check_transition(issue.status, "dispatched")
        if not issue.category:
            raise IssueError(f"{issue.number}: a category is needed to find the post")
        post_id = await ctx.desk.dispatch.post_of_category(issue.category)
        policy = ctx.settings.policy(issue.priority)
        if to is not None:
            if not note.strip():
                raise IssueError("manual dispatch: say why (a note is required)")
            if await ctx.store.people.get(to) is None:
                raise IssueError(f"manual dispatch: no person {to!r}")
            decision = Decision(to, "manual", f"manual by {actor}: {note.strip()}")
        else:
            on_call = await self.on_call.pick(issue.priority, now)
            if on_call is None:  # business time, not urgent, or no rota
                decision = await self._by_post(issue.category, post_id, policy.resolution.business, now)
            else:
                why = f"after hours ({when_label(ctx.calendar, now)}): {describe(on_call)}"
                if on_call.person_id is not None:
                    decision = Decision(on_call.person_id, "on_call", why)
                else:  # the whole on-call chain is away: the post's roles decide
                    by_post = await self._by_post(issue.category, post_id,
                                                  policy.resolution.business, now)
                    decision = Decision(by_post.person_id, by_post.role,
                                        f"{why}; by post: {by_post.reason}")
        return await self._commit(issue, post_id, decision, actor, now)

    async def _by_post(self, category: str, post_id: str | None, business: bool,
                       now: datetime) -> Decision:
        """A role, else least-loaded B, when work can start (see the module doc)."""
        cal = self.ctx.calendar
        if post_id is None:
            raise IssueError(f"category {category!r} has no post")
        start = now if not business else cal.next_business_start(now)
        decision = choose(await self.candidates(post_id, start))
        if decision.person_id is None and not business:
            later = cal.next_business_start(now + timedelta(seconds=1))
            retry = choose(await self.candidates(post_id, later))
            if retry.person_id is not None:
                decision = Decision(retry.person_id, retry.role,
                                    f"nobody on duty now; at {later:%Y-%m-%d %H:%M}: {retry.reason}")
        return decision

    async def _commit(self, issue: IssueRecord, post_id: str | None, decision: Decision, actor: str,
                      now: datetime) -> DispatchResult:
        ctx = self.ctx
        log = DispatchEntry(issue.id, now, post_id, decision.person_id, decision.role,
                            decision.reason, actor)
        if decision.person_id is None:
            managers = await ctx.desk.dispatch.managers()
            contacts = await ctx.desk.dispatch.contacts(managers)
            payload = {**issue_payload(issue), "reason": decision.reason}
            updated = await ctx.desk.changes.commit(DeskChange(
                issue.id, issue.status, events=[EventDraft(actor, "unassigned", None,
                                                           {"post": post_id}, decision.reason)],
                dispatch=log, projection={"unassigned": 1},
                outbox=drafts(ctx.settings, "unassigned", managers, contacts, payload, issue.id),
            ), now)
            return DispatchResult(updated, None, decision.reason, True)
        events = await ctx.store.issues.events(issue.id)
        reading = read_sla(timeline_of(events), issue.priority, ctx.settings, ctx.calendar, now)
        planned = reading.resolution.due
        changes = {"status": "dispatched", "owner": decision.person_id, "planned_at": planned}
        before = {"status": issue.status, "owner": issue.owner, "planned_at": issue.planned_at}
        contacts = await ctx.desk.dispatch.contacts([decision.person_id])
        payload = {**issue_payload(issue), "owner": decision.person_id, "status": "dispatched",
                   "planned_at": planned.isoformat() if planned else None, "reason": decision.reason}
        updated = await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status, changes,
            events=[EventDraft(actor, "status", before, changes, decision.reason)],
            dispatch=log,
            projection={"unassigned": 0, "response_due": reading.response.due,
                        "resolution_due": planned, "sla_state": reading.state.value},
            outbox=drafts(ctx.settings, "dispatched", [decision.person_id], contacts, payload, issue.id),
        ), now)
        return DispatchResult(updated, decision.person_id, decision.reason, False)

    async def reassign(self, issue_id: int, to: str, *, actor: str, note: str) -> IssueRecord:
        """Hand an issue being worked to ``to`` (reason required); logged like a dispatch."""
        ctx, now = self.ctx, self.ctx.now()
        issue = await ctx.store.issues.get(issue_id)
        if issue is None:
            raise IssueError(f"no issue with id {issue_id}")
        if issue.status not in OPEN_STATES:
            raise IssueError(f"{issue.number} is {issue.status}: only issues being worked can be reassigned")
        if not note.strip():
            raise IssueError("reassign: say why (a note is required)")
        if await ctx.store.people.get(to) is None:
            raise IssueError(f"reassign: no person {to!r}")
        post_id = await ctx.desk.dispatch.post_of_category(issue.category) if issue.category else None
        reason = f"reassigned by {actor} from {issue.owner or 'nobody'}: {note.strip()}"
        contacts = await ctx.desk.dispatch.contacts([to])
        payload = {**issue_payload(issue), "owner": to, "reason": reason}
        return await ctx.desk.changes.commit(DeskChange(
            issue.id, issue.status, {"owner": to},
            events=[EventDraft(actor, "fields", {"owner": issue.owner}, {"owner": to}, reason)],
            dispatch=DispatchEntry(issue.id, now, post_id, to, "manual", reason, actor),
            outbox=drafts(ctx.settings, "dispatched", [to], contacts, payload, issue.id),
        ), now)

    async def coverage_report(self, first: date, last: date) -> CoverageReport:
        """Post coverage gaps and on-call rota gaps of local days ``first``..``last``."""
        return CoverageReport(first, last, tuple(await self.coverage(first, last)),
                              tuple(await self.on_call.gaps(first, last)))

    async def coverage(self, first: date, last: date) -> list[CoverageGap]:
        """Working days in ``first``..``last`` on which a post has nobody available."""
        ctx = self.ctx
        gaps = []
        posts = await ctx.store.people.posts()
        assignments = await ctx.store.people.assignments()
        ids = sorted({a.person_id for a in assignments})
        leaves = await ctx.desk.dispatch.leaves(ids, first, last)
        shifts = await ctx.desk.dispatch.shifts(ids)
        inactive = await ctx.desk.dispatch.inactive(ids)
        day = first
        while day <= last:
            if ctx.calendar.is_working_day(day):
                for post in posts:
                    reasons = []
                    holders = [a for a in assignments if a.post_id == post.id]
                    for a in holders:
                        mine = [s for s in shifts if s.person_id == a.person_id]
                        # Day-level coverage: someone with shifts counts if they work that weekday.
                        off = bool(mine) and not any(s.weekday == day.weekday() for s in mine)
                        why = away_reason(day, time(12), inactive=a.person_id in inactive,
                                          leaves=[x for x in leaves if x.person_id == a.person_id],
                                          shifts=())
                        why = why or ("no shift that day" if off else None)
                        if why is None:
                            break
                        reasons.append(f"{a.role} {a.person_id} {why}")
                    else:
                        gaps.append(CoverageGap(day, post.id, "; ".join(reasons) or "no A or B role"))
            day += timedelta(days=1)
        return gaps
