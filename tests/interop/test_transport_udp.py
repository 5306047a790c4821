"""UDP transport on 127.0.0.1 and ::1 against plain Python sockets, plus Via helpers and trace."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from hotline.sip import trace
from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import Request, Response, build_response, parse_message
from hotline.sip.transport import (
    MalformedReceived,
    MessageReceived,
    SendFailed,
    UdpTransport,
    needs_congestion_control,
    response_destination,
    stamp_via,
)
from tests.gate import has_ipv6, require
from tests.interop.transport_helpers import Events, options

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""


@pytest.fixture
async def udp() -> AsyncIterator[tuple[UdpTransport, Events]]:
    events = Events()
    t = await UdpTransport.create(events, "127.0.0.1", 0)
    try:
        yield t, events
    finally:
        await t.close()


def peer_socket(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    return s


async def recv(s: socket.socket, timeout: float = 2.0) -> tuple[bytes, tuple[str, int]]:
    """The next datagram of non-blocking `s` and its sender (uvloop has no ``sock_recvfrom``)."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[tuple[bytes, tuple[str, int]]] = loop.create_future()

    def readable() -> None:
        try:
            data, addr = s.recvfrom(70000)
        except BlockingIOError:
            return
        if not got.done():
            got.set_result((data, (addr[0], addr[1])))

    loop.add_reader(s.fileno(), readable)
    try:
        return await asyncio.wait_for(got, timeout)
    finally:
        loop.remove_reader(s.fileno())


def send(s: socket.socket, data: bytes, addr: tuple[str, int]) -> None:
    """One datagram from the peer socket (uvloop has no ``sock_sendto``; loopback never blocks)."""
    s.sendto(data, addr)


async def test_round_trip_with_rport(udp: tuple[UdpTransport, Events]) -> None:
    t, events = udp
    with peer_socket() as s:
        port = s.getsockname()[1]
        # sent-by claims port 5999 (a NAT would rewrite the source); rport asks for the real one
        send(s, options("127.0.0.1", 5999, rport=True), t.local_address)
        ev = await events.next()
        assert isinstance(ev, MessageReceived)
        assert ev.transport == "UDP" and ev.source == ("127.0.0.1", port)
        assert ev.local == t.local_address
        assert isinstance(ev.message, Request) and ev.message.method == "OPTIONS"
        top = ev.message.top_via
        assert top.rport == port and top.received == "127.0.0.1"
        response = build_response(ev.message, 200, to_tag="xyz")
        t.send_response(response.serialize(), response, ev.source)
        data, addr = await recv(s)
        assert addr == t.local_address
        got = parse_message(data)
        assert isinstance(got, Response) and got.status == 200
        assert f"rport={port}" in got.headers.get_all("Via")[0]


async def test_send_request_and_receive_response(udp: tuple[UdpTransport, Events]) -> None:
    t, events = udp
    with peer_socket() as s:
        dest = s.getsockname()
        t.send(options("127.0.0.1", t.local_address[1]), dest)
        data, addr = await recv(s)
        request = parse_message(data)
        assert isinstance(request, Request)
        send(s, build_response(request, 486).serialize(), addr)
        ev = await events.next()
        assert isinstance(ev, MessageReceived) and isinstance(ev.message, Response)
        assert ev.message.status == 486 and ev.source == dest


async def test_garbage_is_reported_then_service_continues(udp: tuple[UdpTransport, Events]) -> None:
    t, events = udp
    with peer_socket() as s:
        send(s, b"THIS IS NOT SIP AT ALL\r\n\r\n", t.local_address)
        ev = await events.next()
        assert isinstance(ev, MalformedReceived)
        assert ev.error.status == 400 and ev.raw.startswith(b"THIS IS NOT SIP")
        assert ev.source == s.getsockname()
        bad_cseq = options("127.0.0.1", 5060).replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS")
        send(s, bad_cseq, t.local_address)
        ev = await events.next()
        assert isinstance(ev, MalformedReceived) and ev.error.status == 400
        # keep-alives are not messages and not errors
        send(s, b"\r\n\r\n", t.local_address)
        send(s, options("127.0.0.1", 5060, call_id="c2@test"), t.local_address)
        ev = await events.next()
        assert isinstance(ev, MessageReceived) and ev.message.call_id == "c2@test"


async def test_large_messages_are_still_sent_over_udp(udp: tuple[UdpTransport, Events]) -> None:
    t, _events = udp
    body = b"x" * 3000
    with peer_socket() as s:
        t.send(options("127.0.0.1", 5060, body=body), s.getsockname())
        data, _ = await recv(s)
        assert data.endswith(body)
    assert needs_congestion_control(len(data))
    assert not needs_congestion_control(1300)
    with pytest.raises(LocalProtocolError):
        t.send(b"x" * 65536, ("127.0.0.1", 9))


async def test_icmp_unreachable_is_reported_with_destination(udp: tuple[UdpTransport, Events]) -> None:
    t, events = udp
    closed = peer_socket()
    dead = closed.getsockname()
    closed.close()
    t.send(options("127.0.0.1", t.local_address[1]), dead)
    ev = await events.next()
    assert isinstance(ev, SendFailed)
    assert ev.destination == dead and ev.transport == "UDP"
    # a datagram sent right after the error still arrives (the pending error is collected first)
    t.send(b"first", dead)
    with peer_socket() as s:
        await asyncio.sleep(0.05)
        t.send(options("127.0.0.1", 5060), s.getsockname())
        data, _ = await recv(s)
        assert data.startswith(b"OPTIONS")


async def test_destination_must_be_an_ip_literal(udp: tuple[UdpTransport, Events]) -> None:
    t, _ = udp
    with pytest.raises(LocalProtocolError, match="resolve"):
        t.send(b"x", ("pbx.example.com", 5060))


async def test_ipv6_round_trip() -> None:
    require(has_ipv6(), "IPv6 loopback ::1 is not available (scripts/install-test-deps.sh adds it as root)")
    events = Events()
    t = await UdpTransport.create(events, "::1", 0)
    try:
        assert t.local_address[0] == "::1"
        with peer_socket("::1") as s:
            send(s, options("::1", s.getsockname()[1]), t.local_address)
            ev = await events.next()
            assert isinstance(ev, MessageReceived) and isinstance(ev.message, Request)
            assert ev.source == s.getsockname()[:2]
            assert ev.message.top_via.received is None  # sent-by [::1] equals the source
            response = build_response(ev.message, 200)
            assert response_destination(response) == ("::1", s.getsockname()[1])
            t.send_response(response.serialize(), response, ev.source)
            data, _ = await recv(s)
            assert data.startswith(b"SIP/2.0 200")
    finally:
        await t.close()


# -- Via helpers (pure) -----------------------------------------------------------------


def _request(via: str) -> Request:
    msg = parse_message(options("127.0.0.1", 5060).replace(b"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc1", via.encode()))
    assert isinstance(msg, Request)
    return msg


def test_stamp_via_adds_received_only_when_host_differs() -> None:
    same = _request("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa")
    stamp_via(same, ("127.0.0.1", 40000))
    assert same.headers.get_all("Via") == ["SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa"]
    other = _request("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb")
    stamp_via(other, ("192.0.2.1", 40000))
    assert other.headers.get_all("Via") == [
        "SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa;received=192.0.2.1, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb"
    ]
    named = _request("SIP/2.0/UDP pbx.example.com;branch=z9hG4bKa")
    stamp_via(named, ("192.0.2.1", 5060))
    assert named.top_via.received == "192.0.2.1"


def test_stamp_via_fills_empty_rport_and_always_adds_received() -> None:
    msg = _request("SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKa")
    stamp_via(msg, ("127.0.0.1", 40000))
    via = msg.top_via
    assert via.rport == 40000 and via.received == "127.0.0.1"
    filled = _request("SIP/2.0/UDP 127.0.0.1:5070;rport=1234;branch=z9hG4bKa")
    stamp_via(filled, ("127.0.0.1", 40000))
    assert filled.top_via.rport == 1234  # a value already there is kept


def _response(via: str) -> Response:
    return build_response(_request(via), 200)


@pytest.mark.parametrize(
    ("via", "transport", "expected"),
    [
        ("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa", None, ("10.0.0.7", 5070)),
        ("SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKa", None, ("10.0.0.7", 5060)),
        ("SIP/2.0/TLS 10.0.0.7;branch=z9hG4bKa", None, ("10.0.0.7", 5061)),
        ("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa;received=192.0.2.1", None, ("192.0.2.1", 5070)),
        ("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa;received=192.0.2.1;rport=40000", None, ("192.0.2.1", 40000)),
        # rport only steers UDP responses (RFC 3581 §4); TCP falls back to received + sent-by port
        ("SIP/2.0/TCP 10.0.0.7:5070;branch=z9hG4bKa;received=192.0.2.1;rport=40000", None, ("192.0.2.1", 5070)),
        ("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa;maddr=239.1.1.1;received=192.0.2.1;rport=4", None, ("239.1.1.1", 5070)),
        ("SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bKa", None, ("2001:db8::7", 5070)),
        ("SIP/2.0/UDP 10.0.0.7:5070;branch=z9hG4bKa;received=192.0.2.1;rport=40000", "TCP", ("192.0.2.1", 5070)),
    ],
)
def test_response_destination(via: str, transport: str | None, expected: tuple[str, int]) -> None:
    assert response_destination(_response(via), transport) == expected


# -- trace ---------------------------------------------------------------------------------


async def test_trace_logs_both_directions_only_when_enabled(
    udp: tuple[UdpTransport, Events], caplog: pytest.LogCaptureFixture
) -> None:
    t, events = udp
    caplog.set_level(logging.DEBUG)  # even with everything on, the trace stays off until enabled
    trace.set_enabled(False)
    with peer_socket() as s:
        peer = f"127.0.0.1:{s.getsockname()[1]}"
        send(s, options("127.0.0.1", 5060, call_id="quiet@test"), t.local_address)
        await events.next()
        assert not [r for r in caplog.records if r.name == trace.LOGGER_NAME]
        trace.set_enabled(True)
        try:
            assert trace.is_enabled()
            body = "v=0\r\ns=中文\r\n".encode()
            send(s, options("127.0.0.1", 5060, call_id="loud@test", body=body), t.local_address)
            ev = await events.next()
            assert isinstance(ev, MessageReceived)
            t.send(b"SIP/2.0 200 OK\r\n\r\n\xff", s.getsockname())
            await recv(s)
        finally:
            trace.set_enabled(False)
    texts = [r.getMessage() for r in caplog.records if r.name == trace.LOGGER_NAME]
    assert len(texts) == 2
    local = f"127.0.0.1:{t.local_address[1]}"
    assert f"IN UDP {local} <- {peer}" in texts[0] and "Call-ID: loud@test" in texts[0]
    assert "s=中文" in texts[0]  # body included
    assert f"OUT UDP {local} -> {peer}" in texts[1] and texts[1].endswith("\ufffd")
    assert texts[0][:4].isdigit() and "Z " in texts[0]  # ISO timestamp, UTC
