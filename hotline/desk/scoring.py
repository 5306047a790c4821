"""Scores per person per month, derived from the event log.

Theory of operation
-------------------
:func:`issue_entries` derives an issue's ledger entries from its audit events
alone (plus the calendar, the settings and ``now``):

* ``resolve:<issue>`` — the first callback that did not reopen the issue earns
  its owner at that moment the points of the issue's category/priority
  (:meth:`DeskSettings.points_for`), in the month of the callback;
* ``ontime:<issue>`` — plus :attr:`DeskSettings.on_time_bonus` if the resolution
  clock was met (resolved before the planned date, pauses excluded);
* ``overdue:<issue>:<day>`` — minus :attr:`DeskSettings.overdue_penalty_per_day`
  for each working day that closed while the resolution clock was running past
  its target, charged to whoever owned the issue at that close;

and manual adjustments (append-only, with a reason) add ``adjust:<id>``.

Every entry describes a closed fact of the past, so deriving at any later
moment yields the same entries: the ledger kept incrementally
(:meth:`Scoring.sync` after each callback, :meth:`Scoring.accrue` daily)
must equal :meth:`Scoring.recompute` from the events, which
:meth:`Scoring.verify` checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hotline.calendar import BusinessCalendar
from hotline.desk.context import DeskContext
from hotline.desk.settings import DeskSettings
from hotline.desk.sla import SlaState, read_sla
from hotline.desk.timeline import OPEN_STATES, PAUSED_STATES, timeline_of
from hotline.issues import IssueError
from hotline.store.desk.scores import ScoreEntry
from hotline.store.records import IssueEvent

__all__ = ["LeaderboardRow", "ScoreEntry", "Scoring", "issue_entries", "month_of"]


def month_of(t: datetime, cal: BusinessCalendar) -> str:
    return t.astimezone(cal.tz).strftime("%Y-%m")


def _close_of(cal: BusinessCalendar, d: date) -> datetime | None:
    day = cal.day(d)
    if not day.is_working:
        return None
    end = day.hours[-1][1]
    if end == time(0):
        return datetime.combine(d + timedelta(days=1), time(0), cal.tz)
    return datetime.combine(d, end, cal.tz)


def issue_entries(events: Iterable[IssueEvent], settings: DeskSettings, cal: BusinessCalendar,
                  now: datetime) -> list[ScoreEntry]:
    """The ledger entries an issue's events justify at ``now`` (see the module doc)."""
    evs = sorted((e for e in events if e.at <= now), key=lambda e: (e.at, e.id))
    if not evs:
        return []
    issue_id = evs[0].issue_id
    tl = timeline_of(evs)
    category = priority = None
    out: list[ScoreEntry] = []
    earned = False
    for e in evs:
        after = e.after or {}
        category = after.get("category", category)
        priority = after.get("priority", priority)
        if e.kind == "callback" and not after.get("reopened") and not earned:
            earned = True
            owner = tl.owner_at(e.at)
            if owner is None:
                continue
            month = month_of(e.at, cal)
            pts = settings.points_for(category, priority)
            out.append(ScoreEntry(f"resolve:{issue_id}", owner, month, pts, issue_id,
                                  f"resolved {category or '-'}/{priority or '-'}, normal callback"))
            reading = read_sla(timeline_of([x for x in evs if x.at <= e.at]), priority, settings, cal, e.at)
            if reading.resolution.state is SlaState.MET and settings.on_time_bonus:
                out.append(ScoreEntry(f"ontime:{issue_id}", owner, month, settings.on_time_bonus,
                                      issue_id, "resolved before the planned date"))
    if settings.overdue_penalty_per_day:
        reading = read_sla(tl, priority, settings, cal, now)
        breached = reading.resolution.breached_at
        if breached is not None and breached < now:
            end = reading.resolution.stopped_at or now
            d = breached.astimezone(cal.tz).date()
            last = end.astimezone(cal.tz).date()
            while d <= last:
                close = _close_of(cal, d)
                if close is not None and breached < close <= min(end, now) \
                        and tl.status_at(close) not in PAUSED_STATES:
                    owner = tl.owner_at(close)
                    if owner is not None:
                        out.append(ScoreEntry(
                            f"overdue:{issue_id}:{d.isoformat()}", owner, month_of(close, cal),
                            -settings.overdue_penalty_per_day, issue_id,
                            f"open past its planned date at the close of {d.isoformat()}"))
                d += timedelta(days=1)
    return out


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    person_id: str
    points: float


class Scoring:
    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    async def sync(self, issue_id: int) -> int:
        """Bring one issue's ledger entries up to now; returns how many were added."""
        events = (await self.ctx.desk.scores.events_of([issue_id]))[issue_id]
        return await self.ctx.desk.scores.record(
            issue_entries(events, self.ctx.settings, self.ctx.calendar, self.ctx.now()))

    async def accrue(self) -> int:
        """Daily job: add overdue deductions (and any missed earnings) for all scorable issues."""
        ids = await self.ctx.desk.scores.scorable_issues(OPEN_STATES)
        events = await self.ctx.desk.scores.events_of(ids)
        now = self.ctx.now()
        entries = [e for i in ids for e in issue_entries(events[i], self.ctx.settings,
                                                         self.ctx.calendar, now)]
        return await self.ctx.desk.scores.record(entries)

    async def adjust(self, person_id: str, month: str, points: float, *, reason: str, by: str,
                     issue_id: int | None = None) -> int:
        """A manual adjustment; the reason is required and kept forever."""
        if not reason.strip():
            raise IssueError("a score adjustment needs a reason")
        if len(month) != 7 or month[4] != "-":
            raise IssueError(f"month must look like 2026-11, got {month!r}")
        return await self.ctx.desk.scores.adjust(person_id=person_id, month=month, points=points,
                                                 reason=reason.strip(), made_by=by,
                                                 at=self.ctx.now(), issue_id=issue_id)

    async def recompute(self) -> list[ScoreEntry]:
        """The whole ledger derived afresh from the event log and the adjustments."""
        ids = await self.ctx.desk.scores.scorable_issues(OPEN_STATES)
        events = await self.ctx.desk.scores.events_of(ids)
        now = self.ctx.now()
        out = [e for i in ids for e in issue_entries(events[i], self.ctx.settings, self.ctx.calendar, now)]
        out += [ScoreEntry(f"adjust:{a.id}", a.person_id, a.month, a.points, a.issue_id,
                           f"manual by {a.made_by}: {a.reason}")
                for a in await self.ctx.desk.scores.adjustments()]
        return sorted(out, key=lambda e: e.key)

    async def verify(self) -> list[str]:
        """Differences between the stored ledger and a recomputation (empty: they agree)."""
        stored = {e.key: e for e in await self.ctx.desk.scores.ledger()}
        fresh = {e.key: e for e in await self.recompute()}
        problems = [f"missing {k}" for k in sorted(fresh.keys() - stored.keys())]
        problems += [f"extra {k}" for k in sorted(stored.keys() - fresh.keys())]
        problems += [f"differs {k}: stored {stored[k]} vs {fresh[k]}"
                     for k in sorted(fresh.keys() & stored.keys()) if stored[k] != fresh[k]]
        return problems

    async def leaderboard(self, month: str) -> list[LeaderboardRow]:
        """People ranked by points in ``month`` (equal points share a rank)."""
        rows = await self.ctx.desk.scores.totals(month, month)
        out: list[LeaderboardRow] = []
        for i, (_, person, pts) in enumerate(rows):
            rank = out[-1].rank if out and out[-1].points == pts else i + 1
            out.append(LeaderboardRow(rank, person, pts))
        return out
