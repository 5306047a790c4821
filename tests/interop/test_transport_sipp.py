"""The transports against a real SIP peer: sipp qualifying and attacking a tiny OPTIONS responder.

The responder is the thinnest possible owner of a transport (no transaction
layer): it answers OPTIONS with 200 on the transport it came on, other
requests with 501/481, and drops anything malformed -- enough to see that
sipp's framing, Via handling and TCP connection use agree with ours.
"""

from __future__ import annotations

import pytest

from hotline.sip.message import Request, build_response
from hotline.sip.transport import (
    MalformedReceived,
    MessageReceived,
    TcpTransport,
    TransportEvent,
    UdpTransport,
)
from tests.interop.peers import Sipp

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""


class Responder:
    """Answers requests statelessly on the transport they arrived on."""

    def __init__(self) -> None:
        self.transport: UdpTransport | TcpTransport | None = None
        self.requests: list[str] = []
        self.malformed: list[int] = []

    def __call__(self, event: TransportEvent) -> None:
        assert self.transport is not None
        if isinstance(event, MalformedReceived):
            self.malformed.append(event.error.status)
            return
        if not isinstance(event, MessageReceived) or not isinstance(event.message, Request):
            return
        request = event.message
        self.requests.append(request.method)
        if request.method == "ACK":
            return
        status = {"OPTIONS": 200, "BYE": 481}.get(request.method, 501)
        headers = [("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")] if status == 200 else []
        response = build_response(request, status, to_tag="resp1", headers=headers)
        self.transport.send_response(response.serialize(), response, event.source)


async def test_sipp_qualifies_over_udp(sipp: Sipp) -> None:
    responder = Responder()
    responder.transport = await UdpTransport.create(responder, "127.0.0.1", 0)
    try:
        run = sipp.start("uac_options.xml", responder.transport.local_address, calls=5, rate=50, timeout_s=10)
        result = await run.wait_async(20)
    finally:
        await responder.transport.close()
    assert result.ok, result.describe()
    assert len(result.lines("QUALIFIED")) == 5
    assert "allow= INVITE, ACK, CANCEL, BYE, OPTIONS" in result.lines("QUALIFIED")[0]
    assert responder.requests == ["OPTIONS"] * 5


async def test_sipp_qualifies_over_tcp_on_one_connection(sipp: Sipp) -> None:
    responder = Responder()
    tcp = await TcpTransport.create(responder, "127.0.0.1", 0)
    responder.transport = tcp
    try:
        run = sipp.start(
            "uac_options.xml", tcp.local_address, calls=5, rate=50, transport="t1", timeout_s=10
        )
        result = await run.wait_async(20)
        connections_while_open = tcp.connection_count
    finally:
        await tcp.close()
    assert result.ok, result.describe()
    assert len(result.lines("QUALIFIED")) == 5
    assert responder.requests == ["OPTIONS"] * 5
    assert connections_while_open <= 1  # sipp's t1 mode: one connection for all calls


async def test_garbage_then_options_still_answered(sipp: Sipp) -> None:
    responder = Responder()
    responder.transport = await UdpTransport.create(responder, "127.0.0.1", 0)
    try:
        run = sipp.start("uac_garbage.xml", responder.transport.local_address, service="ping", timeout_s=15)
        result = await run.wait_async(25)
    finally:
        await responder.transport.close()
    assert result.ok, result.describe()
    assert result.lines("ALIVE")
    # not SIP, no version, bad CSeq, Content-Length past the end: malformed;
    # the unknown method, the stray BYE and the probe parse fine.
    assert sorted(responder.malformed) == [400, 400, 400, 400]
    assert responder.requests.count("OPTIONS") >= 2  # Max-Forwards 0 and the probe
    assert "FROBNICATE" in responder.requests and "BYE" in responder.requests
