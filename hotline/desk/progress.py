"""Progress notes, stale issues and the owners' daily digest.

Owners log progress every working day. A note is an audit event of kind
``progress`` (it also counts as the first response for the SLA). An owned issue
that is being worked (``dispatched``, ``in_progress``, ``reopened``; not while it
waits for the caller) is *stale* when nothing happened to it — no note, no
dispatch — during the last working day that has closed. The daily digest tells
each owner their stale and at-risk issues, once a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from hotline.desk.context import DeskContext
from hotline.desk.notify import drafts
from hotline.desk.workflow import Workflow
from hotline.issues import IssueError
from hotline.store.records import IssueEvent, IssueRecord

__all__ = ["Digest", "DigestItem", "Progress", "last_closed_working_day"]

STALE_STATES = ("dispatched", "in_progress", "reopened")


@dataclass(frozen=True)
class DigestItem:
    issue_id: int
    number: str
    priority: str | None
    description: str
    why: str
    """"stale since 2026-11-20 16:00" or the SLA state ("at_risk", "breached")."""


@dataclass(frozen=True)
class Digest:
    owner: str
    stale: tuple[DigestItem, ...]
    at_risk: tuple[DigestItem, ...]


def last_closed_working_day(ctx: DeskContext, now: datetime) -> tuple[date, datetime, datetime]:
    """The most recent working day whose business hours are over at ``now``: (day, open, close)."""
    cal = ctx.calendar
    d = now.astimezone(cal.tz).date()
    for _ in range(400):
        day = cal.day(d)
        if day.is_working:
            start = datetime.combine(d, day.hours[0][0], cal.tz)
            end_t = day.hours[-1][1]
            close = (datetime.combine(d + timedelta(days=1), time(0), cal.tz) if end_t == time(0)
                     else datetime.combine(d, end_t, cal.tz))
            if close <= now:
                return d, start, close
        d -= timedelta(days=1)
    raise ValueError("no working day in the last 400 days: check the calendar's weekly hours")


class Progress:
    def __init__(self, ctx: DeskContext, workflow: Workflow) -> None:
        self.ctx = ctx
        self.workflow = workflow

    async def add_note(self, issue_id: int, *, by: str, text: str) -> IssueRecord:
        """Append a dated progress note (an audit event) and mark the issue active today."""
        if not text.strip():
            raise IssueError("a progress note needs text")
        return await self.workflow.change(issue_id, None, actor=by, note=text.strip(), kind="progress",
                                          projection={"last_note_at": self.ctx.now()})

    async def notes(self, issue_id: int) -> list[IssueEvent]:
        return [e for e in await self.ctx.store.issues.events(issue_id) if e.kind == "progress"]

    def _stale_item(self, r: dict[str, Any]) -> DigestItem:
        since = datetime.fromisoformat(r["last_activity"]).astimezone(self.ctx.calendar.tz)
        return DigestItem(r["id"], r["number"], r["priority"], r["description"][:120],
                          f"stale since {since:%Y-%m-%d %H:%M}")

    async def stale(self, now: datetime | None = None) -> list[DigestItem]:
        """Issues with no activity during the last closed working day."""
        _, opened, _ = last_closed_working_day(self.ctx, now or self.ctx.now())
        return [self._stale_item(r) for r in await self.ctx.desk.progress.stale(STALE_STATES, opened)]

    async def digests(self, now: datetime | None = None) -> list[Digest]:
        """Per owner: stale issues and issues at risk or breached."""
        _, opened, _ = last_closed_working_day(self.ctx, now or self.ctx.now())
        stale = await self.ctx.desk.progress.stale(STALE_STATES, opened)
        risky = await self.ctx.desk.progress.at_risk((*STALE_STATES, "pending_caller"))
        owners = sorted({r["owner"] for r in stale} | {r["owner"] for r in risky})
        return [Digest(
            owner,
            tuple(self._stale_item(r) for r in stale if r["owner"] == owner),
            tuple(DigestItem(r["id"], r["number"], r["priority"], r["description"][:120], r["sla_state"])
                  for r in risky if r["owner"] == owner),
        ) for owner in owners]

    async def send_digests(self) -> list[str]:
        """Enqueue today's digest for each owner who has one and did not get it today."""
        ctx, now = self.ctx, self.ctx.now()
        local_midnight = datetime.combine(now.astimezone(ctx.calendar.tz).date(), time(0), ctx.calendar.tz)
        done = await ctx.desk.progress.digest_recipients_since(local_midnight)
        todo = [d for d in await self.digests(now) if d.owner not in done]
        contacts = await ctx.desk.dispatch.contacts([d.owner for d in todo])
        rows = []
        for d in todo:
            payload = {
                "stale": [vars(i) for i in d.stale], "at_risk": [vars(i) for i in d.at_risk],
                "number": f"{len(d.stale)} stale, {len(d.at_risk)} at risk",
                "description": "; ".join(f"{i.number} {i.why}" for i in (*d.stale, *d.at_risk))[:400],
            }
            rows += drafts(ctx.settings, "stale_digest", [d.owner], contacts, payload)
        if rows:
            await ctx.desk.progress.enqueue(rows, now)
        return [d.owner for d in todo]
