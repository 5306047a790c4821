"""The deadline schedule on a fake clock: no drift, bounded catch-up."""

import random

import pytest

from hotline.media.clock import DeadlineSchedule
from hotline.media.rtp import RtpSender


def test_no_drift_after_a_simulated_hour_with_jittery_wakeups() -> None:
    start = 1000.123
    sched = DeadlineSchedule(start, 0.02, max_burst=3)
    sender = RtpSender(0, rng=random.Random(1))
    ts0 = sender.timestamp
    rng = random.Random(2)
    sent = 0
    ticks_per_hour = 3600 * 50
    while sched.next_tick < ticks_per_hour:
        # The loop wakes at the deadline plus 0–3 ms of scheduling delay.
        now = sched.next_deadline + rng.random() * 0.003
        due = sched.due(now)
        for n in due.ticks:
            packet = sender.audio(b"\xff" * 160, 160)
            # RTP time of tick n is exactly n packet times after the first.
            assert packet.timestamp == (ts0 + n * 160) & 0xFFFFFFFF
            sent += 1
    assert sent == ticks_per_hour
    assert sched.skipped == 0
    assert sched.deadline(ticks_per_hour) == pytest.approx(start + 3600.0, abs=1e-9)
    assert sender.timestamp == (ts0 + 3600 * 8000) & 0xFFFFFFFF


def test_late_wakeup_catches_up_with_a_bounded_burst() -> None:
    sched = DeadlineSchedule(0.0, 0.02, max_burst=3)
    assert sched.due(0.0).ticks == range(0, 1)
    assert sched.due(0.005).count == 0  # woke early: nothing due
    # The loop stalls for 150 ms: ticks 1..7 are due; run 5, 6, 7 and skip 1..4.
    due = sched.due(0.15)
    assert (due.first, due.count, due.skipped) == (5, 3, 4)
    assert sched.next_deadline == pytest.approx(0.16)
    assert sched.skipped == 4 and sched.late_wakeups == 1
    # Slightly late by less than the burst: everything is sent.
    due = sched.due(0.181)
    assert (due.first, due.count, due.skipped) == (8, 2, 0)


def test_exact_deadline_wakeup_counts_the_tick() -> None:
    sched = DeadlineSchedule(0.1, 0.02)
    for n in range(1, 1000):
        sched.due(sched.deadline(n - 1))
        assert sched.due(sched.deadline(n)).ticks == range(n, n + 1)
    assert sched.tick_at(0.1 + 0.02 * 5 + 0.001) == 5


def test_invalid() -> None:
    with pytest.raises(ValueError):
        DeadlineSchedule(0, 0)
    with pytest.raises(ValueError):
        DeadlineSchedule(0, 0.02, max_burst=0)
