"""One RTP or RTCP socket: a bound non-blocking UDP socket read with `loop.add_reader`.

Not an asyncio datagram transport: that reads one datagram per readiness
event, so a socket with a backlog (the process was descheduled for a while)
drains one packet per loop iteration, and with a thousand busy sockets the
iterations come too slowly for the backlogs ever to clear -- the relay
latency then climbs to seconds and stays there. Here each wake-up reads what
is queued, up to `UdpSocket.batch` datagrams (fairness to the other sockets).

Sending goes straight to the socket too: a relayed packet is sent from inside
the other leg's receive callback, and a transport's sendto adds checks and
buffering that RTP does not want.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from hotline.media.session import Address

__all__ = ["DatagramHandler", "UdpSocket"]

log = logging.getLogger(__name__)

DatagramHandler = Callable[[bytes, Address], None]
"""Called with every datagram read, and who sent it."""


def _ignore(data: bytes, addr: Address) -> None:
    """The handler of a socket nobody listens to yet: what arrives is dropped."""


class UdpSocket:
    """A bound UDP socket: every datagram read goes to `on_datagram`; `send` never blocks."""

    batch = 32
    """Datagrams read per wake-up at most."""
    max_size = 8192

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_datagram: DatagramHandler = _ignore) -> None:
        """Start reading the bound, non-blocking `sock` (see `bind` to make one)."""
        self.on_datagram = on_datagram
        """Set it when the receiver exists; until then datagrams are dropped."""
        self.sock: socket.socket | None = sock
        """The bound socket (None once closed)."""
        self.errors = 0
        """Errors the OS reported (ICMP port unreachable and the like)."""
        self.failures = 0
        """Datagrams whose handler raised (a bug of ours)."""
        self.dropped = 0
        """Datagrams not sent because the socket's send buffer was full."""
        self._loop = loop
        loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def bind(cls, loop: asyncio.AbstractEventLoop, host: str, port: int) -> UdpSocket:
        """A socket bound to `host`:`port` (IPv6 if `host` has a colon); OSError if it cannot be."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        return cls(loop, sock)

    def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram now, or drop it if the send buffer is full.

        Late audio is useless and the receiver's jitter buffer conceals a loss,
        so a full buffer costs the packet (counted in `dropped`), never a wait.
        """
        sock = self.sock
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
        except OSError as exc:
            self.error_received(exc)

    def close(self) -> None:
        """Stop reading and close the socket."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    def error_received(self, exc: Exception) -> None:
        """ICMP port unreachable and the like: counted (the RTP timeout decides if the call is dead)."""
        self.errors += 1
        if self.errors == 1:
            log.info("RTP socket error: %s", exc)

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
