"""Builds the domain objects that configuration describes (calendar, rota).

The one place where configuration dataclasses meet the pure domain modules,
so that ``check-config`` and ``serve`` validate exactly the same things.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from hotline.calendar import BusinessCalendar, CalendarFileError, load_calendar_dir
from hotline.config import Config, ConfigError

__all__ = ["CalendarSetup", "build_calendar"]


class CalendarSetup(BusinessCalendar):
    """The business calendar of a configuration, with its start-up warnings."""

    def startup_warnings(self, now: datetime | None = None) -> list[str]:
        warning = self.coverage_warning(now or datetime.now(UTC))
        return [warning] if warning else []


def build_calendar(config: Config) -> CalendarSetup:
    """The site's business calendar; calendar file mistakes are configuration errors."""
    try:
        data = load_calendar_dir(config.calendar.folder)
    except CalendarFileError as exc:
        raise ConfigError(exc.problems) from None
    # The configuration writes the end of the day as 24:00 (time.max); the calendar as 00:00.
    hours = {
        day: tuple((start, time(0) if end == time.max else end) for start, end in spans)
        for day, spans in config.calendar.weekly_hours.items()
    }
    try:
        return CalendarSetup(config.site.timezone, hours, data, config.calendar.make_up_day_as)
    except ValueError as exc:
        raise ConfigError([f"{config.source}: calendar: {exc}"]) from None
