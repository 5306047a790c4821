"""The server's wall clock, which a rehearsal or a test may start at another instant.

``hotline serve --clock 2026-10-01T23:00+08:00`` (or ``HOTLINE_CLOCK``) starts the
wall clock at that instant and lets it run at the real pace: the business calendar, the
on-call rota, SLA clocks and every timestamp written to the database then read as if it
were that night. Only *wall* time moves; timers, RTP pacing and SIP retransmissions use
the event loop's monotonic clock and are unaffected.

A shifted clock is loud on purpose: it is logged as a warning at start and shown on the
status page, because records written under it carry invented times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["ClockError", "WallClock", "parse_clock_start"]


class ClockError(ValueError):
    """A ``--clock`` value that is not an instant with a UTC offset."""


def parse_clock_start(text: str) -> datetime:
    """An ISO 8601 instant with an explicit offset (``2026-10-01T23:00+08:00``, ``…Z``).

    A naive time is refused: "23:00" means a different instant in Beijing and in UTC, and
    the calendar decides by the local time of the site.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ClockError(f"--clock: expected an instant like 2026-10-01T23:00+08:00, got {text!r}") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ClockError(f"--clock: {text!r} has no UTC offset; write it like 2026-10-01T23:00+08:00")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class WallClock:
    """Aware UTC ``now()``, optionally shifted so that it started at ``start``.

    The shift is fixed when the clock is made (``offset``); afterwards the clock runs at
    the pace of ``time.time()``. Call the instance (or ``now()``) for the current time.
    """

    offset: timedelta = timedelta(0)
    """How far this clock is ahead of the real one (negative: behind)."""

    @classmethod
    def starting_at(cls, start: datetime | None) -> WallClock:
        """A clock that reads ``start`` now and runs on from there (None: the real clock)."""
        if start is None:
            return cls()
        return cls(start.astimezone(UTC) - datetime.fromtimestamp(time.time(), UTC))

    @property
    def shifted(self) -> bool:
        """Whether this clock is not the real one (worth a warning wherever times are shown)."""
        return abs(self.offset) >= timedelta(seconds=1)

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time(), UTC) + self.offset

    def __call__(self) -> datetime:
        return self.now()

    def warning(self) -> str | None:
        """The banner for logs and the status page when the clock is shifted."""
        if not self.shifted:
            return None
        return (f"the server clock is shifted by {self.offset} (started with --clock or HOTLINE_CLOCK): "
                f"it reads {self.now().isoformat(timespec='seconds')}; records carry rehearsal times")
