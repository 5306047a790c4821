"""One RTP stream (one call leg), sans-IO: what to send each tick, what received packets mean.

Theory of operation. A `MediaSession` ties the pure parts together for one
leg: an `RtpSender` numbering what we send, a `Player` choosing it, a
`DtmfSender` for outgoing key presses; on the receive side `ReceiverStats`,
the RFC 4733 receiver, optionally the in-band detector, and the call's
`DigitStream`. The asyncio adapter feeds it:

- `tick()` once per packet time (from the one media clock), `skip_tick()`
  for ticks the clock gave up; both return nothing or the datagram to send;
- `receive_rtp(data, addr, now)` per datagram; when the leg is bridged the
  result is the datagram to send to the other leg;
- `receive_rtcp(...)`, `rtcp_due(now, wallclock)`, `bye(...)` for RTCP;
- `poll(now)` now and then, for time-driven events (an RTP timeout, a
  telephone-event whose end packets were lost).

Events (`DigitReceived`, `PlaybackEnded`, `RtpTimedOut`) collect in the
session and are taken with `pop_events()`.

Symmetric RTP: with `symmetric_rtp` on, the first valid RTP packet fixes the
far end's address (callers behind NAT send from an address their SDP does
not show); packets from anywhere else are then dropped and counted.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Protocol

from hotline.media.bridge import Bridge
from hotline.media.codecs import Codec, codec_named, samples_per_packet
from hotline.media.compact import CompactState
from hotline.media.dtmf import DigitStream, DtmfReceiver, DtmfSender
from hotline.media.events import DigitReceived, PlaybackEnded, RtpTimedOut
from hotline.media.goertzel import GoertzelDetector
from hotline.media.player import Item, Player
from hotline.media.recorder import Recorder
from hotline.media.rtcp import (
    Bye,
    ReceiverReport,
    ReceiverStats,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    ntp_timestamp,
    parse_compound,
    rtcp_interval,
    serialize_compound,
)
from hotline.media.rtp import MalformedPacket, RtpPacket, RtpSender, peek

Address = tuple[str, int]
_FIXED = struct.Struct("!HII")  # sequence, timestamp, SSRC after the first two bytes
RELAY_KEEPALIVE_TICKS = 25
"""Bridged but nothing relayed for this many packet times: send silence."""
RELAY_QUIET_TICKS = 5
"""A bridged leg off the clock whose relay is quiet this many packet times goes back on it."""
MediaEvent = DigitReceived | PlaybackEnded | RtpTimedOut


class NegotiatedLike(Protocol):
    """The fields of the SIP layer's negotiated media that a stream needs (read-only)."""

    @property
    def codec(self) -> str: ...
    @property
    def telephone_event_pt(self) -> int | None: ...
    @property
    def ptime_ms(self) -> int: ...
    @property
    def remote_address(self) -> str: ...
    @property
    def remote_port(self) -> int: ...
    @property
    def rtcp_port(self) -> int: ...
    @property
    def sends(self) -> bool: ...
    @property
    def receives(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """How one stream sends and receives."""

    codec: Codec
    remote: Address | None
    """Where to send RTP (from the SDP); None until known or latched."""
    remote_rtcp: Address | None = None
    """Where to send RTCP; None means the RTP address with port + 1."""
    ptime_ms: int = 20
    telephone_event_pt: int | None = 101
    symmetric_rtp: bool = True
    rtp_timeout: float = 30.0
    """Seconds without RTP before `RtpTimedOut` is reported."""
    inband_dtmf: bool = False
    """Run the Goertzel detector on received audio (for trunks that send tones)."""
    sends: bool = True
    """False when the far end holds the call (or the direction is recvonly)."""
    receives: bool = True
    """False when no RTP is expected (sendonly, inactive): no RTP timeout then."""
    rtcp: bool = True
    cname: str = "hotline"
    idle_silence: bool = True
    """Send silence when nothing plays (PBXs end calls whose RTP stops); False sends
    nothing then, and the next packet carries the marker bit (silence suppression)."""

    @classmethod
    def from_negotiated(cls, media: NegotiatedLike, **options: object) -> StreamConfig:
        """A config from the SIP layer's negotiated media; `options` set the other fields."""
        return cls(
            codec=codec_named(media.codec),
            remote=(media.remote_address, media.remote_port),
            remote_rtcp=(media.remote_address, media.rtcp_port),
            ptime_ms=media.ptime_ms,
            telephone_event_pt=media.telephone_event_pt,
            sends=media.sends,
            receives=media.receives,
            **options,  # type: ignore[arg-type]
        )


class MediaSession(CompactState):
    """The sans-IO state of one call leg's RTP stream."""

    def __init__(
        self, config: StreamConfig, now: float, *, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.codec = config.codec
        self.samples_per_packet = samples_per_packet(config.ptime_ms, config.codec.clock_rate)
        self._rng = rng  # None: the module's shared generator (RTCP jitter needs no secrecy)
        self.sender = RtpSender(config.codec.payload_type, rng=rng)
        self._events: list[MediaEvent] = []
        """Events not yet popped, the player's included (it reports into this list)."""
        self.player = Player(config.codec, samples_per_packet=self.samples_per_packet,
                             idle_silence=config.idle_silence, on_ended=self._events.append)
        self.dtmf_out = DtmfSender(
            self.sender,
            payload_type=config.telephone_event_pt or 101,
            samples_per_packet=self.samples_per_packet,
        )
        self.dtmf_in = DtmfReceiver(clock_rate=config.codec.clock_rate)
        self.inband = GoertzelDetector() if config.inband_dtmf else None
        self.digits = DigitStream()
        self.stats = ReceiverStats(clock_rate=config.codec.clock_rate)
        self.remote = config.remote
        self.remote_rtcp = config.remote_rtcp or (
            (config.remote[0], config.remote[1] + 1) if config.remote else None
        )
        self.latched = False
        self.foreign_packets = 0
        """Packets dropped because they came from another address than the latched one."""
        self.malformed = 0
        self.unknown_payload = 0
        self.rtcp_received = 0
        self.remote_bye = False
        self.bridge: tuple[Bridge, str] | None = None
        self.recorder: tuple[Recorder, int] | None = None
        self.started = now
        self.last_rx: float | None = None
        self._timed_out = False
        self._relay_seen = -1
        self._relay_idle = 0
        self._relay_polled = (-1, now)
        """(packets sent, when the count last moved) at the polls off the clock. One attribute,
        not two: a 31st would take the instance dict past what CPython shares between
        instances, and every session would cost 1.3 kB more."""
        self.next_rtcp = now + rtcp_interval(initial=True, rng=self._rng)

    def reconfigure(self, config: StreamConfig, now: float) -> None:
        """Take new negotiated media on the same port (an outbound leg's answer, a re-INVITE).

        The SSRC, sequence and timestamp run on, so the far end sees one
        stream (the next packet carries the marker bit); the codec, packet
        time, telephone-event type and far end change; playback stops (a
        prompt is encoded for one codec). The RTP timeout counts from `now`.
        Whoever bridges the leg rebuilds the bridge (its codecs changed).
        """
        self.config = config
        self.codec = config.codec
        self.samples_per_packet = samples_per_packet(config.ptime_ms, config.codec.clock_rate)
        self.player.stop()  # reported into self._events
        self.player = Player(config.codec, samples_per_packet=self.samples_per_packet,
                             idle_silence=config.idle_silence, on_ended=self._events.append)
        self.sender.payload_type = config.codec.payload_type
        self.sender.mark_gap()
        self.dtmf_out = DtmfSender(
            self.sender,
            payload_type=config.telephone_event_pt or 101,
            samples_per_packet=self.samples_per_packet,
        )
        if config.inband_dtmf and self.inband is None:
            self.inband = GoertzelDetector()
        elif not config.inband_dtmf:
            self.inband = None
        self.remote = config.remote
        self.remote_rtcp = config.remote_rtcp or (
            (config.remote[0], config.remote[1] + 1) if config.remote else None
        )
        self.latched = False
        self.started = now
        self.last_rx = None
        self._timed_out = False

    # -- sending -------------------------------------------------------------------------

    def play(self, items: list[Item], *, replace: bool = True) -> None:
        """Play prompts/tones/silence (see `Player.play`)."""
        self.player.play(items, replace=replace)

    def send_digits(self, digits: str, duration_ms: int = 100) -> None:
        """Queue RFC 4733 key presses (needs telephone-event negotiated)."""
        if self.config.telephone_event_pt is None:
            raise ValueError("telephone-event was not negotiated with this leg")
        self.dtmf_out.send(digits, duration_ms)

    @property
    def relaying(self) -> bool:
        """Whether the other leg's packets are what we send (bridged)."""
        return self.bridge is not None

    def tick(self) -> bytes | None:
        """The datagram to send in this packet time, if any."""
        if self.relaying:
            if self.dtmf_out.active and self.config.sends and self.remote is not None:
                return self._relay_digit()
            return self._relay_keepalive()
        if not self.config.sends or self.remote is None:
            self.player.tick()  # playback time runs on while nobody listens
            self.sender.skip(self.samples_per_packet)
            return None
        event = self.dtmf_out.tick()
        if event is not None:
            self.player.tick()
            return event.serialize()
        payload = self.player.tick()
        if payload is None:
            self.sender.skip(self.samples_per_packet)
            return None
        return self.sender.audio_datagram(payload, self.samples_per_packet)

    def _relay_digit(self) -> bytes | None:
        # Key presses of our own on a bridged leg (a digit the other side sent
        # by SIP INFO, relayed as RFC 4733): the other leg's audio is held back
        # while they go, so the two do not fight over the timeline; the relay
        # re-anchors (marker) when it resumes.
        assert self.bridge is not None
        bridge, side = self.bridge
        event = self.dtmf_out.tick()
        bridge.hold(side, self.dtmf_out.active)
        if event is None:
            return None
        self._relay_seen = self.sender.packets_sent
        return event.serialize()

    def _relay_keepalive(self) -> bytes | None:
        # Bridged, the other leg's packets are what we send. If it goes quiet
        # (on hold, silence suppression), send silence after a while, as we do
        # between prompts, so the far end does not time the stream out; the
        # rewriter re-anchors (with the marker) when relayed packets return.
        sender = self.sender
        if sender.packets_sent != self._relay_seen:
            self._relay_seen, self._relay_idle = sender.packets_sent, 0
            return None
        self._relay_idle += 1
        if self._relay_idle < RELAY_KEEPALIVE_TICKS or not self.config.sends:
            return None
        if self._relay_idle == RELAY_KEEPALIVE_TICKS:
            sender.skip((self._relay_idle - 1) * self.samples_per_packet)
        data = sender.audio_datagram(self.codec.silence(self.samples_per_packet),
                                     self.samples_per_packet)
        self._relay_seen = sender.packets_sent
        return data

    @property
    def needs_clock(self) -> bool:
        """Whether `tick` has work to do on every packet time.

        Always, except for a bridged leg whose relay carries the other leg's
        packets and that sends no key presses of its own: its ticks would only
        see that packets were relayed. Its owner may stop calling `tick` then
        (with hundreds of bridged calls, those calls are a tenth of a core) and
        ask again after `poll`, which notices when the relay went quiet
        (keep-alive silence is due) -- or at once after `send_digits` or the
        end of the bridge.
        """
        return self.bridge is None or self._relay_idle > 0 or self.dtmf_out.active

    def skip_tick(self) -> None:
        """A tick the clock gave up: its audio time passes unsent, as if lost."""
        if self.relaying:
            return
        self.player.tick()
        self.sender.skip(self.samples_per_packet)

    # -- receiving -----------------------------------------------------------------------

    def receive_rtp(self, data: bytes, addr: Address, now: float) -> bytes | None:
        """Account for a datagram; returns the datagram to relay to the bridged leg, if any."""
        config = self.config
        if config.symmetric_rtp and self.latched and addr != self.remote:
            self.foreign_packets += 1
            return None
        # Per packet, so the common header (no CSRC, extension or padding) is
        # read here without building a `peek` tuple; anything else goes through it.
        if len(data) >= 12 and data[0] == 0x80:
            b1 = data[1]
            seq, ts, ssrc = _FIXED.unpack_from(data, 2)
            pt, marker, start, end = b1 & 0x7F, b1 > 0x7F, 12, len(data)
        else:
            try:
                pt, marker, seq, ts, ssrc, start, end = peek(data)
            except MalformedPacket:
                self.malformed += 1
                return None
        if config.symmetric_rtp and not self.latched:
            self.latched = True
            if addr != self.remote:
                self.remote = addr
                self.remote_rtcp = (addr[0], addr[1] + 1)
        self.last_rx = now
        self._timed_out = False
        self.stats.update_fields(ssrc, seq, ts, end - start, now)
        if pt == self.codec.payload_type:
            if self.recorder is not None or self.inband is not None:
                pcm = self.codec.decode(data[start:end])
                if self.recorder is not None:
                    recorder, channel = self.recorder
                    recorder.add(channel, ts, pcm, now)
                if self.inband is not None:
                    for digit in self.inband.feed(pcm, now):
                        self._digit(digit)
        elif pt == config.telephone_event_pt:
            for digit in self.dtmf_in.receive(RtpPacket.parse(data), now):
                self._digit(digit)
        else:
            self.unknown_payload += 1
        if self.bridge is not None:
            bridge, side = self.bridge
            return bridge.relay_fields(side, data, pt, marker, seq, ts, ssrc, start, end)
        return None

    def digit_from_info(self, digit: str, duration_ms: int, now: float) -> None:
        """A digit the SIP layer received in an INFO request."""
        accepted = self.digits.add_info(digit, duration_ms, now)
        if accepted is not None:
            self._events.append(accepted)
            self.player.barge_in()

    def _digit(self, digit: DigitReceived) -> None:
        accepted = self.digits.add(digit)
        if accepted is not None:
            self._events.append(accepted)
            self.player.barge_in()

    # -- time ----------------------------------------------------------------------------

    def poll(self, now: float) -> list[MediaEvent]:
        """Time-driven work; returns (and clears) all pending events.

        A bridged leg off its owner's clock (`needs_clock` False) whose relay
        has been quiet for `RELAY_QUIET_TICKS` packet times needs the clock
        again: its ticks count the rest of the quiet packet times before
        keep-alive silence.
        """
        for digit in self.dtmf_in.poll(now):
            self._digit(digit)
        if self.bridge is not None and not self.needs_clock:
            sent, packet_time = self.sender.packets_sent, self.config.ptime_ms / 1000
            polled, moved_at = self._relay_polled
            if sent != polled:
                self._relay_polled = (sent, now)
            elif now - moved_at >= RELAY_QUIET_TICKS * packet_time:
                # Count the quiet packet times already gone, as the ticks would have.
                self._relay_seen = sent
                self._relay_idle = min(round((now - moved_at) / packet_time),
                                       RELAY_KEEPALIVE_TICKS - 1)
        since = self.last_rx if self.last_rx is not None else self.started
        if (
            self.config.receives
            and not self._timed_out
            and now - since >= self.config.rtp_timeout
        ):
            self._timed_out = True
            self._events.append(RtpTimedOut(now - since, now))
        return self.pop_events()

    @property
    def has_events(self) -> bool:
        """Whether `pop_events` has something (cheap; checked after every packet)."""
        return bool(self._events)

    def pop_events(self) -> list[MediaEvent]:
        """Events since the last call."""
        events = self._events[:]
        self._events.clear()  # in place: the player appends to this very list
        return events

    # -- RTCP ----------------------------------------------------------------------------

    def _report(self, now: float, wallclock: float) -> list[RtcpPacket]:
        blocks = (self.stats.report_block(now),) if self.stats.ssrc is not None else ()
        first: RtcpPacket
        if self.sender.packets_sent:
            first = SenderReport(
                self.sender.ssrc,
                ntp_timestamp(wallclock),
                self.sender.timestamp,
                self.sender.packets_sent,
                self.sender.octets_sent,
                blocks,
            )
        else:
            first = ReceiverReport(self.sender.ssrc, blocks)
        return [first, SourceDescription.cname_of(self.sender.ssrc, self.config.cname)]

    def rtcp_due(self, now: float, wallclock: float) -> bytes | None:
        """A compound report if one is due at `now` (`wallclock` is Unix time, for the SR)."""
        if not self.config.rtcp or now < self.next_rtcp or self.remote_rtcp is None:
            return None
        self.next_rtcp = now + rtcp_interval(
            we_sent=self.sender.packets_sent > 0, rng=self._rng
        )
        return serialize_compound(self._report(now, wallclock))

    def bye(self, now: float, wallclock: float, reason: str = "") -> bytes:
        """The compound RTCP BYE to send on hang-up."""
        return serialize_compound(
            [*self._report(now, wallclock), Bye((self.sender.ssrc,), reason)]
        )

    def receive_rtcp(self, data: bytes, addr: Address, now: float) -> None:
        """Account for an RTCP datagram (SR timing for our reports, BYE)."""
        try:
            packets = parse_compound(data)
        except MalformedPacket:
            self.malformed += 1
            return
        self.rtcp_received += 1
        if self.config.symmetric_rtp and self.remote is not None and addr[0] == self.remote[0]:
            self.remote_rtcp = addr  # RTCP from behind a NAT: answer where it came from
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == self.stats.ssrc:
                self.stats.sender_report_received(packet, now)
            elif isinstance(packet, Bye):
                self.remote_bye = True

    def summary(self) -> dict[str, object]:
        """Figures for the call record."""
        out: dict[str, object] = dict(self.stats.summary())
        out.update(
            sent=self.sender.packets_sent,
            malformed=self.malformed,
            foreign=self.foreign_packets,
            digits=self.digits.collected,
        )
        if self.bridge is not None:
            out["relay"] = self.bridge[0].stats(self.bridge[1]).as_dict()
        return out
