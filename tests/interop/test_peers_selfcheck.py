"""The interop fixtures work peer to peer, without hotline.

If one of these fails, the fixture or the peer installation is broken, not
hotline: fix this first.  Every call here runs between third-party programs
on 127.0.0.1 (sipp <-> sipp, baresip <-> baresip, sipp -> kamailio ->
baresip/pyVoIP).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.interop.peers import (
    NO_RAW_SOCKET,
    Baresip,
    Kamailio,
    PortAllocator,
    Sipp,
    can_play_pcap,
    check_digest,
    start_baresip,
    stopping,
)
from tests.interop.pyvoip_phone import PyVoipPhone

NO_RAW = NO_RAW_SOCKET


def test_port_allocator_hands_out_distinct_free_ports(free_ports: PortAllocator) -> None:
    ports = [*free_ports.take(5), free_ports.block(10)]
    assert len(set(ports)) == len(ports)
    assert all(PortAllocator.LOW <= p <= PortAllocator.HIGH for p in ports)


def test_sipp_call_to_sipp(sipp: Sipp) -> None:
    uas = sipp.start("uas_answer.xml", calls=2)
    uac = sipp.run("uac_call.xml", uas.address, calls=2, rate=20, timeout_s=15)
    assert uac.ok, uac.describe()
    assert uac.counter("SuccessfulCall") == 2
    assert len(uac.lines("ANSWERED")) == 2 and len(uac.lines("COMPLETED")) == 2
    assert "m=audio" in uac.lines("ANSWERED")[0]
    far = uas.wait(10)
    assert far.ok, far.describe()
    assert len(far.lines("ANSWERED")) == 2 and len(far.lines("BYE")) == 2
    assert '"Alice Employee 1" <sip:+4930111000001@127.0.0.1>' in far.lines("INVITE")[0]


@pytest.mark.parametrize(
    ("uac", "uas", "options", "uac_line", "uas_line"),
    [
        ("uac_cancel.xml", "uas_answer.xml", {}, "CANCELLED", "CANCELLED"),
        ("uac_compact.xml", "uas_answer.xml", {}, "COMPLETED", "BYE"),
        ("uac_call_rejected.xml", "uas_busy.xml", {}, "REJECTED call-id=1-", "BUSY-ACKED"),
        (
            "uac_call_302.xml",
            "uas_302.xml",
            {"variables": {"target_user": "+4915112345678", "target_host": "127.0.0.1:5090"}},
            "REDIRECTED",
            "REDIRECT-ACKED",
        ),
        (
            "uac_call.xml",
            "uas_auth.xml",
            {"auth": ("trunkuser", "trunkpw"), "variables": {"auth_user": "trunkuser", "auth_pass": "trunkpw"}},
            "CHALLENGED",
            "AUTHORIZED",
        ),
        (
            "uac_call.xml",
            "uas_auth401.xml",
            {"auth": ("trunkuser", "trunkpw"), "variables": {"auth_user": "trunkuser", "auth_pass": "trunkpw"}},
            "CHALLENGED",
            "AUTHORIZED",
        ),
    ],
)
def test_sipp_scenario_pairs(
    sipp: Sipp, uac: str, uas: str, options: dict[str, object], uac_line: str, uas_line: str
) -> None:
    variables = options.get("variables")
    far = sipp.start(uas, calls=1, variables=variables)  # type: ignore[arg-type]
    near = sipp.run(uac, far.address, calls=1, timeout_s=15, **{k: v for k, v in options.items() if k == "auth"})
    assert near.ok, near.describe()
    assert near.lines(uac_line), near.describe()
    result = far.wait(10)
    assert result.ok, result.describe()
    assert result.lines(uas_line), result.describe()
    if uac == "uac_call_302.xml":
        assert "contact=sip:+4915112345678@127.0.0.1:5090" in near.lines("REDIRECTED")[0]
        assert "reason=unconditional" in near.lines("REDIRECTED")[0]
    if uas == "uas_auth.xml":
        (digest,) = near.headers("Proxy-Authorization")
        assert check_digest(digest, "INVITE", "trunkpw")
        assert not check_digest(digest, "INVITE", "trunkpw2")
        (challenge,) = near.headers("Proxy-Authenticate")
        assert challenge.split("nonce=")[1].split(",")[0] in digest
    if uac == "uac_call_rejected.xml":
        assert "SIP/2.0 486 Busy Here" in near.lines("REJECTED")[0]


def test_sipp_auth_with_wrong_password_fails_both_sides(sipp: Sipp) -> None:
    far = sipp.start("uas_auth401.xml", variables={"auth_user": "trunkuser", "auth_pass": "trunkpw"})
    near = sipp.run("uac_call.xml", far.address, auth=("trunkuser", "wrong"), timeout_s=10)
    assert near.returncode == 1, near.describe()
    result = far.wait(10)
    assert result.returncode == 1 and result.lines("AUTH-FAILED"), result.describe()


def test_sipp_load_caller(sipp: Sipp) -> None:
    far = sipp.start("uas_answer.xml", calls=10)
    near = sipp.run("uac_load.xml", far.address, calls=10, rate=50, concurrent=10, timeout_s=15)
    assert near.ok and near.counter("SuccessfulCall") == 10, near.describe()
    assert near.counter("FailedCall") == 0
    assert far.wait(10).ok


def test_options_and_garbage_against_kamailio(sipp: Sipp, kamailio: Kamailio) -> None:
    qualify = sipp.run("uac_options.xml", kamailio.open_address, service="ping", calls=3, rate=20, timeout_s=10)
    assert qualify.ok and len(qualify.lines("QUALIFIED")) == 3, qualify.describe()
    garbage = sipp.run("uac_garbage.xml", kamailio.open_address, service="ping", timeout_s=15)
    assert garbage.ok and garbage.lines("ALIVE"), garbage.describe()


def test_register_with_digest_good_and_bad_password(sipp: Sipp, kamailio: Kamailio) -> None:
    variables = {"expires": "60", "contact_hostport": "127.0.0.1:5999"}
    good = sipp.run(
        "uac_register.xml", kamailio.auth_address, inf="register_users.csv", calls=4, variables=variables, timeout_s=10
    )
    assert good.ok, good.describe()
    assert len(good.lines("REGISTERED")) == 4
    assert all("auth=digest" in line for line in good.lines("REGISTERED"))
    bad = sipp.run(
        "uac_register.xml", kamailio.auth_address, inf="register_bad.csv", calls=1, variables=variables, timeout_s=10
    )
    assert bad.returncode == 1, bad.describe()
    assert not bad.lines("REGISTERED")
    assert any("challenging" in line for line in kamailio.script_log())


def test_invite_through_kamailio_reaches_registered_baresip(
    sipp: Sipp, kamailio: Kamailio, tmp_path: Path, free_ports: PortAllocator
) -> None:
    callee = start_baresip(tmp_path / "registered", free_ports, registrar=(kamailio.auth_port, "oncallpw"))
    with stopping(callee):
        run = sipp.start("uac_call.xml", kamailio.open_address, service="oncall", hold_ms=300, timeout_s=15)
        callee.ctrl.wait_event("CALL_ESTABLISHED", 10)
        result = run.wait(20)
        assert result.ok, result.describe()
        callee.ctrl.wait_event("CALL_CLOSED", 5)
    assert any(line.startswith("INVITE routed to sip:oncall") for line in kamailio.script_log())
    nobody = sipp.run("uac_call_rejected.xml", kamailio.open_address, service="nobody", timeout_s=10)
    assert nobody.ok and "404" in nobody.lines("REJECTED")[0], nobody.describe()


def test_baresip_caller_calls_baresip_callee(baresip_caller: Baresip, baresip_callee: Baresip) -> None:
    response = baresip_caller.dial(baresip_callee.uri)
    assert response.get("ok"), response
    established = baresip_callee.ctrl.wait_event("CALL_ESTABLISHED", 10)
    assert "+4930111000099" in str(established.get("peeruri"))
    baresip_caller.ctrl.wait_event("CALL_ESTABLISHED", 5)
    baresip_callee.ctrl.wait_event("CALL_RTPESTAB", 5)
    assert baresip_caller.send_dtmf("1#").get("ok")
    digits = [baresip_callee.ctrl.wait_event("CALL_DTMF_START", 5)]
    digits.append(baresip_callee.ctrl.wait_event("CALL_DTMF_START", 5, after=baresip_callee.ctrl.events.index(digits[0]) + 1))
    assert [d.get("param") for d in digits] == ["1", "#"]
    baresip_caller.hangup()
    baresip_callee.ctrl.wait_event("CALL_CLOSED", 5)


@pytest.mark.skipif(not can_play_pcap(), reason=NO_RAW)
def test_sipp_call_with_rtp_and_rfc2833_reaches_baresip(sipp: Sipp, baresip_callee: Baresip) -> None:
    run = sipp.start("uac_call.xml", baresip_callee.address, service="oncall", media=True, timeout_s=20)
    result = run.wait(25)
    assert result.ok, result.describe()
    ctrl = baresip_callee.ctrl
    ctrl.wait_event("CALL_CLOSED", 5)
    types = ctrl.types()
    assert "CALL_RTPESTAB" in types
    digits = [e.get("param") for e in ctrl.events if e.get("type") == "CALL_DTMF_START"]
    assert digits == ["1", "#"], types


def test_sipp_call_through_kamailio_is_answered_by_pyvoip(
    sipp: Sipp, kamailio: Kamailio, pyvoip_phone: PyVoipPhone
) -> None:
    started = time.monotonic()
    run = sipp.start("uac_call.xml", kamailio.open_address, service="pyvoip", hold_ms=500, timeout_s=20)
    call = pyvoip_phone.wait_for_call(10)
    result = run.wait(25)
    assert result.ok, result.describe()
    assert "+4930111000001" in call.caller
    # pyVoIP answers one second after the INVITE (its fixed Timer)
    assert call.answered_at - started >= 0.9
    pyvoip_phone.wait_for_end(call, 10)
    assert any(line.startswith("INVITE routed to sip:pyvoip") for line in kamailio.script_log())


@pytest.mark.skipif(not can_play_pcap(), reason=NO_RAW)
def test_pyvoip_decodes_rfc2833_digits(sipp: Sipp, kamailio: Kamailio, pyvoip_phone: PyVoipPhone) -> None:
    run = sipp.start("uac_call.xml", kamailio.open_address, service="pyvoip", media=True, hold_ms=300, timeout_s=20)
    call = pyvoip_phone.wait_for_call(10)
    result = run.wait(25)
    assert result.ok, result.describe()
    pyvoip_phone.wait_for_end(call, 10)
    assert call.dtmf == ["1", "#"]


def test_missing_peer_skips_locally_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.interop import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.setattr(conftest.os, "access", lambda path, mode: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="sipp is not installed"):
        conftest.need("sipp")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        conftest.need("sipp")
