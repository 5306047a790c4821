"""Dialogs (RFC 3261 §12) built from real traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.sip.dialog import Dialog, DialogId, DialogState
from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.headers import NameAddr, Via
from hotline.sip.message import Request, Response, build_request, build_response, parse_message
from hotline.sip.uri import SipUri

TRACES = Path(__file__).resolve().parents[2] / "traces"
OUR_CONTACT = NameAddr.parse("<sip:hotline@192.0.2.99:5060>")
VIA = Via.parse("SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKours1;rport")


def load(name: str) -> Request | Response:
    return parse_message((TRACES / name).read_bytes())


def uas_dialog(name: str) -> tuple[Request, Dialog]:
    inv = load(name)
    assert isinstance(inv, Request)
    ok = build_response(inv, 200, to_tag="ourtag", headers=[("Contact", str(OUR_CONTACT))])
    return inv, Dialog.as_uas(inv, ok, OUR_CONTACT)


def test_uas_dialog_from_trunk_invite_with_record_route() -> None:
    inv, dlg = uas_dialog("real/002-kr-carrier-trunk-invite-record-route.sip")
    assert dlg.id == DialogId(inv.call_id, "ourtag", "f76a4465771c69a4becab3be45ed30c7")
    assert [str(r) for r in dlg.route_set] == ["<sip:203.0.113.47;lr>"]
    assert str(dlg.remote_target) == "sip:01055501234@203.0.113.47:5060;user=phone"
    assert (dlg.remote_seq, dlg.local_seq, dlg.state) == (102, None, DialogState.CONFIRMED)
    dlg.local_seq = 4999  # as if chosen earlier; BYE takes the next number
    bye = dlg.create_request("BYE", via=VIA)
    # Loose routing: Request-URI is the remote target, Route is the route set.
    assert str(bye.uri) == "sip:01055501234@203.0.113.47:5060;user=phone"
    assert bye.headers.get_all("Route") == ["<sip:203.0.113.47;lr>"]
    assert bye.from_.tag == "ourtag" and str(bye.from_.uri) == "sip:07012345678@0.0.0.0"
    assert bye.to.tag == "f76a4465771c69a4becab3be45ed30c7"
    assert (bye.cseq.seq, bye.cseq.method) == (5000, "BYE")
    assert bye.call_id == inv.call_id and "Contact" not in bye.headers
    again = parse_message(bye.serialize())
    assert DialogId.for_incoming_request(again) == DialogId(  # type: ignore[arg-type]
        inv.call_id, "f76a4465771c69a4becab3be45ed30c7", "ourtag"
    )


def test_uas_reinvite_refreshes_target_and_checks_cseq() -> None:
    inv, dlg = uas_dialog("real/001-asterisk18-pjsip-freepbx16-invite.sip")
    reinvite = load("derived/d11-asterisk-reinvite-hold-sendonly.sip")
    assert isinstance(reinvite, Request)
    reinvite.headers.set("To", str(reinvite.to.with_tag("ourtag")))
    reinvite.headers.set("Contact", "<sip:asterisk@192.168.86.36:5070>")
    assert DialogId.for_incoming_request(reinvite) == dlg.id
    dlg.receive_request(reinvite)
    assert dlg.remote_seq == 16614
    assert str(dlg.remote_target) == "sip:asterisk@192.168.86.36:5070"
    with pytest.raises(RemoteProtocolError) as info:
        dlg.receive_request(reinvite)  # same CSeq again: out of order
    assert info.value.status == 500
    bye = build_request(
        "BYE", "sip:hotline@192.0.2.99", from_=reinvite.from_, to=reinvite.to,
        call_id=inv.call_id, cseq=16615, via=VIA,
    )
    dlg.receive_request(bye)
    assert dlg.state is DialogState.TERMINATED
    with pytest.raises(LocalProtocolError):
        dlg.create_request("INFO", via=VIA)


def test_uac_dialog_reverses_record_route_and_acks_2xx() -> None:
    ok = load("real/022-avaya-session-manager-200.sip")
    assert isinstance(ok, Response)
    # Our INVITE that this 200 answers (same Call-ID, From, To, CSeq).
    invite = build_request(
        "INVITE", "sip:99139@10.224.51.62:5060", from_=ok.from_, to=NameAddr.parse(
            "<sip:99139@10.224.51.62:5060>"
        ), call_id=ok.call_id, cseq=ok.cseq.seq, via=VIA, contact=OUR_CONTACT,
    )
    dlg = Dialog.as_uac(invite, ok)
    assert dlg.id == DialogId(ok.call_id, "95-B905E753", ok.to.tag or "")
    rr = [str(r.uri) for r in ok.record_route]
    assert [str(r.uri) for r in dlg.route_set] == list(reversed(rr))
    ack = dlg.create_ack(ok, via=Via.parse("SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKack"))
    assert (ack.method, ack.cseq.seq, ack.cseq.method) == ("ACK", 22342, "ACK")
    assert ack.to.tag == ok.to.tag and ack.branch == "z9hG4bKack"
    assert isinstance(ack.uri, SipUri) and ack.uri.param("maddr") == "10.226.243.69"
    assert [str(r.uri) for r in ack.route] == list(reversed(rr))
    reinvite = dlg.create_request("INVITE", via=VIA, body=b"v=0\r\n",
                                  content_type="application/sdp")
    assert reinvite.cseq.seq == 22343 and dlg.invite_seq == 22343
    assert reinvite.contact == OUR_CONTACT
    refreshed = build_response(reinvite, 200, headers=[("Contact", "<sip:99139@10.0.0.7>")])
    dlg.receive_response(refreshed)
    assert str(dlg.remote_target) == "sip:99139@10.0.0.7"
    dlg.receive_response(build_response(dlg.create_request("INFO", via=VIA), 481))
    assert dlg.state is DialogState.TERMINATED


def test_strict_route_puts_remote_target_last() -> None:
    _, dlg = uas_dialog("real/002-kr-carrier-trunk-invite-record-route.sip")
    dlg.route_set = [NameAddr.parse("<sip:strict.example.com>"),
                     NameAddr.parse("<sip:second.example.com;lr>")]
    bye = dlg.create_request("BYE", via=VIA)
    assert str(bye.uri) == "sip:strict.example.com"
    assert bye.headers.get_all("Route") == [
        "<sip:second.example.com;lr>", f"<{dlg.remote_target}>"
    ]


def test_early_dialog_confirmed_by_2xx_recomputes_routes() -> None:
    invite = build_request(
        "INVITE", "sip:8001@pbx.example.com", from_="<sip:hotline@example.com>;tag=me",
        to="<sip:8001@pbx.example.com>", call_id="c1", cseq=1, via=VIA, contact=OUR_CONTACT,
    )
    ringing = build_response(invite, 180, to_tag="far",
                             headers=[("Record-Route", "<sip:p1.example.com;lr>")])
    dlg = Dialog.as_uac(invite, ringing)
    assert dlg.state is DialogState.EARLY and str(dlg.remote_target) == str(invite.uri)
    ok = build_response(invite, 200, to_tag="far", headers=[
        ("Record-Route", "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>"),
        ("Contact", "<sip:8001@10.0.0.5>"),
    ])
    dlg.receive_response(ok)
    assert dlg.state is DialogState.CONFIRMED
    assert [str(r.uri) for r in dlg.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert str(dlg.remote_target) == "sip:8001@10.0.0.5"


def test_dialog_needs_tags_and_contact() -> None:
    inv = load("real/002-kr-carrier-trunk-invite-record-route.sip")
    assert isinstance(inv, Request)
    with pytest.raises(LocalProtocolError):
        Dialog.as_uas(inv, build_response(inv, 200), OUR_CONTACT)
    inv.headers.remove("Contact")
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uas(inv, build_response(inv, 200, to_tag="t"), OUR_CONTACT)
    with pytest.raises(LocalProtocolError):
        uas_dialog("real/002-kr-carrier-trunk-invite-record-route.sip")[1].create_request(
            "ACK", via=VIA
        )
