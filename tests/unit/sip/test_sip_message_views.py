"""The parsed views of a message (From, To, CSeq, Via, Contact) are parsed once and kept
only while their header lines stay the same."""

from __future__ import annotations

from hotline.sip import message as message_module
from hotline.sip.headers import Via
from hotline.sip.message import Headers, Request, build_response, parse_message

INVITE = (
    b"INVITE sip:8001@192.0.2.1 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport, SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp\r\n"
    b"Via: SIP/2.0/TCP 203.0.113.5;branch=z9hG4bKp2\r\n"
    b"f: \"Anna\" <sip:1001@pbx.example.com>;tag=ft\r\n"
    b"t: <sip:8001@192.0.2.1>\r\n"
    b"i: c1@192.0.2.10\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"m: <sip:1001@192.0.2.10>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


def test_views_are_parsed_once_and_follow_changes() -> None:
    msg = invite()
    assert msg.from_ is msg.from_  # parsed once
    assert msg.from_.display_name == "Anna" and msg.cseq.seq == 7
    msg.headers.set("From", "<sip:2002@pbx.example.com>;tag=other")
    assert msg.from_.tag == "other" and msg.from_.display_name is None
    msg.headers.set("CSeq", "8 INVITE")
    assert msg.cseq.seq == 8
    msg.headers.add("Contact", "<sip:spare@192.0.2.10>")
    assert [str(c.uri) for c in msg.contacts] == ["sip:1001@192.0.2.10", "sip:spare@192.0.2.10"]
    msg.headers.remove("Contact")
    assert msg.contacts == [] and msg.contact is None
    # Other headers' views survive a change elsewhere.
    to = msg.to
    msg.headers.add("X-Anything", "1")
    assert msg.to is to


def test_lists_handed_out_are_copies() -> None:
    msg = invite()
    msg.vias.clear()
    msg.contacts.clear()
    assert len(msg.vias) == 3 and len(msg.contacts) == 1


def test_replace_top_via_keeps_the_rest_of_the_line_and_the_views() -> None:
    msg = invite()
    top = msg.top_via
    stamped = Via(top.transport, top.host, top.port, {**top.params, "received": "203.0.113.9"})
    msg.replace_top_via(stamped)
    assert msg.top_via is stamped and top.param("received") is None  # the old view is untouched
    assert msg.headers.get_all("Via") == [
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1;rport;received=203.0.113.9, "
        "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp",
        "SIP/2.0/TCP 203.0.113.5;branch=z9hG4bKp2",
    ]
    again = parse_message(msg.serialize())
    assert [str(v) for v in again.vias] == [str(v) for v in msg.vias]


def test_response_shares_the_requests_views_unless_overridden() -> None:
    msg = invite()
    msg.vias  # noqa: B018
    ok = build_response(msg, 200, to_tag="tt")
    assert ok.top_via is msg.top_via and ok.cseq is msg.cseq
    assert ok.to.tag == "tt" and msg.to.tag is None
    odd = build_response(msg, 200, headers=[("Via", "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKx")])
    assert [v.host for v in odd.vias] == ["192.0.2.10", "198.51.100.1", "203.0.113.5", "192.0.2.99"]
    assert parse_message(ok.serialize()).to.tag == "tt"


def test_header_name_cache_is_bounded() -> None:
    h = Headers()
    for n in range(5000):
        h.add(f"X-Scan-{n}", "1")
    assert len(message_module._NAMES) <= message_module._NAMES_MAX
    assert h.get("x-scan-4999") == "1" and len(h.get_all("X-SCAN-10")) == 1


def test_compact_forgets_views_and_they_come_back() -> None:
    msg = invite()
    from_ = msg.from_
    msg.headers.compact()
    assert msg.headers._parsed == {} and msg.headers._index is None
    assert msg.from_ == from_ and msg.from_ is not from_  # parsed again on demand
