"""SIP transports (RFC 3261 §18): thin asyncio adapters for UDP and TCP.

Theory of operation
-------------------
A transport owns sockets and nothing else.  Bytes that arrive are cut into
messages (one datagram = one message on UDP; :class:`StreamFramer` with its
mandatory Content-Length on TCP), parsed, and handed to the one callback the
owner (the endpoint) supplied, as one of three small events:

* :class:`MessageReceived` -- a parsed request or response, where it came from
  and on which local address.  Requests have already been stamped with
  ``received``/``rport`` (§18.2.1, RFC 3581) by :func:`stamp_via`.
* :class:`MalformedReceived` -- bytes that did not parse.  On UDP the owner may
  answer 400 if it can make out enough of the request; on TCP framing is lost,
  so the connection is closed right after the callback returns (the owner may
  still send a 400 on it from inside the callback).
* :class:`SendFailed` -- a send failed: an ICMP error came back for a UDP
  datagram (read from the socket's error queue, so it names the destination),
  or a TCP connection could not be opened or was overrun.  Never raised.

Sending is synchronous and never blocks: ``send(data, destination)``.  TCP
reuses one connection per remote ``(host, port)`` -- the one a request came in
on (so responses go back on it, §18.2.2) or one we opened earlier -- and opens
a new one in the background when there is none, queueing the data meanwhile.
Idle connections are closed after ``idle_timeout``; the number of connections
and the bytes buffered per connection are bounded.

Which transport a request should use is the owner's choice (it writes it into
the Via); :func:`needs_congestion_control` tells it when RFC 3261 §18.1.1 wants
TCP for a request that would otherwise go over UDP.  Destinations must be IP
literals: resolving names (RFC 3263) is the owner's job, and a DNS lookup here
would block the event loop.

Every message in and out is passed to :mod:`hotline.sip.trace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast

from hotline.sip import trace
from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.message import (
    DEFAULT_MAX_SIZE,
    Request,
    Response,
    StreamFramer,
    parse_message,
)

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "UDP_SIZE_THRESHOLD",
    "Address",
    "EventHandler",
    "MalformedReceived",
    "MessageReceived",
    "SendFailed",
    "TcpTransport",
    "Transport",
    "TransportEvent",
    "UdpTransport",
    "needs_congestion_control",
    "response_destination",
    "stamp_via",
]

log = logging.getLogger(__name__)

#: A transport address: (IP literal without brackets, port).
Address = tuple[str, int]

#: RFC 3261 §18.1.1: with an unknown path MTU, a request larger than this must
#: go over a congestion-controlled transport (TCP) rather than UDP.
UDP_SIZE_THRESHOLD = 1300
#: Close a TCP connection after this many seconds without traffic either way
#: (well above 64*T1 = 32 s, so no transaction outlives its connection).
DEFAULT_IDLE_TIMEOUT = 180.0
#: At most this many TCP connections (incoming and outgoing) at once.
DEFAULT_MAX_CONNECTIONS = 512
#: Abort a TCP connection whose peer lets this many bytes pile up unread.
DEFAULT_MAX_WRITE_BUFFER = 1 << 20
#: Give up opening a TCP connection after this many seconds; the queued messages
#: are then reported as failed (the transaction's Timer B/F would give up at 32 s).
DEFAULT_CONNECT_TIMEOUT = 10.0

# Linux reports ICMP errors for unconnected UDP sockets only with IP_RECVERR,
# and then queues the original destination with each error (ip(7)).
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_LINUX = sys.platform.startswith("linux")


# -- events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageReceived:
    """A SIP message arrived."""

    message: Request | Response
    """The parsed message (requests already carry ``received``/``rport``)."""
    raw: bytes
    """The bytes as they arrived (on TCP: re-serialised when one read held several messages)."""
    source: Address
    """Where it came from; for TCP also the key of the connection it came on."""
    transport: str
    """``"UDP"`` or ``"TCP"``."""
    local: Address
    """The local address it arrived on."""


@dataclass(frozen=True)
class MalformedReceived:
    """Bytes arrived that are not a SIP message we accept."""

    error: RemoteProtocolError
    """What is wrong, with the status a UAS would answer."""
    raw: bytes
    """The datagram (UDP) or the stream buffer that failed to frame (TCP)."""
    source: Address
    """Where it came from."""
    transport: str
    """``"UDP"`` or ``"TCP"``."""
    local: Address
    """The local address it arrived on."""


@dataclass(frozen=True)
class SendFailed:
    """Sending to ``destination`` failed (ICMP unreachable, connection refused, ...).

    Reported, never raised.  The endpoint turns it into a
    :class:`hotline.sip.events.TransmitFailed` for each transaction whose
    messages went to ``destination``.
    """

    destination: Address | None
    """Where the failed message was going (``None`` if the OS did not say)."""
    transport: str
    """``"UDP"`` or ``"TCP"``."""
    reason: str
    """The operating system's error text."""


TransportEvent = MessageReceived | MalformedReceived | SendFailed
EventHandler = Callable[[TransportEvent], None]


# -- address helpers ---------------------------------------------------------------------


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _address(sockaddr: tuple[object, ...] | tuple[str, int]) -> Address:
    """(host, port) from a socket address; IPv4-mapped IPv6 becomes plain IPv4."""
    host, port = str(sockaddr[0]), int(str(sockaddr[1]))
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, port


def _same_host(a: str, b: str) -> bool:
    a, b = _strip_brackets(a), _strip_brackets(b)
    if a == b:
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


#: Destination hosts already found to be IP literals (bounded: peers are few, scanners many).
_CHECKED_HOSTS: set[str] = set()


def _check_destination(destination: Address) -> Address:
    host = _strip_brackets(destination[0])
    if host not in _CHECKED_HOSTS:
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            raise LocalProtocolError(f"destination {host!r} is not an IP address; resolve it first") from None
        if len(_CHECKED_HOSTS) < 1024:
            _CHECKED_HOSTS.add(host)
    return host, int(destination[1])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def needs_congestion_control(size: int) -> bool:
    """Whether a request of ``size`` bytes must not go over UDP (RFC 3261 §18.1.1).

    The rule applies to requests we originate; a UAS answers on the transport
    the request came on whatever the size.
    """
    return size > UDP_SIZE_THRESHOLD


def stamp_via(request: Request, source: Address) -> None:
    """Add ``received`` and fill an empty ``rport`` in the top Via (§18.2.1, RFC 3581 §4).

    ``received`` is added when the sent-by host differs from the source
    address, and always when ``rport`` is present (RFC 3581 requires it then).
    Changes ``request`` in place; the other Via values are kept as written.
    """
    host, port = _address(source)
    top = request.top_via
    via = replace(top, params=dict(top.params))  # the parsed one is shared: change a copy
    changed = False
    if via.has_rport:
        if via.rport is None:
            via.set_param("rport", str(port))
        via.set_param("received", host)
        changed = True
    elif not _same_host(via.host, host):
        via.set_param("received", host)
        changed = True
    if not changed:
        return
    request.replace_top_via(via)


def response_destination(response: Response, transport: str | None = None) -> Address:
    """Where to send ``response`` when there is no connection to reuse (§18.2.2, RFC 3581 §4).

    In order: ``maddr`` (port from sent-by or the default); on UDP ``received``
    with ``rport``; ``received`` with the sent-by port; else the sent-by host
    and port (default 5060, 5061 for TLS).  ``transport`` overrides the Via's
    protocol.  A sent-by that is a host name is returned as is: resolving it
    (RFC 3263 §5) is the caller's job.
    """
    via = response.top_via
    proto = (transport or via.transport).upper()
    port = via.port or (5061 if proto == "TLS" else 5060)
    if via.maddr:
        return _strip_brackets(via.maddr), port
    received = via.received
    if received:
        if proto == "UDP" and via.rport is not None:
            return _strip_brackets(received), via.rport
        return _strip_brackets(received), port
    return _strip_brackets(via.host), port


def _emit(handler: EventHandler, event: TransportEvent) -> None:
    # A bug in the owner must not take the socket down with it.
    try:
        handler(event)
    except Exception:
        log.exception("SIP transport event handler failed on %r", type(event).__name__)


# -- UDP -----------------------------------------------------------------------------------


class UdpTransport(asyncio.DatagramProtocol):
    """SIP over UDP on one local address (IPv4 or IPv6).

    Create with :meth:`create`; close with :meth:`close`.
    """

    name = "UDP"

    def __init__(self, on_event: EventHandler, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._on_event = on_event
        self.max_size = max_size
        self._sock: socket.socket | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._local: Address = ("", 0)
        self._closed: asyncio.Future[None] | None = None

    @classmethod
    async def create(
        cls, on_event: EventHandler, host: str, port: int = 0, *, max_size: int = DEFAULT_MAX_SIZE
    ) -> UdpTransport:
        """Bind ``host:port`` (port 0: any free port) and start receiving."""
        loop = asyncio.get_running_loop()
        host = _strip_brackets(host)
        family = _family(host)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if _LINUX:
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self = cls(on_event, max_size=max_size)
        self._sock = sock
        self._closed = loop.create_future()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        return self

    @property
    def local_address(self) -> Address:
        """The bound (host, port)."""
        return self._local

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport in 3.11
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._local = _address(transport.get_extra_info("sockname"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        source = _address(addr)
        trace.trace("in", self.name, self._local, source, data)
        if not data.strip(b"\r\n\0 \t"):
            return  # keep-alive (RFC 5626 §3.5.1 style CRLF, or NAT pings)
        try:
            msg = parse_message(data, max_size=self.max_size)
            if isinstance(msg, Request):
                stamp_via(msg, source)
        except RemoteProtocolError as exc:
            _emit(self._on_event, MalformedReceived(exc, data, source, self.name, self._local))
            return
        _emit(self._on_event, MessageReceived(msg, data, source, self.name, self._local))

    def error_received(self, exc: Exception) -> None:
        if not self._drain_errors() and not isinstance(exc, BlockingIOError):
            _emit(self._on_event, SendFailed(None, self.name, str(exc)))

    def _drain_errors(self) -> int:
        """Report every queued ICMP error with the destination it names; return how many."""
        count = 0
        sock = self._sock
        while sock is not None and _LINUX:
            try:
                _data, _anc, _flags, addr = sock.recvmsg(512, 512, _MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            count += 1
            dest = _address(addr) if addr else None
            _emit(self._on_event, SendFailed(dest, self.name, "ICMP error (destination unreachable)"))
        return count

    def send(self, data: bytes, destination: Address) -> None:
        """Send one datagram.  Failures are reported as :class:`SendFailed`."""
        if self._transport is None or self._sock is None or self._transport.is_closing():
            raise LocalProtocolError("UDP transport is not open")
        if len(data) > self.max_size:
            raise LocalProtocolError(f"message of {len(data)} bytes exceeds the {self.max_size} limit")
        dest = _check_destination(destination)
        trace.trace("out", self.name, self._local, dest, data)
        # asyncio's datagram transports have it; typeshed's DatagramTransport does not declare it
        if self._transport.get_write_buffer_size() == 0:  # type: ignore[attr-defined]
            # Send directly: an ICMP error left pending by an earlier datagram
            # makes the next sendto fail (and asyncio would drop the datagram),
            # so collect that stale error and try once more.
            for _attempt in range(2):
                try:
                    self._sock.sendto(data, dest)
                    return
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    if not self._drain_errors():
                        _emit(self._on_event, SendFailed(None, self.name, "connection refused"))
                except OSError as exc:
                    _emit(self._on_event, SendFailed(dest, self.name, str(exc)))
                    return
            else:
                return
        self._transport.sendto(data, dest)

    def send_response(self, data: bytes, response: Response, source: Address) -> None:
        """Send a response per §18.2.2/RFC 3581 (``source`` unused on UDP; kept for symmetry)."""
        self.send(data, response_destination(response, self.name))

    async def close(self) -> None:
        """Close the socket and wait until it is closed."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        if self._closed is not None and self._transport is not None:
            await asyncio.wait_for(asyncio.shield(self._closed), 5.0)


# -- TCP -----------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One TCP connection: frames incoming bytes, writes outgoing ones."""

    def __init__(self, owner: TcpTransport, key: Address | None) -> None:
        self.owner = owner
        self.key = key  # set for connections we open; incoming ones are keyed by peer
        self.transport: asyncio.Transport | None = None
        self.framer = StreamFramer(max_size=owner.max_size)
        self.pending = bytearray()  # bytes fed to the framer not yet cut into messages
        self.local: Address = ("", 0)
        self.peer: Address = ("", 0)
        self.last_activity = 0.0
        self.registered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport does not subclass asyncio.Transport, though it is one.
        self.transport = cast(asyncio.Transport, transport)
        self.local = _address(transport.get_extra_info("sockname"))
        self.peer = _address(transport.get_extra_info("peername"))
        if self.key is None:
            self.key = self.peer
        self.last_activity = asyncio.get_running_loop().time()
        self.owner._register(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._forget(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None and self.key is not None
        self.last_activity = asyncio.get_running_loop().time()
        if data == b"\r\n\r\n" and not self.pending:
            # RFC 5626 §3.5.1 keep-alive: a double-CRLF ping between messages gets a CRLF pong.
            self.transport.write(b"\r\n")
            return
        self.pending += data
        try:
            messages = self.framer.feed(data)
        except RemoteProtocolError as exc:
            raw = bytes(self.pending)
            trace.trace("in", "TCP", self.local, self.peer, raw)
            _emit(self.owner._on_event, MalformedReceived(exc, raw, self.key, "TCP", self.local))
            log.info("closing TCP connection from %s: %s", trace.format_address(self.peer), exc)
            self.transport.close()
            return
        if not messages:
            return
        consumed = len(self.pending) - self.framer.buffered
        frame = bytes(self.pending[:consumed])
        del self.pending[:consumed]
        for msg in messages:
            raw = frame if len(messages) == 1 else msg.serialize()
            trace.trace("in", "TCP", self.local, self.peer, raw)
            if isinstance(msg, Request):
                try:
                    stamp_via(msg, self.peer)
                except RemoteProtocolError as exc:
                    _emit(self.owner._on_event, MalformedReceived(exc, raw, self.key, "TCP", self.local))
                    continue
            _emit(self.owner._on_event, MessageReceived(msg, raw, self.key, "TCP", self.local))

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.get_write_buffer_size() + len(data) > self.owner.max_write_buffer:
            log.warning("TCP peer %s is not reading; aborting", trace.format_address(self.peer))
            _emit(self.owner._on_event, SendFailed(self.key, "TCP", "peer not reading (buffer full)"))
            self.transport.abort()
            return
        self.last_activity = asyncio.get_running_loop().time()
        trace.trace("out", "TCP", self.local, self.peer, data)
        self.transport.write(data)


class TcpTransport:
    """SIP over TCP: one listening socket plus the connections in and out.

    Create with :meth:`create`; close with :meth:`close`.
    """

    name = "TCP"

    def __init__(
        self,
        on_event: EventHandler,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self._on_event = on_event
        self.max_size = max_size
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_write_buffer = max_write_buffer
        self.connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._local: Address = ("", 0)
        self._connections: dict[Address, _Connection] = {}
        self._queued: dict[Address, list[bytes]] = {}  # data waiting for a connection being opened
        self._connecting: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @classmethod
    async def create(
        cls,
        on_event: EventHandler,
        host: str,
        port: int = 0,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> TcpTransport:
        """Listen on ``host:port`` (port 0: any free port); the options are the constructor's."""
        self = cls(
            on_event,
            max_size=max_size,
            idle_timeout=idle_timeout,
            max_connections=max_connections,
            max_write_buffer=max_write_buffer,
            connect_timeout=connect_timeout,
        )
        loop = asyncio.get_running_loop()
        host = _strip_brackets(host)
        self._server = await loop.create_server(
            lambda: _Connection(self, None), host, port, family=_family(host), reuse_address=True
        )
        self._local = _address(self._server.sockets[0].getsockname())
        self._arm_sweeper()
        return self

    @property
    def local_address(self) -> Address:
        """The listening (host, port)."""
        return self._local

    @property
    def connection_count(self) -> int:
        """Open connections (both directions)."""
        return len(self._connections)

    def has_connection(self, remote: Address) -> bool:
        """Whether a connection to/from ``remote`` is open."""
        conn = self._connections.get(_address(remote))
        return conn is not None and conn.transport is not None and not conn.transport.is_closing()

    def send(self, data: bytes, destination: Address) -> None:
        """Send on the connection to ``destination``, opening one if there is none.

        Never blocks; failures are reported as :class:`SendFailed`.
        """
        if self._server is None:
            raise LocalProtocolError("TCP transport is not open")
        if len(data) > self.max_size:
            raise LocalProtocolError(f"message of {len(data)} bytes exceeds the {self.max_size} limit")
        dest = _check_destination(destination)
        if self.has_connection(dest):
            self._connections[dest].write(data)
            return
        if dest in self._queued:
            self._queued[dest].append(data)
            return
        if len(self._connections) + len(self._queued) >= self.max_connections:
            _emit(self._on_event, SendFailed(dest, self.name, "too many TCP connections"))
            return
        self._queued[dest] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(dest))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    def send_response(self, data: bytes, response: Response, source: Address) -> None:
        """Send a response on the connection its request came on (``source``), §18.2.2.

        If that connection is gone, open one to ``received`` and the sent-by port.
        """
        if self.has_connection(source):
            self.send(data, source)
        else:
            self.send(data, response_destination(response, self.name))

    async def _connect(self, dest: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self, dest), dest[0], dest[1]),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            queued = self._queued.pop(dest, [])
            reason = str(exc) or type(exc).__name__
            log.info("TCP connect to %s failed: %s", trace.format_address(dest), reason)
            for _data in queued:
                _emit(self._on_event, SendFailed(dest, self.name, reason))

    def _register(self, conn: _Connection) -> None:
        assert conn.key is not None and conn.transport is not None
        queued = self._queued.pop(conn.key, None)
        incoming = queued is None
        if incoming and len(self._connections) >= self.max_connections:
            log.warning("refusing TCP connection from %s: %d open", conn.peer, len(self._connections))
            conn.transport.abort()
            return
        self._connections[conn.key] = conn
        conn.registered = True
        for data in queued or ():
            conn.write(data)

    def _forget(self, conn: _Connection) -> None:
        if conn.registered and conn.key is not None and self._connections.get(conn.key) is conn:
            del self._connections[conn.key]

    def _arm_sweeper(self) -> None:
        interval = max(0.05, min(self.idle_timeout / 4, 10.0))
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn in list(self._connections.values()):
            if now - conn.last_activity >= self.idle_timeout and conn.transport is not None:
                log.debug("closing idle TCP connection %s", trace.format_address(conn.peer))
                conn.transport.close()
        self._arm_sweeper()

    async def close(self) -> None:
        """Stop listening, close every connection, cancel connection attempts."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in list(self._connecting):
            task.cancel()
        for task in list(self._connecting):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queued.clear()
        for conn in list(self._connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # let connection_lost callbacks run
        for _ in range(3):
            if not self._connections:
                break
            await asyncio.sleep(0)


#: Either kind of transport: what the endpoint opens and a call sends on.
Transport = UdpTransport | TcpTransport
