"""The monthly service report as tables and charts: pure assembly of figures already counted.

Theory of operation. The desk's report (:class:`hotline.desk.report.ServiceReport`) gives the
volume, after-hours share, business-time statistics, recording compliance and callback averages;
:class:`hotline.store.service_report.ServiceReportStore` gives the rest (sources per category,
calls per disposition, SLA compliance per priority, reopens, score distribution, the ledger's
earnings and deductions, the dispatch log per engineer). :func:`assemble` turns both into
:class:`Table` objects — the same cells for the page and for the CSV, formatted once by
:func:`cell_text`, so what is printed and what Excel opens cannot disagree — and :func:`charts`
draws them with :mod:`hotline.reports.svg_charts`.

Labels are English msgids; the caller passes a ``translate`` function where text is drawn
(charts, CSV headers) and the templates translate the rest. Nothing here reads the database or
the clock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hotline.reports.svg_charts import Series, bar_chart, horizontal_bar_chart, line_chart
from hotline.store.service_report import DispatchCount, EngineerPoints, PrioritySla, ReopenCount

__all__ = ["Column", "ReportFacts", "ServiceTables", "Table", "assemble", "cell_text", "charts", "fairness",
           "table_csv"]

Kind = Literal["text", "int", "share", "number"]
Cell = str | int | float | None

SOURCES = (("phone", "Phone"), ("web", "Web"), ("email", "E-mail"), ("walk-in", "Walk-in"),
           ("monitoring", "Monitoring"))
DISPOSITIONS = (("answered", "Answered"), ("abandoned", "Abandoned"), ("voicemail", "Voicemail"),
                ("missed", "Missed"), ("rejected", "Rejected"), ("failed", "Failed"),
                ("redirected", "Redirected"), ("transferred", "Transferred"), ("interrupted", "Interrupted"))
"""Answered, abandoned, voicemail and missed always have a row; the others when they occurred."""
ALWAYS_SHOWN = 4
DIMENSIONS = (("efficiency", "Efficiency"), ("result", "Result"), ("attitude", "Attitude"))
DISPATCH_ROLES = (("A", "A role"), ("B", "B role"), ("on_call", "On call"), ("escalation", "Escalation"),
                  ("manual", "Manual"))
NOT_ASSIGNMENTS = ("escalation",)
"""Dispatch log roles that do not give the issue to the person."""
CHART_CATEGORIES = 12
"""Categories drawn in the volume chart (the table lists them all)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    """An English msgid."""
    kind: Kind = "int"


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    """Names the table in the page (``id="table-<key>"``) and its CSV (``?table=<key>``)."""
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class ReportFacts:
    """What :class:`ServiceReportStore` read for the range."""

    source_by_category: Sequence[tuple[str, str, int]]
    per_hour: Sequence[tuple[str, int]]
    dispositions: Mapping[str, int]
    sla: Sequence[PrioritySla]
    reopens: ReopenCount
    scores: Mapping[str, Mapping[int, int]]
    points: Sequence[EngineerPoints]
    dispatches: Sequence[DispatchCount]


@dataclass(frozen=True)
class ServiceTables:
    first: date
    last: date
    summary: Table
    tables: tuple[Table, ...]
    chart_data: dict[str, Any] = field(default_factory=dict)

    def table(self, key: str) -> Table | None:
        if key == self.summary.key:
            return self.summary
        return next((t for t in self.tables if t.key == key), None)


def share(part: float, whole: float) -> float | None:
    return None if not whole else part / whole


def cell_text(kind: Kind, value: Cell) -> str:
    """The one way a cell is written, on the page and in the CSV."""
    if value is None:
        return ""
    if kind == "share":
        return f"{float(value) * 100:.1f}%"
    if kind == "number":
        return f"{float(value):.2f}"
    if kind == "int":
        return str(int(value))
    return str(value)


def fairness(loads: Sequence[int]) -> float | None:
    """Jain's fairness index of the dispatches each engineer received: 1 when all got as many,
    1/n when one got them all; None without dispatches."""
    total = sum(loads)
    if not loads or total == 0:
        return None
    return total * total / (len(loads) * sum(x * x for x in loads))


def _local_days(per_hour: Sequence[tuple[str, int]], first: date, last: date,
                tz: ZoneInfo) -> list[tuple[date, int]]:
    days = {first + timedelta(days=i): 0 for i in range((last - first).days + 1)}
    for hour, n in per_hour:
        day = datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC).astimezone(tz).date()
        if day in days:
            days[day] += n
    return list(days.items())


def assemble(first: date, last: date, desk: Mapping[str, Any], facts: ReportFacts, *, tz: ZoneInfo,
             categories: Mapping[str, str], people: Mapping[str, str],
             translate: Callable[[str], str] = str) -> ServiceTables:
    """The report's tables from the desk's report ``desk`` (its ``.data``) and ``facts``.

    ``categories`` and ``people`` map ids to the names shown (in the page's language);
    ``translate`` gives the cells that are words of ours (figure names, dispositions) in it.
    """
    t = translate
    total = int(desk["issues"])

    def cat_name(c: str) -> str:
        return categories.get(c, c) if c != "-" else "-"

    def person_name(p: str | None) -> str:
        return people.get(p, p) if p else "-"

    # Volume by source, and by category split by source.
    by_source = desk["by_source"]
    known_sources = [s for s, _ in SOURCES] + sorted(set(by_source) - {s for s, _ in SOURCES})
    source_labels = dict(SOURCES)
    source_rows = tuple((s, t(source_labels[s]) if s in source_labels else s, by_source.get(s, 0),
                         share(by_source.get(s, 0), total)) for s in known_sources)
    matrix: dict[str, dict[str, int]] = {}
    for cat, src, n in facts.source_by_category:
        matrix.setdefault(cat, {})[src] = n
    cat_order = sorted(matrix, key=lambda c: (-sum(matrix[c].values()), c))
    category_rows = tuple(
        (c, cat_name(c), *(matrix[c].get(s, 0) for s in known_sources), sum(matrix[c].values()),
         share(sum(matrix[c].values()), total)) for c in cat_order)

    days = _local_days(facts.per_hour, first, last, tz)

    calls_total = sum(facts.dispositions.values())
    disp_keys = [k for k, _ in DISPOSITIONS[:ALWAYS_SHOWN]]
    disp_keys += [k for k, _ in DISPOSITIONS[ALWAYS_SHOWN:] if facts.dispositions.get(k)]
    disp_keys += sorted(set(facts.dispositions) - set(disp_keys))
    disp_labels = dict(DISPOSITIONS)
    call_rows = tuple((k, t(disp_labels[k]) if k in disp_labels else k, facts.dispositions.get(k, 0),
                       share(facts.dispositions.get(k, 0), calls_total)) for k in disp_keys)

    sla_rows = tuple((p.priority, p.response_measured, p.response_met,
                      share(p.response_met, p.response_measured), p.resolution_measured, p.resolution_met,
                      share(p.resolution_met, p.resolution_measured)) for p in facts.sla)

    score_rows = []
    for key, label in DIMENSIONS:
        dist = facts.scores.get(key, {})
        count = sum(dist.values())
        mean = share(sum(s * n for s, n in dist.items()), count)
        score_rows.append((key, t(label), mean, *(dist.get(s, 0) for s in range(1, 6)), count))

    work = {row["person"]: (int(row["issues"]), int(row["done"])) for row in desk["people"]}
    ledger = {p.person_id: p for p in facts.points}
    engineers = sorted(set(work) | set(ledger), key=lambda p: (-(ledger[p].earned + ledger[p].deducted
                                                                 if p in ledger else 0), p))
    engineer_rows = tuple(
        (p, person_name(p), *work.get(p, (0, 0)),
         ledger[p].earned if p in ledger else 0.0, ledger[p].deductions if p in ledger else 0,
         ledger[p].deducted if p in ledger else 0.0,
         ledger[p].earned + ledger[p].deducted if p in ledger else 0.0) for p in engineers)

    got: dict[str | None, dict[str, int]] = {}
    for d in facts.dispatches:
        got.setdefault(d.person_id, {})
        got[d.person_id][d.role or "-"] = got[d.person_id].get(d.role or "-", 0) + d.count
    # An escalation tells someone about a breach; the issue keeps its owner, so it is no share of the work.
    dispatched = {p: sum(n for r, n in v.items() if r not in NOT_ASSIGNMENTS)
                  for p, v in got.items() if p is not None}
    all_dispatches = sum(dispatched.values())
    dispatch_rows = tuple(
        (p, person_name(p), *(got[p].get(r, 0) for r, _ in DISPATCH_ROLES), dispatched[p],
         share(dispatched[p], all_dispatches))
        for p in sorted(dispatched, key=lambda p: (-dispatched[p], -sum(got[p].values()), p)))
    nobody = sum(got.get(None, {}).values())
    jain = fairness([n for n in dispatched.values() if n])
    busiest = share(max(dispatched.values(), default=0) * len([n for n in dispatched.values() if n]),
                    all_dispatches)

    cb = desk["callbacks"]
    rec = desk["recording_30min"]
    sla = desk["sla"]
    figure_columns = (Column("figure", "Figure", "text"), Column("value", "Value", "text"))
    summary = Table("summary", "Key figures", figure_columns, (
        (t("Issues"), cell_text("int", total)),
        (t("After hours (issues)"), cell_text("int", desk["after_hours"]["count"])),
        (t("After-hours share"), cell_text("share", desk["after_hours"]["share"])),
        (t("Incoming calls"), cell_text("int", calls_total)),
        (t("Answered share"), cell_text("share", share(facts.dispositions.get("answered", 0), calls_total))),
        (t("First-response SLA met"), cell_text("share", sla["response_met"])),
        (t("Resolution SLA met"), cell_text("share", sla["resolution_met"])),
        (t("Median first response (business minutes)"),
         cell_text("number", desk["first_response_business_minutes"]["median"])),
        (t("Median resolution (business minutes)"),
         cell_text("number", desk["resolution_business_minutes"]["median"])),
        (t("Calls to record"), cell_text("int", rec["calls"])),
        (t("Recorded within 30 minutes"), cell_text("int", rec["in_time"])),
        (t("30-minute recording compliance"), cell_text("share", rec["share"])),
        (t("Resolved issues"), cell_text("int", facts.reopens.resolved)),
        (t("Reopened"), cell_text("int", facts.reopens.reopened)),
        (t("Reopen rate"), cell_text("share", share(facts.reopens.reopened, facts.reopens.resolved))),
        (t("Callbacks"), cell_text("int", cb["count"])),
        (t("Dispatches"), cell_text("int", all_dispatches)),
        (t("Dispatches that found nobody"), cell_text("int", nobody)),
        (t("Dispatch fairness (Jain's index, 1 = even)"), cell_text("number", jain)),
        (t("Busiest engineer's load against the mean"), cell_text("number", busiest)),
    ))

    tables = (
        Table("sources", "Volume by source",
              (Column("source", "Source key", "text"), Column("label", "Source", "text"),
               Column("issues", "Issues"), Column("share", "Share", "share")),
              source_rows),
        Table("categories", "Volume by category and source",
              (Column("category", "Category key", "text"), Column("name", "Category", "text"),
               *(Column(s, source_labels.get(s) or s) for s in known_sources), Column("total", "Total"),
               Column("share", "Share", "share")), category_rows),
        Table("daily", "Issues per day", (Column("day", "Day", "text"), Column("issues", "Issues")),
              tuple((d.isoformat(), n) for d, n in days)),
        Table("calls", "Calls by how they ended",
              (Column("disposition", "Disposition key", "text"), Column("label", "Disposition", "text"),
               Column("calls", "Calls"), Column("share", "Share", "share")), call_rows),
        Table("sla", "SLA compliance by priority",
              (Column("priority", "Priority", "text"),
               Column("response_measured", "First responses measured"),
               Column("response_met", "First responses in time"),
               Column("response_share", "First-response compliance", "share"),
               Column("resolution_measured", "Resolutions measured"),
               Column("resolution_met", "Resolutions in time"),
               Column("resolution_share", "Resolution compliance", "share")), sla_rows),
        Table("callbacks", "Callback scores",
              (Column("dimension", "Dimension key", "text"), Column("label", "Dimension", "text"),
               Column("mean", "Average", "number"), *(Column(f"s{s}", str(s)) for s in range(1, 6)),
               Column("count", "Callbacks")), tuple(score_rows)),
        Table("engineers", "Points and deductions per engineer",
              (Column("person", "Engineer id", "text"), Column("name", "Engineer", "text"),
               Column("issues", "Issues"),
               Column("done", "Done"), Column("earned", "Points earned", "number"),
               Column("deductions", "Deductions"), Column("deducted", "Points deducted", "number"),
               Column("net", "Net points", "number")), engineer_rows),
        Table("dispatch", "Dispatch fairness",
              (Column("person", "Engineer id", "text"), Column("name", "Engineer", "text"),
               *(Column(r, label) for r, label in DISPATCH_ROLES), Column("total", "Total"),
               Column("share", "Share", "share")), dispatch_rows),
    )
    chart_data = {"sources": known_sources, "matrix": matrix, "categories": cat_order, "days": days,
                  "cat_names": {c: cat_name(c) for c in cat_order}}
    return ServiceTables(first, last, summary, tables, chart_data)


def table_csv(table: Table, translate: Callable[[str], str]) -> bytes:
    """One table as CSV for Excel: UTF-8 with a BOM (else Excel in China reads it as GBK), CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([translate(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([cell_text(c.kind, v) for c, v in zip(table.columns, row, strict=True)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _column(table: Table, key: str) -> list[Cell]:
    i = next(n for n, c in enumerate(table.columns) if c.key == key)
    return [row[i] for row in table.rows]


def _numbers(values: Sequence[Cell], scale: float = 1.0) -> list[float | None]:
    return [None if v is None or isinstance(v, str) else float(v) * scale for v in values]


def charts(report: ServiceTables, translate: Callable[[str], str]) -> dict[str, str]:
    """The report's charts as inline SVG, by the key of the table each one draws."""
    _ = translate
    no_data = _("No data")
    out: dict[str, str] = {}
    data = report.chart_data
    drawn = data["categories"][:CHART_CATEGORIES]
    labels = dict(SOURCES)
    out["categories"] = bar_chart(
        _("Volume by category and source"), [data["cat_names"][c] for c in drawn],
        [Series(_(labels.get(s, s)), [data["matrix"][c].get(s, 0) for c in drawn]) for s in data["sources"]],
        stacked=True, unit=_("issues"), no_data_text=no_data)
    out["daily"] = line_chart(
        _("Issues per day"), [d.strftime("%m-%d") for d, _n in data["days"]],
        [Series(_("Issues"), [n for _d, n in data["days"]])], unit=_("issues"), no_data_text=no_data)
    calls = report.table("calls")
    assert calls is not None
    out["calls"] = bar_chart(
        _("Calls by how they ended"), [_(str(v)) for v in _column(calls, "label")],
        [Series(_("Calls"), _numbers(_column(calls, "calls")))], unit=_("calls"), no_data_text=no_data)
    sla = report.table("sla")
    assert sla is not None
    out["sla"] = bar_chart(
        _("SLA compliance by priority"), [str(v) for v in _column(sla, "priority")],
        [Series(_("First-response compliance"), _numbers(_column(sla, "response_share"), 100)),
         Series(_("Resolution compliance"), _numbers(_column(sla, "resolution_share"), 100))],
        unit="%", no_data_text=no_data)
    callbacks = report.table("callbacks")
    assert callbacks is not None
    out["callbacks"] = bar_chart(
        _("Callback scores"), [str(s) for s in range(1, 6)],
        [Series(str(row[1]), [float(v) for v in row[3:8] if isinstance(v, int)]) for row in callbacks.rows],
        unit=_("callbacks"), no_data_text=no_data)
    engineers = report.table("engineers")
    assert engineers is not None
    out["engineers"] = horizontal_bar_chart(
        _("Points and deductions per engineer"), [str(v) for v in _column(engineers, "name")],
        [Series(_("Points earned"), _numbers(_column(engineers, "earned"))),
         Series(_("Points deducted"), _numbers(_column(engineers, "deducted")))],
        stacked=True, unit=_("points"), no_data_text=no_data)
    dispatch = report.table("dispatch")
    assert dispatch is not None
    out["dispatch"] = horizontal_bar_chart(
        _("Dispatch fairness"), [str(v) for v in _column(dispatch, "name")],
        [Series(_(label), _numbers(_column(dispatch, role))) for role, label in DISPATCH_ROLES],
        stacked=True, unit=_("dispatches"), no_data_text=no_data)
    return out
