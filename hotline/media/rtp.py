"""RTP packets (RFC 3550 §5) and the sequence/timestamp arithmetic around them.

Theory of operation: a packet is an immutable `RtpPacket`; `parse()` takes
the bytes of one UDP datagram and raises `MalformedPacket` (the far end's
fault; callers count and drop it), `serialize()` gives the bytes back.

Sequence numbers are 16 bits and timestamps 32 bits, both wrapping; every
comparison goes through `seq_diff` / `ts_diff` (signed modular difference)
and receivers keep an extended 32-bit sequence with `SequenceTracker`
(RFC 3550 appendix A.1).

Outgoing streams are numbered by an `RtpSender` (one random SSRC, random
initial sequence and timestamp as §5.1 asks, continuity, the marker bit after
a gap). An `RtpRewriter` sits on top of a sender and renumbers packets coming
from elsewhere (another call leg) so that the far end sees one continuous
stream across prompts and the bridge.

Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from dataclasses import dataclass
from typing import NamedTuple

from hotline.media.compact import CompactState

RTP_VERSION = 2
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_FIXED = struct.Struct("!HII")


class MalformedPacket(ValueError):
    """A datagram that is not a valid RTP/RTCP packet: the sender's fault."""


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """An RFC 3550 §5.3.1 header extension, kept opaque."""

    profile: int
    """The 16-bit profile-defined identifier (0xBEDE for RFC 8285 one-byte headers)."""
    data: bytes
    """The extension body; its length is a multiple of 4 bytes."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. Immutable; use `dataclasses.replace` (or `with_`) to change fields."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0
    """Padding bytes after the payload, counting the final length byte (0 = none)."""

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one datagram; raises `MalformedPacket` if it is not RTP version 2."""
        if len(data) < _HEADER.size:
            raise MalformedPacket(f"RTP packet too short ({len(data)} bytes)")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != RTP_VERSION:
            raise MalformedPacket(f"RTP version {b0 >> 6}, expected 2")
        cc = b0 & 0x0F
        offset = _HEADER.size + 4 * cc
        if len(data) < offset:
            raise MalformedPacket("RTP packet truncated in its CSRC list")
        csrc = struct.unpack_from(f"!{cc}I", data, _HEADER.size) if cc else ()
        extension = None
        if b0 & 0x10:
            if len(data) < offset + 4:
                raise MalformedPacket("RTP packet truncated in its extension header")
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise MalformedPacket("RTP header extension longer than the packet")
            extension = RtpExtension(profile, bytes(data[offset + 4 : end]))
            offset = end
        end = len(data)
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > end:
                raise MalformedPacket(f"RTP padding count {padding} is invalid")
            end -= padding
        return cls(
            payload_type=b1 & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(b1 & 0x80),
            csrc=tuple(csrc),
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        """The packet's wire bytes."""
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRCs fit in an RTP header")
        if not 0 <= self.payload_type < 128:
            raise ValueError(f"payload type {self.payload_type} out of range")
        if not 0 <= self.padding < 256:
            raise ValueError(f"padding {self.padding} out of range")
        b0 = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc)
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            data = self.extension.data
            if len(data) % 4:
                raise ValueError("RTP header extension length must be a multiple of 4")
            parts.append(struct.pack("!HH", self.extension.profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)

    __bytes__ = serialize

    def with_(self, **changes: object) -> RtpPacket:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        m = " M" if self.marker else ""
        return (
            f"<RtpPacket pt={self.payload_type} seq={self.sequence} ts={self.timestamp} "
            f"ssrc={self.ssrc:#010x}{m} {len(self.payload)}B>"
        )


def is_rtcp(data: bytes) -> bool:
    """True if a datagram looks like RTCP rather than RTP (RFC 5761 §4: PT 192–223)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


class RtpHeader(NamedTuple):
    """The fixed header fields of a datagram and where its payload lies (see `peek`)."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    start: int
    """Offset of the payload."""
    end: int
    """End of the payload (before any padding)."""


def peek(data: bytes) -> RtpHeader:
    """The header of an RTP datagram without building an `RtpPacket` (the per-packet fast path).

    Raises `MalformedPacket` like `RtpPacket.parse`.
    """
    if len(data) >= 12 and data[0] == 0x80:  # the common case: no CSRC, extension, padding
        b1 = data[1]
        seq, ts, ssrc = _FIXED.unpack_from(data, 2)
        return RtpHeader(b1 & 0x7F, b1 > 0x7F, seq, ts, ssrc, 12, len(data))
    p = RtpPacket.parse(data)
    end = len(data) - p.padding
    return RtpHeader(
        p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc, end - len(p.payload), end
    )


def seq_diff(a: int, b: int) -> int:
    """`a - b` for 16-bit sequence numbers, in [-32768, 32767]."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d >= 0x8000 else d


def ts_diff(a: int, b: int) -> int:
    """`a - b` for 32-bit RTP timestamps, in [-2**31, 2**31 - 1]."""
    d = (a - b) & 0xFFFFFFFF
    return d - TS_MOD if d >= 0x80000000 else d


class SequenceTracker(CompactState):
    """Extended sequence numbers for one source (RFC 3550 A.1, without probation).

    The first packet is accepted at once (a telephone call has one source and
    no time to spare for probation). A jump of more than `max_dropout` is
    taken as a restart of the sender only when the next packet confirms it.
    """

    def __init__(self, max_dropout: int = 3000, max_misorder: int = 100) -> None:
        self.max_dropout = max_dropout
        self.max_misorder = max_misorder
        self.base_seq: int | None = None
        self.max_seq = 0
        self.cycles = 0
        self._bad_seq: int | None = None
        self._restarted = False

    def start(self, seq: int) -> None:
        """(Re)start counting at `seq`."""
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self._bad_seq = None

    @property
    def extended_max(self) -> int:
        """The highest extended sequence number seen (cycles + max_seq)."""
        return self.cycles + self.max_seq

    @property
    def restarted(self) -> bool:
        """Whether the last update restarted the count (callers reset their statistics)."""
        return self._restarted

    def update(self, seq: int) -> int | None:
        """Account for a packet; its extended sequence number, or None if it is discarded.

        A packet is discarded when it jumps far from the expected sequence and
        is not (yet) confirmed as a restart.
        """
        self._restarted = False
        if self.base_seq is None:
            self.start(seq)
            return seq
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < self.max_dropout:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
            self._bad_seq = None
            return self.cycles + seq
        if udelta <= SEQ_MOD - self.max_misorder:
            # A big jump: the sender restarted, or a stray packet.
            if seq == self._bad_seq:
                self.start(seq)
                self._restarted = True
                return seq
            self._bad_seq = (seq + 1) & 0xFFFF
            return None
        # Duplicate or reordered packet, from before max_seq.
        ext = self.cycles + seq
        if seq > self.max_seq:
            ext -= SEQ_MOD  # it belongs to the previous cycle
        return ext


class RtpSender(CompactState):
    """Numbering of one outgoing stream: SSRC, sequence and timestamp continuity.

    `timestamp` is the RTP time of the next audio packet. The caller advances
    it by the samples of every packet sent (`audio`) or skipped (`skip`); the
    first packet after a skip carries the marker bit (RFC 3551 §4.1: the first
    packet of a talkspurt).
    """

    def __init__(
        self,
        payload_type: int,
        *,
        clock_rate: int = 8000,
        ssrc: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rnd = rng or random.SystemRandom()
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = ssrc if ssrc is not None else rnd.getrandbits(32)
        self.next_seq = rnd.getrandbits(16)
        self.timestamp = rnd.getrandbits(32)
        self.packets_sent = 0
        self.octets_sent = 0
        self._gap = True  # the very first packet also starts a talkspurt

    def _number(
        self, payload: bytes, payload_type: int, timestamp: int, marker: bool
    ) -> RtpPacket:
        packet = RtpPacket(
            payload_type=payload_type,
            sequence=self.next_seq,
            timestamp=timestamp & 0xFFFFFFFF,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.next_seq = (self.next_seq + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return packet

    def audio(self, payload: bytes, samples: int, *, marker: bool = False) -> RtpPacket:
        """Number an audio packet at the current timestamp and advance by `samples`."""
        packet = self._number(payload, self.payload_type, self.timestamp, marker or self._gap)
        self._gap = False
        self.skip_time(samples)
        return packet

    def audio_datagram(self, payload: bytes, samples: int) -> bytes:
        """`audio(...).serialize()` without the intermediate object (the per-tick fast path)."""
        b1 = (0x80 | self.payload_type) if self._gap else self.payload_type
        data = _HEADER.pack(0x80, b1, self.next_seq, self.timestamp, self.ssrc) + payload
        self._gap = False
        self.next_seq = (self.next_seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data

    def skip(self, samples: int) -> None:
        """Nothing was sent for `samples`: advance time; the next audio packet gets the marker."""
        self.skip_time(samples)
        self._gap = True

    def skip_time(self, samples: int) -> None:
        """Advance the timestamp without marking a gap (time covered by other packets)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def event(
        self, payload: bytes, payload_type: int, timestamp: int, *, marker: bool = False
    ) -> RtpPacket:
        """Number a packet with an explicit timestamp (telephone-events share one)."""
        return self._number(payload, payload_type, timestamp, marker)

    def mark_gap(self) -> None:
        """Flag the next audio packet with the marker bit."""
        self._gap = True


class RtpRewriter(CompactState):
    """Renumber packets from another source into an `RtpSender`'s stream.

    On the first packet, whenever the source changes SSRC or jumps in
    sequence, and when the sender numbered packets of its own in between (a
    prompt played into the bridge), the rewriter takes the offsets that continue the sender's
    numbering and sets the marker bit; from then on sequence and timestamp
    move with the source's, so loss and reordering stay visible to the far
    end's jitter buffer.
    """

    def __init__(self, sender: RtpSender, *, max_jump: int = 3000) -> None:
        self.sender = sender
        self.max_jump = max_jump
        self._source: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_in_seq = 0
        self._sender_seq = -1  # the sender's next_seq after our last packet
        self.resyncs = 0

    def reset(self) -> None:
        """Forget the source: the next packet starts a new segment (e.g. after a prompt)."""
        self._source = None

    def rewrite(
        self,
        packet: RtpPacket,
        *,
        samples: int | None = None,
        payload_type: int | None = None,
        payload: bytes | None = None,
    ) -> RtpPacket:
        """The packet renumbered for the far end.

        `samples` is the audio duration of the packet (None for packets that
        do not advance time, like telephone-events); `payload_type` maps the
        PT; `payload` replaces the payload (after transcoding).
        """
        if payload is None:
            payload = packet.payload
        seq, ts, marker = self.renumber(
            packet.ssrc, packet.sequence, packet.timestamp, packet.marker, samples, len(payload)
        )
        return RtpPacket(
            packet.payload_type if payload_type is None else payload_type,
            seq,
            ts,
            self.sender.ssrc,
            payload,
            marker,
            packet.csrc,
        )

    def rewrite_datagram(
        self, header: RtpHeader, payload_type: int, payload: bytes, samples: int | None
    ) -> bytes:
        """The relay's fast path: the renumbered datagram, from a `peek`ed header.

        CSRCs and header extensions are not carried over (we terminate the
        stream, we are not a translator in the RFC 3550 sense).
        """
        seq, ts, marker = self.renumber(
            header.ssrc, header.sequence, header.timestamp, header.marker, samples, len(payload)
        )
        return (
            _HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, seq, ts, self.sender.ssrc)
            + payload
        )

    def renumber(
        self,
        ssrc: int,
        sequence: int,
        timestamp: int,
        marker: bool,
        samples: int | None,
        octets: int,
    ) -> tuple[int, int, bool]:
        """(sequence, timestamp, marker) for the far end; advances the sender's state."""
        sender = self.sender
        # seq_diff/ts_diff written out: this runs for every relayed packet.
        d_in = (sequence - self._last_in_seq) & 0xFFFF
        if d_in >= 0x8000:
            d_in -= SEQ_MOD
        if (
            self._source != ssrc
            or abs(d_in) > self.max_jump
            or sender.next_seq != self._sender_seq  # the sender sent packets of its own
        ):
            self._source = ssrc
            self._seq_offset = (sender.next_seq - sequence) & 0xFFFF
            self._ts_offset = (sender.timestamp - timestamp) & 0xFFFFFFFF
            self._last_in_seq = sequence
            self.resyncs += 1
            marker = True
            d_in = 0
        out_seq = (sequence + self._seq_offset) & 0xFFFF
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        if d_in > 0:
            self._last_in_seq = sequence
        if (out_seq - sender.next_seq) & 0xFFFF < 0x8000:  # seq_diff(out_seq, next) >= 0
            sender.next_seq = (out_seq + 1) & 0xFFFF
        if samples is not None:
            end = (out_ts + samples) & 0xFFFFFFFF
            if 0 < (end - sender.timestamp) & 0xFFFFFFFF < 0x80000000:  # ts_diff(end, ts) > 0
                sender.timestamp = end
        sender.packets_sent += 1
        sender.octets_sent += octets
        sender._gap = False
        self._sender_seq = sender.next_seq
        return out_seq, out_ts, marker
