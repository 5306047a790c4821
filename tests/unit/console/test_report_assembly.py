"""The service report's pure parts: the range a form asks for, the tables assembled from counted
figures, the CSV for Excel, the fairness index, and that every word the report shows is one the
catalogs know (hotline/reports is outside the console's extraction, so the console lists them)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotline.console.views.admin_reports import REPORT_WORDS
from hotline.reports.monthly import ReportFacts, assemble, cell_text, charts, fairness, table_csv
from hotline.reports.period import read_period
from hotline.store.service_report import DispatchCount, EngineerPoints, PrioritySla, ReopenCount

SH = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 2)


def desk_data(issues: int = 4) -> dict[str, Any]:
    return {
        "issues": issues, "by_source": {"phone": 3, "web": 1}, "after_hours": {"count": 1, "share": 0.25},
        "first_response_business_minutes": {"median": 12.0}, "resolution_business_minutes": {"median": None},
        "sla": {"response_met": 0.5, "resolution_met": 1.0},
        "recording_30min": {"calls": 3, "in_time": 2, "share": 2 / 3},
        "callbacks": {"count": 2}, "people": [{"person": "a", "issues": 2, "done": 1, "points": 5.0}],
    }


def facts() -> ReportFacts:
    return ReportFacts(
        source_by_category=[("network", "phone", 2), ("-", "phone", 1), ("printer", "web", 1)],
        # 2026-11-30T16:00Z is 1 December 00:00 in Shanghai: outside a November report.
        per_hour=[("2026-11-03T02", 2), ("2026-11-07T14", 1), ("2026-11-30T15", 1), ("2026-11-30T16", 5)],
        dispositions={"answered": 2, "missed": 1, "rejected": 1},
        sla=[PrioritySla("P1", 1, 2, 1, 1)], reopens=ReopenCount(2, 1),
        scores={"efficiency": {5: 1, 2: 1}, "result": {4: 1, 3: 1}, "attitude": {5: 1, 1: 1}},
        points=[EngineerPoints("a", 8.0, -3.0, 2), EngineerPoints("b", 5.0, 0.0, 0)],
        dispatches=[DispatchCount("a", "A", 3), DispatchCount("b", "manual", 1), DispatchCount("b", "escalation", 4),
                    DispatchCount(None, None, 2)],
    )


def report() -> Any:
    return assemble(date(2026, 11, 1), date(2026, 11, 30), desk_data(), facts(), tz=SH,
                    categories={"network": "网络"}, people={"a": "Ann", "b": "Bo"})


def rows(table: Any) -> dict[str, dict[str, Any]]:
    return {str(r[0]): dict(zip((c.key for c in table.columns), r, strict=True)) for r in table.rows}


def test_the_tables_carry_the_counted_figures() -> None:
    r = report()
    daily = dict(r.table("daily").rows)
    assert len(daily) == 30 and daily["2026-11-03"] == 2 and daily["2026-11-07"] == 1 and daily["2026-11-30"] == 1
    calls = rows(r.table("calls"))
    assert list(calls) == ["answered", "abandoned", "voicemail", "missed", "rejected"]  # the four, then what occurred
    assert calls["answered"]["share"] == 0.5 and calls["abandoned"]["calls"] == 0
    categories = rows(r.table("categories"))
    assert categories["network"]["name"] == "网络" and categories["network"]["phone"] == 2
    assert categories["printer"]["web"] == 1 and categories["printer"]["name"] == "printer"
    callbacks = rows(r.table("callbacks"))
    assert callbacks["efficiency"]["mean"] == 3.5 and callbacks["attitude"]["s1"] == 1
    engineers = rows(r.table("engineers"))
    assert engineers["a"]["net"] == 5.0 and engineers["a"]["deductions"] == 2 and engineers["b"]["issues"] == 0
    dispatch = rows(r.table("dispatch"))
    # b's escalations are listed but are no share of the work: 3 + 1 assignments.
    assert dispatch["a"]["total"] == 3 and dispatch["b"]["total"] == 1 and dispatch["b"]["escalation"] == 4
    assert dispatch["a"]["share"] == 0.75
    summary = dict(r.summary.rows)
    assert summary["Dispatches that found nobody"] == "2"
    assert summary["Dispatch fairness (Jain's index, 1 = even)"] == cell_text("number", fairness([3, 1]))
    assert summary["Reopen rate"] == "50.0%"


def test_fairness_is_one_when_even_and_one_over_n_when_one_takes_all() -> None:
    assert fairness([4, 4, 4]) == 1.0
    assert fairness([9, 0, 0]) == pytest.approx(1 / 3)
    assert fairness([]) is None and fairness([0, 0]) is None


def test_csv_is_utf8_with_a_bom_and_the_pages_cells() -> None:
    r = report()
    table = r.table("categories")
    body = table_csv(table, lambda s: {"Category": "类别"}.get(s, s))
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert parsed[0][1] == "类别"
    assert parsed[1:] == [[cell_text(c.kind, v) for c, v in zip(table.columns, row, strict=True)]
                          for row in table.rows]


def test_cells_are_written_one_way() -> None:
    assert cell_text("share", 2 / 3) == "66.7%" and cell_text("number", 3.456) == "3.46"
    assert cell_text("int", 7) == "7" and cell_text("share", None) == "" and cell_text("text", "a,b") == "a,b"


@pytest.mark.parametrize(("form", "first", "last", "errors"), [
    ({}, date(2026, 11, 1), date(2026, 11, 30), set()),
    ({"month": "2026-02"}, date(2026, 2, 1), date(2026, 2, 28), set()),
    ({"month": "2024-12"}, date(2024, 12, 1), date(2024, 12, 31), set()),
    ({"first": "2026-11-03", "last": "2026-11-20", "month": "2026-01"}, date(2026, 11, 3), date(2026, 11, 20), set()),
    ({"month": "2026-13"}, date(2026, 11, 1), date(2026, 11, 30), {"month"}),
    ({"month": "'; DROP TABLE issues"}, date(2026, 11, 1), date(2026, 11, 30), {"month"}),
    ({"first": "2026-11-31", "last": "x"}, date(2026, 11, 1), date(2026, 11, 30), {"first", "last"}),
    ({"first": "2026-11-20", "last": "2026-11-03"}, date(2026, 11, 1), date(2026, 11, 30), {"last"}),
    ({"first": "2024-01-01", "last": "2026-01-01"}, date(2026, 11, 1), date(2026, 11, 30), {"last"}),
])
def test_the_range_a_form_asks_for(form: dict[str, str], first: date, last: date, errors: set[str]) -> None:
    period = read_period(form, TODAY)
    assert (period.first, period.last, set(period.errors)) == (first, last, errors)
    assert all(period.typed[k] == v for k, v in form.items())  # shown again as typed


def test_january_reports_on_december_of_the_year_before() -> None:
    period = read_period({}, date(2027, 1, 15))
    assert (period.first, period.last, period.month) == (date(2026, 12, 1), date(2026, 12, 31), "2026-12")


def test_every_word_the_report_shows_is_listed_for_the_catalogs() -> None:
    asked: set[str] = set()

    def translate(message: str) -> str:
        asked.add(message)
        return message

    r = assemble(date(2026, 11, 1), date(2026, 11, 30), desk_data(), facts(), tz=SH, categories={},
                 people={}, translate=translate)
    charts(r, translate)
    for table in (r.summary, *r.tables):
        asked.add(table.title)
        asked.update(c.label for c in table.columns if not c.label.isdigit())
    missing = sorted(asked - set(REPORT_WORDS))
    assert missing == [], missing


def test_every_range_error_is_listed_for_the_catalogs() -> None:
    from hotline.console.views.admin_reports import PERIOD_ERRORS

    forms = [{"month": "x"}, {"first": "x", "last": "y"}, {"first": "2026-02-02", "last": "2026-01-01"},
             {"first": "2020-01-01", "last": "2026-01-01"}]
    said = {message for form in forms for message in read_period(form, TODAY).errors.values()}
    assert len(said) == 5 and said <= set(PERIOD_ERRORS)
