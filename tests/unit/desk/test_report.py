"""The service report: counts, after-hours share, business-time durations, SLA, recording,
callbacks, people, repeat callers; JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

from deskkit import SH, Clock, new_issue, sh
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.calendar import BusinessCalendar
from hotline.desk.callback import CallbackScores
from hotline.desk.report import BusinessTable
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.store.records import NewCall


@settings(max_examples=60, deadline=None)
@given(a=st.integers(0, 40 * 24 * 60), span=st.integers(0, 20 * 24 * 60))
def test_business_table_agrees_with_the_calendar(calendar: BusinessCalendar, a: int, span: int) -> None:
    start = sh(2026, 9, 20) + timedelta(minutes=a)
    end = start + timedelta(minutes=span)
    table = BusinessTable(calendar, date(2026, 9, 19), date(2026, 11, 30))
    assert abs(table.minutes(start.timestamp(), end.timestamp())
               - calendar.business_minutes_between(start, end)) < 1e-6
    assert table.is_business(start.timestamp()) == calendar.is_business_time(start)


async def test_month_report(desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 23, 9, 0)                       # Monday, business time
    a = await new_issue(desk, priority="P3")
    await desk.dispatch(a)
    clock.t = sh(2026, 11, 23, 10, 0)
    await desk.add_note(a, by="zhang", text="在查")         # response after 60 business min
    clock.t = sh(2026, 11, 24, 9, 0)
    await desk.resolve(a, by="zhang", resolution="换线")     # resolution after 420 + 60 = 480 min
    await desk.record_callback(a, CallbackScores(5, 4, 3))
    clock.t = sh(2026, 11, 24, 20, 0)                      # after hours
    b = await new_issue(desk, category="erp", priority="P1")
    await desk.dispatch(b, actor="boss", to="zhao", note="on call")
    clock.t = sh(2026, 11, 24, 23, 30)
    await desk.resolve(b, by="zhao", resolution="重启 ERP 服务")  # P1 4 h target: met (24x7)
    await desk.record_callback(b, CallbackScores(2, 5, 5))      # poor → reopened
    # Two phone calls from the same employee: one recorded in 10 min, one in 40 min.
    issues = IssueService(desk.ctx.store, SH, desk.ctx.clock)
    for minutes in (10, 40):
        clock.t = sh(2026, 11, 25, 9, 0)
        call, issue = await desk.ctx.store.issues.create_for_call(
            NewCall(f"c{minutes}", clock.t, caller_key="+8613812345678"), employee_id=None,
            caller_name="王芳", local_year=2026, status="new")
        await desk.ctx.store.calls.end(call.id, clock.t + timedelta(minutes=2), "answered")
        clock.t += timedelta(minutes=2 + minutes)
        await issues.transition(issue.id, "recorded", actor="op", changes={
            "category": "network", "priority": "P4", "description": "电脑蓝屏"})
    clock.t = sh(2026, 12, 1, 9, 0)
    await new_issue(desk)                                   # December: outside the range

    report = await desk.report(date(2026, 11, 1), date(2026, 11, 30))
    d = report.data
    assert d["issues"] == 4
    assert d["by_source"] == {"phone": 4}
    assert d["by_category"] == {"network": 3, "erp": 1}
    assert d["by_priority"] == {"P4": 2, "P1": 1, "P3": 1}
    assert d["by_status"] == {"recorded": 2, "callback_done": 1, "reopened": 1}
    assert d["after_hours"] == {"count": 1, "share": 0.25}
    assert d["first_response_business_minutes"]["count"] == 2
    # a: 60 business minutes; b: created 20:00, resolved 23:30 → 0 business minutes.
    assert d["first_response_business_minutes"]["mean"] == 30.0
    assert d["resolution_business_minutes"]["count"] == 1  # b was reopened: not resolved now
    assert d["resolution_business_minutes"]["median"] == 480.0
    assert d["sla"]["resolution_met"] == 1.0 and d["sla"]["resolution_measured"] == 1
    # b's first response (its resolution at 23:30) came 210 min after a 60 min 24×7 P1 target.
    assert d["sla"]["response_met"] == 0.5 and d["sla"]["response_measured"] == 2
    assert d["recording_30min"] == {"calls": 2, "in_time": 1, "share": 0.5}
    assert d["callbacks"]["count"] == 2 and d["callbacks"]["poor"] == 1 and d["callbacks"]["reopened"] == 1
    assert d["callbacks"]["efficiency"] == 3.5
    assert d["people"] == [{"person": "zhang", "issues": 1, "done": 1, "points": 4.0},  # 3 + on time
                           {"person": "zhao", "issues": 1, "done": 0, "points": 0.0}]
    assert d["top_repeat_callers"] == [{"caller": "+8613812345678", "name": "王芳", "issues": 2}]
    assert d["top_categories"][0] == {"category": "network", "issues": 3}
    assert json.loads(await desk.report_json(date(2026, 11, 1), date(2026, 11, 30)))["issues"] == 4
    rows = list(csv.reader(io.StringIO(await desk.report_csv(date(2026, 11, 1), date(2026, 11, 30)))))
    assert rows[0] == ["section", "key", "value"]
    assert ["by_category", "erp", "1"] in rows and ["recording_30min", "share", "0.5"] in rows
    assert ["people", "1.person", "zhang"] in rows
    assert isinstance(datetime.fromisoformat(d["generated_at"]), datetime)
