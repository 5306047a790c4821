"""The service report for a month or any date range, as JSON-ready data and as CSV.

Figures are over the issues *created* in the range (local dates, inclusive),
except callback scores (callbacks *made* in the range) and points (the ledger
months the range touches). Times are business minutes of the site calendar,
computed with a prefix-sum table of the range's working intervals so that a
month of tens of thousands of issues costs one bisection per timestamp.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hotline.calendar import BusinessCalendar
from hotline.desk.context import DeskContext
from hotline.issues import RECORDING_DEADLINE

__all__ = ["BusinessTable", "ReportService", "ServiceReport", "report_csv"]


class BusinessTable:
    """Business minutes between instants in ``[first, last]`` by bisection over cumulative sums."""

    def __init__(self, cal: BusinessCalendar, first: date, last: date) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.before: list[float] = []
        total, d = 0.0, first
        while d <= last:
            for a, b in cal.day(d).hours:
                s = datetime.combine(d, a, cal.tz).timestamp()
                e = (datetime.combine(d + timedelta(days=1), time(0), cal.tz) if b == time(0)
                     else datetime.combine(d, b, cal.tz)).timestamp()
                self.starts.append(s)
                self.ends.append(e)
                self.before.append(total)
                total += e - s
            d += timedelta(days=1)

    def _seconds(self, t: float) -> float:
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min(t - self.starts[i], self.ends[i] - self.starts[i])

    def minutes(self, a: float, b: float) -> float:
        """Business minutes in ``[a, b)`` (POSIX timestamps)."""
        return (self._seconds(b) - self._seconds(a)) / 60

    def is_business(self, t: float) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    values.sort()
    n, middle = len(values), len(values) // 2
    median = values[middle] if n % 2 else (values[middle - 1] + values[middle]) / 2
    return {"count": n, "mean": round(sum(values) / n, 1), "median": round(median, 1),
            "p90": round(values[min(n - 1, int(n * 0.9))], 1)}


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


@dataclass(frozen=True)
class ServiceReport:
    """The report as plain data (``data`` is JSON-serialisable)."""

    first: date
    last: date
    data: dict[str, Any]


class ReportService:
    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    async def build(self, first: date, last: date, *, top: int = 10) -> ServiceReport:
        """The report for local days ``first``..``last`` inclusive."""
        if last < first:
            raise ValueError(f"report range ends ({last}) before it starts ({first})")
        cal, st = self.ctx.calendar, self.ctx.desk.report
        lo = datetime.combine(first, time(0), cal.tz)
        hi = datetime.combine(last + timedelta(days=1), time(0), cal.tz)
        by = {c: await st.counts(c, lo, hi) for c in ("source", "category", "priority", "status")}
        total = sum(by["status"].values())
        rows = await st.timings(lo, hi)
        latest = max((r[2] for r in rows if r[2]), default=None)
        end = max(last, datetime.fromisoformat(latest).astimezone(cal.tz).date()) if latest else last
        table = BusinessTable(cal, first - timedelta(days=1), end + timedelta(days=1))
        after_hours = 0
        response: list[float] = []
        resolution: list[float] = []
        met = {"response": [0, 0], "resolution": [0, 0]}
        per_prio: dict[str, list[int]] = {}
        for created, responded, resolved, r_met, s_met, prio in rows:
            c = datetime.fromisoformat(created).timestamp()
            if not table.is_business(c):
                after_hours += 1
            if responded:
                response.append(table.minutes(c, datetime.fromisoformat(responded).timestamp()))
            if resolved:
                resolution.append(table.minutes(c, datetime.fromisoformat(resolved).timestamp()))
            for key, value in (("response", r_met), ("resolution", s_met)):
                if value is not None:
                    met[key][0] += int(value)
                    met[key][1] += 1
            if s_met is not None:
                p = per_prio.setdefault(prio or "-", [0, 0])
                p[0] += int(s_met)
                p[1] += 1
        calls, recorded = await st.recording(lo, hi, int(RECORDING_DEADLINE.total_seconds() // 60))
        cb = await st.callbacks(lo, hi)
        for k in ("efficiency", "result", "attitude"):
            cb[k] = None if cb[k] is None else round(cb[k], 2)
        points = await st.points(f"{first:%Y-%m}", f"{last:%Y-%m}")
        people = [{"person": p, "issues": n, "done": d, "points": points.pop(p, 0.0)}
                  for p, n, d in await st.people(lo, hi)]
        people += [{"person": p, "issues": 0, "done": 0, "points": v} for p, v in sorted(points.items())]
        data = {
            "range": {"first": first.isoformat(), "last": last.isoformat(), "timezone": str(cal.tz)},
            "generated_at": self.ctx.now().astimezone(UTC).isoformat(timespec="seconds"),
            "issues": total,
            "by_source": by["source"], "by_category": by["category"],
            "by_priority": by["priority"], "by_status": by["status"],
            "after_hours": {"count": after_hours, "share": _share(after_hours, total)},
            "first_response_business_minutes": _stats(response),
            "resolution_business_minutes": _stats(resolution),
            "sla": {
                "response_met": _share(*met["response"]), "response_measured": met["response"][1],
                "resolution_met": _share(*met["resolution"]), "resolution_measured": met["resolution"][1],
                "resolution_met_by_priority": {k: _share(*v) for k, v in sorted(per_prio.items())},
            },
            "recording_30min": {"calls": calls, "in_time": recorded, "share": _share(recorded, calls)},
            "callbacks": cb,
            "people": people,
            "top_repeat_callers": [{"caller": w, "name": n, "issues": c}
                                   for w, n, c in await st.repeat_callers(lo, hi, top)],
            "top_categories": [{"category": k, "issues": v}
                               for k, v in list(by["category"].items())[:top]],
        }
        return ServiceReport(first, last, data)


def _flat(prefix: str, value: Any) -> Iterable[tuple[str, str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value, 1):
            yield from _flat(f"{prefix}.{i}", v)
    else:
        section, _, key = prefix.partition(".")
        yield section, key, value


def report_csv(report: ServiceReport) -> str:
    """The report as CSV rows ``section,key,value`` (lists numbered from 1)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "key", "value"])
    for section, key, value in _flat("", report.data):
        writer.writerow([section, key, "" if value is None else value])
    return out.getvalue()
