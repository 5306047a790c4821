"""hotline's SIP endpoint against sipp on 127.0.0.1.

sipp as the caller: the endpoint runs in-process with the first call handler
and a SQLite store under ``tmp_path``, so each test also checks the rows a
call leaves.  sipp as the far end: ``place_call`` legs that are busy,
challenged, redirected and answered.  Every sipp run is bounded by ``-m``
and ``-timeout`` (see ``peers.Sipp``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hotline.calls.first_handler import FirstCallHandler
from hotline.config import Config
from hotline.issues import IssueService
from hotline.sip.call import IncomingCall, TransferFailed
from hotline.sip.call_events import Answered, CallProgress, Ended, Refer
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.errors import LocalProtocolError
from hotline.store import Store
from tests.interop.endpoint_helpers import desk_config, offer, sip_settings, wait_for_end
from tests.interop.peers import Sipp, check_digest

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

ALLOW_ALL = lambda target: True  # noqa: E731


class Desk:
    """An endpoint serving calls with the first handler (or another handler) on a random port."""

    def __init__(
        self,
        store: Store,
        config: Config,
        handler: Callable[[IncomingCall], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.handler = handler or FirstCallHandler(config, store, IssueService(store, config.site.timezone))
        self.endpoint = SipEndpoint(config.sip, on_call=self.handler)

    @property
    def address(self) -> tuple[str, int]:
        _, host, port = self.endpoint.local_addresses[0]
        return host, port


@pytest.fixture
async def desk(store: Store) -> AsyncIterator[Desk]:
    d = Desk(store, desk_config(ring_seconds=0.1))
    await d.endpoint.start()
    try:
        yield d
    finally:
        await d.endpoint.stop()


# -- sipp calls hotline --------------------------------------------------------------------


async def test_plain_call_records_call_and_issue(desk: Desk, sipp: Sipp) -> None:
    result = await sipp.start("uac_call.xml", desk.address, calls=1, hold_ms=300, timeout_s=15).wait_async(25)
    assert result.ok, result.describe()
    assert len(result.lines("ANSWERED")) == 1
    record = await wait_for_end(desk.store)
    assert record.disposition == "answered" and record.answered_at is not None
    assert record.caller_key and record.caller_key.endswith("30111000001")
    assert await desk.store.issues.count() == 1
    assert desk.endpoint.counters["in BYE"] == 1


async def test_info_digits_are_recorded(desk: Desk, sipp: Sipp) -> None:
    result = await sipp.start("endpoint_uac_info_dtmf.xml", desk.address, calls=1, timeout_s=15).wait_async(25)
    assert result.ok, result.describe()
    record = await wait_for_end(desk.store)
    assert record.digits == "4#"
    assert record.disposition == "answered"


async def test_cancel_while_ringing(store: Store, sipp: Sipp) -> None:
    desk = Desk(store, desk_config(ring_seconds=5.0))
    await desk.endpoint.start()
    try:
        result = await sipp.start("uac_cancel.xml", desk.address, calls=1, timeout_s=15).wait_async(25)
        assert result.ok, result.describe()
        assert result.lines("CANCELLED") and not result.lines("ANSWERED-BEFORE-CANCEL")
        record = await wait_for_end(store)
        assert record.disposition == "cancelled" and record.answered_at is None
        assert await store.issues.count() == 1
        assert desk.endpoint.counters["out 487"] == 1
    finally:
        await desk.endpoint.stop()


async def test_compact_headers(desk: Desk, sipp: Sipp) -> None:
    result = await sipp.start("uac_compact.xml", desk.address, calls=1, hold_ms=200, timeout_s=15).wait_async(25)
    assert result.ok, result.describe()
    record = await wait_for_end(desk.store)
    assert record.disposition == "answered"


async def test_options_qualify(desk: Desk, sipp: Sipp) -> None:
    result = await sipp.start("uac_options.xml", desk.address, calls=3, rate=10, timeout_s=10).wait_async(20)
    assert result.ok, result.describe()
    qualified = result.lines("QUALIFIED")
    assert len(qualified) == 3 and "INVITE" in qualified[0] and "application/sdp" in qualified[0]


async def test_garbage_then_options_still_answered(desk: Desk, sipp: Sipp) -> None:
    result = await sipp.start("uac_garbage.xml", desk.address, calls=1, timeout_s=15).wait_async(25)
    assert result.ok, result.describe()
    assert result.lines("ALIVE")
    assert desk.endpoint.counters["malformed"] >= 2


async def test_redirect_from_us(store: Store, sipp: Sipp) -> None:
    async def redirect(call: IncomingCall) -> None:
        await call.redirect("+8613900000000")

    desk = Desk(store, desk_config(), handler=redirect)
    await desk.endpoint.start()
    try:
        result = await sipp.start("uac_call_302.xml", desk.address, calls=1, timeout_s=15).wait_async(25)
        assert result.ok, result.describe()
        line = result.lines("REDIRECTED")[0]
        assert "code=302" in line and "+8613900000000" in line and "sip:12345@" in line
    finally:
        await desk.endpoint.stop()


async def test_unknown_peer_gets_403_in_trunk_mode(store: Store, sipp: Sipp) -> None:
    config = desk_config(allowed=("192.0.2.0/24",))
    desk = Desk(store, config)
    await desk.endpoint.start()
    try:
        result = await sipp.start("uac_call_rejected.xml", desk.address, calls=1, timeout_s=10).wait_async(20)
        assert result.ok, result.describe()
        assert "403" in result.lines("REJECTED")[0]
        assert await store.issues.count() == 0  # an unknown peer never reaches the handler
    finally:
        await desk.endpoint.stop()


# -- hotline calls sipp (outbound legs) ---------------------------------------------------------


async def dial_through(uas_port: int, **outbound: object):  # type: ignore[no-untyped-def]
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:127.0.0.1:{uas_port}", **outbound))  # type: ignore[arg-type]
    await ep.start()
    call = await ep.place_call(
        "+4915112345678", allowed=ALLOW_ALL, caller_id="+4930111000001", display_name="Anna", sdp_offer=offer(),
        timeout=8,
    )
    return ep, call


async def test_outbound_busy(sipp: Sipp) -> None:
    uas = sipp.start("uas_busy.xml", calls=1, timeout_s=15, inf=None)
    ep, call = await dial_through(uas.port)
    try:
        assert (await asyncio.wait_for(call.wait_ended(), 5)) == Ended("rejected", 486)
        result = await uas.wait_async(20)
        assert result.ok, result.describe()
        assert result.lines("BUSY-ACKED")
    finally:
        await ep.stop()


@pytest.mark.parametrize("password,valid", [("s3cret", True), ("wrong", False)])
async def test_outbound_proxy_challenge(sipp: Sipp, password: str, valid: bool) -> None:
    uas = sipp.start(
        "uas_auth.xml", calls=1, timeout_s=15, inf=None,
        variables={"auth_user": "hotline", "auth_pass": "s3cret"},
    )
    ep, call = await dial_through(uas.port, username="hotline", password=password)
    try:
        # sipp checks the credentials' shape and answers; the digest itself is checked here.
        answered = await asyncio.wait_for(call.answered(), 5)
        assert answered.media is not None and answered.media.codec == "PCMU"
        await call.hangup()
        result = await uas.wait_async(20)
        assert result.ok, result.describe()
        assert result.lines("AUTHORIZED") and result.lines("BYE")
        # "DIGEST call-id=... <header value> realm=<ereg> nonce=<ereg> ...": keep the header value.
        digest = result.lines("DIGEST")[0].split(" ", 2)[2].split(" realm=realm=")[0]
        assert check_digest(digest, "INVITE", "s3cret") is valid
        assert 'uri="sip:+4915112345678@127.0.0.1:' in digest
    finally:
        await ep.stop()


async def test_outbound_redirected(sipp: Sipp) -> None:
    uas = sipp.start(
        "uas_302.xml", calls=1, timeout_s=15, inf=None,
        variables={"target_user": "+4915199999999", "target_host": "127.0.0.1:5999"},
    )
    ep, call = await dial_through(uas.port)
    try:
        ended = await asyncio.wait_for(call.wait_ended(), 5)
        assert ended.reason == "redirected" and ended.status == 302
        assert ended.contact == ("sip:+4915199999999@127.0.0.1:5999",)
        result = await uas.wait_async(20)
        assert result.ok, result.describe()
    finally:
        await ep.stop()


async def test_outbound_answered_with_presentation(sipp: Sipp) -> None:
    uas = sipp.start("uas_answer.xml", calls=1, timeout_s=15, inf=None)
    ep, call = await dial_through(uas.port)
    try:
        events = []
        answered = await asyncio.wait_for(call.answered(), 5)
        assert answered.media is not None
        await call.hangup()
        async for event in call.events():
            events.append(event)
        assert any(isinstance(e, CallProgress) and e.status == 180 for e in events)
        assert events[-1] == Ended("local-bye")
        result = await uas.wait_async(20)
        assert result.ok, result.describe()
        invite = result.lines("INVITE")[0]
        assert "4930111000001" in invite  # the caller, presented in P-Asserted-Identity
        assert "sip:12345@" in invite  # the hotline, in Diversion
    finally:
        await ep.stop()


def test_desk_config_is_loopback() -> None:
    config = desk_config()
    assert config.sip.listen[0].host == "127.0.0.1"
    assert dataclasses.replace(config.sip, trace=True).trace


@pytest.mark.parametrize("final,transferred", [("200 OK", True), ("486 Busy Here", False)])
async def test_blind_transfer(store: Store, sipp: Sipp, final: str, transferred: bool) -> None:
    outcome: list[object] = []

    async def transfer(call: IncomingCall) -> None:
        await call.answer(call.make_answer("127.0.0.1", 41000))
        try:
            await call.transfer("+8613900000000")
            outcome.append("transferred")
        except TransferFailed as exc:
            outcome.append(exc.status)
        await call.wait_ended()

    desk = Desk(store, desk_config(), handler=transfer)
    await desk.endpoint.start()
    try:
        run = sipp.start("endpoint_uac_refer.xml", desk.address, calls=1, timeout_s=15, inf=None,
                         variables={"final": final})
        result = await run.wait_async(25)
        assert result.ok, result.describe()
        assert "+8613900000000" in result.lines("REFER")[0]
        call = desk.endpoint  # the handler's call is gone from the endpoint once ended
        assert not call.live_calls
        assert outcome == (["transferred"] if transferred else [486])
    finally:
        await desk.endpoint.stop()


# -- sipp asks hotline to transfer it (incoming REFER) -----------------------------------------

CONFIGURED_TARGET = "+4915112345678"


@pytest.mark.parametrize("target,frags", [
    (CONFIGURED_TARGET, ["100 Trying", "180 Ringing", "200 OK"]),
    ("+19005550100", ["100 Trying", "603 Decline"]),
])  # fmt: skip
async def test_incoming_refer_notifies_progress(store: Store, sipp: Sipp, target: str, frags: list[str]) -> None:
    uas = sipp.start("uas_answer.xml", calls=1, timeout_s=20, inf=None)
    dialled: list[str] = []

    async def handler(call: IncomingCall) -> None:
        await call.answer(call.make_answer("127.0.0.1", 41000))
        async for event in call.events():
            if not isinstance(event, Refer):
                continue
            number = event.target.split(":", 1)[1].split("@", 1)[0]
            if number != CONFIGURED_TARGET:  # only configured targets are ever dialled
                await event.finish(603)
                continue
            dialled.append(number)
            leg = await desk.endpoint.place_call(
                number, allowed=lambda t: t == CONFIGURED_TARGET, caller_id="+4930111000088", sdp_offer=offer()
            )
            async for progress in leg.events():
                if isinstance(progress, CallProgress):
                    await event.progress(progress.status)
                elif isinstance(progress, Answered):
                    await event.finish(200)
                    break
                elif isinstance(progress, Ended):
                    await event.finish(progress.status or 500)
                    break
            with pytest.raises(LocalProtocolError, match="already terminated"):
                await event.progress(180)
            await leg.hangup()

    desk = Desk(store, desk_config(accept_refer=True, proxy=f"sip:127.0.0.1:{uas.port}"), handler=handler)
    await desk.endpoint.start()
    try:
        run = sipp.start("endpoint_uac_sends_refer.xml", desk.address, calls=1, timeout_s=15, inf=None,
                         variables={"referto": f"sip:{target}@127.0.0.1"})  # fmt: skip
        result = await run.wait_async(25)
        assert result.ok, result.describe()
        assert result.lines("REFER-ACCEPTED")
        notifies = result.lines("NOTIFY")
        assert [line.split("frag=SIP/2.0 ", 1)[1] for line in notifies] == frags, notifies
        assert all("event= refer;id=2" in line for line in notifies), notifies
        assert all("state= active;expires=60" in line for line in notifies[:-1])
        assert "state= terminated;reason=noresource" in notifies[-1]
        if target == CONFIGURED_TARGET:
            assert dialled == [CONFIGURED_TARGET]
            uas_result = await uas.wait_async(20)
            assert uas_result.ok, uas_result.describe()
            assert uas_result.lines("ANSWERED") and uas_result.lines("BYE")
        else:
            assert dialled == []
            assert desk.endpoint.counters["out INVITE"] == 0  # nothing was dialled
    finally:
        await desk.endpoint.stop()
