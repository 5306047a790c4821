"""RFC 4733 telephone-events: payloads, receiver de-duplication, sender, digit merging."""

import itertools
import random

import pytest

from hotline.media.dtmf import (
    DigitStream,
    DtmfReceiver,
    DtmfSender,
    TelephoneEvent,
    event_code,
    event_payloads,
)
from hotline.media.events import DigitReceived, DigitSource
from hotline.media.rtp import MalformedPacket, RtpPacket, RtpSender


def test_payload_round_trip_and_bytes() -> None:
    te = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert te.serialize() == bytes([11, 0x80 | 10, 0x03, 0x20])
    assert TelephoneEvent.parse(te.serialize()) == te
    assert te.digit == "#"
    assert TelephoneEvent(16).digit is None
    with pytest.raises(MalformedPacket):
        TelephoneEvent.parse(b"\x01\x02")


def test_event_codes() -> None:
    assert [event_code(d) for d in "0189*#AD"] == [0, 1, 8, 9, 10, 11, 12, 15]
    with pytest.raises(ValueError):
        event_code("E")


def key_press(digit: str, ts: int, seq0: int, duration_ms: int = 100) -> list[RtpPacket]:
    """What a phone sends: marker first, durations growing by 160, three ends."""
    return [
        RtpPacket(101, seq0 + i, ts, 1, te.serialize(), marker)
        for i, (te, marker) in enumerate(event_payloads(digit, duration_ms))
    ]


def run(rx: DtmfReceiver, packets: list[RtpPacket], t0: float = 0.0) -> list[DigitReceived]:
    out = []
    for i, p in enumerate(packets):
        out += rx.receive(p, t0 + 0.02 * i)
    return out


def test_event_payloads_shape() -> None:
    seq = event_payloads("5", 100)
    # 100 ms = 800 samples: 160, 320, 480, 640, then 3 × end with 800.
    assert [(te.duration, te.end, m) for te, m in seq] == [
        (160, False, True), (320, False, False), (480, False, False), (640, False, False),
        (800, True, False), (800, True, False), (800, True, False),
    ]


def test_one_digit_reported_once_despite_three_ends() -> None:
    rx = DtmfReceiver()
    got = run(rx, key_press("7", 1000, 10))
    assert [(d.digit, d.duration_ms, d.source) for d in got] == [("7", 100, DigitSource.RFC4733)]
    assert rx.repeats == 2
    assert rx.poll(10.0) == []


def test_lost_first_packet_and_repeated_packets() -> None:
    rx = DtmfReceiver()
    pkts = key_press("3", 5000, 1)
    pkts = pkts[1:3] + pkts[2:3] + pkts[3:]  # no marker packet, one duplicated
    assert [d.digit for d in run(rx, pkts)] == ["3"]


def test_lost_end_packets_end_on_next_event() -> None:
    rx = DtmfReceiver()
    first = key_press("1", 1000, 1)[:4]  # all three end packets lost
    second = key_press("2", 3000, 20)
    got = run(rx, first + second)
    assert [(d.digit, d.duration_ms) for d in got] == [("1", 80), ("2", 100)]


def test_lost_end_packets_end_on_timeout() -> None:
    rx = DtmfReceiver(end_timeout=0.5)
    assert run(rx, key_press("9", 1000, 1)[:3]) == []
    last = 0.04
    assert rx.next_deadline() == pytest.approx(last + 0.5)
    assert rx.poll(last + 0.4) == []
    (d,) = rx.poll(last + 0.5)
    assert (d.digit, d.duration_ms) == ("9", 60)
    # A late end packet of the same event is a repeat, not a new digit.
    assert rx.receive(key_press("9", 1000, 1)[-1], 1.0) == []


def test_same_key_twice_is_two_digits() -> None:
    rx = DtmfReceiver()
    assert [d.digit for d in run(rx, key_press("5", 1000, 1) + key_press("5", 2600, 8))] == [
        "5", "5"]


def test_events_over_15_are_ignored() -> None:
    rx = DtmfReceiver()
    flash = RtpPacket(101, 1, 100, 1, TelephoneEvent(16, True, 10, 800).serialize(), True)
    tone = RtpPacket(101, 2, 200, 1, TelephoneEvent(255, False, 10, 160).serialize())
    assert rx.receive(flash, 0.0) == [] and rx.receive(tone, 0.02) == []
    assert rx.ignored_events == 2
    assert rx.receive(RtpPacket(101, 3, 300, 1, b"\x01"), 0.04) == []
    assert rx.malformed == 1
    assert [d.digit for d in run(rx, key_press("0", 400, 4))] == ["0"]


def test_sender_packets_are_received_as_sent() -> None:
    sender = RtpSender(0, rng=random.Random(5))
    tx = DtmfSender(sender, payload_type=101)
    tx.send("1#", duration_ms=120)
    rx = DtmfReceiver()
    packets, got, ticks = [], [], 0
    while tx.active:
        p = tx.tick()
        ticks += 1
        if p is None:
            sender.skip(160)  # the stream would send audio (or nothing) in this tick
        else:
            packets.append(p)
            got += rx.receive(RtpPacket.parse(p.serialize()), 0.02 * ticks)
    assert [(d.digit, d.duration_ms) for d in got] == [("1", 120), ("#", 120)]
    first = [p for p in packets if TelephoneEvent.parse(p.payload).event == 1]
    assert len({p.timestamp for p in first}) == 1
    assert [p.marker for p in first] == [True] + [False] * (len(first) - 1)
    assert sum(TelephoneEvent.parse(p.payload).end for p in first) == 3
    # Sequence numbers run on without a gap; the second digit starts later in time.
    assert all((b.sequence - a.sequence) & 0xFFFF == 1
               for a, b in itertools.pairwise(packets))
    second_ts = {p.timestamp for p in packets} - {first[0].timestamp}
    assert len(second_ts) == 1
    assert (second_ts.pop() - first[0].timestamp) & 0xFFFFFFFF == 160 * (len(first) + 3)
    # Audio after the digits continues the clock with a marker.
    audio = sender.audio(b"\xff" * 160, 160)
    assert audio.marker
    assert (audio.timestamp - first[0].timestamp) & 0xFFFFFFFF == 160 * ticks
    with pytest.raises(ValueError):
        tx.send("x")


def d(digit: str, source: DigitSource, at: float) -> DigitReceived:
    return DigitReceived(digit, 100, source, at)


def test_digit_stream_drops_copies_from_other_sources() -> None:
    ds = DigitStream(window=0.5)
    assert ds.add(d("1", DigitSource.RFC4733, 1.00)) is not None
    assert ds.add(d("1", DigitSource.INBAND, 1.03)) is None  # the gateway's in-band copy
    # The same key pressed again quickly: both sources report it again.
    assert ds.add(d("1", DigitSource.RFC4733, 1.30)) is not None
    assert ds.add(d("1", DigitSource.INBAND, 1.32)) is None
    # Another key from in-band only (no RFC 4733 copy) is kept.
    assert ds.add(d("2", DigitSource.INBAND, 2.00)) is not None
    # Same source twice is two presses, never a duplicate.
    assert ds.add(d("3", DigitSource.RFC4733, 3.00)) is not None
    assert ds.add(d("3", DigitSource.RFC4733, 3.10)) is not None
    # Outside the window: a new press.
    assert ds.add(d("4", DigitSource.RFC4733, 4.00)) is not None
    assert ds.add(d("4", DigitSource.INBAND, 4.60)) is not None
    assert ds.add_info("5", 250, 5.0) is not None
    assert ds.collected == "11233445"
    assert ds.duplicates == 2
