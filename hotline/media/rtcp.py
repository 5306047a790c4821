"""RTCP (RFC 3550 §6): reports, SDES, BYE, compound packets, receiver statistics.

Wire objects (`SenderReport`, `ReceiverReport`, `SourceDescription`, `Bye`,
`UnknownRtcp`) each have `parse` and `serialize`; `parse_compound` splits a
datagram into them and raises `MalformedPacket` (the far end's fault) when
the lengths do not add up.

`ReceiverStats` holds what a receiver learns about one source (RFC 3550
appendix A.3 and A.8): packets expected and lost, fraction lost since the
last report, interarrival jitter, duplicates and late packets. It is fed
`(packet, arrival_time)` and gives a `ReportBlock` for the next RR/SR.

`rtcp_interval` is the §6.3.1 interval computation, simplified for a
two-party call.
"""

from __future__ import annotations

import random
import struct
from array import array
from dataclasses import dataclass, field

from hotline.media.rtp import MalformedPacket, RtpPacket, SequenceTracker

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203

SDES_CNAME = 1

# Seconds between 1900-01-01 (the NTP era) and 1970-01-01 (the Unix epoch).
NTP_UNIX_OFFSET = 2_208_988_800

_BLOCK = struct.Struct("!IB3sIIII")
_SEEN = 256


def ntp_timestamp(unix_time: float) -> int:
    """A 64-bit NTP timestamp for a Unix time in seconds."""
    seconds = int(unix_time) + NTP_UNIX_OFFSET
    fraction = int((unix_time - int(unix_time)) * (1 << 32))
    return ((seconds & 0xFFFFFFFF) << 32) | (fraction & 0xFFFFFFFF)


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (the LSR field of a report block)."""
    return (ntp >> 16) & 0xFFFFFFFF


def _header(pt: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("RTCP body must be a multiple of 4 bytes")
    return struct.pack("!BBH", 0x80 | count, pt, len(body) // 4) + body


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    """The source this block reports on."""
    fraction_lost: int
    """Packets lost since the previous report, as a fraction of 256."""
    cumulative_lost: int
    """Packets lost since the start (may be negative with duplicates)."""
    highest_seq: int
    """The extended highest sequence number received."""
    jitter: int
    """Interarrival jitter in timestamp units."""
    lsr: int = 0
    """Middle 32 bits of the NTP time of the last SR from the source (0 if none)."""
    dlsr: int = 0
    """Delay since that SR, in units of 1/65536 s."""

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        """Parse the 24-byte block at `offset`."""
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        return cls(
            ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter, lsr, dlsr
        )

    def serialize(self) -> bytes:
        """The block's 24 wire bytes; the cumulative count is clamped to 24 signed bits."""
        lost = max(-(1 << 23), min((1 << 23) - 1, self.cumulative_lost))
        return _BLOCK.pack(
            self.ssrc,
            self.fraction_lost & 0xFF,
            lost.to_bytes(3, "big", signed=True),
            self.highest_seq & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )


def _parse_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if len(body) < offset + 24 * count:
        raise MalformedPacket("RTCP report shorter than its report count")
    return tuple(ReportBlock.parse(body, offset + 24 * i) for i in range(count))


@dataclass(frozen=True, slots=True)
class SenderReport:
    """An RTCP SR (PT 200)."""

    ssrc: int
    ntp: int
    """64-bit NTP wallclock time of the report."""
    rtp_timestamp: int
    """The RTP time corresponding to `ntp`."""
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    @classmethod
    def parse(cls, count: int, body: bytes) -> SenderReport:
        """Parse the body of an SR (after the 4-byte common header)."""
        if len(body) < 24:
            raise MalformedPacket("RTCP SR too short")
        ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body)
        return cls(
            ssrc, (ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets, _parse_blocks(body, 24, count)
        )

    def serialize(self) -> bytes:
        """The SR's wire bytes."""
        body = struct.pack(
            "!IIIIII",
            self.ssrc,
            (self.ntp >> 32) & 0xFFFFFFFF,
            self.ntp & 0xFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        ) + b"".join(r.serialize() for r in self.reports)
        return _header(PT_SR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """An RTCP RR (PT 201)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    @classmethod
    def parse(cls, count: int, body: bytes) -> ReceiverReport:
        """Parse the body of an RR."""
        if len(body) < 4:
            raise MalformedPacket("RTCP RR too short")
        (ssrc,) = struct.unpack_from("!I", body)
        return cls(ssrc, _parse_blocks(body, 4, count))

    def serialize(self) -> bytes:
        """The RR's wire bytes."""
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _header(PT_RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The SDES items of one source."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]
    """(item type, value) pairs in wire order; type 1 is CNAME."""

    @property
    def cname(self) -> str | None:
        """The CNAME item, decoded, if present."""
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """An RTCP SDES (PT 202)."""

    chunks: tuple[SdesChunk, ...]

    @classmethod
    def cname_of(cls, ssrc: int, cname: str) -> SourceDescription:
        """An SDES carrying just the CNAME of one source."""
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode()),)),))

    @classmethod
    def parse(cls, count: int, body: bytes) -> SourceDescription:
        """Parse the body of an SDES."""
        chunks = []
        pos = 0
        for _ in range(count):
            if pos + 4 > len(body):
                raise MalformedPacket("RTCP SDES truncated")
            (ssrc,) = struct.unpack_from("!I", body, pos)
            pos += 4
            items = []
            while True:
                if pos >= len(body):
                    raise MalformedPacket("RTCP SDES chunk not terminated")
                kind = body[pos]
                if kind == 0:
                    pos += 1
                    pos += -pos % 4  # the chunk ends on a 32-bit boundary
                    break
                if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                    raise MalformedPacket("RTCP SDES item truncated")
                length = body[pos + 1]
                items.append((kind, bytes(body[pos + 2 : pos + 2 + length])))
                pos += 2 + length
            chunks.append(SdesChunk(ssrc, tuple(items)))
        return cls(tuple(chunks))

    def serialize(self) -> bytes:
        """The SDES's wire bytes."""
        body = b""
        for chunk in self.chunks:
            data = struct.pack("!I", chunk.ssrc)
            for kind, value in chunk.items:
                if len(value) > 255:
                    raise ValueError("SDES item longer than 255 bytes")
                data += bytes([kind, len(value)]) + value
            data += b"\x00"  # end of items
            body += _pad4(data)
        return _header(PT_SDES, len(self.chunks), body)


@dataclass(frozen=True, slots=True)
class Bye:
    """An RTCP BYE (PT 203)."""

    sources: tuple[int, ...]
    reason: str = ""

    @classmethod
    def parse(cls, count: int, body: bytes) -> Bye:
        """Parse the body of a BYE."""
        if len(body) < 4 * count:
            raise MalformedPacket("RTCP BYE shorter than its source count")
        sources = struct.unpack_from(f"!{count}I", body)
        reason = ""
        pos = 4 * count
        if pos < len(body):
            length = body[pos]
            if pos + 1 + length > len(body):
                raise MalformedPacket("RTCP BYE reason truncated")
            reason = body[pos + 1 : pos + 1 + length].decode("utf-8", "replace")
        return cls(tuple(sources), reason)

    def serialize(self) -> bytes:
        """The BYE's wire bytes."""
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason:
            text = self.reason.encode()[:255]
            body += _pad4(bytes([len(text)]) + text)
        return _header(PT_BYE, len(self.sources), body)


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """Any other RTCP packet (APP, feedback, XR): kept as bytes."""

    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        """The packet's wire bytes."""
        return _header(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcp


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split a compound RTCP datagram into its packets."""
    packets: list[RtcpPacket] = []
    pos = 0
    if len(data) < 4:
        raise MalformedPacket(f"RTCP datagram too short ({len(data)} bytes)")
    while pos < len(data):
        if pos + 4 > len(data):
            raise MalformedPacket("RTCP datagram ends inside a header")
        b0, pt, words = struct.unpack_from("!BBH", data, pos)
        if b0 >> 6 != 2:
            raise MalformedPacket(f"RTCP version {b0 >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise MalformedPacket("RTCP length field runs past the datagram")
        body = bytes(data[pos + 4 : end])
        if b0 & 0x20:  # padding, only allowed on the last packet
            if end != len(data) or not body or body[-1] == 0 or body[-1] > len(body):
                raise MalformedPacket("RTCP padding is invalid")
            body = body[: -body[-1]]
        count = b0 & 0x1F
        packet: RtcpPacket
        if pt == PT_SR:
            packet = SenderReport.parse(count, body)
        elif pt == PT_RR:
            packet = ReceiverReport.parse(count, body)
        elif pt == PT_SDES:
            packet = SourceDescription.parse(count, body)
        elif pt == PT_BYE:
            packet = Bye.parse(count, body)
        elif 192 <= pt <= 223:
            packet = UnknownRtcp(pt, count, body)
        else:
            raise MalformedPacket(f"RTCP packet type {pt} out of range")
        packets.append(packet)
        pos = end
    return packets


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    """Concatenate packets into one compound datagram (the first should be an SR or RR)."""
    return b"".join(p.serialize() for p in packets)


@dataclass(slots=True)
class ReceiverStats:
    """What a receiver knows about one source (RFC 3550 A.3 and A.8).

    `update(packet, arrival)` takes the arrival time in seconds on any
    monotonic clock. Jitter is kept in timestamp units, like the RFC; packets
    carrying the same timestamp as the previous one (telephone-events, which
    repeat one timestamp for the whole digit) are left out of the jitter
    estimate, which would otherwise grow by a packet time per repeat.

    A packet with another SSRC starts a new source (a gateway that sends its
    telephone-events or a second talkspurt under a new SSRC, a re-INVITE to
    another media server): sequence counting restarts for it, reports are
    about it, and `summary()` adds up every source the call had, so the
    jump between two sources' sequence numbers is not counted as loss.
    """

    clock_rate: int = 8000
    ssrc: int | None = None
    received: int = 0
    """Packets accepted, duplicates included (as A.3 counts them)."""
    duplicates: int = 0
    late: int = 0
    """Packets that arrived after a packet with a higher sequence number."""
    discarded: int = 0
    """Packets thrown away as a sequence jump not (yet) confirmed."""
    octets: int = 0
    jitter: float = 0.0
    """Interarrival jitter estimate, in timestamp units."""
    max_jitter: float = 0.0
    last_arrival: float | None = None
    _seq: SequenceTracker = field(default_factory=SequenceTracker)
    _transit: float | None = None
    _last_ts: int | None = None
    # Extended sequence numbers by slot (ext mod 256), for spotting duplicates in O(1);
    # 256 is well past the 100 packets of reordering A.1 tolerates. An array, not a
    # list, because a thousand streams each hold one.
    _seen: array[int] = field(default_factory=lambda: array("q", [-1]) * _SEEN)
    _expected_prior: int = 0
    _received_prior: int = 0
    _last_sr: int = 0
    _last_sr_arrival: float | None = None
    sources: int = 0
    """SSRCs seen so far (one for most calls)."""
    _earlier: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    """(received, duplicates, late, expected, lost) of the sources before this one."""

    def update(self, packet: RtpPacket, arrival: float) -> bool:
        """Account for a packet; False if it was a duplicate or discarded."""
        return self.update_fields(
            packet.ssrc, packet.sequence, packet.timestamp, len(packet.payload), arrival
        )

    def update_fields(
        self, ssrc: int, sequence: int, timestamp: int, octets: int, arrival: float
    ) -> bool:
        """`update` from header fields (the per-packet fast path)."""
        if ssrc != self.ssrc:
            self._new_source(ssrc)
        ext = self._seq.update(sequence)
        if ext is None:
            self.discarded += 1
            return False
        if self._seq.restarted:
            self._reset_counts()
        self.last_arrival = arrival
        self.received += 1
        self.octets += octets
        slot = ext % _SEEN
        if self._seen[slot] == ext:
            self.duplicates += 1
            return False
        self._seen[slot] = ext
        if ext < self._seq.extended_max:
            self.late += 1
        if timestamp != self._last_ts:
            self._last_ts = timestamp
            # Transit time in timestamp units; only differences matter, so the
            # offset between the two clocks drops out.
            transit = arrival * self.clock_rate - timestamp
            if self._transit is not None:
                d = transit - self._transit
                # A timestamp wrap shows as a jump of 2**32: take it back out.
                if d > 0x80000000:
                    d -= 0x100000000
                elif d < -0x80000000:
                    d += 0x100000000
                self.jitter += (abs(d) - self.jitter) / 16.0
                self.max_jitter = max(self.max_jitter, self.jitter)
            self._transit = transit
        return True

    def _new_source(self, ssrc: int) -> None:
        if self.ssrc is not None:
            r, d, la, e, lo = self._earlier
            self._earlier = (r + self.received, d + self.duplicates, la + self.late,
                             e + self.expected, lo + self.lost)
            self._seq = SequenceTracker()
            self._reset_counts()
            self._last_ts = None
            self._last_sr_arrival = None
        self.ssrc = ssrc
        self.sources += 1

    def _reset_counts(self) -> None:
        self.received = 0
        self.duplicates = 0
        self.late = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._seen = array("q", [-1]) * _SEEN
        self._transit = None

    @property
    def extended_max(self) -> int:
        """The extended highest sequence number received."""
        return self._seq.extended_max

    @property
    def expected(self) -> int:
        """Packets expected from the first to the highest sequence number."""
        if self._seq.base_seq is None:
            return 0
        return self._seq.extended_max - self._seq.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """expected − received, as A.3 defines it (negative when duplicates outnumber losses)."""
        return self.expected - self.received

    @property
    def lost(self) -> int:
        """Packets never received (duplicates do not hide losses here)."""
        return max(0, self.expected - (self.received - self.duplicates))

    @property
    def jitter_ms(self) -> float:
        """The jitter estimate in milliseconds."""
        return self.jitter * 1000.0 / self.clock_rate

    def sender_report_received(self, report: SenderReport, arrival: float) -> None:
        """Remember an SR from this source, for LSR/DLSR in our next report."""
        self._last_sr = ntp_middle32(report.ntp)
        self._last_sr_arrival = arrival

    def report_block(self, now: float) -> ReportBlock:
        """A report block for an RR/SR sent at `now`; starts a new reporting interval."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self._last_sr_arrival is not None:
            dlsr = int((now - self._last_sr_arrival) * 65536)
        return ReportBlock(
            ssrc=self.ssrc or 0,
            fraction_lost=min(fraction, 255),
            cumulative_lost=self.cumulative_lost,
            highest_seq=self.extended_max,
            jitter=int(self.jitter),
            lsr=self._last_sr,
            dlsr=dlsr,
        )

    def summary(self) -> dict[str, float | int]:
        """Figures for the call record."""
        received, duplicates, late, expected, lost = self._earlier
        return {
            "packets": received + self.received,
            "expected": expected + self.expected,
            "lost": lost + self.lost,
            "duplicates": duplicates + self.duplicates,
            "late": late + self.late,
            "jitter_ms": round(self.jitter_ms, 3),
            "max_jitter_ms": round(self.max_jitter * 1000.0 / self.clock_rate, 3),
        }


def rtcp_interval(
    *,
    members: int = 2,
    senders: int = 2,
    we_sent: bool = True,
    session_bandwidth: float = 64000.0,
    avg_rtcp_size: float = 100.0,
    initial: bool = False,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next RTCP report (RFC 3550 §6.3.1, without reconsideration).

    RTCP gets 5 % of the session bandwidth (in bit/s), a quarter of it for
    senders when they are under a quarter of the members; the deterministic
    interval is at least 5 s (2.5 s before the first report) and is spread by
    a random factor in [0.5, 1.5] so that participants do not synchronise.
    Without timer reconsideration the RFC's e − 3/2 compensation is not
    applied, so the mean interval is Td itself.
    """
    rtcp_bw = session_bandwidth * 0.05 / 8.0  # bytes per second
    n = members
    if senders <= members * 0.25:
        if we_sent:
            rtcp_bw *= 0.25
            n = senders
        else:
            rtcp_bw *= 0.75
            n = members - senders
    t_min = 2.5 if initial else 5.0
    td = max(t_min, avg_rtcp_size * max(n, 1) / rtcp_bw)
    r = (rng or random).uniform(0.5, 1.5)
    return td * r
