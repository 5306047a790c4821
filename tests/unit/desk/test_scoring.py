"""Scoring: points, on-time bonus, overdue deductions per business day, adjustments, leaderboard;
the incremental ledger equals a recomputation from the event log."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from deskkit import Clock, new_issue, sh

from hotline.desk.callback import CallbackScores
from hotline.desk.scoring import issue_entries
from hotline.desk.service import Desk
from hotline.issues import IssueError


async def test_incremental_ledger_equals_recompute_from_events(desk: Desk, clock: Clock) -> None:
    async def advance(to: datetime) -> None:
        """Move the clock to ``to``, running the daily accrual at 18:00 of each day passed."""
        t = clock.t.replace(hour=18, minute=0)
        if t <= clock.t:
            t += timedelta(days=1)
        while t <= to:
            clock.t = t
            await desk.accrue_scores()
            t += timedelta(days=1)
        clock.t = to

    good = CallbackScores(5, 5, 5)
    clock.t = sh(2026, 11, 23, 9, 0)  # Monday; P3 resolution = 3 business days → due Thu 09:00
    i1, i2, i3, i4 = [await new_issue(desk) for _ in range(4)]
    await desk.dispatch(i1)                                    # zhang (A)
    await desk.dispatch(i2, actor="boss", to="li", note="load")
    await desk.dispatch(i3, actor="boss", to="wang", note="load")
    await desk.dispatch(i4)                                    # zhang
    await advance(sh(2026, 11, 23, 11, 0))
    await desk.resolve(i4, by="zhang", resolution="重装驱动")
    await advance(sh(2026, 11, 23, 14, 0))
    assert (await desk.record_callback(i4, CallbackScores(1, 1, 3))).reopened  # earns nothing
    await desk.transition(i4, "in_progress", actor="zhang")
    await advance(sh(2026, 11, 24, 9, 0))
    await desk.resolve(i4, by="zhang", resolution="更换打印机")   # 390 of 1440 min: on time
    await advance(sh(2026, 11, 24, 10, 0))
    await desk.resolve(i1, by="zhang", resolution="重启交换机")
    await advance(sh(2026, 11, 24, 11, 0))
    await desk.record_callback(i4, good)
    await advance(sh(2026, 11, 24, 15, 0))
    await desk.record_callback(i1, good)
    await advance(sh(2026, 11, 26, 12, 0))
    await desk.reassign(i3, "zhao", actor="boss", note="wang 出差")
    await desk.adjust_score("wang", "2026-11", 2, reason="现场支援", by="boss")
    await advance(sh(2026, 11, 30, 10, 0))
    await desk.resolve(i2, by="li", resolution="更换网卡")      # overdue Thu 26 and Fri 27 closes
    await advance(sh(2026, 11, 30, 11, 0))
    await desk.record_callback(i2, good)
    await advance(sh(2026, 12, 1, 18, 30))                      # i3 still open

    assert await desk.verify_scores() == []
    ledger = {e.key: (e.person_id, e.month, e.points) for e in await desk.score_ledger()}
    assert ledger == {
        f"resolve:{i1}": ("zhang", "2026-11", 3.0), f"ontime:{i1}": ("zhang", "2026-11", 1.0),
        f"resolve:{i4}": ("zhang", "2026-11", 3.0), f"ontime:{i4}": ("zhang", "2026-11", 1.0),
        f"resolve:{i2}": ("li", "2026-11", 3.0),
        f"overdue:{i2}:2026-11-26": ("li", "2026-11", -1.0),
        f"overdue:{i2}:2026-11-27": ("li", "2026-11", -1.0),
        # i3 changed hands at 12:00 on Thursday, before Thursday's close.
        f"overdue:{i3}:2026-11-26": ("zhao", "2026-11", -1.0),
        f"overdue:{i3}:2026-11-27": ("zhao", "2026-11", -1.0),
        f"overdue:{i3}:2026-11-30": ("zhao", "2026-11", -1.0),
        f"overdue:{i3}:2026-12-01": ("zhao", "2026-12", -1.0),
        "adjust:1": ("wang", "2026-11", 2.0),
    }
    assert [(r.rank, r.person_id, r.points) for r in await desk.leaderboard("2026-11")] == [
        (1, "zhang", 8.0), (2, "wang", 2.0), (3, "li", 1.0), (4, "zhao", -3.0)]
    assert await desk.monthly_scores("2026-12", "2026-12") == [("2026-12", "zhao", -1.0)]
    # A ledger entry lost (or invented) is found by the verification.
    await desk.ctx.store.db.execute_many("DELETE FROM desk_scores WHERE key = ?", [(f"ontime:{i1}",)])
    await desk.ctx.store.db.execute_many(
        "INSERT INTO desk_scores VALUES ('resolve:999', 'li', '2026-11', 3, 999, 'bogus')", [()])
    assert await desk.verify_scores() == [f"missing ontime:{i1}", "extra resolve:999"]


async def test_entries_are_stable_over_time(desk: Desk, clock: Clock) -> None:
    """Deriving later never changes an entry derived earlier (what makes incremental = recompute)."""
    clock.t = sh(2026, 11, 23, 9, 0)
    issue_id = await new_issue(desk, priority="P2")
    await desk.dispatch(issue_id)
    events = await desk.ctx.store.issues.events(issue_id)
    seen: dict[str, tuple[str, str, float]] = {}
    for days in range(1, 12):
        at = clock.t + timedelta(days=days, hours=9)
        for e in issue_entries(events, desk.ctx.settings, desk.ctx.calendar, at):
            assert seen.setdefault(e.key, (e.person_id, e.month, e.points)) == (e.person_id, e.month, e.points)
    # P2: one business day → due Tue 09:00; the last derivation is at Fri 12-04 18:00,
    # so the closes of Tue 11-24 … Fri 12-04 (weekend excluded) count.
    assert sorted(seen) == [f"overdue:{issue_id}:2026-{d}" for d in (
        "11-24", "11-25", "11-26", "11-27", "11-30", "12-01", "12-02", "12-03", "12-04")]


async def test_adjustment_needs_a_reason(desk: Desk) -> None:
    with pytest.raises(IssueError, match="needs a reason"):
        await desk.adjust_score("li", "2026-11", -1, reason=" ", by="boss")
    with pytest.raises(IssueError, match="month must look like"):
        await desk.adjust_score("li", "11/2026", -1, reason="x", by="boss")
