"""The media clock's arithmetic: absolute deadlines, bounded catch-up, no drift.

Tick n is due at `start + n * period`, always computed from n, never by
adding periods up, so the schedule cannot drift however long it runs and
the RTP timestamp of tick n is exactly `base + n * samples`.

When the event loop wakes late (a GC pause, a slow callback), the ticks
that became due are run at once — but at most `max_burst` of them, the
newest; older ones are skipped (their audio time passes without a packet,
as if lost, and the sender marks the next packet). Bursting a whole second
of packets at a far end would only overflow its jitter buffer.

The asyncio adapter arms one `loop.call_at(schedule.next_deadline)`, and on
wake-up calls `schedule.due(now)`, both on the engine's monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Due:
    """The ticks to handle on one wake-up."""

    first: int
    """The first tick to run."""
    count: int
    """How many ticks to run, `first` .. `first + count - 1`."""
    skipped: int
    """Ticks before `first` that were given up as too late."""

    @property
    def ticks(self) -> range:
        """The tick numbers to run."""
        return range(self.first, self.first + self.count)


class DeadlineSchedule:
    """Tick numbering on absolute deadlines."""

    def __init__(self, start: float, period: float, *, max_burst: int = 3) -> None:
        if period <= 0:
            raise ValueError("the tick period must be positive")
        if max_burst < 1:
            raise ValueError("max_burst must be at least 1")
        self.start = start
        self.period = period
        self.max_burst = max_burst
        self.next_tick = 0
        """The first tick not yet handled."""
        self.skipped = 0
        """Ticks given up since the start."""
        self.late_wakeups = 0
        """Wake-ups that found more than one tick due."""

    def deadline(self, n: int) -> float:
        """When tick n is due."""
        return self.start + n * self.period

    @property
    def next_deadline(self) -> float:
        """When the next unhandled tick is due (the time to arm the timer for)."""
        return self.deadline(self.next_tick)

    def due(self, now: float) -> Due:
        """The ticks due at `now`, marked handled (possibly none if woken early)."""
        # Ticks n with start + n·period <= now; the small epsilon absorbs float
        # rounding when the loop wakes exactly on the deadline.
        last = int((now - self.start) / self.period + 1e-9)
        count = last - self.next_tick + 1
        if count <= 0:
            return Due(self.next_tick, 0, 0)
        if count > 1:
            self.late_wakeups += 1
        skipped = max(0, count - self.max_burst)
        first = self.next_tick + skipped
        self.skipped += skipped
        self.next_tick = last + 1
        return Due(first, count - skipped, skipped)

    def tick_at(self, now: float) -> int:
        """The tick whose period contains `now` (for joining a running clock)."""
        return max(0, int((now - self.start) / self.period + 1e-9))
