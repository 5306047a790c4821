"""The range a report covers, read from a form: a month (``month=2026-11``) or any days
(``first=2026-11-03&last=2026-11-20``), with an error per field for anything else."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

__all__ = ["MAX_DAYS", "Period", "read_period"]

MAX_DAYS = 400
"""The longest custom range: a year and a bit (the report reads every issue of the range)."""
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    month: str = ""
    """``YYYY-MM`` when the range is a calendar month."""
    errors: dict[str, str] = field(default_factory=dict)
    """Field name -> English message; the range is then the default month."""
    typed: dict[str, str] = field(default_factory=dict)
    """What the form held, to show it again."""

    def query(self) -> str:
        """The query string that asks for this range again."""
        return f"month={self.month}" if self.month else f"first={self.first}&last={self.last}"


def _month_range(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def read_period(form: Mapping[str, str], today: date) -> Period:
    """The range the form asks for; by default the month before ``today``'s (the one to report on)."""
    typed = {k: form.get(k, "").strip()[:40] for k in ("month", "first", "last")}
    default = _month_range(today.year - (today.month == 1), (today.month - 2) % 12 + 1)
    default_month = f"{default[0]:%Y-%m}"
    if typed["first"] or typed["last"]:
        errors = {}
        first, last = _day(typed["first"]), _day(typed["last"])
        if first is None:
            errors["first"] = "Enter the first day as YYYY-MM-DD."
        if last is None:
            errors["last"] = "Enter the last day as YYYY-MM-DD."
        if first is not None and last is not None:
            if last < first:
                errors["last"] = "The last day is before the first."
            elif (last - first).days + 1 > MAX_DAYS:
                errors["last"] = "A report covers at most 400 days."
        if errors or first is None or last is None:
            return Period(*default, default_month, errors, typed)
        return Period(first, last, "", {}, typed)
    if typed["month"]:
        match = _MONTH.fullmatch(typed["month"])
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            return Period(*default, default_month, {"month": "Enter the month as YYYY-MM."}, typed)
        year, month = int(match.group(1)), int(match.group(2))
        return Period(*_month_range(year, month), f"{year:04d}-{month:02d}", {}, typed)
    return Period(*default, default_month, {}, {**typed, "month": default_month})
