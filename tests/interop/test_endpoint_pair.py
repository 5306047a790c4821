"""The SIP endpoint on 127.0.0.1: two endpoints calling each other, and hand-written requests.

These run two real :class:`SipEndpoint` instances (UAC and UAS) over UDP on
loopback, plus a bare socket for the requests a well-behaved UA never sends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hotline.sip import trace
from hotline.sip.call import CallEnded, CallFailed, IncomingCall
from hotline.sip.call_events import Answered, CallProgress, Dtmf, Ended, Reinvite
from hotline.sip.endpoint import DialRefused, SipEndpoint
from hotline.sip.message import Request, Response
from hotline.sip.sdp import make_offer
from hotline.sip.settings import ListenAddress
from hotline.sip.timers import TimerConfig
from tests.gate import has_ipv6, require
from tests.interop.endpoint_helpers import RawPeer, offer, sip_settings

Handler = Callable[[IncomingCall], Awaitable[None]]
ALLOW_ALL = lambda target: True  # noqa: E731


class Uas:
    """An endpoint whose call handler is replaced per test; calls are collected."""

    def __init__(self, **config: object) -> None:
        self.calls: list[IncomingCall] = []
        self.behaviour: Handler | None = None
        self.endpoint = SipEndpoint(
            sip_settings(0, **config), on_call=self._on_call, timers=TimerConfig(t1=0.05)  # type: ignore[arg-type]
        )

    async def _on_call(self, call: IncomingCall) -> None:
        self.calls.append(call)
        assert self.behaviour is not None
        await self.behaviour(call)

    @property
    def address(self) -> tuple[str, int]:
        _, host, port = self.endpoint.local_addresses[0]
        return host, port


@pytest.fixture
async def uas() -> AsyncIterator[Uas]:
    u = Uas()
    await u.endpoint.start()
    try:
        yield u
    finally:
        await u.endpoint.stop()


@pytest.fixture
async def uac(uas: Uas) -> AsyncIterator[SipEndpoint]:
    host, port = uas.address
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:{host}:{port}"), timers=TimerConfig(t1=0.05))
    await ep.start()
    try:
        yield ep
    finally:
        await ep.stop()


@pytest.fixture
def raw() -> AsyncIterator[RawPeer]:
    peer = RawPeer()
    yield peer  # type: ignore[misc]
    peer.close()


async def answer_and_hold(call: IncomingCall) -> None:
    await call.ringing()
    await call.answer(call.make_answer("127.0.0.1", 41000))
    await call.wait_ended()


async def test_call_answered_dtmf_info_and_bye(uas: Uas, uac: SipEndpoint) -> None:
    uas.behaviour = answer_and_hold
    call = await uac.place_call(
        "5551234", allowed=ALLOW_ALL, caller_id="13800138000", display_name="张三", sdp_offer=offer()
    )
    answered = await asyncio.wait_for(call.answered(), 3)
    assert answered.media is not None and answered.media.remote_port == 41000
    incoming = uas.calls[0]
    assert incoming.called == "5551234"
    # sip.outbound.caller_id = "pai": the caller in P-Asserted-Identity, the hotline in From.
    assert incoming.p_asserted_identity is not None and "13800138000" in incoming.p_asserted_identity
    assert "张三" in incoming.p_asserted_identity
    assert incoming.from_uri.startswith("sip:12345@")
    assert incoming.diversion and "sip:12345@" in incoming.diversion[0]
    assert incoming.negotiated is not None and incoming.negotiated.remote_port == 40000
    response = await call.send_dtmf_info("5")
    assert response.status == 200
    await call.hangup()
    assert (await call.wait_ended()).reason == "local-bye"
    events = [e async for e in incoming.events()]
    assert isinstance(events[0], Answered)
    assert Dtmf("5", 160, "info") in events
    assert events[-1] == Ended("remote-bye")


async def test_caller_cancels_while_ringing(uas: Uas, uac: SipEndpoint) -> None:
    async def ring_forever(call: IncomingCall) -> None:
        await call.ringing()
        await call.wait_ended()

    uas.behaviour = ring_forever
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    await asyncio.sleep(0.2)
    await call.hangup()
    with pytest.raises(CallFailed) as failed:
        await asyncio.wait_for(call.answered(), 3)
    assert failed.value.ended == Ended("cancelled", 487)
    assert await asyncio.wait_for(uas.calls[0].wait_ended(), 3) == Ended("cancelled", 487)


async def test_timeout_cancels_the_leg(uas: Uas, uac: SipEndpoint) -> None:
    async def ring_forever(call: IncomingCall) -> None:
        await call.ringing()
        await call.wait_ended()

    uas.behaviour = ring_forever
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer(), timeout=0.3)
    assert (await asyncio.wait_for(call.wait_ended(), 3)) == Ended("timeout", 487)


async def test_rejected_and_redirected_legs(uas: Uas, uac: SipEndpoint) -> None:
    async def busy(call: IncomingCall) -> None:
        await call.reject(486)

    uas.behaviour = busy
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    assert (await asyncio.wait_for(call.wait_ended(), 3)) == Ended("rejected", 486)

    async def moved(call: IncomingCall) -> None:
        await call.redirect("sip:+8613900000000@127.0.0.1:5099")

    uas.behaviour = moved
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    ended = await asyncio.wait_for(call.wait_ended(), 3)
    assert ended == Ended("redirected", 302, ("sip:+8613900000000@127.0.0.1:5099",))


async def test_handler_that_returns_early_rejects_with_480(uas: Uas, uac: SipEndpoint) -> None:
    async def forgetful(call: IncomingCall) -> None:
        return None

    uas.behaviour = forgetful
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    assert (await asyncio.wait_for(call.wait_ended(), 3)) == Ended("rejected", 480)


async def test_reinvite_hold_is_answered_and_reported(uas: Uas, uac: SipEndpoint) -> None:
    uas.behaviour = answer_and_hold
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    await asyncio.wait_for(call.answered(), 3)
    hold = make_offer("127.0.0.1", 40000, direction="sendonly", session=call.sdp_session).serialize()
    response = await call._request("INVITE", body=hold, content_type="application/sdp")
    assert response.status == 200 and b"a=recvonly" in response.body
    incoming = uas.calls[0]
    await call.hangup()
    events = [e async for e in incoming.events()]
    reinvites = [e for e in events if isinstance(e, Reinvite)]
    assert len(reinvites) == 1 and reinvites[0].on_hold
    assert incoming.negotiated is not None and incoming.negotiated.on_hold


async def test_place_call_refuses_targets_not_allowed(uac: SipEndpoint) -> None:
    with pytest.raises(DialRefused):
        await uac.place_call("110", allowed=lambda t: t == "5551234", caller_id="1", sdp_offer=offer())
    assert uac.counters["out INVITE"] == 0


# -- hand-written requests -----------------------------------------------------------------


async def test_options_is_answered_with_capabilities(uas: Uas, raw: RawPeer) -> None:
    raw.send(raw.request("OPTIONS", uas.address), uas.address)
    response = await raw.recv()
    assert isinstance(response, Response) and response.status == 200
    assert "INVITE" in (response.headers.get("Allow") or "")
    assert "application/sdp" in (response.headers.get("Accept") or "")
    assert response.headers.get("Supported") is not None


@pytest.mark.parametrize(
    "method,status",
    [("FOOBAR", 501), ("SUBSCRIBE", 405), ("REFER", 403), ("BYE", 481), ("INFO", 481)],
)
async def test_methods_we_do_not_serve(uas: Uas, raw: RawPeer, method: str, status: int) -> None:
    raw.send(raw.request(method, uas.address), uas.address)
    response = await raw.recv()
    assert isinstance(response, Response) and response.status == status
    if status in (405, 501):
        assert "INVITE" in (response.headers.get("Allow") or "")


async def test_request_in_unknown_dialog_gets_481(uas: Uas, raw: RawPeer) -> None:
    raw.send(raw.request("BYE", uas.address, to_tag="nosuchtag", cseq=2), uas.address)
    response = await raw.recv()
    assert isinstance(response, Response) and response.status == 481


async def test_require_unknown_extension_gets_420(uas: Uas, raw: RawPeer) -> None:
    uas.behaviour = answer_and_hold
    raw.send(raw.request("INVITE", uas.address, extra="Require: 100rel, foo\r\n", body=offer()), uas.address)
    response = await raw.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
    assert isinstance(response, Response) and response.status == 420
    assert response.headers.get("Unsupported") == "100rel, foo"
    assert uas.calls == []


async def test_offer_without_common_codec_gets_488(uas: Uas, raw: RawPeer) -> None:
    uas.behaviour = answer_and_hold
    g729 = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n"
    extra = "Content-Type: application/sdp\r\n"
    raw.send(raw.request("INVITE", uas.address, extra=extra, body=g729), uas.address)
    response = await raw.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
    assert isinstance(response, Response) and response.status == 488
    assert uas.calls == []


async def test_malformed_request_gets_400_and_garbage_is_dropped(uas: Uas, raw: RawPeer) -> None:
    bad = raw.request("OPTIONS", uas.address).replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
    raw.send(bad, uas.address)
    answer = await raw.recv_raw()
    assert answer.startswith(b"SIP/2.0 400 ")
    assert b"CSeq: one OPTIONS\r\n" in answer and b"Call-ID: raw-1@127.0.0.1\r\n" in answer
    raw.send(b"\x16\x03\x01 garbage that is no SIP at all\r\n\r\n", uas.address)
    assert await raw.nothing_within(0.2)
    raw.send(raw.request("OPTIONS", uas.address, call_id="after@x"), uas.address)
    response = await raw.recv()
    assert isinstance(response, Response) and response.status == 200
    assert uas.endpoint.counters["malformed"] == 2
    assert uas.endpoint.counters["malformed-dropped"] == 1


async def test_unknown_peer_is_refused_in_trunk_mode(raw: RawPeer) -> None:
    ep = SipEndpoint(sip_settings(0, allowed=("10.0.0.0/8",)), on_call=answer_and_hold)
    await ep.start()
    try:
        _, host, port = ep.local_addresses[0]
        raw.send(raw.request("INVITE", (host, port), body=offer(),
                             extra="Content-Type: application/sdp\r\n"), (host, port))
        response = await raw.recv()
        assert isinstance(response, Response) and response.status == 403
        # A scanner gets silence.
        raw.send(raw.request("OPTIONS", (host, port), extra="User-Agent: friendly-scanner\r\n",
                             call_id="scan@x"), (host, port))
        assert await raw.nothing_within(0.2)
        assert ep.counters["in INVITE"] == 1 and ep.counters["out 100"] == 0
    finally:
        await ep.stop()


async def test_no_ack_tears_the_call_down_with_bye(uas: Uas, raw: RawPeer) -> None:
    results: list[BaseException | None] = []

    async def answer(call: IncomingCall) -> None:
        try:
            await call.answer(call.make_answer("127.0.0.1", 41000))
            results.append(None)
        except CallEnded as exc:
            results.append(exc)

    uas.behaviour = answer
    raw.send(raw.request("INVITE", uas.address, body=offer(), extra="Content-Type: application/sdp\r\n"),
             uas.address)
    # 64*T1 = 3.2 s with T1 = 50 ms: the 200 is retransmitted, then a BYE comes.
    bye = await raw.recv_until(lambda m: isinstance(m, Request) and m.method == "BYE", timeout=6)
    assert isinstance(bye, Request)
    ok = (
        f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
        f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    raw.send(ok, uas.address)
    ended = await asyncio.wait_for(uas.calls[0].wait_ended(), 3)
    assert ended.reason == "no-ack"
    assert isinstance(results[0], CallEnded)
    assert uas.endpoint.counters["out 200"] >= 3  # first send + retransmissions


async def test_stop_hangs_up_live_calls(uac: SipEndpoint) -> None:
    uas = Uas()
    uas.behaviour = answer_and_hold
    await uas.endpoint.start()
    host, port = uas.address
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:{host}:{port}"))
    await ep.start()
    call = await ep.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    await asyncio.wait_for(call.answered(), 3)
    await uas.endpoint.stop()  # the UAS side shuts down: BYE to us
    assert (await asyncio.wait_for(call.wait_ended(), 3)).reason == "remote-bye"
    assert uas.calls[0].ended is not None and uas.calls[0].ended.reason == "shutdown"
    assert not uas.endpoint._tasks
    await ep.stop()


async def test_forked_copy_of_an_invite_gets_482(uas: Uas, raw: RawPeer) -> None:
    async def ring(call: IncomingCall) -> None:
        await call.ringing()
        await call.wait_ended()

    uas.behaviour = ring
    extra = "Content-Type: application/sdp\r\n"
    raw.send(raw.request("INVITE", uas.address, body=offer(), extra=extra, branch="z9hG4bKpath1"), uas.address)
    await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 180)
    # The same request again by another path (new branch): merged, RFC 3261 §8.2.2.2.
    raw.send(raw.request("INVITE", uas.address, body=offer(), extra=extra, branch="z9hG4bKpath2"), uas.address)
    merged = await raw.recv_until(lambda m: isinstance(m, Response) and m.status >= 300)
    assert isinstance(merged, Response) and merged.status == 482 and merged.branch == "z9hG4bKpath2"
    assert len(uas.calls) == 1


async def test_bye_overtaking_the_ack_still_counts_as_answered(uas: Uas, raw: RawPeer) -> None:
    answers: list[str] = []

    async def answer(call: IncomingCall) -> None:
        await call.answer(call.make_answer("127.0.0.1", 41000))
        answers.append("returned")
        await call.wait_ended()

    uas.behaviour = answer
    raw.send(raw.request("INVITE", uas.address, body=offer(), extra="Content-Type: application/sdp\r\n"),
             uas.address)
    ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200)
    assert isinstance(ok, Response)
    raw.send(raw.request("BYE", uas.address, to_tag=ok.to_tag, cseq=2), uas.address)
    bye_ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.cseq.method == "BYE")
    assert isinstance(bye_ok, Response) and bye_ok.status == 200
    events = [e async for e in uas.calls[0].events()]
    assert isinstance(events[0], Answered) and events[-1] == Ended("remote-bye")
    assert answers == ["returned"]


@pytest.mark.both_loops  # uvloop's stream transports are not asyncio.Transport subclasses
async def test_call_over_tcp(uas: Uas) -> None:
    tcp_uas = Uas(transports=("tcp",))
    tcp_uas.behaviour = answer_and_hold
    await tcp_uas.endpoint.start()
    host, port = tcp_uas.address
    ep = SipEndpoint(sip_settings(0, transports=("udp", "tcp"), proxy=f"sip:{host}:{port};transport=tcp"))
    await ep.start()
    try:
        call = await ep.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
        await asyncio.wait_for(call.answered(), 3)
        assert tcp_uas.calls[0].transport == "TCP"
        assert (await call.send_dtmf_info("9")).status == 200
        await call.hangup()
        assert (await asyncio.wait_for(tcp_uas.calls[0].wait_ended(), 3)).reason == "remote-bye"
        assert ep.counters["out INVITE"] == 1  # no retransmissions on a reliable transport
    finally:
        await ep.stop()
        await tcp_uas.endpoint.stop()


async def test_call_over_ipv6() -> None:
    require(has_ipv6(), "IPv6 loopback ::1 is not available (scripts/install-test-deps.sh adds it as root)")
    v6 = dict(listen=(ListenAddress("udp", "::1", 0),), allowed_peers=(ipaddress.ip_network("::1/128"),))
    uas = SipEndpoint(sip_settings(0, **v6), on_call=answer_and_hold)  # type: ignore[arg-type]
    await uas.start()
    _, host, port = uas.local_addresses[0]
    assert host == "::1"
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:[::1]:{port}", **v6))  # type: ignore[arg-type]
    await ep.start()
    try:
        call = await ep.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
        await asyncio.wait_for(call.answered(), 3)
        assert call.dialog is not None and "[::1]" in str(call.dialog.remote_target)
        await call.hangup()
        assert (await call.wait_ended()).reason == "local-bye"
    finally:
        await ep.stop()
        await uas.stop()


async def test_sip_trace_logs_every_message(caplog: pytest.LogCaptureFixture, raw: RawPeer) -> None:
    ep = SipEndpoint(sip_settings(0, trace=True))
    await ep.start()
    try:
        caplog.set_level(logging.INFO, logger=trace.LOGGER_NAME)
        _, host, port = ep.local_addresses[0]
        raw.send(raw.request("OPTIONS", (host, port), call_id="traced@x"), (host, port))
        await raw.recv()
        texts = [r.getMessage() for r in caplog.records if r.name == trace.LOGGER_NAME]
        assert any(" IN UDP " in t and "OPTIONS sip:" in t and "traced@x" in t for t in texts)
        assert any(" OUT UDP " in t and "SIP/2.0 200 OK" in t and "traced@x" in t for t in texts)
    finally:
        await ep.stop()
        trace.set_enabled(False)


async def test_unsupported_version_gets_505(uas: Uas, raw: RawPeer) -> None:
    raw.send(raw.request("OPTIONS", uas.address).replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1), uas.address)
    answer = await raw.recv_raw()
    assert answer.startswith(b"SIP/2.0 505 ")


async def test_far_end_ignoring_our_cancel_does_not_keep_the_leg(raw: RawPeer) -> None:
    # T1 = 50 ms: Timer C, cut to 64*T1 by our CANCEL, fires after 3.2 s.
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:127.0.0.1:{raw.port}"), timers=TimerConfig(t1=0.05))
    await ep.start()
    try:
        call = await ep.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer(), timeout=0.3)
        invite = await raw.recv_until(lambda m: isinstance(m, Request) and m.method == "INVITE")
        assert isinstance(invite, Request)
        ringing = (
            f"SIP/2.0 180 Ringing\r\nVia: {invite.headers.get('Via')}\r\nFrom: {invite.headers.get('From')}\r\n"
            f"To: {invite.headers.get('To')};tag=deaf\r\nCall-ID: {invite.call_id}\r\n"
            f"CSeq: {invite.headers.get('CSeq')}\r\nContent-Length: 0\r\n\r\n"
        )
        _, host, port = ep.local_addresses[0]
        raw.send(ringing, (host, port))
        cancel = await raw.recv_until(lambda m: isinstance(m, Request) and m.method == "CANCEL")
        assert isinstance(cancel, Request) and cancel.branch == invite.branch
        assert (await asyncio.wait_for(call.wait_ended(), 6)) == Ended("timeout", 408)
        assert not ep.live_calls
        # Timer C ended the INVITE transaction and F the unanswered CANCEL: the layer forgets both.
        for _ in range(40):
            if len(ep.layer) == 0:
                break
            await asyncio.sleep(0.05)
        assert len(ep.layer) == 0
    finally:
        await ep.stop()


async def test_early_media_is_reported(uas: Uas, uac: SipEndpoint) -> None:
    async def early(call: IncomingCall) -> None:
        await call.ringing(early_sdp=call.make_answer("127.0.0.1", 41000).body)
        await asyncio.sleep(0.1)
        await call.answer(call.make_answer("127.0.0.1", 41000))
        await call.wait_ended()

    uas.behaviour = early
    call = await uac.place_call("5551234", allowed=ALLOW_ALL, caller_id="1", sdp_offer=offer())
    await asyncio.wait_for(call.answered(), 3)
    await call.hangup()
    events = [e async for e in call.events()]
    progress = [e for e in events if isinstance(e, CallProgress)]
    assert progress and progress[0].status == 183 and progress[0].early_sdp
    assert progress[0].early_media is not None and progress[0].early_media.remote_port == 41000
