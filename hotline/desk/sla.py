"""SLA clocks: response and resolution targets on the business calendar or 24×7.

Theory of operation
-------------------
Both clocks start when the issue is created (the call arrives). The *response*
clock stops at the first response — work started (``in_progress``), a progress
note, or a resolution. The *resolution* clock runs while the issue is open and
pauses while it waits for the caller (``pending_caller``) or is resolved; a
reopen resumes it where it stopped, so time spent waiting for a callback does
not count against the owner. Minutes are counted in the target's clock: business
minutes of :class:`~hotline.calendar.BusinessCalendar` or wall-clock minutes.

From the minutes used a clock is *on track*, *at risk* (at least
``at_risk_fraction`` of the target used), *breached* (target used up before
the stop), *paused*, or *met*. The *due* instant is when a running clock will
reach its target; the planned completion date set on dispatch is the resolution
clock's due instant at that moment.

Everything here is pure: a :class:`~hotline.desk.timeline.Timeline`, a
calendar and ``now`` in, values out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.calendar import BusinessCalendar
from hotline.desk.settings import DeskSettings, SlaTarget
from hotline.desk.timeline import PAUSED_STATES, Timeline

__all__ = ["ClockReading", "SlaReading", "SlaState", "add_minutes", "minutes_between", "read_sla"]


class SlaState(enum.StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"


def minutes_between(cal: BusinessCalendar, a: datetime, b: datetime, business: bool) -> float:
    """Minutes in ``[a, b)`` on the business clock or the wall clock."""
    if business:
        return cal.business_minutes_between(a, b)
    return (b - a).total_seconds() / 60


def add_minutes(cal: BusinessCalendar, t: datetime, minutes: float, business: bool) -> datetime:
    """``t`` plus ``minutes`` on the business clock or the wall clock (site timezone)."""
    if business:
        return cal.add_business_minutes(t, minutes)
    return (t + timedelta(minutes=minutes)).astimezone(cal.tz)


@dataclass(frozen=True)
class ClockReading:
    """One clock at one moment."""

    target: float
    """Target in minutes of its clock."""
    used: float
    """Minutes counted so far (up to the stop, if stopped)."""
    stopped_at: datetime | None
    """When the clock stopped for good (response given, issue done); None if not."""
    due: datetime | None
    """When a running clock reaches its target; None while paused or stopped."""
    breached_at: datetime | None
    """When the target was (or, running, will be) used up; None if it never was."""
    state: SlaState


def _read(
    cal: BusinessCalendar, intervals: list[tuple[datetime, datetime]], target: SlaTarget,
    *, stopped_at: datetime | None, running_now: bool, now: datetime, at_risk: float,
) -> ClockReading:
    used, breached_at = 0.0, None
    for a, b in intervals:
        span = minutes_between(cal, a, b, target.business)
        if breached_at is None and used + span > target.minutes:
            breached_at = add_minutes(cal, a, target.minutes - used, target.business)
        used += span
    due = None
    if stopped_at is None and running_now:
        due = add_minutes(cal, now, target.minutes - used, target.business)
        if breached_at is None:
            breached_at = due
    if stopped_at is not None:
        state = SlaState.BREACHED if used > target.minutes else SlaState.MET
    elif used >= target.minutes:
        state = SlaState.BREACHED
    elif not running_now:
        state = SlaState.PAUSED
    elif used >= at_risk * target.minutes:
        state = SlaState.AT_RISK
    else:
        state = SlaState.ON_TRACK
    return ClockReading(target.minutes, used, stopped_at, due, breached_at, state)


@dataclass(frozen=True)
class SlaReading:
    """Both clocks of an issue at one moment, and the state to show."""

    response: ClockReading
    resolution: ClockReading

    @property
    def state(self) -> SlaState:
        """Worst of the two: breached > at risk > paused > on track > met."""
        order = [SlaState.BREACHED, SlaState.AT_RISK, SlaState.PAUSED, SlaState.ON_TRACK, SlaState.MET]
        states = {self.response.state, self.resolution.state}
        # A response that was met no longer matters once resolution is the open question.
        return next(s for s in order if s in states)


def read_sla(
    timeline: Timeline, priority: str | None, settings: DeskSettings, cal: BusinessCalendar,
    now: datetime,
) -> SlaReading:
    """Read both clocks of an issue at ``now``."""
    policy = settings.policy(priority)
    frac = settings.at_risk_fraction
    created = timeline.created_at
    responded = timeline.first_response()
    if responded is not None and responded > now:
        responded = None
    r_end = responded or now
    response = _read(cal, [(created, r_end)] if r_end > created else [], policy.response,
                     stopped_at=responded, running_now=responded is None, now=now, at_risk=frac)
    resolved = timeline.resolved_at()
    if resolved is not None and resolved > now:
        resolved = None
    running_now = timeline.status_at(now) not in PAUSED_STATES
    resolution = _read(cal, timeline.running(resolved or now), policy.resolution,
                       stopped_at=resolved, running_now=running_now, now=now, at_risk=frac)
    return SlaReading(response, resolution)
