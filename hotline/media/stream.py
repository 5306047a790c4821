"""The asyncio side of one RTP stream: two UDP sockets around a `MediaSession`.

Thin on purpose: the socket readers (`loop.add_reader`) hand bytes to the
session and send what it returns; events go to asyncio queues for the call
layer. Sending on
the media clock is the engine's job (it calls `MediaSession.tick` for every
stream on one timer); a `RtpStream` never sleeps or runs a task of its own.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hotline.media.events import DigitReceived, PlaybackEnded, RtpTimedOut
from hotline.media.player import Item
from hotline.media.session import Address, MediaEvent, MediaSession, StreamConfig

if TYPE_CHECKING:
    from hotline.media.engine import MediaEngine

log = logging.getLogger(__name__)


class _Datagrams:
    """One UDP socket, read with `loop.add_reader`; every datagram goes to a callback.

    Not an asyncio datagram transport: that reads one datagram per readiness
    event, so a socket with a backlog (the process was descheduled for a
    while) drains one packet per loop iteration, and with a thousand busy
    sockets the iterations come too slowly for the backlogs ever to clear --
    the relay latency then climbs to seconds and stays there. Here each wake-up
    reads what is queued, up to `batch` datagrams (fairness to other sockets).
    Sending is done on `sock` directly by the stream.
    """

    batch = 32
    max_size = 8192

    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self.on_datagram = on_datagram
        self.sock: socket.socket | None = None
        """The bound socket (None once closed)."""
        self.errors = 0
        self.failures = 0
        self.dropped = 0
        """Datagrams not sent because the socket's send buffer was full."""
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        """Start reading the bound, non-blocking `sock`."""
        self._loop, self.sock = loop, sock
        loop.add_reader(sock.fileno(), self._read_ready)

    def close(self) -> None:
        """Stop reading and close the socket."""
        sock, self.sock = self.sock, None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()

    def _read_ready(self) -> None:
        for _ in range(self.batch):
            sock = self.sock
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(self.max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.error_received(exc)
                return
            # IPv6 addresses come as 4-tuples; (host, port) is all a session needs.
            try:
                self.on_datagram(data, addr if len(addr) == 2 else (addr[0], addr[1]))
            except Exception:
                # A bug of ours on one packet must not end the call's audio.
                self.failures += 1
                log.exception("RTP datagram from %s failed", addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP port unreachable and the like: counted (the RTP timeout decides if the call is dead)."""
        self.errors += 1
        if self.errors == 1:
            log.info("RTP socket error: %s", exc)


class RtpStream:
    """One call leg's media, as the call layer sees it."""

    def __init__(
        self,
        engine: MediaEngine,
        session: MediaSession,
        port: int,
        rtp: _Datagrams,
        rtcp: _Datagrams,
        every: int,
        phase: int,
    ) -> None:
        self.engine = engine
        self._time = engine.now  # bound once: called for every packet
        self.session = session
        self.port = port
        """Local RTP port (RTCP is port + 1): put it in the SDP."""
        self._rtp = rtp
        assert rtp.sock is not None
        self._rtp_sock = rtp.sock
        self._rtcp = rtcp
        self.every = every
        """Send on every `every`-th engine tick…"""
        self.phase = phase
        """…namely on ticks n with n % every == phase."""
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

    # -- for the call layer --------------------------------------------------------------

    def play(self, items: list[Item], *, replace: bool = True) -> None:
        """Start playing (stops what was playing unless replace=False)."""
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
        self.session.player.stop()
        self._dispatch()

    def send_digits(self, digits: str, duration_ms: int = 100) -> None:
        """Send key presses as RFC 4733 events, on the following ticks."""
        self.session.send_digits(digits, duration_ms)

    def digit_from_info(self, digit: str, duration_ms: int) -> None:
        """A digit the SIP layer got by INFO, merged into this call's digit stream."""
        self.session.digit_from_info(digit, duration_ms, self.engine.now())
        self._dispatch()

    def set_remote(self, rtp: Address, rtcp: Address | None = None) -> None:
        """A re-INVITE moved the far end."""
        self.session.remote = rtp
        self.session.remote_rtcp = rtcp or (rtp[0], rtp[1] + 1)
        self.session.latched = False

    def reconfigure(self, config: StreamConfig) -> None:
        """New negotiated media on this port (see `MediaSession.reconfigure`).

        For an outbound leg, opened before its codec is known (the port goes
        into the offer), once the answer or a 183's early media says what was
        agreed. A bridged leg is bridged again with the new codecs.
        """
        peer = self.peer
        if peer is not None:
            self.engine.unbridge(self, peer)
        self.session.reconfigure(config, self.engine.now())
        self._dispatch()  # playback stopped by the change is reported now
        self.engine._reschedule(self)
        if peer is not None:
            self.engine.bridge(self, peer)

    async def wait_timed_out(self) -> RtpTimedOut:
        """Wait until the stream reports an RTP timeout (the event also goes to `events`)."""
        return await asyncio.shield(self._timed_out)

    @property
    def send_errors(self) -> int:
        """Send errors reported by the OS (ICMP port unreachable)."""
        return self._rtp.errors + self._rtcp.errors

    def stats(self) -> dict[str, object]:
        """Figures for the call record."""
        out = self.session.summary()
        out["send_errors"] = self.send_errors
        out["send_dropped"] = self._rtp.dropped + self._rtcp.dropped
        return out

    async def close(self, reason: str = "") -> dict[str, object]:
        """Send RTCP BYE, close the sockets, give the port back; returns the statistics."""
        if self.closed:
            return self.stats()
        self.closed = True
        if self.peer is not None:
            self.engine.unbridge(self, self.peer)
        session = self.session
        if session.remote_rtcp is not None and session.config.rtcp:
            self._send_rtcp(session.bye(self.engine.now(), time.time(), reason))
        stats = self.stats()
        self._rtp.close()
        self._rtcp.close()
        self.engine._stream_closed(self)
        self._played.set()
        return stats

    # -- for the engine ------------------------------------------------------------------

    def _send_rtp(self, data: bytes) -> None:
        # Straight to the socket: a relayed packet is sent from inside the other
        # leg's receive callback, and a transport's sendto adds checks and
        # buffering that RTP does not want. A full send buffer drops the packet
        # (late audio is useless; the receiver's jitter buffer conceals a loss).
        remote = self.session.remote
        if remote is not None and not self.closed:
            try:
                self._rtp_sock.sendto(data, remote)
            except (BlockingIOError, InterruptedError):
                self._rtp.dropped += 1
            except OSError as exc:
                self._rtp.error_received(exc)

    def _send_rtcp(self, data: bytes) -> None:
        remote = self.session.remote_rtcp
        sock = self._rtcp.sock
        if remote is not None and sock is not None:
            try:
                sock.sendto(data, remote)
            except (BlockingIOError, InterruptedError):
                self._rtcp.dropped += 1
            except OSError as exc:
                self._rtcp.error_received(exc)

    def _on_rtp(self, data: bytes, addr: Address) -> None:
        out = self.session.receive_rtp(data, addr, self._time())
        if out is not None and self.peer is not None:
            self.peer._send_rtp(out)
        if self.session.has_events:
            self._dispatch()

    def _on_rtcp(self, data: bytes, addr: Address) -> None:
        self.session.receive_rtcp(data, addr, self.engine.now())

    def _poll(self, now: float, wallclock: float) -> None:
        for event in self.session.poll(now):
            self._deliver(event)
        report = self.session.rtcp_due(now, wallclock)
        if report is not None:
            self._send_rtcp(report)

    def _dispatch(self) -> None:
        for event in self.session.pop_events():
            self._deliver(event)

    def _deliver(self, event: MediaEvent) -> None:
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
