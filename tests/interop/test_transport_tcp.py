"""TCP transport on 127.0.0.1 and ::1 against plain Python sockets: framing, reuse, limits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from hotline.sip.message import Request, Response, build_response, parse_message
from hotline.sip.transport import MalformedReceived, MessageReceived, SendFailed, TcpTransport
from tests.gate import has_ipv6, require
from tests.interop.transport_helpers import Events, options

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""


@pytest.fixture
async def tcp() -> AsyncIterator[tuple[TcpTransport, Events]]:
    events = Events()
    t = await TcpTransport.create(events, "127.0.0.1", 0, max_size=4000, max_connections=4)
    try:
        yield t, events
    finally:
        await t.close()


async def connect(address: tuple[str, int]) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, address)
    return s


async def read_message(s: socket.socket, timeout: float = 2.0) -> bytes:
    """Read one Content-Length-framed message (or b"" if the peer closed)."""
    loop = asyncio.get_running_loop()
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode()
            length = next(int(line.split(":")[1]) for line in head.split("\r\n") if line.startswith("Content-Length"))
            if len(buf) >= end + 4 + length:
                return buf[: end + 4 + length]
        chunk = await asyncio.wait_for(loop.sock_recv(s, 65536), timeout)
        if not chunk:
            return b""
        buf += chunk


async def closed_by_peer(s: socket.socket, timeout: float = 2.0) -> bool:
    loop = asyncio.get_running_loop()
    try:
        while await asyncio.wait_for(loop.sock_recv(s, 65536), timeout):
            pass
    except ConnectionResetError:
        return True
    return True


async def test_framing_across_split_segments(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    data = options("127.0.0.1", 5060, transport="TCP", body=body)
    with await connect(t.local_address) as s:
        for piece in (data[:7], data[7:60], data[60:-5], data[-5:]):
            await loop.sock_sendall(s, piece)
            await asyncio.sleep(0.02)
        ev = await events.next()
        assert isinstance(ev, MessageReceived) and ev.transport == "TCP"
        assert ev.message.body == body and ev.raw == data
        assert ev.source == s.getsockname() and ev.local == t.local_address
        assert await events.none_within(0.1)


async def test_merged_messages_and_keepalives(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    one = options("127.0.0.1", 5060, transport="TCP", call_id="one@test")
    two = options("127.0.0.1", 5060, transport="TCP", call_id="two@test", body=b"hello")
    with await connect(t.local_address) as s:
        await loop.sock_sendall(s, b"\r\n\r\n" + one + b"\r\n" + two + two[:20])
        first, second = await events.next(), await events.next()
        assert isinstance(first, MessageReceived) and isinstance(second, MessageReceived)
        assert [first.message.call_id, second.message.call_id] == ["one@test", "two@test"]
        assert second.message.body == b"hello"
        await loop.sock_sendall(s, two[20:])
        third = await events.next()
        assert isinstance(third, MessageReceived) and third.raw == two


async def test_response_goes_back_on_the_request_connection(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    # Via names a port nobody listens on: only the open connection can carry the response.
    with await connect(t.local_address) as s:
        await loop.sock_sendall(s, options("127.0.0.1", 1, transport="TCP"))
        ev = await events.next()
        assert isinstance(ev, MessageReceived) and isinstance(ev.message, Request)
        response = build_response(ev.message, 200, to_tag="t1")
        t.send_response(response.serialize(), response, ev.source)
        got = parse_message(await read_message(s))
        assert isinstance(got, Response) and got.status == 200
        # a new request to the same peer reuses the connection too
        t.send(options("127.0.0.1", t.local_address[1], transport="TCP", call_id="back@test"), ev.source)
        again = parse_message(await read_message(s))
        assert isinstance(again, Request) and again.call_id == "back@test"
        assert t.connection_count == 1


async def test_outgoing_connection_is_opened_once_and_reused(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.setblocking(False)
        dest = server.getsockname()
        t.send(options("127.0.0.1", t.local_address[1], transport="TCP", call_id="a@test"), dest)
        t.send(options("127.0.0.1", t.local_address[1], transport="TCP", call_id="b@test"), dest)
        conn, _ = await asyncio.wait_for(loop.sock_accept(server), 2)
        with conn:
            conn.setblocking(False)
            received = b""
            while received.count(b"OPTIONS sip:") < 2:
                received += await asyncio.wait_for(loop.sock_recv(conn, 65536), 2)
            t.send(options("127.0.0.1", t.local_address[1], transport="TCP", call_id="c@test"), dest)
            while received.count(b"OPTIONS sip:") < 3:
                received += await asyncio.wait_for(loop.sock_recv(conn, 65536), 2)
            calls = [line for line in received.split(b"\r\n") if line.startswith(b"Call-ID")]
            assert calls == [b"Call-ID: a@test", b"Call-ID: b@test", b"Call-ID: c@test"]
            first = parse_message(received[: received.index(b"OPTIONS sip:", 1)])
            assert t.connection_count == 1
            with pytest.raises(BlockingIOError):
                server.accept()  # no second connection was opened
            # the far end answers on the same connection
            assert isinstance(first, Request)
            await loop.sock_sendall(conn, build_response(first, 200).serialize())
            ev = await events.next()
            assert isinstance(ev, MessageReceived) and isinstance(ev.message, Response)
            assert ev.source == dest


async def test_idle_connection_is_closed() -> None:
    events = Events()
    t = await TcpTransport.create(events, "127.0.0.1", 0, idle_timeout=0.3)
    loop = asyncio.get_running_loop()
    try:
        with await connect(t.local_address) as s:
            await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP"))
            await events.next()
            assert t.connection_count == 1
            started = loop.time()
            assert await loop.sock_recv(s, 100) == b""
            assert 0.25 <= loop.time() - started < 1.5
            await asyncio.sleep(0.01)
            assert t.connection_count == 0
    finally:
        await t.close()


async def test_oversize_message_closes_the_connection(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    with await connect(t.local_address) as s:
        big = options("127.0.0.1", 5060, transport="TCP").replace(b"Content-Length: 0", b"Content-Length: 5000")
        await loop.sock_sendall(s, big)
        ev = await events.next()
        assert isinstance(ev, MalformedReceived) and ev.error.status == 413
        assert ev.error.close_connection
        assert await closed_by_peer(s)
    with await connect(t.local_address) as s:
        await loop.sock_sendall(s, b"X" * 4100)  # no end of headers within the limit
        ev = await events.next()
        assert isinstance(ev, MalformedReceived) and ev.error.status == 413
        assert await closed_by_peer(s)
    await asyncio.sleep(0.01)
    assert t.connection_count == 0


async def test_missing_content_length_closes_the_connection(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    with await connect(t.local_address) as s:
        await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP").replace(b"Content-Length: 0\r\n", b""))
        ev = await events.next()
        assert isinstance(ev, MalformedReceived) and ev.error.status == 400
        assert "Content-Length" in ev.error.reason
        assert await closed_by_peer(s)


async def test_connection_limit(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    socks = [await connect(t.local_address) for _ in range(4)]
    try:
        for i, s in enumerate(socks):
            await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP", call_id=f"n{i}@test"))
            await events.next()
        assert t.connection_count == 4
        with await connect(t.local_address) as extra:
            assert await closed_by_peer(extra)
        assert t.connection_count == 4
        # outgoing connections count against the same bound
        t.send(b"OPTIONS", ("127.0.0.1", 9))
        ev = await events.next()
        assert isinstance(ev, SendFailed) and "too many" in ev.reason
    finally:
        for s in socks:
            s.close()


async def test_connect_failure_is_reported(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()
    t.send(options("127.0.0.1", 5060, transport="TCP"), dead)
    ev = await events.next()
    assert isinstance(ev, SendFailed) and ev.destination == dead and ev.transport == "TCP"
    assert t.connection_count == 0


async def test_ipv6() -> None:
    require(has_ipv6(), "IPv6 loopback ::1 is not available (scripts/install-test-deps.sh adds it as root)")
    events = Events()
    t = await TcpTransport.create(events, "::1", 0)
    loop = asyncio.get_running_loop()
    try:
        with await connect(t.local_address) as s:
            await loop.sock_sendall(s, options("::1", 5060, transport="TCP", rport=True))
            ev = await events.next()
            assert isinstance(ev, MessageReceived) and isinstance(ev.message, Request)
            assert ev.source == s.getsockname()[:2]
            assert ev.message.top_via.rport == s.getsockname()[1]
            response = build_response(ev.message, 200)
            t.send_response(response.serialize(), response, ev.source)
            assert (await read_message(s)).startswith(b"SIP/2.0 200 OK")
    finally:
        await t.close()


async def test_response_falls_back_to_a_new_connection_to_sent_by(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        server.setblocking(False)
        sent_by_port = server.getsockname()[1]
        with await connect(t.local_address) as s:
            await loop.sock_sendall(s, options("127.0.0.1", sent_by_port, transport="TCP"))
            ev = await events.next()
        await asyncio.sleep(0.05)  # the transport notices the close
        assert isinstance(ev, MessageReceived) and isinstance(ev.message, Request)
        assert not t.has_connection(ev.source)
        response = build_response(ev.message, 200)
        t.send_response(response.serialize(), response, ev.source)
        conn, _ = await asyncio.wait_for(loop.sock_accept(server), 2)
        with conn:
            conn.setblocking(False)
            assert (await read_message(conn)).startswith(b"SIP/2.0 200 OK")


async def test_a_failing_owner_callback_does_not_break_the_connection() -> None:
    seen: list[MessageReceived] = []

    def owner(event: object) -> None:
        assert isinstance(event, MessageReceived)
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("bug in the owner")

    t = await TcpTransport.create(owner, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    try:
        with await connect(t.local_address) as s:
            await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP", call_id="x1@test"))
            await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP", call_id="x2@test"))
            for _ in range(100):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.01)
            assert [e.message.call_id for e in seen] == ["x1@test", "x2@test"]
            assert t.connection_count == 1
    finally:
        await t.close()


async def test_double_crlf_ping_gets_a_crlf_pong(tcp: tuple[TcpTransport, Events]) -> None:
    t, events = tcp
    loop = asyncio.get_running_loop()
    with await connect(t.local_address) as s:
        await loop.sock_sendall(s, b"\r\n\r\n")
        assert await asyncio.wait_for(loop.sock_recv(s, 10), 2) == b"\r\n"
        await loop.sock_sendall(s, options("127.0.0.1", 5060, transport="TCP"))
        ev = await events.next()
        assert isinstance(ev, MessageReceived)
