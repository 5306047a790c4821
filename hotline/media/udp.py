"""One RTP or RTCP socket: a bound non-blocking UDP socket, read and written one of two ways.

On uvloop, through the loop's datagram transport: libuv reads and writes in
C, up to 32 datagrams per readiness event, and hands Python only the
`datagram_received` call -- that is what lets one core relay hundreds of
bridged calls. Sending drops (and counts) a packet when the transport still
holds an unsent one: late audio is useless, and a queue would only delay the
next packet too.

On the standard loop, with `loop.add_reader` and Python `recvfrom`/`sendto`
calls: its datagram transport reads one datagram per readiness event, so a
socket with a backlog (the process was descheduled for a while) drains one
packet per loop iteration, and with a thousand busy sockets the iterations
come too slowly for the backlogs ever to clear -- the relay latency then
climbs to seconds and stays there. Here each wake-up reads what is queued, up
to `UdpSocket.batch` datagrams (fairness to the other sockets), and sending
goes straight to the socket.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol, cast

from hotline.media.session import Address

__all__ = ["DatagramHandler", "UdpSocket", "reads_in_c"]

log = logging.getLogger(__name__)

DatagramHandler = Callable[[bytes, Address], None]
"""Called with every datagram read, and who sent it."""


def _ignore(data: bytes, addr: Address) -> None:
    """The handler of a socket nobody listens to yet: what arrives is dropped."""


def reads_in_c(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop`'s datagram transports drain a backlog in C (uvloop), so are worth using."""
    return type(loop).__module__.startswith("uvloop")


class _SendingTransport(Protocol):
    """What `send` needs of a datagram transport (both loops' have it; the type stubs omit it)."""

    def sendto(self, data: bytes, addr: Any = None) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def abort(self) -> None: ...


class _Receiver(asyncio.DatagramProtocol):
    """The datagram transport's protocol: hands everything to its `UdpSocket`."""

    def __init__(self, owner: UdpSocket) -> None:
        self.owner = owner
        # The transport calls the socket's `deliver` itself: one Python call less per packet.
        self.datagram_received = owner.deliver  # type: ignore[method-assign]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.deliver(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.owner.error_received(exc)


class UdpSocket:
    """A bound UDP socket: every datagram read goes to `on_datagram`; `send` never blocks."""

    batch = 32
    """Datagrams read per wake-up at most."""
    max_size = 8192

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 on_datagram: DatagramHandler = _ignore, *, read: bool = True) -> None:
        """Start reading the bound, non-blocking `sock` with `loop.add_reader` (see `bind`, `open`).

        With read=False nothing reads it yet (`open` gives it to a datagram transport).
        """
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
        self._transport: _SendingTransport | None = None
        self._reading = read
        if read:
            loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def bind(cls, loop: asyncio.AbstractEventLoop, host: str, port: int) -> UdpSocket:
        """A socket bound to `host`:`port` (IPv6 if `host` has a colon), read with `add_reader`.

        OSError if it cannot be bound.
        """
        return cls(loop, _bound_socket(host, port))

    @classmethod
    async def open(cls, loop: asyncio.AbstractEventLoop, host: str, port: int,
                   *, transport: bool | None = None) -> UdpSocket:
        """A socket bound to `host`:`port`, on a datagram transport if `transport` (default:
        where the loop reads in C, see `reads_in_c`), else read with `add_reader`.

        OSError if it cannot be bound.
        """
        return await cls.adopt(loop, _bound_socket(host, port), transport=transport)

    @classmethod
    async def adopt(cls, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                    *, transport: bool | None = None,
                    on_datagram: DatagramHandler = _ignore) -> UdpSocket:
        """`open` for a socket already bound, read from the start by `on_datagram`; it is closed
        if it cannot be adopted."""
        if transport is None:
            transport = reads_in_c(loop)
        if not transport:
            return cls(loop, sock, on_datagram)
        udp = cls(loop, sock, on_datagram, read=False)
        try:
            made, _ = await loop.create_datagram_endpoint(lambda: _Receiver(udp), sock=sock)
            udp._transport = cast(_SendingTransport, made)
        except BaseException:
            sock.close()
            raise
        return udp

    @property
    def on_transport(self) -> bool:
        """Whether the loop's datagram transport reads and writes this socket."""
        return self._transport is not None

    def send(self, data: bytes, addr: Address) -> None:
        """Send one datagram now, or drop it if the send buffer is full.

        Late audio is useless and the receiver's jitter buffer conceals a loss,
        so a full buffer costs the packet (counted in `dropped`), never a wait.
        """
        sock = self.sock
        if sock is None:
            return
        transport = self._transport
        if transport is not None:
            # The transport sends at once when it can and queues otherwise: one packet
            # still queued means the kernel buffer was full, so this one is dropped.
            if transport.get_write_buffer_size():
                self.dropped += 1
            else:
                transport.sendto(data, addr)
            return
        try:
            sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
        except OSError as exc:
            self.error_received(exc)

    def pause(self) -> None:
        """Stop reading (the socket stays bound and open): another process reads it meanwhile.

        A datagram transport cannot pause on every loop (uvloop's cannot), so it is
        closed on a duplicate of the socket, and `resume` reads with `add_reader`.
        """
        sock = self.sock
        if sock is None:
            return
        transport, self._transport = self._transport, None
        if transport is not None:
            self.sock = sock.dup()
            transport.abort()
            sock.close()
        elif self._reading:
            self._loop.remove_reader(sock.fileno())
        self._reading = False

    def resume(self) -> None:
        """Read again after `pause` (with `add_reader`, on either loop)."""
        sock = self.sock
        if sock is not None and not self._reading and self._transport is None:
            self._loop.add_reader(sock.fileno(), self._read_ready)
            self._reading = True

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed)."""
        return -1 if self.sock is None else self.sock.fileno()

    def close(self) -> None:
        """Stop reading and close the socket."""
        sock, self.sock = self.sock, None
        transport, self._transport = self._transport, None
        if transport is not None:
            # The transport owns the socket now and closes it (what is still queued is late
            # audio anyway); the socket object only stops counting as in use.
            transport.abort()
        elif sock is not None and self._reading:
            self._loop.remove_reader(sock.fileno())
        if sock is not None:
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
            self.deliver(data, addr)

    def deliver(self, data: bytes, addr: Any) -> None:
        """Hand one datagram read to `on_datagram` (the transport's protocol calls it too)."""
        # IPv6 addresses come as 4-tuples; (host, port) is all a session needs.
        try:
            self.on_datagram(data, addr if len(addr) == 2 else (addr[0], addr[1]))
        except Exception:
            # A bug of ours on one packet must not end the call's audio.
            self.failures += 1
            log.exception("RTP datagram from %s failed", addr)


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
