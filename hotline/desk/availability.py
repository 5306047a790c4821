"""Who is away when: leave, weekly shifts, inactive staff — as the reasons the logs print.

Pure helpers shared by A/B dispatch (:mod:`hotline.desk.dispatch`) and the on-call
rules (:mod:`hotline.desk.oncall`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

from hotline.store.desk.dispatch import Leave, WeeklyShift

__all__ = ["away_reason", "format_span"]


def format_span(first: date, last: date) -> str:
    """``2026-11-20..22``, ``2026-11-30..12-02``, ``2026-12-31..2027-01-02``."""
    if first == last:
        return first.isoformat()
    if first.year != last.year:
        return f"{first.isoformat()}..{last.isoformat()}"
    if first.month != last.month:
        return f"{first.isoformat()}..{last:%m-%d}"
    return f"{first.isoformat()}..{last:%d}"


def _clock(text: str) -> time:
    return time.max if text == "24:00" else time.fromisoformat(text)


def away_reason(day: date, moment: time, *, inactive: bool, leaves: Sequence[Leave],
                shifts: Sequence[WeeklyShift]) -> str | None:
    """Why a person is not available at local ``day`` ``moment``; None if available.

    Pass no ``shifts`` to ask only about leave and activity (the on-call rota does:
    being on call is by nature outside one's desk shifts).
    """
    if inactive:
        return "inactive"
    for leave in leaves:
        if leave.starts_on <= day <= leave.ends_on:
            return f"on leave {format_span(leave.starts_on, leave.ends_on)}"
    if shifts and not any(s.weekday == day.weekday() and _clock(s.starts) <= moment < _clock(s.ends)
                          for s in shifts):
        return f"off shift at {day.isoformat()} {moment:%H:%M}"
    return None
