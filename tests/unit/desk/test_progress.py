"""Progress notes, the stale flag on working days, and the daily digest."""

from __future__ import annotations

from deskkit import Clock, new_issue, sh

from hotline.desk.progress import last_closed_working_day
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings


async def test_last_closed_working_day_skips_holidays(desk: Desk) -> None:
    # Thursday 2026-10-08 10:00: the last closed working day is 09-30 (10-01..07 National Day).
    day, opened, close = last_closed_working_day(desk.ctx, sh(2026, 10, 8, 10, 0))
    assert (day.isoformat(), opened, close) == ("2026-09-30", sh(2026, 9, 30, 8, 0), sh(2026, 9, 30, 17, 30))
    # After closing time a working day counts itself.
    assert last_closed_working_day(desk.ctx, sh(2026, 10, 8, 17, 30))[0].isoformat() == "2026-10-08"
    # Sunday 10-11 looks back to the make-up Saturday 10-10.
    assert last_closed_working_day(desk.ctx, sh(2026, 10, 11, 12, 0))[0].isoformat() == "2026-10-10"


async def test_stale_without_a_note_on_a_working_day(desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 20, 16, 0)  # Friday
    noted, silent, waiting = [await new_issue(desk) for _ in range(3)]
    for issue_id in (noted, silent, waiting):
        await desk.dispatch(issue_id)
    await desk.transition(waiting, "in_progress", actor="zhang")
    await desk.transition(waiting, "pending_caller", actor="zhang", note="用户出差")
    # Monday: Friday's work counts, nothing is stale yet.
    clock.t = sh(2026, 11, 23, 9, 0)
    assert await desk.stale() == []
    clock.t = sh(2026, 11, 23, 11, 0)
    await desk.add_note(noted, by="zhang", text="已联系厂商，等待备件")
    # Tuesday: Monday closed; `silent` had no note on Monday, `waiting` waits for the caller.
    clock.t = sh(2026, 11, 24, 9, 0)
    stale = await desk.stale()
    assert [(i.issue_id, i.why) for i in stale] == [(silent, "stale since 2026-11-20 16:00")]
    [note] = await desk.notes(noted)
    assert (note.actor, note.note, note.at) == ("zhang", "已联系厂商，等待备件", sh(2026, 11, 23, 11, 0))
    # A note is also the first response for the SLA.
    assert (await desk.sla(noted)).response.stopped_at == sh(2026, 11, 23, 11, 0)


async def test_daily_digest_once_per_owner_per_day(desk: Desk, clock: Clock) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("mail", "smtp"),))
    clock.t = sh(2026, 11, 20, 16, 0)
    a = await new_issue(desk)
    await desk.dispatch(a)
    b = await new_issue(desk, priority="P1")
    await desk.dispatch(b, actor="boss", to="li", note="li on duty")
    clock.t = sh(2026, 11, 20, 16, 50)  # P1: 50 of 60 response minutes used → at risk
    await desk.sweep_sla()
    clock.t = sh(2026, 11, 24, 8, 30)
    digests = {d.owner: d for d in await desk.digests()}
    assert [i.issue_id for i in digests["zhang"].stale] == [a]
    assert [i.issue_id for i in digests["li"].stale] == [b]
    assert [(i.issue_id, i.why) for i in digests["li"].at_risk] == [(b, "at_risk")]
    assert sorted(await desk.send_digests()) == ["li", "zhang"]
    assert await desk.send_digests() == []  # once a day
    rows = await desk.ctx.store.db.fetch_all(
        "SELECT recipient, channel, payload FROM desk_outbox WHERE event = 'stale_digest' ORDER BY recipient")
    assert [(r[0], r[1]) for r in rows] == [("li", "mail"), ("zhang", "mail")]
    assert '"number": "1 stale, 1 at risk"' in rows[0][2]
