"""Two SIP endpoints wired together in memory, with a fake clock: no sockets.

The transports are stand-ins that hand each datagram to the other endpoint on
the next loop iteration (so nothing is processed re-entrantly), and can drop
messages on purpose.  Time only moves when a test says so; the endpoint's
timer is then fired by hand, so the timer paths (2xx retransmission, ACK
timeout) run in microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from hotline.sip.call import CallEnded, IncomingCall, OutgoingCall
from hotline.sip.call_events import Ended
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.message import Request, Response, parse_message
from hotline.sip.sdp import make_offer
from hotline.sip.transaction import build_cancel
from hotline.sip.transport import MessageReceived, response_destination, stamp_via
from tests.interop.endpoint_helpers import sip_settings

Drop = Callable[[Request | Response], bool]


@dataclass
class Clock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Network:
    """Delivers datagrams between memory transports; ``drop`` filters what is lost."""

    transports: dict[tuple[str, int], MemoryTransport] = field(default_factory=dict)
    sent: list[Request | Response] = field(default_factory=list)
    drop: Drop = lambda message: False

    def deliver(self, source: tuple[str, int], destination: tuple[str, int], data: bytes) -> None:
        message = parse_message(data)
        self.sent.append(message)
        target = self.transports.get(destination)
        if target is None or self.drop(message):
            return
        if isinstance(message, Request):
            stamp_via(message, source)
        event = MessageReceived(message, data, source, "UDP", destination)
        asyncio.get_running_loop().call_soon(target.endpoint._on_transport_event, target, event)

    def count(self, what: str) -> int:
        """How many messages were sent that start with ``what`` (a method or status)."""
        return sum(
            1 for m in self.sent
            if (isinstance(m, Request) and m.method == what) or (isinstance(m, Response) and str(m.status) == what)
        )


class MemoryTransport:
    """Duck-types the UDP transport for the endpoint."""

    name = "UDP"

    def __init__(self, network: Network, endpoint: SipEndpoint, port: int) -> None:
        self.network = network
        self.endpoint = endpoint
        self.local_address = ("127.0.0.1", port)
        network.transports[self.local_address] = self

    def send(self, data: bytes, destination: tuple[str, int]) -> None:
        self.network.deliver(self.local_address, destination, data)

    def send_response(self, data: bytes, response: Response, source: tuple[str, int]) -> None:
        self.send(data, response_destination(response, self.name))

    async def close(self) -> None:
        self.network.transports.pop(self.local_address, None)


async def attach(network: Network, endpoint: SipEndpoint, port: int) -> None:
    endpoint._loop = asyncio.get_running_loop()
    endpoint.transports.append(MemoryTransport(network, endpoint, port))  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class Pair:
    network: Network
    clock: Clock
    uac: SipEndpoint
    uas: SipEndpoint
    calls: list[IncomingCall]

    async def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move the fake clock, firing both endpoints' timers as real time would."""
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.t = min(end, self.clock.t + step)
            for ep in (self.uac, self.uas):
                ep._on_timer()
            await settle()

    async def dial(self) -> OutgoingCall:
        offer = make_offer("127.0.0.1", 40000).serialize()
        return await self.uac.place_call("5551234", allowed=lambda t: True, caller_id="1", sdp_offer=offer)


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    network, clock = Network(), Clock()
    calls: list[IncomingCall] = []

    async def answer(call: IncomingCall) -> None:
        calls.append(call)
        await call.ringing()
        try:
            await call.answer(call.make_answer("127.0.0.1", 41000))
        except CallEnded:
            return
        await call.wait_ended()

    uas = SipEndpoint(sip_settings(5070), on_call=answer, clock=clock)
    uac = SipEndpoint(sip_settings(5080, proxy="sip:127.0.0.1:5070"), clock=clock)
    await attach(network, uas, 5070)
    await attach(network, uac, 5080)
    yield Pair(network, clock, uac, uas, calls)
    for ep in (uac, uas):
        ep._stopping = True
        for task in list(ep._tasks):
            task.cancel()
        await asyncio.gather(*ep._tasks, return_exceptions=True)
        if ep._timer is not None:
            ep._timer.cancel()


async def test_call_and_bye_in_memory(pair: Pair) -> None:
    call = await pair.dial()
    await settle()
    answered = await asyncio.wait_for(call.answered(), 1)
    assert answered.media is not None and answered.media.remote_port == 41000
    await call.hangup()
    await settle()
    assert pair.calls[0].ended == Ended("remote-bye")
    assert [pair.network.count(w) for w in ("INVITE", "100", "180", "200", "ACK", "BYE")] == [1, 1, 1, 2, 1, 1]


async def test_lost_ack_means_2xx_retransmissions_then_bye(pair: Pair) -> None:
    pair.network.drop = lambda m: isinstance(m, Request) and m.method == "ACK"
    call = await pair.dial()
    await settle()
    await asyncio.wait_for(call.answered(), 1)
    await pair.advance(2.0)  # T1 = 0.5 s: retransmissions at 0.5, 1.5 s
    assert pair.network.count("200") == 3
    assert pair.calls[0].ended is None
    await pair.advance(31.0)  # 64*T1 = 32 s after the first 200
    ended = await asyncio.wait_for(pair.calls[0].wait_ended(), 1)
    assert ended.reason == "no-ack"
    assert pair.network.count("BYE") == 1
    assert (await asyncio.wait_for(call.wait_ended(), 1)).reason == "remote-bye"


async def test_cancel_after_the_200_changes_nothing(pair: Pair) -> None:
    call = await pair.dial()
    await settle()
    await asyncio.wait_for(call.answered(), 1)
    # A CANCEL that crossed the 200 on the wire: answered 200, the call stays up (RFC 3261 §9.2).
    cancel = build_cancel(call.request)
    pair.network.deliver(("127.0.0.1", 5080), ("127.0.0.1", 5070), cancel.serialize())
    await settle()
    assert pair.network.count("487") == 0
    assert pair.calls[0].ended is None
    assert [r.status for r in pair.network.sent if isinstance(r, Response) and r.cseq.method == "CANCEL"] == [200]
    await call.hangup()
    await settle()
    assert pair.calls[0].ended == Ended("remote-bye")
