"""Business time: weekly working hours, public holidays and make-up working days.

Theory of operation
-------------------
A *calendar year file* (``config/calendar/cn-YYYY.toml``, see the README next to
those files) lists the public holidays of one year as inclusive date ranges and
the make-up working days (调休上班: a Saturday or Sunday that is worked).  Chinese
make-up days are announced each year by the State Council and cannot be derived
by rule, so they are data, not code.  :func:`load_calendar_dir` reads and
validates every file into one :class:`CalendarData`.

A :class:`BusinessCalendar` combines that data with the desk's weekly hours in
the site timezone.  Every date is classified first (:meth:`BusinessCalendar.day`):

* inside a holiday range          -> ``HOLIDAY``, no hours;
* listed as a make-up working day -> ``MAKE_UP_WORKDAY``, the hours of the
  weekday named by ``make_up_day_hours`` (Monday's by default);
* otherwise the weekday's own hours from ``weekly_hours``: ``WORKDAY`` when it
  has some, ``WEEKEND`` (a rest day) when it has none.

A year with no calendar data is *not* silently treated as complete: dates in it
are classified by weekday alone (the only thing we can do), but
:attr:`BusinessCalendar.covered_years`, :meth:`BusinessCalendar.years_missing`
and :meth:`BusinessCalendar.coverage_warning` let the server log it at start and
the console show it, :meth:`BusinessCalendar.warnings_for` flags an instant that
falls into such a year, and the first computation that touches a missing year
logs a warning once per calendar object.

Time arithmetic
---------------
Working hours are wall-clock intervals ``[start, end)`` in the site timezone.
Each day's intervals are turned into UTC instants once (cached) and all
arithmetic happens on those instants, so business minutes are *real elapsed
minutes*.  On a DST switch day an interval spanning the switch is one hour
shorter (spring forward) or longer (fall back) than its wall-clock length.  A
wall-clock boundary that does not exist (in the spring-forward gap) or exists
twice (in the fall-back overlap) is resolved with ``fold=0``: zoneinfo then
uses the offset in force *before* the transition.  Offices rarely open between
02:00 and 03:00, so this only matters for 24-hour desks.

All functions take timezone-aware datetimes (a naive one raises ``ValueError``:
guessing its zone is how off-by-eight-hours bugs are born) and return datetimes
in the site timezone.  Long spans iterate days, never minutes.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.configreader import ConfigError, ConfigProblem, Document, Section, read_document

log = logging.getLogger(__name__)

__all__ = [
    "BusinessCalendar",
    "CalendarData",
    "CalendarFileError",
    "CalendarYear",
    "Day",
    "DayKind",
    "Holiday",
    "MakeUpWorkday",
    "load_calendar_dir",
    "load_calendar_file",
]

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# How many consecutive days without working hours a day-by-day search accepts
# before concluding the configuration can never produce business time.  No real
# holiday lasts ten years, and the check costs a few milliseconds at most.
_MAX_SEARCH_DAYS = 3660

_UTC = UTC


# ---------------------------------------------------------------------------
# Calendar data: one year per file


@dataclass(frozen=True)
class Holiday:
    """A public holiday: every date from ``start`` to ``end`` (both inclusive) is off."""

    name: str
    """Name as the notice gives it, e.g. ``"国庆节"``."""
    start: date
    """First day off."""
    end: date
    """Last day off (inclusive)."""
    name_en: str = ""
    """English name for logs and the console, may be empty."""

    def dates(self) -> Iterator[date]:
        """Every date of the holiday, in order."""
        d = self.start
        while d <= self.end:
            yield d
            d += timedelta(days=1)


@dataclass(frozen=True)
class MakeUpWorkday:
    """A Saturday or Sunday that is a working day (调休上班)."""

    date: date
    """The date that is worked."""
    holiday: str = ""
    """Name of the holiday it makes up for, as in the notice; may be empty."""


@dataclass(frozen=True)
class CalendarYear:
    """The holidays and make-up working days of one year."""

    year: int
    """The calendar year every date below lies in."""
    holidays: tuple[Holiday, ...] = ()
    """Public holidays, in file order."""
    workdays: tuple[MakeUpWorkday, ...] = ()
    """Make-up working days, in file order."""
    region: str = ""
    """Region code of the data, e.g. ``"CN"``; informational."""
    source: str = ""
    """The official notice the data comes from; informational."""
    path: str = ""
    """File the year was loaded from, for messages; empty when built in code."""


class CalendarFileError(ConfigError, ValueError):
    """A calendar year file (or the set of them) is unreadable or inconsistent.

    This is an operator's configuration mistake, reported like any other:
    ``problems`` holds a :class:`~hotline.configreader.ConfigProblem` per mistake
    (``file[:line]: key: what is wrong``); the message is all of them joined by
    newlines, so several mistakes are reported together.
    """


@dataclass(frozen=True)
class CalendarData:
    """Holiday and make-up-day data for any number of years (at most one entry per year)."""

    years: Mapping[int, CalendarYear] = field(default_factory=dict)
    """Calendar data by year."""
    _index: dict[date, tuple[DayKind, str]] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        for key, cy in self.years.items():
            if key != cy.year:
                raise ValueError(f"CalendarData.years[{key}] holds data for year {cy.year}")
        index = self._index  # filled once here; the dataclass is frozen afterwards
        for cy in self.years.values():
            for h in cy.holidays:
                for d in h.dates():
                    index[d] = (DayKind.HOLIDAY, h.name)
            for w in cy.workdays:
                index[w.date] = (DayKind.MAKE_UP_WORKDAY, w.holiday)

    @classmethod
    def of(cls, years: Iterable[CalendarYear]) -> CalendarData:
        """Build from a list of years; a year given twice raises ``ValueError``."""
        by_year: dict[int, CalendarYear] = {}
        for cy in years:
            if cy.year in by_year:
                raise ValueError(f"calendar data for {cy.year} given twice")
            by_year[cy.year] = cy
        return cls(by_year)

    def covers(self, year: int) -> bool:
        """True if there is holiday data for ``year``."""
        return year in self.years

    def special(self, d: date) -> tuple[DayKind, str] | None:
        """``(HOLIDAY, name)`` or ``(MAKE_UP_WORKDAY, name)`` for a special date, else None."""
        return self._index.get(d)


_YEAR_IN_NAME = re.compile(r"(?:^|\D)(\d{4})$")
# Every key a year file may hold; the validation below reads them from ``Section.data``.
_TOP_KEYS = {"year", "region", "source", "published", "source_url", "cross_checked",
             "holiday", "workday"}
_HOLIDAY_KEYS = {"name", "name_en", "start", "end", "days", "notice", "note"}
_WORKDAY_KEYS = {"date", "weekday", "holiday", "note"}


def load_calendar_dir(path: str | Path) -> CalendarData:
    """Read and validate every ``*.toml`` file in ``path`` (one year per file).

    Raises :class:`CalendarFileError` listing every problem found in every file,
    or naming the directory if it does not exist.  An empty directory gives an
    empty :class:`CalendarData` (the calendar will then warn for every year).
    """
    directory = Path(path)
    if not directory.is_dir():
        raise CalendarFileError(
            [ConfigProblem(str(directory), None, "-", "calendar directory does not exist")])
    problems: list[ConfigProblem] = []
    years: dict[int, CalendarYear] = {}
    for file in sorted(directory.glob("*.toml")):
        try:
            cy = load_calendar_file(file)
        except CalendarFileError as e:
            problems.extend(e.problems)
            continue
        if cy.year in years:
            problems.append(ConfigProblem(
                str(file), None, "year", f"{cy.year} is already given by {years[cy.year].path}"))
            continue
        years[cy.year] = cy
    if problems:
        raise CalendarFileError(problems)
    return CalendarData(years)


def load_calendar_file(path: str | Path) -> CalendarYear:
    """Read and validate one calendar year file; see ``config/calendar/README.md``.

    Raises :class:`CalendarFileError` naming file, line (where it can be found),
    key and what is wrong, for every problem in the file.
    """
    file = Path(path)
    try:
        doc = read_document(file)
    except ConfigError as e:
        raise CalendarFileError(e.problems) from None
    cy = _read_year(doc, file)
    if cy is None or doc.problems:
        raise CalendarFileError(doc.problems)
    return cy


def _read_year(doc: Document, file: Path) -> CalendarYear | None:
    """One year file's data, its problems recorded in ``doc``; None if it has no usable year."""
    top = doc.root()
    top.finish(also=_TOP_KEYS, hint=True)
    m = _YEAR_IN_NAME.search(file.stem)
    name_year = int(m.group(1)) if m else None
    if name_year is None:
        doc.problems.append(ConfigProblem(
            doc.file, None, "-", "file name must end with the year, e.g. cn-2026.toml"))
    year = top.data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        top.bad("year", "an integer year", year)
        return None
    if name_year is not None and year != name_year:
        top.problem("year", f"{year} does not match the year {name_year} in the file name")
    holidays = _holidays(top, year)
    return CalendarYear(
        year=year,
        holidays=tuple(h for _, h in holidays),
        workdays=_workdays(top, year, holidays),
        region=str(top.data.get("region", "")),
        source=str(top.data.get("source", "")),
        path=str(file),
    )


def _date(table: Section, key: str, year: int) -> date | None:
    value = table.data.get(key)
    if not isinstance(value, date) or isinstance(value, datetime):
        table.bad(key, f"a date like {year}-10-01", value)
        return None
    if value.year != year:
        table.problem(key, f"{value} is not in {year}")
        return None
    return value


def _holidays(top: Section, year: int) -> list[tuple[int, Holiday]]:
    out: list[tuple[int, Holiday]] = []
    for i, h in enumerate(top.tables("holiday")):
        h.finish(also=_HOLIDAY_KEYS)
        name = h.string("name", "")
        start = _date(h, "start", year)
        end = _date(h, "end", year)
        if start is None or end is None:
            continue
        if end < start:
            h.problem("end", f"{end} is before start {start}")
            continue
        days = h.data.get("days")
        if days is not None and days != (end - start).days + 1:
            h.problem("days", f"{days!r} but {start}..{end} is {(end - start).days + 1} days")
        hol = Holiday(name=name, start=start, end=end, name_en=str(h.data.get("name_en", "")))
        for j, other in out:
            if hol.start <= other.end and other.start <= hol.end:
                h.doc.problem(h.where, f"{start}..{end} overlaps holiday[{j}] "
                              f"{other.name} {other.start}..{other.end}")
        out.append((i, hol))
    return out


def _workdays(
    top: Section, year: int, holidays: list[tuple[int, Holiday]]
) -> tuple[MakeUpWorkday, ...]:
    out: list[MakeUpWorkday] = []
    names = {h.name for _, h in holidays}
    for w in top.tables("workday"):
        w.finish(also=_WORKDAY_KEYS)
        d = _date(w, "date", year)
        if d is None:
            continue
        actual = _WEEKDAY_NAMES[d.weekday()]
        wd = w.data.get("weekday")
        if wd is not None and str(wd).lower() != actual.lower():
            w.problem("weekday", f"{d} is a {actual}, not {wd}")
        if d.weekday() < 5:
            w.problem("date", f"{d} is a {actual}; a make-up working day is a Saturday or Sunday")
        for j, h in holidays:
            if h.start <= d <= h.end:
                w.problem("date", f"{d} is both a working day and inside holiday[{j}] "
                          f"{h.name} {h.start}..{h.end}")
        if any(o.date == d for o in out):
            w.problem("date", f"{d} is listed twice")
        made_up = w.data.get("holiday", "")
        if not isinstance(made_up, str) or (made_up and made_up not in names):
            w.problem("holiday", f"{made_up!r} is not the name of a [[holiday]] in this file")
            made_up = ""
        out.append(MakeUpWorkday(date=d, holiday=made_up))
    return tuple(out)


# ---------------------------------------------------------------------------
# Business time


class DayKind(enum.StrEnum):
    """What kind of day a date is for the desk."""

    WORKDAY = "workday"
    """An ordinary day whose weekday has working hours."""
    WEEKEND = "weekend"
    """An ordinary day whose weekday has no working hours (Saturday/Sunday usually)."""
    HOLIDAY = "holiday"
    """Inside a public holiday range: no working hours whatever the weekday."""
    MAKE_UP_WORKDAY = "make_up_workday"
    """A make-up working day (调休上班), worked with the ``make_up_day_hours`` weekday's hours."""


@dataclass(frozen=True)
class Day:
    """How the calendar classifies one date."""

    date: date
    """The date, in the site timezone."""
    kind: DayKind
    """Workday, weekend, holiday or make-up working day."""
    name: str | None
    """Holiday name for ``HOLIDAY`` and ``MAKE_UP_WORKDAY`` (may be empty), else None."""
    hours: tuple[tuple[time, time], ...]
    """Wall-clock working intervals of the day; empty on a day off."""
    covered: bool
    """False if there is no calendar data for the date's year (classified by weekday only)."""

    @property
    def is_working(self) -> bool:
        """True if the day has working hours."""
        return bool(self.hours)


WeeklyHours = Mapping[int, Sequence[tuple[time, time]]]
"""Working hours per weekday (0 = Monday … 6 = Sunday); a missing weekday has none."""

_Interval = tuple[datetime, datetime]  # UTC instants [start, end)


class BusinessCalendar:
    """Business time in the site timezone; see the module docstring for the rules.

    ``weekly_hours`` maps weekday (0 = Monday) to wall-clock intervals such as
    ``[(time(8), time(12)), (time(13, 30), time(17, 30))]``.  An interval end of
    ``time(0)`` means midnight at the end of the day (for 24-hour desks).
    ``make_up_day_hours`` is the weekday whose hours a make-up working day uses
    (default 0, Monday).  Invalid arguments raise ``ValueError``.
    """

    def __init__(self, tz: ZoneInfo, weekly_hours: WeeklyHours, data: CalendarData,
                 make_up_day_hours: int = 0) -> None:
        self.tz = tz
        self.data = data
        self.make_up_day_hours = make_up_day_hours
        self.weekly_hours = _checked_week(weekly_hours, make_up_day_hours)
        self._intervals_cache: dict[date, tuple[_Interval, ...]] = {}
        self._warned_years: set[int] = set()

    def replace_hours(self, weekly_hours: WeeklyHours, make_up_day_hours: int) -> None:
        """Use these working hours from now on (changed in the console); ``ValueError`` as the
        constructor's, and then nothing changes.

        In place, as :meth:`replace_data`: everyone holding this calendar sees them at once.
        """
        checked = _checked_week(weekly_hours, make_up_day_hours)
        self.weekly_hours, self.make_up_day_hours = checked, make_up_day_hours
        self._intervals_cache = {}

    def replace_data(self, data: CalendarData) -> None:
        """Use ``data`` from now on (a year file saved from the console).

        In place, so that everyone holding this calendar (desk, call control, SLA) sees the new
        holidays at once; the cached working intervals are dropped with the old data. Nothing
        here awaits, so no computation on the event loop sees half of each.
        """
        self.data = data
        self._intervals_cache = {}
        self._warned_years = set()

    # -- days ---------------------------------------------------------------

    def day(self, d: date) -> Day:
        """Classify ``d`` (a date in the site timezone)."""
        covered = self.data.covers(d.year)
        special = self.data.special(d)
        if special is not None:
            kind, name = special
            hours = self.weekly_hours[self.make_up_day_hours] if kind is DayKind.MAKE_UP_WORKDAY \
                else ()
            return Day(d, kind, name, hours, covered)
        hours = self.weekly_hours[d.weekday()]
        return Day(d, DayKind.WORKDAY if hours else DayKind.WEEKEND, None, hours, covered)

    def day_kind(self, d: date) -> DayKind:
        """The kind of ``d``; use :meth:`day` for the holiday name and hours."""
        return self.day(d).kind

    def is_working_day(self, d: date) -> bool:
        """True if ``d`` has working hours (workday or make-up working day)."""
        return self.day(d).is_working

    # -- coverage -----------------------------------------------------------

    @property
    def covered_years(self) -> tuple[int, ...]:
        """Years with calendar data, ascending."""
        return tuple(sorted(self.data.years))

    def years_missing(self, start: date, end: date) -> tuple[int, ...]:
        """Years from ``start.year`` to ``end.year`` (inclusive) without calendar data."""
        return tuple(y for y in range(start.year, end.year + 1) if not self.data.covers(y))

    def warnings_for(self, t: datetime) -> list[str]:
        """Warnings about computing business time at ``t`` (empty if its year is covered)."""
        y = self._local(t).year
        return [] if self.data.covers(y) else [_missing_message([y])]

    def coverage_warning(
        self, now: datetime, horizon: timedelta = timedelta(days=31)
    ) -> str | None:
        """A loud warning if a year between ``now`` and ``now + horizon`` lacks calendar data.

        The default horizon of 31 days starts warning about next year on 1 December,
        when deadlines computed today begin to spill into it; the State Council
        usually publishes the next year's notice in November.  None if all covered.
        """
        local = self._local(now)
        missing = self.years_missing(local.date(), (local + horizon).date())
        return _missing_message(missing) if missing else None

    # -- instants -----------------------------------------------------------

    def is_business_time(self, t: datetime) -> bool:
        """True if ``t`` lies inside a working interval ``[start, end)``."""
        u = self._utc(t)
        return any(s <= u < e for s, e in self._intervals(self._local(t).date()))

    def next_business_start(self, t: datetime) -> datetime:
        """``t`` itself if it is business time, else the start of the next working interval."""
        u = self._utc(t)
        for _, intervals in self._days_from(self._local(t).date(), 1):
            for s, e in intervals:
                if e > u:
                    return max(s, u).astimezone(self.tz)
        raise AssertionError("unreachable: _days_from never ends")

    def add_business_minutes(self, t: datetime, minutes: float) -> datetime:
        """The earliest instant at which ``minutes`` business minutes have elapsed since ``t``.

        Time outside working hours does not count.  ``minutes == 0`` returns ``t``
        unchanged (even outside business time).  A result exactly at the end of
        an interval is that end (11:00 + 60 min = 12:00, not 13:30).  Negative
        ``minutes`` go backwards: the latest instant from which ``-minutes``
        business minutes elapse until ``t``.  Inverse of
        :meth:`business_minutes_between`: ``between(t, add(t, m)) == m``.
        """
        if minutes == 0:
            self._utc(t)  # still refuse naive datetimes
            return t.astimezone(self.tz)
        u = self._utc(t)
        remaining = timedelta(minutes=abs(minutes))
        if minutes > 0:
            for _, intervals in self._days_from(self._local(t).date(), 1):
                for s, e in intervals:
                    if e <= u:
                        continue
                    avail = e - max(s, u)
                    if remaining <= avail:
                        return (max(s, u) + remaining).astimezone(self.tz)
                    remaining -= avail
        else:
            for _, intervals in self._days_from(self._local(t).date(), -1):
                for s, e in reversed(intervals):
                    if s >= u:
                        continue
                    avail = min(e, u) - s
                    if remaining <= avail:
                        return (min(e, u) - remaining).astimezone(self.tz)
                    remaining -= avail
        raise AssertionError("unreachable: _days_from never ends")

    def business_minutes_between(self, a: datetime, b: datetime) -> float:
        """Business minutes in ``[a, b)``; negative (``-between(b, a)``) if ``b < a``."""
        ua, ub = self._utc(a), self._utc(b)
        if ub < ua:
            return -self.business_minutes_between(b, a)
        total = timedelta()
        d, last = self._local(a).date(), self._local(b).date()
        while d <= last:
            for s, e in self._intervals(d):
                lo, hi = max(s, ua), min(e, ub)
                if hi > lo:
                    total += hi - lo
            d += timedelta(days=1)
        return total.total_seconds() / 60

    # -- internals ----------------------------------------------------------

    def _utc(self, t: datetime) -> datetime:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t.isoformat()}: pass a timezone-aware datetime")
        return t.astimezone(_UTC)

    def _local(self, t: datetime) -> datetime:
        return self._utc(t).astimezone(self.tz)

    def _intervals(self, d: date) -> tuple[_Interval, ...]:
        """The day's working intervals as UTC instants (cached)."""
        cached = self._intervals_cache.get(d)
        if cached is not None:
            return cached
        if not self.data.covers(d.year) and d.year not in self._warned_years:
            self._warned_years.add(d.year)
            log.warning("%s", _missing_message([d.year]))
        out: list[_Interval] = []
        for start, end in self.day(d).hours:
            s = datetime.combine(d, start, tzinfo=self.tz).astimezone(_UTC)
            end_day = d + timedelta(days=1) if end == time(0) else d
            e = datetime.combine(end_day, end, tzinfo=self.tz).astimezone(_UTC)
            if e > s:  # can only fail for intervals inside a DST gap
                out.append((s, e))
        result = tuple(out)
        if len(self._intervals_cache) > 20000:  # bound memory in a long-running server
            self._intervals_cache.clear()
        self._intervals_cache[d] = result
        return result

    def _days_from(self, d: date, step: int) -> Iterator[tuple[date, tuple[_Interval, ...]]]:
        """Days with their intervals from ``d`` onwards (``step`` 1) or backwards (-1).

        Endless, except that a run of ``_MAX_SEARCH_DAYS`` days without any
        working hours means the configuration can never produce business time.
        """
        idle = 0
        while True:
            intervals = self._intervals(d)
            idle = 0 if intervals else idle + 1
            if idle > _MAX_SEARCH_DAYS:
                raise ValueError(f"no business time in the {_MAX_SEARCH_DAYS} days up to {d}: "
                                 "check weekly hours and holidays")
            yield d, intervals
            d += timedelta(days=step)


def _checked_week(weekly_hours: WeeklyHours, make_up_day_hours: int
                  ) -> dict[int, tuple[tuple[time, time], ...]]:
    week = {wd: _check_hours(wd, weekly_hours.get(wd, ())) for wd in range(7)}
    for wd in weekly_hours:
        if wd not in range(7):
            raise ValueError(f"weekly_hours: weekday {wd!r} is not 0 (Monday) … 6 (Sunday)")
    if not any(week.values()):
        raise ValueError("weekly_hours: no weekday has working hours")
    if make_up_day_hours not in range(7):
        raise ValueError(f"make_up_day_hours: {make_up_day_hours!r} is not a weekday 0…6")
    if not week[make_up_day_hours]:
        raise ValueError(f"make_up_day_hours: {_WEEKDAY_NAMES[make_up_day_hours]} has no "
                         "working hours, so make-up working days would have none")
    return week


def _check_hours(wd: int, hours: Sequence[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    name = _WEEKDAY_NAMES[wd] if wd in range(7) else str(wd)
    out = sorted((s, e) for s, e in hours)
    for s, e in out:
        if s.tzinfo is not None or e.tzinfo is not None:
            raise ValueError(f"weekly_hours[{name}]: {s}-{e}: times are wall-clock in the site "
                             "timezone and must not carry a tzinfo")
        if not (s < e or e == time(0)):
            raise ValueError(f"weekly_hours[{name}]: {s:%H:%M}-{e:%H:%M}: end is not after start")
    for (_, e1), (s2, e2) in pairwise(out):
        if e1 == time(0) or s2 < e1:
            raise ValueError(f"weekly_hours[{name}]: {s2:%H:%M}-{e2:%H:%M} overlaps the "
                             "interval before it")
    return tuple(out)


def _missing_message(years: Sequence[int]) -> str:
    ys = ", ".join(str(y) for y in years)
    return (f"NO HOLIDAY CALENDAR for {ys}: public holidays and make-up working days are "
            f"unknown, so every weekday with hours is treated as a working day. Add "
            f"config/calendar/cn-{years[0]}.toml from the State Council's notice.")
