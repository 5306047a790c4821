"""hotline's SIP endpoint against kamailio, baresip and pyVoIP on 127.0.0.1.

* Outbound legs through kamailio (as ``sip.outbound.proxy``) to a baresip
  registered with digest, and to a pyVoIP phone registered on the open port:
  the INVITE is record-routed, so the ACK and our BYE must follow the route set.
* Register mode: calls relayed by kamailio are answered, a direct INVITE from
  another port of the registrar's address gets 403.
* baresip as a caller of the hotline: the first call handler with the media
  engine answers, plays the greeting and records baresip's RFC 4733 digits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.calls.first_handler import FirstCallHandler
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.sip.call_events import Ended
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.registration import Registered, RegistrationFailed, RegistrationState, Unregistered
from hotline.sip.settings import RegisterSettings
from hotline.store import Store
from tests.interop.endpoint_helpers import desk_config, offer, sip_settings, wait_for_end
from tests.interop.peers import Baresip, Kamailio, PortAllocator, Sipp, start_baresip, start_kamailio
from tests.interop.pyvoip_phone import PyVoipPhone
from tests.ports import PORTS

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

#: The on-call mobile, registered at kamailio by number (digits only: a number is what we dial).
ONCALL_NUMBER = "15112345678"


@pytest.fixture
def mobile_registrar(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Kamailio]:
    kam = start_kamailio(tmp_path / "kamailio-mobile", free_ports, users={ONCALL_NUMBER: "mobilepw"})
    try:
        yield kam
    finally:
        kam.stop()


@pytest.fixture
def registered_baresip(tmp_path: Path, free_ports: PortAllocator, mobile_registrar: Kamailio) -> Iterator[Baresip]:
    ua = start_baresip(
        tmp_path / "baresip-mobile", free_ports, user=ONCALL_NUMBER,
        registrar=(mobile_registrar.auth_port, "mobilepw"),
    )
    try:
        yield ua
    finally:
        ua.stop()


async def test_leg_through_kamailio_to_registered_baresip(
    mobile_registrar: Kamailio, registered_baresip: Baresip
) -> None:
    kamailio = mobile_registrar
    ep = SipEndpoint(sip_settings(0, proxy=f"sip:127.0.0.1:{kamailio.auth_port}"))
    await ep.start()
    try:
        allowed = {ONCALL_NUMBER}
        call = await ep.place_call(
            ONCALL_NUMBER, allowed=allowed.__contains__, caller_id="+4930111000001",
            display_name="Anna", sdp_offer=offer(), timeout=10,
        )
        answered = await asyncio.wait_for(call.answered(), 10)
        assert answered.media is not None and answered.media.codec in ("PCMU", "PCMA")
        assert call.dialog is not None and call.dialog.route_set  # kamailio record-routed
        await asyncio.sleep(0.3)
        await call.hangup()
        assert (await call.wait_ended()) == Ended("local-bye")
        registered_baresip.ctrl.wait_event("CALL_CLOSED", timeout=5)
        assert any("INVITE routed to" in line for line in kamailio.script_log())
    finally:
        await ep.stop()


async def test_leg_through_kamailio_to_registered_pyvoip(kamailio: Kamailio, pyvoip_phone: PyVoipPhone) -> None:
    # sip.outbound.caller_id = "from": the original caller is presented in From.
    ep = SipEndpoint(sip_settings(0, caller_id="from"))
    await ep.start()
    try:
        target = f"sip:{pyvoip_phone.username}@127.0.0.1:{kamailio.open_port}"
        call = await ep.place_call(
            target, allowed=lambda t: t == target, caller_id="+4930111000001", sdp_offer=offer(), timeout=10
        )
        # pyVoIP answers a second after the INVITE.
        await asyncio.wait_for(call.answered(), 10)
        seen = await asyncio.to_thread(pyvoip_phone.wait_for_call, 5.0)
        assert "4930111000001" in seen.caller
        await call.hangup()
        assert (await call.wait_ended()).reason == "local-bye"
        await asyncio.to_thread(pyvoip_phone.wait_for_end, seen, 10.0)
    finally:
        await ep.stop()


async def test_baresip_calls_the_hotline(store: Store, baresip_caller: Baresip) -> None:
    low = PORTS.block(1000)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=low, port_max=low + 999)
    await engine.start()
    config = desk_config(ring_seconds=0.2)
    handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone), media=engine)
    ep = SipEndpoint(config.sip, on_call=handler)
    await ep.start()
    try:
        _, host, port = ep.local_addresses[0]
        await asyncio.to_thread(baresip_caller.dial, f"sip:12345@{host}:{port}")
        await asyncio.to_thread(baresip_caller.ctrl.wait_event, "CALL_ESTABLISHED", 10.0)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(baresip_caller.send_dtmf, "3")
        await asyncio.sleep(0.6)
        await asyncio.to_thread(baresip_caller.hangup)
        record = await wait_for_end(store, timeout=8)
        assert record.disposition == "answered"
        assert record.caller_key and record.caller_key.endswith("30111000099")
        assert "3" in record.digits
        assert await store.issues.count() == 1
    finally:
        await ep.stop()
        await engine.close()


def register_config(kamailio: Kamailio, password: str) -> object:
    config = desk_config(ring_seconds=0.1)
    sip = dataclasses.replace(
        config.sip,
        mode="register",
        allowed_peers=(),
        register=RegisterSettings(
            registrar=f"sip:127.0.0.1:{kamailio.auth_port}", username="hotline", password=password, expires=300
        ),
    )
    return dataclasses.replace(config, sip=sip)


async def wait_registration(ep: SipEndpoint, kind: type, timeout: float = 5.0) -> object:
    for _ in range(int(timeout / 0.05)):
        if isinstance(ep.registration_status, kind):
            return ep.registration_status
        await asyncio.sleep(0.05)
    raise AssertionError(f"registration status is {ep.registration_status!r}, not {kind.__name__}")


async def test_register_mode_receives_calls_through_kamailio(
    store: Store, kamailio: Kamailio, sipp: Sipp
) -> None:
    config = register_config(kamailio, kamailio.users["hotline"])
    handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone))  # type: ignore[attr-defined]
    ep = SipEndpoint(config.sip, on_call=handler)  # type: ignore[attr-defined]
    await ep.start()
    try:
        registered = await wait_registration(ep, Registered)
        assert registered.expires > 0  # type: ignore[attr-defined]
        # A caller dials the hotline's AoR at kamailio; kamailio relays the INVITE to our binding.
        result = await sipp.start(
            "uac_call.xml", kamailio.open_address, service="hotline", calls=1, hold_ms=300, timeout_s=15
        ).wait_async(25)
        assert result.ok, result.describe()
        record = await wait_for_end(store)
        assert record.disposition == "answered"
        # The same caller dialling our socket directly, from another port of 127.0.0.1 (the
        # registrar's address too): only the registrar's address *and port* may bring calls.
        _, host, port = ep.local_addresses[0]
        direct = await sipp.start("uac_call_rejected.xml", (host, port), calls=1, timeout_s=10).wait_async(20)
        assert direct.ok, direct.describe()
        assert "403" in direct.lines("REJECTED")[0]
        assert ep.gatekeeper.counters[("INVITE", "reject", "not-registrar")] == 1
        assert await store.issues.count() == 1  # the direct call never reached the handler
    finally:
        await ep.stop()
    assert isinstance(ep.registration_status, Unregistered) and ep.registration_status.clean
    assert any("REGISTER" in line and "saved" in line for line in kamailio.script_log())


async def test_register_with_a_wrong_password_fails(kamailio: Kamailio) -> None:
    config = register_config(kamailio, "not-the-password")
    ep = SipEndpoint(config.sip, on_call=None)  # type: ignore[attr-defined]
    await ep.start()
    try:
        failed = await wait_registration(ep, RegistrationFailed)
        assert failed.status in (401, 403)  # type: ignore[attr-defined]
        assert ep.registration is not None and ep.registration.state is RegistrationState.AUTH_FAILED
    finally:
        await ep.stop()
