"""The shiftable wall clock (``--clock``) and the in-process call event bus."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from hotline.clock import ClockError, WallClock, parse_clock_start
from hotline.events import CallArrived, CallEnded, EventBus, IvrChoice

T0 = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)


def test_parse_clock_start_needs_an_offset() -> None:
    assert parse_clock_start("2026-10-01T23:00+08:00") == T0
    assert parse_clock_start("2026-10-01T15:00Z") == T0
    with pytest.raises(ClockError, match="has no UTC offset"):
        parse_clock_start("2026-10-01T23:00")
    with pytest.raises(ClockError, match="expected an instant like"):
        parse_clock_start("yesterday")


def test_shifted_clock_starts_at_the_instant_and_runs_on() -> None:
    clock = WallClock.starting_at(T0)
    first = clock()
    assert abs(first - T0) < timedelta(seconds=1)
    time.sleep(0.05)
    assert clock() - first >= timedelta(milliseconds=45)
    assert clock.shifted
    warning = clock.warning()
    assert warning is not None and "shifted" in warning and "2026-10-01T15:00" in warning


def test_real_clock_is_not_shifted() -> None:
    clock = WallClock.starting_at(None)
    assert not clock.shifted and clock.warning() is None
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


async def test_bus_fans_out_and_a_full_queue_drops_the_oldest() -> None:
    bus = EventBus()
    fast = bus.subscribe(maxsize=10)
    slow = bus.subscribe(maxsize=2)
    events = [IvrChoice(call=1, at=T0, node="menu", digits=str(i), choice="x") for i in range(5)]
    for event in events:
        bus.publish(event)
    assert [fast.get_nowait() for _ in range(5)] == events
    assert fast.dropped == 0
    # The slow subscriber kept the newest two and counted what it lost.
    assert [slow.get_nowait(), slow.get_nowait()] == events[3:]
    assert slow.get_nowait() is None and slow.dropped == 3
    slow.close()
    bus.publish(events[0])
    assert bus.subscribers == 1 and slow.get_nowait() is None


async def test_subscription_iterates_and_events_serialise() -> None:
    bus = EventBus()
    got: list[str] = []

    async def reader() -> None:
        with bus.subscribe() as sub:
            async for event in sub:
                got.append(event.kind)
                if isinstance(event, CallEnded):
                    return

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0)
    arrived = CallArrived(call=7, at=T0, issue=3, issue_number="HL-2026-000003", caller="+8613800000000")
    bus.publish(arrived)
    bus.publish(CallEnded(call=7, at=T0, disposition="answered", answered_by="zhangwei"))
    await asyncio.wait_for(task, 2)
    assert got == ["call_arrived", "call_ended"]
    assert arrived.as_dict() == {
        "kind": "call_arrived", "call": 7, "at": "2026-10-01T15:00:00+00:00", "issue": 3,
        "issue_number": "HL-2026-000003", "caller": "+8613800000000", "caller_name": None,
        "employee_id": None, "flow": "", "direction": "in", "placed_by": None}
    assert bus.subscribers == 0
