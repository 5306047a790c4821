"""The weekly working hours: the configuration file's, or as changed in the console.

``[calendar.hours]`` of the configuration applies until a manager changes the hours on the
calendar page; from then on the ``site_settings`` row ``calendar.hours`` does — at once (the
running calendar is changed in place) and after every restart — until it is reset to the
configuration's. Both are written alike: per weekday a list of spans such as ``"08:00-12:00"``
(an end of ``"24:00"`` is the end of the day), and the weekday whose hours a make-up working
day (调休) has.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any

from hotline.calendar import BusinessCalendar
from hotline.config import WEEKDAYS, Config
from hotline.configreader import parse_span

if TYPE_CHECKING:
    from hotline.store.settings import SettingsStore, StoredSetting

__all__ = ["SETTING", "Week", "apply_stored", "calendar_hours", "configured", "from_setting",
           "parse_week", "span_text", "to_setting"]

log = logging.getLogger(__name__)

SETTING = "calendar.hours"
"""The ``site_settings`` name."""

Spans = tuple[tuple[time, time], ...]


@dataclass(frozen=True)
class Week:
    """Working hours per weekday (0 = Monday), ends of day as ``time.max`` as in the configuration."""

    days: Mapping[int, Spans]
    make_up_day_as: int
    """The weekday whose hours a make-up working day has."""


def configured(config: Config) -> Week:
    return Week(dict(config.calendar.weekly_hours), config.calendar.make_up_day_as)


def calendar_hours(week: Week) -> dict[int, Spans]:
    """The hours as :class:`~hotline.calendar.BusinessCalendar` takes them (end of day 00:00)."""
    return {day: tuple((start, time(0) if end == time.max else end) for start, end in spans)
            for day, spans in week.days.items()}


def span_text(start: time, end: time) -> str:
    """``"08:00-12:00"``; the end of the day, written either way, as ``"24:00"``."""
    return f"{start:%H:%M}-{'24:00' if end in (time.max, time(0)) else format(end, '%H:%M')}"


def to_setting(week: Week) -> dict[str, Any]:
    hours = {WEEKDAYS[day]: [span_text(s, e) for s, e in week.days.get(day, ())] for day in range(7)}
    return {"hours": hours, "make_up_day_as": WEEKDAYS[week.make_up_day_as]}


def from_setting(value: Any) -> Week:
    """A stored setting back as a :class:`Week`; ``ValueError`` if it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("hours"), dict):
        raise ValueError("not a working-hours setting")
    days: dict[int, Spans] = {}
    for index, name in enumerate(WEEKDAYS):
        spans = []
        for text in value["hours"].get(name, []):
            span = parse_span(str(text))
            if span is None:
                raise ValueError(f"{name}: {text!r} is not a span like 08:00-12:00")
            spans.append(span)
        days[index] = tuple(sorted(spans))
    make_up = value.get("make_up_day_as")
    if make_up not in WEEKDAYS:
        raise ValueError(f"make_up_day_as: {make_up!r} is not a weekday")
    return Week(days, WEEKDAYS.index(make_up))


def parse_week(fields: Mapping[str, str], make_up: str) -> tuple[Week | None, dict[str, str]]:
    """The hours typed on the calendar page: per weekday name a text such as
    ``"08:00-12:00, 13:30-17:30"`` (empty: closed) and the make-up weekday's name.

    Returns the week, or None and what is wrong: by weekday name, ``"make_up"``, or ``"_"`` for
    the week as a whole (English; the view translates).
    """
    errors: dict[str, str] = {}
    days: dict[int, Spans] = {}
    for index, name in enumerate(WEEKDAYS):
        spans = []
        # As typed with a Chinese input method too: full-width colons and commas, dashes of any
        # width with spaces around them.
        typed = re.sub(r"\s*[-–—~～]\s*", "-", fields.get(name, "").replace("：", ":"))
        for text in (t for t in re.split(r"[,，;；、\s]+", typed) if t):
            span = parse_span(text)
            if span is None:
                errors[name] = "bad span"
                break
            spans.append(span)
        spans.sort()
        if name not in errors and any(b[0] < a[1] for a, b in itertools.pairwise(spans)):
            errors[name] = "overlap"
        days[index] = tuple(spans)
    if make_up not in WEEKDAYS:
        errors["make_up"] = "no weekday"
    if not errors:
        if not any(days.values()):
            errors["_"] = "all closed"
        elif not days[WEEKDAYS.index(make_up)]:
            errors["make_up"] = "closed"
    if errors:
        return None, errors
    return Week(days, WEEKDAYS.index(make_up)), {}


async def apply_stored(calendar: BusinessCalendar, settings: SettingsStore) -> StoredSetting | None:
    """Put the console's hours, if set, on ``calendar``; returns the stored setting or None.

    A stored value
    the calendar refuses (it cannot be, short of a hand-edited database) is logged and the
    configuration's hours stay.
    """
    stored = await settings.get(SETTING)
    if stored is None:
        return None
    try:
        week = from_setting(stored.value)
        calendar.replace_hours(calendar_hours(week), week.make_up_day_as)
    except ValueError as exc:
        log.error("working hours saved in the console are unusable (%s): the configuration's apply", exc)
        return None
    log.info("working hours as changed in the console by %s at %s", stored.updated_by,
             stored.updated_at.isoformat(timespec="minutes"))
    return stored
