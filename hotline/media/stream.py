"""The asyncio side of one RTP stream: two UDP sockets around a `MediaSession`.

Thin on purpose: the socket readers (`UdpSocket`) hand bytes to the session
and send what it returns; events go to asyncio queues for the call layer.
Sending on the media clock is the engine's job (it calls `MediaSession.tick`
for every stream on one timer and hands the packet to `RtpStream.send_rtp`);
a `RtpStream` never sleeps or runs a task of its own.

What a stream needs of its engine is the `StreamOwner` Protocol, so this
module does not import the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from hotline.media.bridge import Bridge
from hotline.media.events import DigitReceived, PlaybackEnded, RtpTimedOut
from hotline.media.player import Item
from hotline.media.session import Address, MediaEvent, MediaSession, StreamConfig
from hotline.media.udp import UdpSocket

__all__ = ["RtpStream", "StreamOwner"]

log = logging.getLogger(__name__)


class StreamOwner(Protocol):
    """What a stream needs of the engine that opened it (`MediaEngine` fits)."""

    def now(self) -> float:
        """The media clock's time (the loop's), for received packets and reports."""
        ...

    def bridge(self, a: RtpStream, b: RtpStream) -> Bridge:
        """Relay RTP between two legs."""
        ...

    def unbridge(self, a: RtpStream, b: RtpStream) -> None:
        """Stop relaying between two bridged legs."""
        ...

    def stream_reconfigured(self, stream: RtpStream) -> None:
        """`stream` has new negotiated media: its packet time, so its place on the clock, may differ."""
        ...

    def stream_closed(self, stream: RtpStream) -> None:
        """`stream` closed its sockets: take it off the clock and give its port back."""
        ...

    def stream_needs_clock(self, stream: RtpStream) -> None:
        """`stream` has work on every packet time again (see `MediaSession.needs_clock`)."""
        ...

    def settle(self, stream: RtpStream) -> None:
        """Make `stream.session` current: a pair lent to a relay worker comes back first."""
        ...


class RtpStream:
    """One call leg's media, as the call layer sees it."""

    def __init__(
        self,
        owner: StreamOwner,
        session: MediaSession,
        port: int,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        every: int,
        phase: int,
    ) -> None:
        self.owner = owner
        """The engine that opened the stream and runs its clock."""
        self._time = owner.now  # bound once: called for every packet
        self.session = session
        self.port = port
        """Local RTP port (RTCP is port + 1): put it in the SDP."""
        self._rtp = rtp
        self._rtcp = rtcp
        self.every = every
        """Send on every `every`-th engine tick…"""
        self.phase = phase
        """…namely on ticks n with n % every == phase."""
        self.on_clock = False
        """Whether the engine ticks it now (set by the engine; see `MediaSession.needs_clock`)."""
        self.peer: RtpStream | None = None
        """The bridged leg, if any."""
        self.events: asyncio.Queue[MediaEvent] = asyncio.Queue()
        """Every event of this stream: digits, playback ends, RTP timeouts."""
        self.digits: asyncio.Queue[DigitReceived] = asyncio.Queue()
        """Only the digits (for an IVR waiting for input)."""
        self._timed_out: asyncio.Future[RtpTimedOut] = asyncio.get_running_loop().create_future()
        self._played = asyncio.Event()
        self._played.set()
        self._interrupted = False
        self.closed = False
        self.failed = False
        """Set when sending failed with a bug of ours; the stream no longer sends."""
        self.lent = False
        """Set while a relay worker carries this bridged leg (`session` is then out of date
        until the owner's `settle` takes it back; every method below does that first)."""
        self.on_event: Callable[[MediaEvent], None] | None = None
        """Also called with every event (a relay worker sends them to the server this way)."""

    # -- for the call layer --------------------------------------------------------------

    def play(self, items: list[Item], *, replace: bool = True) -> None:
        """Start playing (stops what was playing unless replace=False)."""
        if self.lent:
            self.owner.settle(self)
        self.session.play(items, replace=replace)
        self._dispatch()  # items stopped by replace are reported now
        self._played.clear()
        self._interrupted = False

    async def wait_played(self) -> bool:
        """Wait until the playlist is done; False if barge-in or stop cut it short."""
        await self._played.wait()
        return not self._interrupted

    def stop_playback(self) -> None:
        """Stop the playlist."""
        if self.lent:
            self.owner.settle(self)
        self.session.player.stop()
        self._dispatch()

    def send_digits(self, digits: str, duration_ms: int = 100) -> None:
        """Send key presses as RFC 4733 events, on the following ticks."""
        if self.lent:
            self.owner.settle(self)
        self.session.send_digits(digits, duration_ms)
        self.owner.stream_needs_clock(self)  # a bridged leg may be off the clock

    def digit_from_info(self, digit: str, duration_ms: int) -> None:
        """A digit the SIP layer got by INFO, merged into this call's digit stream."""
        if self.lent:
            self.owner.settle(self)
        self.session.digit_from_info(digit, duration_ms, self._time())
        self._dispatch()

    def set_remote(self, rtp: Address, rtcp: Address | None = None) -> None:
        """A re-INVITE moved the far end."""
        if self.lent:
            self.owner.settle(self)
        self.session.remote = rtp
        self.session.remote_rtcp = rtcp or (rtp[0], rtp[1] + 1)
        self.session.latched = False

    def reconfigure(self, config: StreamConfig) -> None:
        """New negotiated media on this port (see `MediaSession.reconfigure`).

        For an outbound leg, opened before its codec is known (the port goes
        into the offer), once the answer or a 183's early media says what was
        agreed. A bridged leg is bridged again with the new codecs.
        """
        if self.lent:
            self.owner.settle(self)
        peer = self.peer
        if peer is not None:
            self.owner.unbridge(self, peer)
        self.session.reconfigure(config, self._time())
        self._dispatch()  # playback stopped by the change is reported now
        self.owner.stream_reconfigured(self)
        if peer is not None:
            self.owner.bridge(self, peer)

    async def wait_timed_out(self) -> RtpTimedOut:
        """Wait until the stream reports an RTP timeout (the event also goes to `events`)."""
        return await asyncio.shield(self._timed_out)

    @property
    def send_errors(self) -> int:
        """Send errors reported by the OS (ICMP port unreachable)."""
        return self._rtp.errors + self._rtcp.errors

    def bridge(self) -> tuple[Bridge, str] | None:
        """The relay this leg is bridged by and its side ("a" or "b"), with up-to-date counters."""
        if self.lent:
            self.owner.settle(self)
        return self.session.bridge

    def stats(self) -> dict[str, object]:
        """Figures for the call record."""
        if self.lent:
            self.owner.settle(self)
        return self.snapshot()

    def snapshot(self) -> dict[str, object]:
        """`stats` without taking a lent pair back: its figures as they were when it was lent
        (for a monitoring scrape, which must not pull every pair out of the relay workers)."""
        out = self.session.summary()
        out["send_errors"] = self.send_errors
        out["send_dropped"] = self._rtp.dropped + self._rtcp.dropped
        return out

    async def close(self, reason: str = "") -> dict[str, object]:
        """Send RTCP BYE, close the sockets, give the port back; returns the statistics."""
        if self.closed:
            return self.stats()
        if self.lent:
            self.owner.settle(self)
        self.closed = True
        if self.peer is not None:
            self.owner.unbridge(self, self.peer)
        session = self.session
        if session.remote_rtcp is not None and session.config.rtcp:
            self._send_rtcp(session.bye(self._time(), time.time(), reason))
        stats = self.stats()
        self.close_sockets()
        self.owner.stream_closed(self)
        self._played.set()
        return stats

    # -- for the engine (and a bridged peer) ---------------------------------------------

    def close_sockets(self) -> None:
        """Close the RTP and RTCP sockets (`close` does, after the RTCP BYE)."""
        self._rtp.close()
        self._rtcp.close()

    def lend_sockets(self) -> list[int]:
        """Stop reading both sockets and mark the stream lent; their descriptors, to pass on."""
        self._rtp.pause()
        self._rtcp.pause()
        self.lent = True
        return [self._rtp.fileno(), self._rtcp.fileno()]

    def take_back(self, session: MediaSession | None, counters: tuple[int, int, int] = (0, 0, 0)) -> None:
        """The end of a loan: the session as the borrower left it (None: ours, out of date) and
        what its sockets counted (errors, dropped, failures); reading here again."""
        if session is not None:
            self.session = session
        errors, dropped, failures = counters
        self._rtp.errors += errors
        self._rtp.dropped += dropped
        self._rtp.failures += failures
        self.lent = False
        self._rtp.resume()
        self._rtcp.resume()

    def socket_counters(self) -> tuple[int, int, int]:
        """(errors, dropped, failures) of both sockets, for `take_back` in the lender."""
        r, c = self._rtp, self._rtcp
        return r.errors + c.errors, r.dropped + c.dropped, r.failures + c.failures

    def send_rtp(self, data: bytes) -> None:
        """Send one RTP packet to the far end now (the clock's tick, or a packet relayed by the peer)."""
        remote = self.session.remote
        if remote is not None and not self.closed:
            self._rtp.send(data, remote)

    def receive_rtp(self, data: bytes, addr: Address) -> None:
        """An RTP datagram arrived: into the session, relayed at once when bridged."""
        out = self.session.receive_rtp(data, addr, self._time())
        if out is not None and self.peer is not None:
            self.peer.send_rtp(out)
        if self.session.has_events:
            self._dispatch()

    def receive_rtcp(self, data: bytes, addr: Address) -> None:
        """An RTCP datagram arrived."""
        self.session.receive_rtcp(data, addr, self._time())

    def poll(self, now: float, wallclock: float) -> None:
        """Time-driven work, about every `poll_interval`: RTP timeout, lost digit ends, RTCP reports."""
        for event in self.session.poll(now):
            self.deliver(event)
        report = self.session.rtcp_due(now, wallclock)
        if report is not None:
            self._send_rtcp(report)

    def _send_rtcp(self, data: bytes) -> None:
        remote = self.session.remote_rtcp
        if remote is not None:
            self._rtcp.send(data, remote)

    def _dispatch(self) -> None:
        for event in self.session.pop_events():
            self.deliver(event)

    def deliver(self, event: MediaEvent) -> None:
        """Hand an event of this stream to `on_event` and the call layer's queues (the server
        also hands on this way the events a relay worker carrying the stream sent back)."""
        if self.on_event is not None:
            self.on_event(event)
        self.events.put_nowait(event)
        if isinstance(event, DigitReceived):
            self.digits.put_nowait(event)
        elif isinstance(event, RtpTimedOut):
            if not self._timed_out.done():
                self._timed_out.set_result(event)
        elif isinstance(event, PlaybackEnded):
            self._interrupted = self._interrupted or event.interrupted
            if event.playlist_done:
                self._played.set()

    def __repr__(self) -> str:
        return f"<RtpStream :{self.port} → {self.session.remote}>"
