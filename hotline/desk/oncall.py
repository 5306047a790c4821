"""The on-call rota in the desk: urgent issues outside business hours, night escalation, rota gaps.

Theory of operation
-------------------
One rota serves call routing (who the after-hours call is forwarded to) and the
desk (who owns an urgent issue raised after hours): the person who answers the
forwarded phone is the person the issue is assigned to. The desk is given the
app's :class:`~hotline.rota.Rota` and the name of its rotation.

*After hours* means outside business time on the site calendar — evenings,
weekends, public holidays — and *urgent* is a priority listed in
:attr:`DeskSettings.urgent_priorities` (P1 and P2 by default). An urgent issue
dispatched automatically after hours goes to the first *available* person of the
on-call chain at that instant (primary, secondary, manager): available means
active, on the staff list and not on desk leave that local day; desk shifts do
not count, being on call is by nature outside them. The dispatch log reads
``after hours (Sat 2026-11-28 21:04): on call it-oncall → luoyu (rotation)``,
with the skipped people before the arrow and the override or swap in force in
the brackets. If the whole chain is away, the usual A/B dispatch decides, its
reason after the on-call account. Non-urgent issues after hours keep the A/B
dispatch: nobody is woken for them, and their planned date runs on business
time anyway.

Escalation on an SLA breach found after hours, for an urgent issue, goes to the
on-call chain's *next* person after the owner — the secondary if the owner is
the primary, the manager after the secondary, the primary if the owner is not in
tonight's chain (it was dispatched by day) — skipping people who are away, plus
the desk's managers as always. The post's next B role is not woken at night: it
is told only when the chain has nobody left (e.g. the manager owns the issue).
During business hours escalation is the post's next B role and the managers.

A *rota gap* is a stretch of an on-call shift whose primary is on desk leave (or
inactive) and that no override or swap covers: calls would be forwarded to
someone who is away. :meth:`OnCallService.gaps` lists them for the coverage
report, for every rotation of the rota (calls use them all).

:func:`pick`, :func:`describe`, :func:`when_label` and :func:`rota_gaps` are
pure; :class:`OnCallService` gathers the facts from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hotline.calendar import BusinessCalendar, DayKind
from hotline.desk.availability import away_reason, format_span
from hotline.desk.context import DeskContext
from hotline.rota import OnCall, Rota, Shift, Source
from hotline.store.desk.dispatch import Leave

__all__ = [
    "OnCallPick",
    "OnCallService",
    "RotaGap",
    "describe",
    "pick",
    "rota_gaps",
    "when_label",
]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def when_label(cal: BusinessCalendar, t: datetime) -> str:
    """``Sat 2026-11-28 21:04`` in the site timezone; ``, holiday 国庆节`` on a public holiday."""
    local = t.astimezone(cal.tz)
    text = f"{_DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M}"
    day = cal.day(local.date())
    if day.kind is DayKind.HOLIDAY:
        text += f", holiday {day.name}" if day.name else ", holiday"
    return text


@dataclass(frozen=True)
class OnCallPick:
    """Who of an on-call chain takes the issue, and who was skipped on the way."""

    rota: str
    """Rotation name."""
    person_id: str | None
    """The first available person (after ``after``); None if everyone is away."""
    after: str | None
    """The chain member the search started after (the owner, on escalation); None from the top."""
    skipped: tuple[str, ...]
    """``"luoyu on leave 2026-11-27..29"`` for each person passed over, in chain order."""
    source: Source
    """Rotation, swap or override (:attr:`OnCall.source`)."""
    note: str
    """The swaps/overrides in force (:attr:`OnCall.note`); empty for the plain rotation."""


def pick(on_call: OnCall, away: Mapping[str, str], *, after: str | None = None) -> OnCallPick:
    """The first person of ``on_call.chain`` not in ``away`` (person → why).

    With ``after`` the search starts behind that person if they are in the chain
    (the next level up), else at the primary; ``after`` is never picked.
    """
    chain = on_call.chain
    rest = chain[chain.index(after) + 1:] if after in chain else chain
    shown = after if after in chain else None
    skipped: list[str] = []
    for person in rest:
        if person == after:
            continue
        why = away.get(person)
        if why is None:
            return OnCallPick(on_call.rota, person, shown, tuple(skipped), on_call.source, on_call.note)
        skipped.append(f"{person} {why}")
    return OnCallPick(on_call.rota, None, shown, tuple(skipped), on_call.source, on_call.note)


def describe(p: OnCallPick) -> str:
    """``on call it-oncall: luoyu on leave 2026-11-27..29 → liuyang (rotation)``.

    ``after luoyu`` follows the rota name on escalation; the brackets hold the
    source and, for a swap or override, what it is and who made it.
    """
    head = f"on call {p.rota}" + (f" after {p.after}" if p.after else "")
    if p.skipped:
        head += ": " + "; ".join(p.skipped)
    if p.person_id is None:
        return head + " → nobody available"
    why = p.source.value + (f": {p.note}" if p.note else "")
    return f"{head} → {p.person_id} ({why})"


@dataclass(frozen=True)
class RotaGap:
    """A stretch of an on-call shift whose primary is away, with no override or swap covering it."""

    rota: str
    """Rotation name."""
    start: datetime
    """Start of the uncovered stretch (site timezone), clipped to the report's range."""
    end: datetime
    """End (exclusive), clipped to the report's range."""
    primary: str
    """The person calls would be forwarded to."""
    why: str
    """``on leave 2026-11-27..29`` or ``inactive``."""
    chain: tuple[str, ...]
    """The whole chain of the shift (who is left to try)."""
    source: Source
    """Rotation, swap or override: a swap can move someone into their own leave."""
    note: str
    """The swaps/overrides in force; empty for the plain rotation."""


def _midnight(d: date, cal: BusinessCalendar) -> datetime:
    return datetime.combine(d, time(0), tzinfo=cal.tz)


def rota_gaps(shifts: Sequence[Shift], leaves: Sequence[Leave], inactive: set[str],
              cal: BusinessCalendar, start: datetime, end: datetime) -> list[RotaGap]:
    """The parts of ``shifts`` within ``[start, end)`` whose primary is on leave or inactive."""
    gaps: list[RotaGap] = []
    for s in shifts:
        spans: list[tuple[datetime, datetime, str]] = []
        if s.primary in inactive:
            spans.append((s.start, s.end, "inactive"))
        else:
            spans += [(_midnight(lv.starts_on, cal), _midnight(lv.ends_on + timedelta(days=1), cal),
                       f"on leave {format_span(lv.starts_on, lv.ends_on)}")
                      for lv in leaves if lv.person_id == s.primary]
        for a, b, why in spans:
            lo, hi = max(s.start, a, start), min(s.end, b, end)
            if lo < hi:
                gaps.append(RotaGap(s.rota, lo.astimezone(cal.tz), hi.astimezone(cal.tz), s.primary,
                                    why, s.chain, s.source, s.note))
    gaps.sort(key=lambda g: (g.start, g.rota))
    return gaps


class OnCallService:
    """The rota's answers with the desk's availability facts (leave, inactive staff)."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    def applies(self, priority: str | None, t: datetime) -> tuple[Rota, str] | None:
        """The rota and rotation to use for an issue of ``priority`` at ``t``; None: day rules."""
        ctx = self.ctx
        if (priority or ctx.settings.default_priority) not in ctx.settings.urgent_priorities:
            return None
        if ctx.calendar.is_business_time(t):
            return None
        return ctx.on_call_rota()

    async def away(self, people: Sequence[str], t: datetime) -> dict[str, str]:
        """Why each of ``people`` cannot take an issue at ``t`` (leave, inactive, unknown)."""
        st = self.ctx.desk.dispatch
        day = t.astimezone(self.ctx.calendar.tz).date()
        ids = list(dict.fromkeys(people))
        leaves = await st.leaves(ids, day, day)
        inactive = await st.inactive(ids)
        known = await st.contacts(ids)
        out: dict[str, str] = {}
        for p in ids:
            why = "not on the staff list" if p not in known else away_reason(
                day, time(12), inactive=p in inactive,
                leaves=[lv for lv in leaves if lv.person_id == p], shifts=())
            if why is not None:
                out[p] = why
        return out

    async def pick(self, priority: str | None, t: datetime, *,
                   after: str | None = None) -> OnCallPick | None:
        """Who of the on-call chain takes an urgent issue at ``t`` (after ``after``); None if
        the on-call rules do not apply (not urgent, business time, no rota)."""
        found = self.applies(priority, t)
        if found is None:
            return None
        rota, name = found
        on_call = rota.on_call(t, name)
        return pick(on_call, await self.away(on_call.chain, t), after=after)

    async def gaps(self, first: date, last: date) -> list[RotaGap]:
        """On-call stretches of local days ``first``..``last`` whose primary is away, every rotation."""
        ctx = self.ctx
        rota = ctx.current_rota()
        if rota is None:
            return []
        cal = ctx.calendar
        start, end = _midnight(first, cal), _midnight(last + timedelta(days=1), cal)
        shifts = [s for name in rota.rotations for s in rota.schedule(name, start, end)]
        primaries = sorted({s.primary for s in shifts})
        leaves = await ctx.desk.dispatch.leaves(primaries, first, last)
        inactive = await ctx.desk.dispatch.inactive(primaries)
        return rota_gaps(shifts, leaves, inactive, cal, start, end)
