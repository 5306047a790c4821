"""SLA clocks on the business calendar: holidays, make-up days, pauses, 24×7, warnings, escalation."""

from __future__ import annotations

from datetime import timedelta

from deskkit import SH, Clock, new_issue, sh

from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.desk.sla import SlaState
from hotline.issues import IssueService


async def test_p3_at_1729_before_national_day_across_make_up_saturday(desk: Desk, clock: Clock) -> None:
    # Wednesday 2026-09-30 17:29, the last working minute but one before National Day
    # (holiday 10-01..07; Saturday 10-10 is a make-up working day). Office hours
    # 08:00-12:00 + 13:30-17:30 = 480 business minutes a day.
    # Resolution, 3 business days = 1440 min:
    #   09-30 17:29-17:30      1 min   (total    1)
    #   10-01..07 holiday      0
    #   10-08 Thu            480       (total  481)
    #   10-09 Fri            480       (total  961)
    #   10-10 Sat (make-up)  479 of 480 → 08:00 + 240 = 12:00, 13:30 + 239 = 17:29
    # so planned = 2026-10-10 17:29 (without the make-up day it would be Monday 10-12 17:29).
    # Response, 4 business hours = 240 min: 1 min on 09-30, then 10-08 08:00 + 239 = 11:59.
    clock.t = sh(2026, 9, 30, 17, 29)
    issue_id = await new_issue(desk, priority="P3")
    result = await desk.dispatch(issue_id)
    assert result.issue.planned_at == sh(2026, 10, 10, 17, 29)
    reading = await desk.sla(issue_id)
    assert reading.response.due == sh(2026, 10, 8, 11, 59)
    assert reading.resolution.due == sh(2026, 10, 10, 17, 29)
    proj = await desk.ctx.desk.changes.projection(issue_id)
    assert proj is not None and proj["resolution_due"].startswith("2026-10-10T09:29")  # UTC


async def test_pending_caller_pauses_the_resolution_clock(desk: Desk, clock: Clock) -> None:
    # Monday 2026-11-23 09:00, P3: 1440 business minutes → Mon 420, Tue 480, Wed 480, Thu 60
    # → due Thursday 09:00.
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    assert (await desk.sla(issue_id)).resolution.due == sh(2026, 11, 26, 9, 0)
    clock.t = sh(2026, 11, 23, 10, 0)
    await desk.transition(issue_id, "in_progress", actor="zhang")
    await desk.transition(issue_id, "pending_caller", actor="zhang", note="等用户回电")
    reading = await desk.sla(issue_id)
    assert reading.resolution.state is SlaState.PAUSED and reading.resolution.due is None
    assert reading.response.state is SlaState.MET and reading.response.used == 60
    # Paused Mon 10:00-17:30 (360 business min) + Tue 08:00-10:00 (120) = one business day.
    clock.t = sh(2026, 11, 24, 10, 0)
    await desk.transition(issue_id, "in_progress", actor="zhang")
    assert (await desk.sla(issue_id)).resolution.due == sh(2026, 11, 27, 9, 0)
    clock.t = sh(2026, 11, 24, 11, 0)
    await desk.transition(issue_id, "resolved", actor="zhang", changes={"resolution": "更换网线"})
    proj = await desk.ctx.desk.changes.projection(issue_id)
    assert proj is not None
    # Used: Mon 09:00-10:00 (60) + Tue 10:00-11:00 (60).
    assert (proj["resolution_minutes"], proj["resolution_met"], proj["sla_state"]) == (120, 1, "met")


async def test_p1_runs_around_the_clock(desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 28, 2, 0)  # Saturday night
    issue_id = await new_issue(desk, priority="P1")
    reading = await desk.sla(issue_id)
    assert reading.response.due == sh(2026, 11, 28, 3, 0)
    assert reading.resolution.due == sh(2026, 11, 28, 6, 0)
    clock.t += timedelta(minutes=50)
    assert (await desk.sla(issue_id)).state is SlaState.AT_RISK  # 50 of 60 response minutes
    clock.t += timedelta(minutes=11)
    assert (await desk.sla(issue_id)).state is SlaState.BREACHED


async def test_sweep_warns_once_then_escalates_to_next_b_and_manager(clock: Clock, desk: Desk) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("robot", "webhook", url="http://x/"),))
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(desk, priority="P3")
    await desk.dispatch(issue_id, actor="boss", to="li", note="li is on it")
    await desk.transition(issue_id, "in_progress", actor="li")
    # 80 % of 1440 = 1152 business minutes: Mon 420 + Tue 480 = 900, Wed 08:00 + 252 → 13:42.
    clock.t = sh(2026, 11, 25, 13, 41)
    assert (await desk.sweep_sla()).at_risk == ()
    clock.t = sh(2026, 11, 25, 13, 42)
    assert (await desk.sweep_sla()).at_risk == (issue_id,)
    assert (await desk.sweep_sla()).at_risk == ()  # warned once
    clock.t = sh(2026, 11, 26, 9, 1)  # due Thu 09:00
    result = await desk.sweep_sla()
    assert result.breached == (issue_id,)
    assert (await desk.sweep_sla()).breached == ()  # escalated once
    rows = await desk.ctx.store.db.fetch_all(
        "SELECT event, recipient FROM desk_outbox WHERE issue_id = ? ORDER BY id", (issue_id,))
    assert [tuple(r) for r in rows] == [
        ("dispatched", "li"), ("at_risk", "li"), ("breached", "li"),
        ("escalated", "wang"), ("escalated", "boss")]  # wang: the B role after li
    entry = (await desk.dispatch_log(issue_id))[0]
    assert entry.role == "escalation" and entry.person_id == "wang"
    assert entry.reason == "SLA resolution breached (owner li): escalated to wang, boss"
    kinds = [e.kind for e in await desk.ctx.store.issues.events(issue_id)]
    assert kinds[-2:] == ["sla", "escalated"]


async def test_issue_dispatched_after_its_breach_is_still_escalated(clock: Clock, desk: Desk) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("robot", "webhook", url="http://x/"),))
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(desk, priority="P1")
    clock.t = sh(2026, 11, 23, 14, 0)  # P1: 4 h resolution already used up, nobody owns it
    assert (await desk.sweep_sla()).breached == ()
    await desk.dispatch(issue_id)
    result = await desk.sweep_sla()
    assert result.breached == (issue_id,)
    assert (await desk.sweep_sla()).breached == ()


async def test_refresh_after_a_change_made_outside_the_desk(clock: Clock, desk: Desk) -> None:
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    issues = IssueService(desk.ctx.store, SH, desk.ctx.clock)
    await issues.transition(issue_id, "in_progress", actor="zhang")
    await issues.transition(issue_id, "pending_caller", actor="zhang")
    stored = await desk.ctx.desk.changes.projection(issue_id)
    assert stored is not None and stored["sla_state"] == "on_track"  # the desk did not see it
    values = await desk.refresh_sla(issue_id)
    assert values["sla_state"] == "paused" and values["resolution_due"] is None
    assert values["first_response_at"] == sh(2026, 11, 23, 9, 0)
    stored = await desk.ctx.desk.changes.projection(issue_id)
    assert stored is not None and stored["sla_state"] == "paused"
