"""DTMF as RTP telephone-events (RFC 4733), and the per-call digit stream.

Theory of operation. A key press is one *event*: every packet of it carries
the same RTP timestamp (the event's start) and a growing duration, and the
last one has the E bit, sent three times for safety. The receiver therefore
keys on the timestamp: a new timestamp starts an event (whether or not the
packet with the marker arrived), the E bit ends it, and anything later with
a timestamp already finished is a repeat and is dropped — unless it carries
the marker bit of a new event's first packet (senders replaying recorded
events reuse their timestamps). An event whose end
packets are all lost ends when the next event starts or after `end_timeout`
seconds without packets; the caller asks `next_deadline()` and calls
`poll(now)`.

`DtmfSender` produces, one packet time at a time, the packets of a digit as
a sender should: the marker on the first, duration growing by a packet time,
three end packets, all with one timestamp.

`DigitStream` merges digits from RFC 4733, in-band detection and SIP INFO
into one stream per call, dropping the copy when a gateway sends the same
key press both ways.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from hotline.media.compact import CompactState
from hotline.media.events import DigitReceived, DigitSource
from hotline.media.rtp import MalformedPacket, RtpPacket, RtpSender, ts_diff

EVENTS = "0123456789*#ABCD"
"""Event codes 0–15 are the DTMF keys, in this order (RFC 4733 §3.2)."""


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a key."""
    code = EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"{digit!r} is not a DTMF key")
    return code


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-byte payload of a telephone-event packet (RFC 4733 §2.3)."""

    event: int
    end: bool = False
    volume: int = 10
    """Power level in −dBm0 (0–63)."""
    duration: int = 0
    """Duration so far, in timestamp units."""

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first 4 bytes of a telephone-event payload."""
        if len(payload) < 4:
            raise MalformedPacket(f"telephone-event payload of {len(payload)} bytes")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        """The 4 payload bytes."""
        flags = (0x80 if self.end else 0) | (self.volume & 0x3F)
        return struct.pack("!BBH", self.event & 0xFF, flags, min(self.duration, 0xFFFF))

    @property
    def digit(self) -> str | None:
        """The key, or None for events other than DTMF (≥ 16)."""
        return EVENTS[self.event] if self.event < len(EVENTS) else None


@dataclass(slots=True)
class _Current:
    timestamp: int
    event: int
    duration: int
    last_seen: float


class DtmfReceiver(CompactState):
    """Turns received telephone-event packets into digits, each reported once."""

    def __init__(self, *, clock_rate: int = 8000, end_timeout: float = 0.5) -> None:
        self.clock_rate = clock_rate
        self.end_timeout = end_timeout
        self._current: _Current | None = None
        self._finished: deque[int] = deque(maxlen=16)
        self.ignored_events = 0
        """Packets of events ≥ 16 (flash, tones…), ignored."""
        self.malformed = 0
        self.repeats = 0
        """Packets dropped as repeats of a finished event."""

    def receive(self, packet: RtpPacket, now: float) -> list[DigitReceived]:
        """Feed one telephone-event packet; the digits it completes (0, 1 or 2)."""
        try:
            te = TelephoneEvent.parse(packet.payload)
        except MalformedPacket:
            self.malformed += 1
            return []
        if te.digit is None:
            self.ignored_events += 1
            return []
        if packet.timestamp in self._finished:
            if not packet.marker or te.end:
                self.repeats += 1
                return []
            # A marker on a finished timestamp: a new press from a sender that
            # replays recorded events (sipp's pcaps) with their old timestamps.
            self._finished.remove(packet.timestamp)
        out: list[DigitReceived] = []
        cur = self._current
        if cur is not None and cur.timestamp != packet.timestamp:
            if ts_diff(packet.timestamp, cur.timestamp) < 0:
                # A straggler from before the event in progress: too late to matter.
                self.repeats += 1
                return []
            # A new event started: the current one lost all its end packets.
            out.append(self._finish(now))
            cur = None
        if cur is None:
            cur = self._current = _Current(packet.timestamp, te.event, te.duration, now)
        else:
            cur.duration = max(cur.duration, te.duration)
            cur.last_seen = now
        if te.end:
            out.append(self._finish(now))
        return out

    def _finish(self, now: float) -> DigitReceived:
        cur = self._current
        assert cur is not None
        self._current = None
        self._finished.append(cur.timestamp)
        return DigitReceived(
            digit=EVENTS[cur.event],
            duration_ms=round(cur.duration * 1000 / self.clock_rate),
            source=DigitSource.RFC4733,
            at=now,
        )

    def next_deadline(self) -> float | None:
        """When `poll` must be called to end an event whose end packets were lost."""
        if self._current is None:
            return None
        return self._current.last_seen + self.end_timeout

    def poll(self, now: float) -> list[DigitReceived]:
        """End an event that has gone quiet for `end_timeout`."""
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            return [self._finish(now)]
        return []


def event_payloads(
    digit: str,
    duration_ms: int,
    *,
    samples_per_packet: int = 160,
    clock_rate: int = 8000,
    volume: int = 10,
    end_repeats: int = 3,
) -> list[tuple[TelephoneEvent, bool]]:
    """The (payload, marker) sequence of one key press, one entry per packet time."""
    code = event_code(digit)
    total = max(samples_per_packet, clock_rate * duration_ms // 1000)
    out: list[tuple[TelephoneEvent, bool]] = []
    duration = samples_per_packet
    while duration < total:
        out.append((TelephoneEvent(code, False, volume, duration), not out))
        duration += samples_per_packet
    for _ in range(end_repeats):
        out.append((TelephoneEvent(code, True, volume, total), not out))
    return out


class DtmfSender(CompactState):
    """Sends queued key presses as telephone-events through an `RtpSender`, one tick at a time.

    Each `tick()` is one packet time: it returns the event packet for that
    time (and advances the sender's clock by a packet), or None when the
    stream should send its normal audio instead (no digit, or the pause
    between digits).
    """

    def __init__(
        self,
        sender: RtpSender,
        *,
        payload_type: int = 101,
        samples_per_packet: int = 160,
        pause_ms: int = 60,
    ) -> None:
        self.sender = sender
        self.payload_type = payload_type
        self.samples_per_packet = samples_per_packet
        self.pause_ticks = max(1, pause_ms * sender.clock_rate // 1000 // samples_per_packet)
        self._queue: deque[tuple[str, int]] = deque()
        self._packets: deque[tuple[TelephoneEvent, bool]] = deque()
        self._event_ts = 0
        self._pause = 0

    def send(self, digits: str, duration_ms: int = 100) -> None:
        """Queue key presses (validated now, sent on the following ticks)."""
        for d in digits:
            event_code(d)
            self._queue.append((d, duration_ms))

    @property
    def active(self) -> bool:
        """Whether digits are queued or being sent."""
        return bool(self._queue or self._packets or self._pause)

    def tick(self) -> RtpPacket | None:
        """The packet for this packet time, or None to let audio through."""
        if self._pause:
            self._pause -= 1
            return None
        if not self._packets:
            if not self._queue:
                return None
            digit, duration = self._queue.popleft()
            self._packets.extend(
                event_payloads(
                    digit,
                    duration,
                    samples_per_packet=self.samples_per_packet,
                    clock_rate=self.sender.clock_rate,
                )
            )
            self._event_ts = self.sender.timestamp
        te, marker = self._packets.popleft()
        packet = self.sender.event(
            te.serialize(), self.payload_type, self._event_ts, marker=marker
        )
        self.sender.skip_time(self.samples_per_packet)
        if not self._packets:
            self._pause = self.pause_ticks
            self.sender.mark_gap()  # audio after an event starts a new talkspurt
        return packet


@dataclass(slots=True)
class _Accepted:
    digit: str
    source: DigitSource
    at: float
    matched: bool = False


class DigitStream(CompactState):
    """One call's digits, merged from every source.

    Some gateways send a key press both as RFC 4733 and as tones in the
    audio (or as INFO). A digit is dropped when the same key came from a
    *different* source within `window` seconds and has not already been
    paired with a copy, so pressing the same key twice quickly still gives
    two digits.
    """

    def __init__(self, *, window: float = 0.5) -> None:
        self.window = window
        self.digits: list[DigitReceived] = []
        """Every digit accepted, in order (for the call record)."""
        self.duplicates = 0
        self._recent: deque[_Accepted] = deque(maxlen=32)

    def add(self, event: DigitReceived) -> DigitReceived | None:
        """The digit if it is new, None if it is another source's copy of one just seen."""
        while self._recent and event.at - self._recent[0].at > self.window:
            self._recent.popleft()
        for prior in self._recent:
            if (
                not prior.matched
                and prior.digit == event.digit
                and prior.source != event.source
                and abs(event.at - prior.at) <= self.window
            ):
                prior.matched = True
                self.duplicates += 1
                return None
        self._recent.append(_Accepted(event.digit, event.source, event.at))
        self.digits.append(event)
        return event

    def add_info(self, digit: str, duration_ms: int, now: float) -> DigitReceived | None:
        """A digit from a SIP INFO request."""
        event_code(digit)
        return self.add(DigitReceived(digit.upper(), duration_ms, DigitSource.INFO, now))

    @property
    def collected(self) -> str:
        """All accepted digits as a string."""
        return "".join(d.digit for d in self.digits)
