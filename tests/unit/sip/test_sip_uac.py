"""The user-agent client's requests (hotline.sip.uac), built from plain inputs and read back as a peer would."""

from __future__ import annotations

import pytest

from hotline.sip.auth import Credentials, DigestClient, DigestServer
from hotline.sip.capabilities import ALLOW_TEXT
from hotline.sip.errors import LocalProtocolError
from hotline.sip.headers import Via
from hotline.sip.message import Request, build_response, parse_message
from hotline.sip.settings import OutboundSettings
from hotline.sip.uac import (
    NoResponse,
    build_invite,
    dtmf_info_body,
    invite_with_credentials,
    plan_dial,
    refer_headers,
    refer_target,
)
from hotline.sip.uri import SipUri, parse_uri

PROXY = "sip:trunk.example.net:5070;transport=tcp"
SECRET = b"0123456789abcdef0123456789abcdef"


def via(branch: str = "z9hG4bKuac1") -> Via:
    return Via.parse(f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport")


def test_dialling_a_uri_goes_through_the_proxy_as_a_loose_route() -> None:
    plan = plan_dial("sip:2002@pbx.example.net", PROXY)
    assert plan.uri == parse_uri("sip:2002@pbx.example.net")
    assert plan.route == (f"<{parse_uri(PROXY)};lr>",)
    assert plan.next_hop == parse_uri(PROXY)
    direct = plan_dial("sip:2002@192.0.2.20:5062", None)
    assert (direct.route, direct.next_hop) == ((), parse_uri("sip:2002@192.0.2.20:5062"))


def test_dialling_a_number_puts_it_at_the_proxy() -> None:
    plan = plan_dial(" +861012345 ", PROXY)
    assert isinstance(plan.uri, SipUri)
    assert (plan.uri.user, plan.uri.host, plan.uri.port, plan.uri.transport) == (
        "+861012345", "trunk.example.net", 5070, "tcp",
    )
    assert plan.route == () and plan.next_hop == parse_uri(PROXY)


@pytest.mark.parametrize(("target", "proxy"), [("2002", None), ("20-02", PROXY), ("  ", PROXY)])
def test_undialable_targets_are_our_mistake(target: str, proxy: str | None) -> None:
    with pytest.raises(LocalProtocolError):
        plan_dial(target, proxy)


def invite(outbound: OutboundSettings, **kwargs: object) -> Request:
    built = build_invite(
        plan_dial("2002", PROXY),
        outbound=outbound,
        hotline_number="8000",
        local_host="192.0.2.1",
        via=via(),
        contact="sip:8000@192.0.2.1:5060",
        caller_id=str(kwargs.get("caller_id", "1001")),
        display_name="张三",
        sdp_offer=b"v=0\r\n",
        headers=(("X-Leg", "forward"),),
    )
    parsed = parse_message(built.serialize())  # what the far end reads
    assert isinstance(parsed, Request)
    return parsed


def test_invite_shows_the_caller_in_p_asserted_identity() -> None:
    req = invite(OutboundSettings(proxy=PROXY))
    assert req.method == "INVITE" and str(req.uri) == "sip:2002@trunk.example.net:5070;transport=tcp"
    assert req.headers.get("Route") is None
    assert req.cseq.seq == 1 and req.cseq.method == "INVITE"
    assert str(req.from_.uri) == "sip:8000@192.0.2.1" and req.from_.tag
    assert req.to.tag is None and req.to.uri == req.uri
    identity = req.headers.get("P-Asserted-Identity")
    assert identity is not None and "sip:1001@192.0.2.1" in identity and "张三" in identity
    assert req.headers.get("Diversion") == "<sip:8000@192.0.2.1>;reason=unconditional;counter=1"
    assert req.headers.get("Allow") == ALLOW_TEXT
    assert req.headers.get("X-Leg") == "forward"
    assert req.media_type == "application/sdp" and req.body == b"v=0\r\n"
    assert req.contact is not None and str(req.contact.uri) == "sip:8000@192.0.2.1:5060"


def test_invite_can_show_the_caller_in_from_without_diversion() -> None:
    req = invite(OutboundSettings(proxy=PROXY, caller_id="from", diversion=False))
    assert str(req.from_.uri) == "sip:1001@192.0.2.1" and req.from_.display_name == "张三"
    assert req.headers.get("P-Asserted-Identity") is None and req.headers.get("Diversion") is None


def test_each_invite_is_a_new_call() -> None:
    first, second = invite(OutboundSettings(proxy=PROXY)), invite(OutboundSettings(proxy=PROXY))
    assert first.call_id != second.call_id and first.from_.tag != second.from_.tag


def test_a_challenge_is_answered_with_a_new_invite_the_server_accepts() -> None:
    server = DigestServer("trunk", {"hotline": "s3cret"}.get, SECRET)
    original = invite(OutboundSettings(proxy=PROXY))
    for status, header, answer_header in (
        (401, "WWW-Authenticate", "Authorization"),
        (407, "Proxy-Authenticate", "Proxy-Authorization"),
    ):
        challenge = build_response(
            original, status, to_tag="x",
            headers=[(header, c.serialize()) for c in server.challenges(100.0)],
        )
        retry = invite_with_credentials(original, challenge, DigestClient("hotline", "s3cret"), via("z9hG4bKuac2"))
        assert retry is not None
        assert (retry.cseq.seq, retry.call_id, retry.body) == (2, original.call_id, original.body)
        assert retry.headers.get("Via") == str(via("z9hG4bKuac2"))
        value = retry.headers.get(answer_header)
        assert value is not None
        assert server.verify(Credentials.parse(value), "INVITE", 101.0, body=retry.body).ok


def test_no_usable_challenge_means_no_retry() -> None:
    original = invite(OutboundSettings(proxy=PROXY))
    basic = build_response(original, 401, to_tag="x", headers=[("WWW-Authenticate", 'Basic realm="x"')])
    assert invite_with_credentials(original, basic, DigestClient("hotline", "pw"), via()) is None


def test_transfer_and_dtmf_request_parts() -> None:
    assert refer_target("sip:2002@192.0.2.20", ("192.0.2.9", 5060)) == "sip:2002@192.0.2.20"
    assert refer_target("2002", ("192.0.2.9", 5080)) == "sip:2002@192.0.2.9:5080"
    assert refer_headers("sip:2002@192.0.2.9", "sip:8000@192.0.2.1") == [
        ("Refer-To", "<sip:2002@192.0.2.9>"), ("Referred-By", "<sip:8000@192.0.2.1>"),
    ]
    assert dtmf_info_body("#", 250) == b"Signal=#\r\nDuration=250\r\n"


def test_no_response_says_whether_it_timed_out() -> None:
    assert NoResponse(408, "timer B").timed_out
    assert not NoResponse(503, "connection refused").timed_out
