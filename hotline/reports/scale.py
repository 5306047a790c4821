"""Axis scales at nice round numbers, and how their numbers are written.

A chart's value axis must start at zero (bars are compared by length), cover
every value, and be divided at steps a reader can add up in their head:
1, 2 or 5 times a power of ten.  :func:`nice_scale` picks the smallest such
step that divides the range into at most ``max_ticks`` intervals and rounds the
ends outward to multiples of it.  Counts (integer data) never get a step below 1,
so a month with three calls is not drawn on a 0, 0.5, 1 … axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Scale", "format_number", "format_value", "nice_scale"]

_MULTIPLIERS = (1, 2, 5, 10)


@dataclass(frozen=True)
class Scale:
    """A linear value axis from ``low`` to ``high`` with a tick every ``step``."""

    low: float
    """Value at the start of the axis (0 or a negative multiple of ``step``)."""
    high: float
    """Value at the end of the axis (0 or a positive multiple of ``step``)."""
    step: float
    """Distance between ticks: 1, 2 or 5 times a power of ten."""
    ticks: tuple[float, ...]
    """Tick values from ``low`` to ``high`` inclusive."""

    def fraction(self, value: float) -> float:
        """Where ``value`` lies on the axis, 0.0 at ``low`` and 1.0 at ``high``."""
        return (value - self.low) / (self.high - self.low)

    def label(self, value: float) -> str:
        """``value`` written with as many decimals as the step needs."""
        return format_number(value, self.step)


def nice_scale(values: Iterable[float], *, max_ticks: int = 6, integer: bool = False) -> Scale:
    """The scale for ``values``, always including 0; ``ValueError`` on NaN or infinity.

    No values, or only zeros, give the axis 0..1 (-1..0 for a tiny negative value).
    """
    if max_ticks < 2:
        raise ValueError(f"max_ticks must be at least 2, got {max_ticks}")
    lo = hi = 0.0
    for v in values:
        if not math.isfinite(v) or abs(v) > 1e300:
            raise ValueError(f"cannot draw {v!r} on an axis")
        lo, hi = min(lo, v), max(hi, v)
    if hi - lo < 1e-300:  # only zeros, or values too small for any axis to show
        lo, hi = (-1.0 if lo < 0 else 0.0), (1.0 if hi > 0 or lo == 0 else 0.0)
    raw = (hi - lo) / (max_ticks - 1)
    exponent = math.floor(math.log10(raw))
    # An int power for exponent >= 0 keeps huge steps exact; a negative one is a float anyway.
    base: float = 10 ** exponent if exponent >= 0 else 10.0 ** exponent
    step = next(m * base for m in _MULTIPLIERS if m * base >= raw * (1 - 1e-12))
    if integer:
        step = max(step, 1)
    decimals = max(0, -math.floor(math.log10(step)))

    def tick(i: int) -> float:
        # Rounded to the step's decimals so that 3 x 0.1 is the tick 0.3, not 0.30000000000000004.
        return round(i * step, decimals) if decimals else float(i * step)

    first, last = math.floor(lo / step), math.ceil(hi / step)
    # The divisions may land one step outside by a rounding error; the rounded ticks must still cover.
    if first < 0 and tick(first + 1) <= lo:
        first += 1
    if last > 0 and tick(last - 1) >= hi:
        last -= 1
    while tick(first) > lo:
        first -= 1
    while tick(last) < hi:
        last += 1
    ticks = tuple(tick(i) for i in range(first, last + 1))
    return Scale(low=ticks[0], high=ticks[-1], step=float(step), ticks=ticks)


def format_number(value: float, step: float = 1.0) -> str:
    """``value`` with thousands separators and the decimals ``step`` needs (``1,250``, ``0.5``).

    Beyond 10^15 digits stop meaning anything to a reader: three significant
    figures with an exponent (``2.5e+18``).
    """
    if abs(value) >= 1e15:
        return f"{value:.3g}"
    decimals = 0 if step >= 1 else min(6, -math.floor(math.log10(step)))
    if decimals == 0:
        return f"{round(value):,}"
    return f"{value:,.{decimals}f}"


def format_value(value: float) -> str:
    """A data value as printed beside its bar: whole numbers plainly, others to two decimals."""
    if abs(value) >= 1e15:
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{round(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
