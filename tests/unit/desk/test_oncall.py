"""After-hours dispatch to the person on call: one rota for calls and desk."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from deskkit import SH, Clock, new_issue, sh

from hotline.calendar import BusinessCalendar
from hotline.desk.oncall import OnCallPick, describe, pick, when_label
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.rota import EscalationChain, OnCall, Override, Rota, Rotation, Source, Swap
from hotline.store import Store
from hotline.store.desk.dispatch import Leave
from hotline.store.records import Person

SAT_NIGHT = sh(2026, 11, 28, 21, 4)  # Saturday
ROBOT = ChannelSettings("robot", "webhook", url="http://127.0.0.1:9/")


def it_rota(overrides: tuple[Override, ...] = (), swaps: tuple[Swap, ...] = ()) -> Rota:
    """Weekly from Monday 2026-11-23 08:30: luoyu, liuyang, sunli; manager boss; plus a daily
    network rota (zhao, wang) to show the desk can be pointed at another rotation."""
    return Rota(
        [Rotation("it-oncall", ("luoyu", "liuyang", "sunli"), "weekly", time(8, 30), date(2026, 11, 23), SH),
         Rotation("net-oncall", ("zhao", "wang"), "daily", time(8, 30), date(2026, 11, 23), SH)],
        [EscalationChain("it-oncall", manager="boss")], overrides, swaps)


@pytest.fixture
async def oncall_desk(desk: Desk, store: Store, calendar: BusinessCalendar, clock: Clock) -> Desk:
    """The seeded desk (post network: A zhang, B li, B wang) with the it-oncall rota."""
    await store.people.upsert_people([Person("luoyu", "罗宇", email="luoyu@example.com"),
                                      Person("liuyang", "刘洋"), Person("sunli", "孙丽")])
    return Desk(store, calendar, DeskSettings(channels=(ROBOT,)), clock, rota=it_rota())


def test_pick_skips_the_away_and_starts_after_the_owner() -> None:
    oc = OnCall("it-oncall", ("luoyu", "liuyang", "boss"), SAT_NIGHT, SAT_NIGHT, Source.ROTATION, "")
    assert pick(oc, {}).person_id == "luoyu"
    p = pick(oc, {"luoyu": "on leave 2026-11-28..29"})
    assert (p.person_id, p.skipped) == ("liuyang", ("luoyu on leave 2026-11-28..29",))
    assert describe(p) == "on call it-oncall: luoyu on leave 2026-11-28..29 → liuyang (rotation)"
    assert pick(oc, {}, after="luoyu").person_id == "liuyang"
    assert pick(oc, {"boss": "inactive"}, after="liuyang").person_id is None
    assert pick(oc, {}, after="zhang").person_id == "luoyu"  # owner not in tonight's chain
    assert describe(pick(oc, {}, after="boss")) == "on call it-oncall after boss → nobody available"
    everyone = pick(oc, {p: "inactive" for p in oc.chain})
    assert describe(everyone) == ("on call it-oncall: luoyu inactive; liuyang inactive; boss inactive"
                                  " → nobody available")
    swapped = OnCallPick("it-oncall", "sunli", None, (), Source.SWAP, "swap luoyu <-> sunli by boss: 婚假")
    assert describe(swapped) == "on call it-oncall → sunli (swap: swap luoyu <-> sunli by boss: 婚假)"


def test_when_label_names_weekday_and_holiday(calendar: BusinessCalendar) -> None:
    assert when_label(calendar, SAT_NIGHT) == "Sat 2026-11-28 21:04"
    assert when_label(calendar, sh(2026, 10, 1, 10, 0)) == "Thu 2026-10-01 10:00, holiday 国庆节"
    assert when_label(calendar, datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) == "Mon 2026-11-23 22:00"


async def test_urgent_after_hours_goes_to_the_on_call_primary(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    issue_id = await new_issue(oncall_desk, priority="P1")
    result = await oncall_desk.dispatch(issue_id)
    reason = "after hours (Sat 2026-11-28 21:04): on call it-oncall → luoyu (rotation)"
    assert (result.person_id, result.reason, result.flagged) == ("luoyu", reason, False)
    assert result.issue.owner == "luoyu" and result.issue.status == "dispatched"
    assert result.issue.planned_at == SAT_NIGHT + timedelta(hours=4)  # P1 resolution: 4 h, 24×7
    [entry] = await oncall_desk.dispatch_log(issue_id)
    assert (entry.person_id, entry.role, entry.reason, entry.post_id) == ("luoyu", "on_call", reason, "network")
    [note] = [n for n in await oncall_desk.notifications(issue_id)]
    assert (note.event, note.recipient, note.payload["reason"]) == ("dispatched", "luoyu", reason)


async def test_non_urgent_after_hours_keeps_the_post_roles(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P3"))
    assert (result.person_id, result.reason) == ("zhang", "A zhang available")
    # Planned on business time from Monday 08:00: 3 business days → Wednesday 17:30.
    assert result.issue.planned_at == sh(2026, 12, 2, 17, 30)
    [entry] = await oncall_desk.dispatch_log(result.issue.id)
    assert entry.role == "A"


async def test_business_hours_and_manual_dispatch_ignore_the_rota(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 23, 10, 0)  # Monday morning
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))
    assert (result.person_id, result.reason) == ("zhang", "A zhang available")
    clock.t = SAT_NIGHT
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"), actor="boss",
                                        to="li", note="li knows this switch")
    assert (result.person_id, result.reason) == ("li", "manual by boss: li knows this switch")


async def test_p2_on_a_weeknight_and_p1_on_a_holiday(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 25, 19, 45)  # Wednesday evening
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P2"))
    assert result.reason == "after hours (Wed 2026-11-25 19:45): on call it-oncall → luoyu (rotation)"
    # National Day, 10:00 on a Thursday: a holiday is after hours all day. Week of 09-28:
    # (2026-09-28 - 2026-11-23) = -8 weeks → members[-8 % 3] = members[1] = liuyang.
    clock.t = sh(2026, 10, 1, 10, 0)
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))
    assert result.reason == ("after hours (Thu 2026-10-01 10:00, holiday 国庆节): on call it-oncall"
                             " → liuyang (rotation)")
    # The make-up Saturday 2026-10-10 is a working day: the post's A role, not the rota.
    clock.t = sh(2026, 10, 10, 9, 0)
    assert (await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))).person_id == "zhang"


async def test_primary_on_leave_goes_to_the_next_in_chain(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    await oncall_desk.add_leave(Leave("luoyu", date(2026, 11, 28), date(2026, 11, 29), "病假"), made_by="boss")
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))
    assert result.person_id == "liuyang"
    assert result.reason == ("after hours (Sat 2026-11-28 21:04): on call it-oncall:"
                             " luoyu on leave 2026-11-28..29 → liuyang (rotation)")
    # Leave is per local day: on Friday night luoyu is on call again.
    clock.t = sh(2026, 11, 27, 23, 0)
    assert (await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))).person_id == "luoyu"


async def test_override_and_swap_in_force_show_in_the_reason(
        store: Store, calendar: BusinessCalendar, clock: Clock, oncall_desk: Desk) -> None:
    made = sh(2026, 11, 20, 9, 0)
    cover = Override(rota="it-oncall", start=sh(2026, 11, 28), end=sh(2026, 11, 29), person="sunli",
                     replaces="luoyu", made_by="boss", reason="luoyu 出差", made_at=made)
    current = [it_rota((cover,))]
    desk = Desk(store, calendar, DeskSettings(), clock, rota=lambda: current[0])
    clock.t = SAT_NIGHT
    result = await desk.dispatch(await new_issue(desk, priority="P1"))
    assert result.person_id == "sunli"
    assert result.reason == ("after hours (Sat 2026-11-28 21:04): on call it-oncall → sunli"
                             " (override: primary sunli instead of luoyu, override by boss: luoyu 出差)")
    # The app rebuilds its rota when a swap is made; the desk asks for the current one each time.
    swap = Swap(rota="it-oncall", a="luoyu", b="liuyang", start=sh(2026, 11, 28, 20), end=sh(2026, 11, 30),
                made_by="luoyu", reason="换班", made_at=made + timedelta(hours=1))
    current[0] = it_rota(swaps=(swap,))
    result = await desk.dispatch(await new_issue(desk, priority="P1"))
    assert result.person_id == "liuyang"
    assert result.reason == ("after hours (Sat 2026-11-28 21:04): on call it-oncall → liuyang"
                             " (swap: swap luoyu <-> liuyang by luoyu: 换班)")


async def test_whole_chain_away_falls_back_to_the_post(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    for person in ("luoyu", "liuyang"):
        await oncall_desk.add_leave(Leave(person, date(2026, 11, 26), date(2026, 11, 30)), made_by="boss")
    await oncall_desk.ctx.store.people.upsert_people([Person("boss", "刘经理", roles=("manager",), active=False)])
    result = await oncall_desk.dispatch(await new_issue(oncall_desk, priority="P1"))
    assert result.person_id == "zhang"
    assert result.reason == (
        "after hours (Sat 2026-11-28 21:04): on call it-oncall: luoyu on leave 2026-11-26..30;"
        " liuyang on leave 2026-11-26..30; boss inactive → nobody available; by post: A zhang available")
    [entry] = await oncall_desk.dispatch_log(result.issue.id)
    assert entry.role == "A"


async def test_rota_name_chooses_the_rotation(store: Store, calendar: BusinessCalendar, clock: Clock,
                                             oncall_desk: Desk) -> None:
    desk = Desk(store, calendar, DeskSettings(), clock, rota=it_rota(), rota_name="net-oncall")
    clock.t = sh(2026, 11, 24, 2, 0)  # Tuesday 02:00: Monday's daily shift (zhao) until 08:30
    result = await desk.dispatch(await new_issue(desk, priority="P1"))
    assert result.reason == "after hours (Tue 2026-11-24 02:00): on call net-oncall → zhao (rotation)"
    with pytest.raises(ValueError, match="rota_name 'nope' is not a rotation of the rota"):
        Desk(store, calendar, rota=it_rota(), rota_name="nope")
    with pytest.raises(ValueError, match="no rota given"):
        Desk(store, calendar, rota_name="it-oncall")


async def test_urgent_priorities_are_configurable(store: Store, calendar: BusinessCalendar, clock: Clock,
                                                  oncall_desk: Desk) -> None:
    desk = Desk(store, calendar, DeskSettings(urgent_priorities=("P1",)), clock, rota=it_rota())
    clock.t = SAT_NIGHT
    assert (await desk.dispatch(await new_issue(desk, priority="P2"))).person_id == "zhang"
    assert (await desk.dispatch(await new_issue(desk, priority="P1"))).person_id == "luoyu"


# -- escalation on breach outside business hours ----------------------------------------------

async def _outbox(desk: Desk, issue_id: int) -> list[tuple[str, str]]:
    rows = await desk.ctx.store.db.fetch_all(
        "SELECT event, recipient FROM desk_outbox WHERE issue_id = ? ORDER BY id", (issue_id,))
    return [tuple(r) for r in rows]


async def test_night_breach_goes_up_the_on_call_chain(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    issue_id = await new_issue(oncall_desk, priority="P1")
    await oncall_desk.dispatch(issue_id)  # luoyu, on call; P1 response due 22:04
    clock.t = sh(2026, 11, 28, 22, 5)
    assert (await oncall_desk.sweep_sla()).breached == (issue_id,)
    reason = ("SLA response breached (owner luoyu): escalated to liuyang, boss — after hours"
              " (Sat 2026-11-28 22:05): on call it-oncall after luoyu → liuyang (rotation)")
    entry = (await oncall_desk.dispatch_log(issue_id))[0]
    assert (entry.person_id, entry.role, entry.reason) == ("liuyang", "escalation", reason)
    assert await _outbox(oncall_desk, issue_id) == [
        ("dispatched", "luoyu"), ("breached", "luoyu"), ("escalated", "liuyang"), ("escalated", "boss")]


async def test_day_dispatched_issue_breaching_at_night_wakes_the_primary(
        oncall_desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 23, 17, 0)  # Monday, business time: the A role
    issue_id = await new_issue(oncall_desk, priority="P1")
    assert (await oncall_desk.dispatch(issue_id)).person_id == "zhang"
    clock.t = sh(2026, 11, 23, 18, 1)  # response (1 h, 24×7) breached at 18:00
    assert (await oncall_desk.sweep_sla()).breached == (issue_id,)
    entry = (await oncall_desk.dispatch_log(issue_id))[0]
    assert entry.person_id == "luoyu"  # zhang is not in tonight's chain: its primary, not B li
    assert entry.reason == ("SLA response breached (owner zhang): escalated to luoyu, boss — after hours"
                            " (Mon 2026-11-23 18:01): on call it-oncall → luoyu (rotation)")


async def test_night_escalation_skips_the_away_and_ends_at_the_post(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = SAT_NIGHT
    await oncall_desk.add_leave(Leave("liuyang", date(2026, 11, 28), date(2026, 11, 28)), made_by="boss")
    first = await new_issue(oncall_desk, priority="P1")
    await oncall_desk.dispatch(first)
    # The manager owns the second: nobody is left above the manager in the chain.
    second = await new_issue(oncall_desk, priority="P1")
    await oncall_desk.dispatch(second, actor="boss", to="boss", note="I'll take it")
    clock.t = sh(2026, 11, 28, 22, 30)
    assert set((await oncall_desk.sweep_sla()).breached) == {first, second}
    entry = (await oncall_desk.dispatch_log(first))[0]
    assert entry.person_id == "boss"  # liuyang on leave: the manager, once
    assert entry.reason == ("SLA response breached (owner luoyu): escalated to boss — after hours"
                            " (Sat 2026-11-28 22:30): on call it-oncall after luoyu:"
                            " liuyang on leave 2026-11-28 → boss (rotation)")
    entry = (await oncall_desk.dispatch_log(second))[0]
    assert entry.person_id == "li"  # boss is not a B role: the post's first B
    assert entry.reason == ("SLA response breached (owner boss): escalated to li — after hours"
                            " (Sat 2026-11-28 22:30): on call it-oncall after boss → nobody available,"
                            " so the post's next B role")


async def test_non_urgent_breach_after_hours_keeps_the_next_b(oncall_desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(oncall_desk, priority="P3")
    await oncall_desk.dispatch(issue_id, actor="boss", to="li", note="li is on it")
    clock.t = sh(2026, 11, 26, 18, 0)  # due Thursday 09:00; the sweep finds it in the evening
    assert (await oncall_desk.sweep_sla()).breached == (issue_id,)
    entry = (await oncall_desk.dispatch_log(issue_id))[0]
    assert (entry.person_id, entry.reason) == (
        "wang", "SLA response breached (owner li): escalated to wang, boss")


# -- coverage report with rota gaps -------------------------------------------------------------

async def test_coverage_report_lists_uncovered_on_call_stretches(
        store: Store, calendar: BusinessCalendar, clock: Clock, oncall_desk: Desk) -> None:
    made = sh(2026, 11, 20, 9, 0)
    # sunli covers luoyu's Thursday, but sunli has left: an override by someone away is no cover.
    cover = Override(rota="it-oncall", start=sh(2026, 11, 26), end=sh(2026, 11, 27), person="sunli",
                     replaces="luoyu", made_by="boss", reason="luoyu 休假", made_at=made)
    desk = Desk(store, calendar, DeskSettings(), clock, rota=it_rota((cover,)))
    await desk.add_leave(Leave("luoyu", date(2026, 11, 25), date(2026, 11, 26)), made_by="boss")
    await desk.add_leave(Leave("zhao", date(2026, 11, 25), date(2026, 11, 25)), made_by="boss")
    await desk.add_leave(Leave("liuyang", date(2026, 11, 24), date(2026, 11, 24)), made_by="boss")
    await store.people.upsert_people([Person("sunli", "孙丽", active=False)])
    report = await desk.coverage_report(date(2026, 11, 23), date(2026, 11, 29))
    assert report.posts == tuple(await desk.coverage(date(2026, 11, 23), date(2026, 11, 29)))
    assert [(g.day, g.post_id) for g in report.posts] == [(date(2026, 11, 25), "erp")]
    # Last week's shift (sunli, until Monday 08:30) is cut at the range's start; liuyang is
    # secondary this week: not a gap; zhao's daily net-oncall shift starts at 08:30.
    assert [(g.rota, g.start, g.end, g.primary, g.why, g.source) for g in report.rota] == [
        ("it-oncall", sh(2026, 11, 23), sh(2026, 11, 23, 8, 30), "sunli", "inactive", Source.ROTATION),
        ("it-oncall", sh(2026, 11, 25), sh(2026, 11, 26), "luoyu", "on leave 2026-11-25..26", Source.ROTATION),
        ("net-oncall", sh(2026, 11, 25, 8, 30), sh(2026, 11, 26), "zhao", "on leave 2026-11-25",
         Source.ROTATION),
        ("it-oncall", sh(2026, 11, 26), sh(2026, 11, 27), "sunli", "inactive", Source.OVERRIDE),
    ]
    assert report.rota[1].chain == ("luoyu", "liuyang", "boss")
    assert report.rota[3].note == "primary sunli instead of luoyu, override by boss: luoyu 休假"
    data = report.data
    assert data["rota"][2] == {"rota": "net-oncall", "start": "2026-11-25T08:30:00+08:00",
                               "end": "2026-11-26T00:00:00+08:00", "primary": "zhao",
                               "why": "on leave 2026-11-25", "chain": ["zhao", "wang"],
                               "source": "rotation", "note": ""}
    assert data["posts"] == [{"day": "2026-11-25", "post": "erp", "reasons": "A zhao on leave 2026-11-25"}]
    # An active cover closes the gap; without a rota there are no rota gaps.
    await store.people.upsert_people([Person("sunli", "孙丽")])
    report = await desk.coverage_report(date(2026, 11, 26), date(2026, 11, 26))
    assert report.rota == ()
    plain = Desk(store, calendar, DeskSettings(), clock)
    assert (await plain.coverage_report(date(2026, 11, 23), date(2026, 11, 29))).rota == ()
