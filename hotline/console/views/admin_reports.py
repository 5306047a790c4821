"""The monthly service report and the per-engineer scorecard (managers and admins).

``GET /reports`` (``?month=YYYY-MM`` or ``?first=…&last=…``): key figures, every table with its
chart drawn on the server as SVG (customer sites have no internet; the page prints on A4 through
``web/static/reports.css``). ``GET /reports/csv?table=<key>&…`` gives one table as CSV for Excel
— the same cells as the page (:func:`hotline.reports.monthly.cell_text`) —, ``GET
/reports/data?…`` every table as JSON with the cells unformatted. ``GET /reports/engineer/<id>``
is one engineer's scorecard for the range; an engineer may open their own.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from hotline.console.render import N_, language_of, page
from hotline.console.security import CATALOGS, USER, requires
from hotline.keys import CLOCK, DESK, STORE
from hotline.reports.monthly import (
    DIMENSIONS,
    NOT_ASSIGNMENTS,
    Column,
    ReportFacts,
    ServiceTables,
    Table,
    assemble,
    cell_text,
    charts,
    share,
    table_csv,
)
from hotline.reports.period import Period, read_period
from hotline.store import Store
from hotline.store.service_report import ServiceReportStore

__all__ = ["add_routes", "build_report"]

MANAGERS = ("manager", "admin")
REPORT_WORDS = (
    N_("Answered"), N_("Abandoned"), N_("Voicemail"), N_("Missed"), N_("Rejected"), N_("Efficiency"),
    N_("Result"), N_("Attitude"), N_("Issues"), N_("After hours (issues)"), N_("After-hours share"),
    N_("Incoming calls"), N_("Answered share"), N_("First-response SLA met"), N_("Resolution SLA met"),
    N_("Median first response (business minutes)"), N_("Median resolution (business minutes)"),
    N_("Calls to record"), N_("Recorded within 30 minutes"), N_("30-minute recording compliance"),
    N_("Resolved issues"), N_("Reopened"), N_("Reopen rate"), N_("Callbacks"), N_("Dispatches"),
    N_("Dispatches that found nobody"), N_("Dispatch fairness (Jain's index, 1 = even)"),
    N_("Busiest engineer's load against the mean"), N_("No data"), N_("Volume by category and source"),
    N_("Phone"), N_("Web"), N_("E-mail"), N_("Walk-in"), N_("Monitoring"), N_("issues"),
    N_("Issues per day"), N_("Calls by how they ended"), N_("Calls"), N_("calls"),
    N_("SLA compliance by priority"), N_("First-response compliance"), N_("Resolution compliance"),
    N_("Callback scores"), N_("callbacks"), N_("Points and deductions per engineer"), N_("Points earned"),
    N_("Points deducted"), N_("points"), N_("Dispatch fairness"), N_("A role"), N_("B role"),
    N_("On call"), N_("Escalation"), N_("Manual"), N_("dispatches"), N_("Key figures"), N_("Figure"),
    N_("Value"), N_("Volume by source"), N_("Source key"), N_("Source"), N_("Share"), N_("Category key"),
    N_("Category"),
    N_("Total"), N_("Day"), N_("Disposition key"), N_("Disposition"), N_("Priority"),
    N_("First responses measured"), N_("First responses in time"), N_("Resolutions measured"),
    N_("Resolutions in time"), N_("Dimension key"), N_("Dimension"), N_("Average"), N_("Engineer id"),
    N_("Engineer"), N_("Done"), N_("Deductions"), N_("Net points"), N_("Failed"), N_("Redirected"),
    N_("Transferred"), N_("Interrupted"),
)
"""The words of :mod:`hotline.reports.monthly` (outside the catalogs' extraction), marked here."""
PERIOD_ERRORS = (N_("Enter the first day as YYYY-MM-DD."), N_("Enter the last day as YYYY-MM-DD."),
                 N_("The last day is before the first."), N_("A report covers at most 400 days."),
                 N_("Enter the month as YYYY-MM."))
"""The field errors of :mod:`hotline.reports.period`, marked for the catalogs (the page translates them)."""


def _bounds(period: Period, request: web.Request) -> tuple[datetime, datetime]:
    tz = request.app[DESK].ctx.calendar.tz
    return (datetime.combine(period.first, time(0), tz),
            datetime.combine(period.last + timedelta(days=1), time(0), tz))


async def _names(store: Store, language: str) -> tuple[dict[str, str], dict[str, str]]:
    categories = {c.id: (c.name_en or c.name) if language == "en" else c.name
                  for c in await store.people.categories()}
    people = {p.id: p.name for p in await store.people.all()}
    return categories, people


async def build_report(request: web.Request, period: Period) -> ServiceTables:
    """Gather the figures of ``period`` and assemble the tables (in the request's language)."""
    app = request.app
    store, desk = app[STORE], app[DESK]
    lo, hi = _bounds(period, request)
    figures = ServiceReportStore(store.db)
    desk_report = await desk.report(period.first, period.last)
    facts = ReportFacts(
        source_by_category=await figures.source_by_category(lo, hi),
        per_hour=await figures.created_per_hour(lo, hi),
        dispositions=await figures.call_dispositions(lo, hi),
        sla=await figures.sla_by_priority(lo, hi),
        reopens=await figures.reopens(lo, hi),
        scores=await figures.callback_scores(lo, hi),
        points=await figures.points(f"{period.first:%Y-%m}", f"{period.last:%Y-%m}"),
        dispatches=await figures.dispatches(lo, hi),
    )
    categories, people = await _names(store, language_of(request))
    return assemble(period.first, period.last, desk_report.data, facts, tz=desk.ctx.calendar.tz,
                    categories=categories, people=people)


def _today(request: web.Request) -> date:
    return request.app[CLOCK]().astimezone(request.app[DESK].ctx.calendar.tz).date()


def _translate(request: web.Request) -> Any:
    return request.app[CATALOGS].gettext(language_of(request))


@requires(*MANAGERS)
async def report_page(request: web.Request) -> web.Response:
    period = read_period(request.query, _today(request))
    report = await build_report(request, period)
    return page(request, "reports.html", {
        "period": period, "report": report, "charts": charts(report, _translate(request)),
        "cell_text": cell_text,
    }, status=400 if period.errors else 200)


@requires(*MANAGERS)
async def report_csv(request: web.Request) -> web.Response:
    period = read_period(request.query, _today(request))
    if period.errors:
        raise web.HTTPBadRequest(text="; ".join(f"{k}: {v}" for k, v in period.errors.items()))
    report = await build_report(request, period)
    key = request.query.get("table", "")
    table = report.table(key)
    if table is None:
        known = ", ".join([report.summary.key, *(t.key for t in report.tables)])
        raise web.HTTPBadRequest(text=f"no table {key[:40]!r} (tables: {known})")
    span = period.month or f"{period.first}_{period.last}"
    return web.Response(body=table_csv(table, _translate(request)), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="hotline-{table.key}-{span}.csv"'})


@requires(*MANAGERS)
async def report_json(request: web.Request) -> web.Response:
    """The same tables as JSON, the cells unformatted (shares as fractions)."""
    period = read_period(request.query, _today(request))
    if period.errors:
        return web.json_response({"errors": period.errors}, status=400)
    report = await build_report(request, period)
    return web.json_response({
        "first": report.first.isoformat(), "last": report.last.isoformat(),
        "tables": {t.key: {"title": t.title, "columns": [{"key": c.key, "label": c.label, "kind": c.kind}
                                                          for c in t.columns],
                           "rows": [list(row) for row in t.rows]}
                   for t in (report.summary, *report.tables)},
    }, dumps=lambda v: json.dumps(v, ensure_ascii=False))


@requires(*MANAGERS, "engineer")
async def scorecard(request: web.Request) -> web.Response:
    user = request[USER]
    person_id = request.match_info["person"]
    if not user.has(*MANAGERS) and person_id != user.id:
        raise web.HTTPForbidden(text="an engineer sees their own scorecard only")
    store = request.app[STORE]
    person = next((p for p in await store.people.all() if p.id == person_id), None)
    if person is None:
        raise web.HTTPNotFound(text=f"no person {person_id[:40]!r}")
    period = read_period(request.query, _today(request))
    lo, hi = _bounds(period, request)
    figures = ServiceReportStore(store.db)
    issues, done = await figures.owned(person_id, lo, hi)
    sla = await figures.sla_by_priority(lo, hi, owner=person_id)
    reopens = await figures.reopens(lo, hi, owner=person_id)
    scores = await figures.callback_scores(lo, hi, owner=person_id)
    ledger = await figures.ledger(person_id, f"{period.first:%Y-%m}", f"{period.last:%Y-%m}")
    dispatches = [d for d in await figures.dispatches(lo, hi) if d.person_id == person_id]
    assigned = sum(d.count for d in dispatches if d.role not in NOT_ASSIGNMENTS)
    earned = sum(p for _m, p, _r in ledger if p > 0)
    deducted = sum(p for _m, p, _r in ledger if p < 0)
    callbacks = sum(sum(d.values()) for d in scores.values()) // 3
    columns = (Column("figure", "Figure", "text"), Column("value", "Value", "text"))
    tr = _translate(request)
    summary = Table("scorecard", "Scorecard", columns, (
        (tr(N_("Issues")), cell_text("int", issues)),
        (tr(N_("Done")), cell_text("int", done)),
        (tr(N_("First-response SLA met")), cell_text("share", share(sum(s.response_met for s in sla),
                                                            sum(s.response_measured for s in sla)))),
        (tr(N_("Resolution SLA met")), cell_text("share", share(sum(s.resolution_met for s in sla),
                                                        sum(s.resolution_measured for s in sla)))),
        (tr(N_("Reopen rate")), cell_text("share", share(reopens.reopened, reopens.resolved))),
        (tr(N_("Callbacks")), cell_text("int", callbacks)),
        *((tr(label), cell_text("number", share(sum(s * n for s, n in scores[key].items()), callbacks)))
          for key, label in DIMENSIONS),
        (tr(N_("Dispatches")), cell_text("int", assigned)),
        (tr(N_("Points earned")), cell_text("number", earned)),
        (tr(N_("Points deducted")), cell_text("number", deducted)),
        (tr(N_("Net points")), cell_text("number", earned + deducted)),
    ))
    return page(request, "scorecard.html", {
        "person": person, "period": period, "summary": summary, "ledger": ledger,
        "sla": sla, "cell_text": cell_text,
        "dispatches": sorted((d.role or "-", d.count) for d in dispatches),
    }, status=400 if period.errors else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/reports", report_page)
    router.add_get("/reports/csv", report_csv)
    router.add_get("/reports/data", report_json)
    router.add_get(r"/reports/engineer/{person:[A-Za-z0-9_.-]{1,64}}", scorecard)
