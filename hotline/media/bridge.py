"""Relaying RTP between the two legs of a forwarded call.

Each leg has the codec and telephone-event payload type its SDP agreed,
and an `RtpSender` numbering what we send to it (which played prompts or
ringback before the bridge). A packet from one leg is relayed to the other:

- audio: passed through when both legs use the same codec, PCMU↔PCMA
  transcoded (one table lookup per byte) when they differ;
- telephone-events: relayed with the payload type mapped to the other leg's
  (dropped and counted if the other leg did not negotiate telephone-event);
- comfort noise and anything else: dropped and counted.

Every relayed packet is renumbered by the destination's `RtpRewriter`, so
each far end sees one stream, one SSRC, with continuous sequence numbers and
timestamps from the first prompt through the bridge.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from hotline.media.codecs import Codec, transcode
from hotline.media.compact import CompactState
from hotline.media.rtp import RtpHeader, RtpPacket, RtpRewriter, RtpSender

_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True, slots=True)
class LegMedia:
    """What one leg's SDP agreed."""

    codec: Codec
    telephone_event_pt: int | None = 101
    """The dynamic payload type of telephone-event, or None if not negotiated."""


@dataclass(slots=True)
class RelayStats:
    """Counters for one direction."""

    relayed: int = 0
    transcoded: int = 0
    events: int = 0
    dropped: int = 0
    """Packets of payload types the other leg cannot take (CN, unknown, events without PT)."""
    held: int = 0
    """Packets not relayed while the other leg sent key presses of its own."""

    def as_dict(self) -> dict[str, int]:
        """For the call record ("held" only when some were)."""
        out = {
            "relayed": self.relayed,
            "transcoded": self.transcoded,
            "events": self.events,
            "dropped": self.dropped,
        }
        if self.held:
            out["held"] = self.held
        return out


@dataclass(slots=True)
class _Direction:
    src: LegMedia
    dst: LegMedia
    rewriter: RtpRewriter
    stats: RelayStats = field(default_factory=RelayStats)
    transcoding: bool = False
    held: bool = False

    def __post_init__(self) -> None:
        self.transcoding = self.src.codec != self.dst.codec


class Bridge(CompactState):
    """Relay logic for legs "a" and "b"."""

    def __init__(self, a: LegMedia, a_out: RtpSender, b: LegMedia, b_out: RtpSender) -> None:
        self._dirs = {
            "a": _Direction(a, b, RtpRewriter(b_out)),  # packets from a, sent to b
            "b": _Direction(b, a, RtpRewriter(a_out)),
        }

    def _route(self, d: _Direction, pt: int, payload: bytes) -> tuple[int, bytes, int | None] | None:
        """(payload type, payload, samples) to send on, or None to drop; counts."""
        if pt == d.src.codec.payload_type:
            if d.src.codec != d.dst.codec:
                payload = transcode(payload, d.src.codec, d.dst.codec)
                d.stats.transcoded += 1
            d.stats.relayed += 1
            return d.dst.codec.payload_type, payload, len(payload)  # G.711: a byte a sample
        if pt == d.src.telephone_event_pt and d.dst.telephone_event_pt is not None:
            d.stats.relayed += 1
            d.stats.events += 1
            return d.dst.telephone_event_pt, payload, None
        d.stats.dropped += 1
        return None

    def relay(self, from_leg: str, packet: RtpPacket) -> RtpPacket | None:
        """The packet to send to the other leg, or None if it is dropped."""
        d = self._dirs[from_leg]
        route = self._route(d, packet.payload_type, packet.payload)
        if route is None:
            return None
        pt, payload, samples = route
        return d.rewriter.rewrite(packet, samples=samples, payload_type=pt, payload=payload)

    def relay_datagram(self, from_leg: str, data: bytes, header: RtpHeader) -> bytes | None:
        """`relay` on wire bytes and a `peek`ed header: the datagram for the other leg."""
        return self.relay_fields(from_leg, data, *header)

    def relay_fields(
        self,
        from_leg: str,
        data: bytes,
        pt: int,
        marker: bool,
        seq: int,
        ts: int,
        ssrc: int,
        start: int,
        end: int,
    ) -> bytes | None:
        """`relay_datagram` from header fields already unpacked (the per-packet path)."""
        d = self._dirs[from_leg]
        if d.held:
            d.stats.held += 1
            return None
        src, dst = d.src, d.dst
        if pt == src.codec.payload_type:
            payload = data[start:end]
            if d.transcoding:
                payload = transcode(payload, src.codec, dst.codec)
                d.stats.transcoded += 1
            d.stats.relayed += 1
            out_pt, samples = dst.codec.payload_type, end - start  # G.711: a byte a sample
        elif pt == src.telephone_event_pt and dst.telephone_event_pt is not None:
            d.stats.relayed += 1
            d.stats.events += 1
            payload, out_pt, samples = data[start:end], dst.telephone_event_pt, None
        else:
            d.stats.dropped += 1
            return None
        out_seq, out_ts, out_marker = d.rewriter.renumber(
            ssrc, seq, ts, marker, samples, end - start
        )
        return _HEADER.pack(
            0x80, (0x80 if out_marker else 0) | out_pt, out_seq, out_ts, d.rewriter.sender.ssrc
        ) + payload

    def hold(self, to_leg: str, held: bool) -> None:
        """Hold back (True) or let through again what is relayed to `to_leg`."""
        self._dirs["b" if to_leg == "a" else "a"].held = held

    def resume(self, to_leg: str) -> None:
        """We played something of our own to `to_leg`: the next relayed packet re-anchors."""
        self._dirs["b" if to_leg == "a" else "a"].rewriter.reset()

    def stats(self, from_leg: str) -> RelayStats:
        """Counters for packets coming from `from_leg`."""
        return self._dirs[from_leg].stats
