"""The business calendar for managers and administrators: hours, each year's holidays, saving a year.

* ``GET /admin/calendar?year=YYYY``: the weekly working hours and whether the desk is open now,
  the years with a calendar file, the coverage warning, and the year as twelve month grids
  (holidays, make-up working days 调休, rest days), rendered on the server.
* ``POST /admin/calendar/hours``: new weekly working hours (a text per weekday such as
  "08:00-12:00, 13:30-17:30", empty for closed, and the make-up day's weekday), stored in the
  database and applied at once (:mod:`hotline.working_hours`); ``POST /admin/calendar/hours/reset``
  goes back to the configuration file's.
* ``POST /admin/calendar/notice``: the State Council's notice pasted as text, read with
  :func:`hotline.holiday_notice.parse_notice`; a mistake is shown with its line, the text kept.
  Read correctly, the year's holidays and make-up days and the file to be written are shown for
  confirmation; ``POST /admin/calendar/notice/save`` (the same text) writes it.
* ``GET /admin/calendar/edit?year=YYYY`` and ``POST /admin/calendar/edit``: a year's file as
  text; saved only if it loads (each problem with its line).

Saving goes through :func:`hotline.calendar_files.save_year_file` (atomic, the old file kept
aside) and applies at once: the calendar the whole server holds takes the folder's new data
(:meth:`~hotline.calendar.BusinessCalendar.replace_data`). Every save is in the console's audit
log with the acting user.
"""

from __future__ import annotations

import calendar as weeks
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline import working_hours
from hotline.calendar import CalendarFileError
from hotline.calendar_files import SavedYear, save_year_file, year_file
from hotline.config import WEEKDAYS
from hotline.console.render import N_, page, text
from hotline.console.security import USER, requires
from hotline.holiday_notice import HolidayNotice, NoticeError, parse_notice, render_calendar_toml
from hotline.keys import CALENDAR, CLOCK, CONFIG, STORE
from hotline.services import CalendarSetup
from hotline.store.accounts import AuditEntry

__all__ = ["MonthGrid", "add_routes", "month_grids"]

ROLES = ("manager", "admin")
WEEKDAY_LABELS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
WEEKDAY_NAMES = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
                 N_("Saturday"), N_("Sunday"))
MAX_TEXT = 200_000
"""Characters accepted in a pasted notice or an edited file (a notice is about 1,500)."""


@dataclass(frozen=True)
class Cell:
    day: date
    kind: str
    """A :class:`~hotline.calendar.DayKind` value; the cell's CSS class."""
    name: str
    """The holiday's name on a holiday or make-up working day, else empty."""


@dataclass(frozen=True)
class MonthGrid:
    month: int
    weeks: list[list[Cell | None]]
    """Monday-first weeks; None outside the month."""


def month_grids(cal: CalendarSetup, year: int) -> list[MonthGrid]:
    """``year`` as twelve month grids, each day classified by the calendar."""
    grids = []
    for month in range(1, 13):
        rows: list[list[Cell | None]] = []
        for week in weeks.Calendar(firstweekday=0).monthdatescalendar(year, month):
            row: list[Cell | None] = []
            for d in week:
                if d.month != month:
                    row.append(None)
                    continue
                day = cal.day(d)
                row.append(Cell(d, day.kind.value, day.name or ""))
            rows.append(row)
        grids.append(MonthGrid(month, rows))
    return grids


def _hours_text(spans: tuple[tuple[time, time], ...]) -> str:
    return ", ".join(working_hours.span_text(s, e) for s, e in spans)


def _year_of(request: web.Request, default: int) -> int:
    raw = request.query.get("year", "")
    if raw.isdigit() and 1900 < int(raw) < 2200:
        return int(raw)
    return default


async def _calendar_page(request: web.Request, *, year: int | None = None, pasted: str = "",
                         notice_error: str = "", notice_line: int | None = None,
                         notice: HolidayNotice | None = None, preview: str = "",
                         hours_errors: dict[str, str] | None = None,
                         hours_kept: dict[str, str] | None = None,
                         status: int = 200) -> web.Response:
    app = request.app
    config, cal = app[CONFIG], app[CALENDAR]
    now = app[CLOCK]().astimezone(cal.tz)
    shown = year or _year_of(request, now.year)
    hours = [(WEEKDAYS[wd], WEEKDAY_NAMES[wd], _hours_text(cal.weekly_hours.get(wd, ())))
             for wd in range(7)]
    hours_set = await app[STORE].settings.get(working_hours.SETTING)
    years = sorted({*cal.covered_years, now.year, now.year + 1})
    data = cal.data.years.get(shown)
    holidays = data.holidays if data is not None else ()
    workdays = data.workdays if data is not None else ()
    replaces = None
    if notice is not None and notice.year in cal.data.years:
        replaces = year_file(config.calendar.folder, notice.year, cal.data).name
    context: dict[str, Any] = {
        "hours": hours, "make_up_as": WEEKDAY_NAMES[cal.make_up_day_hours],
        "make_up_key": WEEKDAYS[cal.make_up_day_hours],
        "weekday_keys": list(zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)),
        "hours_set": hours_set, "open_now": cal.is_business_time(now), "now": now,
        "hours_errors": hours_errors or {}, "hours_kept": hours_kept or {},
        "hours_saved": request.query.get("hours", ""),
        "coverage_warning": cal.coverage_warning(now), "years": years, "covered": set(cal.covered_years),
        "year": shown, "grids": month_grids(cal, shown), "weekday_labels": WEEKDAY_LABELS,
        "holidays": holidays, "workdays": workdays, "source": data.source if data else "",
        "file_name": Path(data.path).name if data and data.path else "",
        "pasted": pasted, "notice_error": notice_error, "notice_line": notice_line,
        "notice": notice, "preview": preview, "replaces": replaces,
        "saved": request.query.get("saved", ""),
    }
    return page(request, "admin_calendar.html", context, status=status)


@requires(*ROLES)
async def calendar_view(request: web.Request) -> web.StreamResponse:
    return await _calendar_page(request)


async def _form_text(request: web.Request, field: str) -> str:
    form = await request.post()
    value = form.get(field, "")
    return value if isinstance(value, str) else ""


def _read_notice(request: web.Request, pasted: str) -> tuple[HolidayNotice | None, str, int | None]:
    """The notice, or None with the error (in the request's language) and its line."""
    if not pasted.strip():
        return None, text(request, "Paste the text of the notice first."), None
    if len(pasted) > MAX_TEXT:
        return None, text(request, "The text is too long for a notice."), None
    try:
        return parse_notice(pasted), "", None
    except NoticeError as exc:
        if exc.line is None:
            return None, exc.reason, None
        return None, text(request, "Line %(line)s: %(reason)s", line=exc.line, reason=exc.reason), exc.line


@requires(*ROLES)
async def notice_preview(request: web.Request) -> web.StreamResponse:
    pasted = await _form_text(request, "notice")
    notice, error, line = _read_notice(request, pasted)
    if notice is None:
        return await _calendar_page(request, pasted=pasted, notice_error=error, notice_line=line,
                                    status=400)
    return await _calendar_page(request, year=notice.year, pasted=pasted, notice=notice,
                                preview=render_calendar_toml(notice))


@requires(*ROLES)
async def notice_save(request: web.Request) -> web.StreamResponse:
    pasted = await _form_text(request, "notice")
    notice, error, line = _read_notice(request, pasted)
    if notice is None:
        return await _calendar_page(request, pasted=pasted, notice_error=error, notice_line=line,
                                    status=400)
    try:
        saved = await _save(request, notice.year, render_calendar_toml(notice), "notice")
    except CalendarFileError as exc:
        return await _calendar_page(request, year=notice.year, pasted=pasted, notice=notice,
                                    preview=render_calendar_toml(notice), notice_error=str(exc),
                                    status=400)
    raise web.HTTPSeeOther(f"/admin/calendar?year={notice.year}&saved={saved.path.name}")


async def _save(request: web.Request, year: int, content: str, how: str) -> SavedYear:
    app = request.app
    user = request[USER]
    folder = app[CONFIG].calendar.folder
    now = app[CLOCK]()
    saved = save_year_file(folder, year, content, now=now)
    app[CALENDAR].replace_data(saved.data)
    cy = saved.data.years[year]
    kept = f"; previous kept as {saved.previous.name}" if saved.previous else ""
    detail = (f"{saved.path.name} from the {how}: {len(cy.holidays)} holidays, "
              f"{len(cy.workdays)} make-up working days{kept}")
    await app[STORE].accounts.audit(AuditEntry(now, user.id, "calendar_saved", detail, request.remote or ""))
    return saved


async def _edit_page(request: web.Request, year: int, content: str, problems: list[str],
                     status: int = 200) -> web.Response:
    return page(request, "admin_calendar_edit.html",
                {"year": year, "content": content, "problems": problems}, status=status)


@requires(*ROLES)
async def edit_form(request: web.Request) -> web.StreamResponse:
    app = request.app
    cal = app[CALENDAR]
    year = _year_of(request, app[CLOCK]().astimezone(cal.tz).year)
    data = cal.data.years.get(year)
    if data is None or not data.path:
        raise web.HTTPSeeOther(f"/admin/calendar?year={year}")
    content = Path(data.path).read_text(encoding="utf-8")
    return await _edit_page(request, year, content, [])


@requires(*ROLES)
async def edit_save(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    raw_year, content = form.get("year", ""), form.get("content", "")
    if not isinstance(content, str) or not isinstance(raw_year, str) or not raw_year.isdigit():
        raise web.HTTPBadRequest(text="expected the year and the file's text")
    year = int(raw_year)
    if len(content) > MAX_TEXT:
        return await _edit_page(request, year, content, [text(request, "The text is too long.")], 400)
    try:
        saved = await _save(request, year, content.replace("\r\n", "\n"), "console editor")
    except CalendarFileError as exc:
        return await _edit_page(request, year, content, [str(p) for p in exc.problems], 400)
    raise web.HTTPSeeOther(f"/admin/calendar?year={year}&saved={saved.path.name}")


_HOURS_ERRORS = {
    "bad span": N_("Write spans like 08:00-12:00, separated by commas; leave empty if closed."),
    "overlap": N_("These spans overlap."),
    "no weekday": N_("Choose a weekday."),
    "closed": N_("That day is closed, so make-up working days would have no hours."),
    "all closed": N_("At least one day must have working hours."),
}
MAX_HOURS_TEXT = 200


@requires(*ROLES)
async def hours_save(request: web.Request) -> web.StreamResponse:
    app = request.app
    form = await request.post()
    kept = {key: str(form.get(key, ""))[:MAX_HOURS_TEXT] for key in (*WEEKDAYS, "make_up")}
    week, problems = working_hours.parse_week(kept, kept["make_up"])
    if week is None:
        errors = {key: text(request, _HOURS_ERRORS[why]) for key, why in problems.items()}
        return await _calendar_page(request, hours_errors=errors, hours_kept=kept, status=400)
    user, now = request[USER], app[CLOCK]()
    setting = working_hours.to_setting(week)
    await app[STORE].settings.put(working_hours.SETTING, setting, by=user.id, at=now)
    # Stored first, so a refused write changes nothing; parse_week checked what the calendar does.
    app[CALENDAR].replace_hours(working_hours.calendar_hours(week), week.make_up_day_as)
    summary = "; ".join(f"{day} {', '.join(spans) or 'closed'}" for day, spans in setting["hours"].items())
    await app[STORE].accounts.audit(AuditEntry(
        now, user.id, "calendar_hours", f"{summary}; make-up days as {setting['make_up_day_as']}",
        request.remote or ""))
    raise web.HTTPSeeOther("/admin/calendar?hours=saved")


@requires(*ROLES)
async def hours_reset(request: web.Request) -> web.StreamResponse:
    app = request.app
    user, now = request[USER], app[CLOCK]()
    if await app[STORE].settings.remove(working_hours.SETTING):
        week = working_hours.configured(app[CONFIG])
        app[CALENDAR].replace_hours(working_hours.calendar_hours(week), week.make_up_day_as)
        await app[STORE].accounts.audit(AuditEntry(now, user.id, "calendar_hours",
                                                   "back to the configuration file's", request.remote or ""))
    raise web.HTTPSeeOther("/admin/calendar?hours=reset")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/calendar", calendar_view)
    router.add_post("/admin/calendar/notice", notice_preview)
    router.add_post("/admin/calendar/notice/save", notice_save)
    router.add_get("/admin/calendar/edit", edit_form)
    router.add_post("/admin/calendar/edit", edit_save)
    router.add_post("/admin/calendar/hours", hours_save)
    router.add_post("/admin/calendar/hours/reset", hours_reset)

