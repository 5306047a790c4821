"""URI, header and message unit tests, the stream framer, the factory and property tests."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.headers import CSeq, NameAddr, Via, canonical_name, split_header_list
from hotline.sip.message import (
    Headers,
    Request,
    Response,
    StreamFramer,
    build_request,
    build_response,
    parse_message,
)
from hotline.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri

# -- URIs ---------------------------------------------------------------------------


def test_sip_uri_components() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?Subject=hi%20there")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password) == ("sips", "alice", "secret")
    assert (uri.host, uri.port) == ("[2001:db8::1]", 5061)
    assert uri.params == {"transport": "tls", "lr": None}
    assert uri.headers == {"Subject": "hi there"}
    assert uri.transport == "tls"
    assert str(uri) == "sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?Subject=hi%20there"


def test_tel_and_absolute_uri() -> None:
    tel = parse_uri("tel:+86-10-5878-1234;phone-context=+86")
    assert isinstance(tel, TelUri) and tel.number == "+86-10-5878-1234"
    assert tel.param("PHONE-CONTEXT") == "+86"
    assert str(tel) == "tel:+86-10-5878-1234;phone-context=+86"
    urn = parse_uri("urn:service:sos")
    assert isinstance(urn, AbsoluteUri) and str(urn) == "urn:service:sos"


@pytest.mark.parametrize(
    "text",
    ["sip:", "sip:user@", "sip:a b@c", "sip:host:99999", "sip:host:x", "sip:[::1", "nocolon",
     "sip:u@h;;lr", "sip:u%zz@h", "1sip:host"],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri(text)
    assert info.value.status == 400


def test_uri_escape_round_trip_is_exactly_once() -> None:
    uri = parse_uri("sip:value%2541@h")
    assert isinstance(uri, SipUri) and uri.user == "value%41"
    assert str(uri) == "sip:value%2541@h"


# -- headers ------------------------------------------------------------------------


def test_canonical_and_compact_names() -> None:
    assert canonical_name("v") == "Via"
    assert canonical_name("X") == "Session-Expires"
    assert canonical_name("r") == "Refer-To"
    assert canonical_name("b") == "Referred-By"
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("WWW-AUTHENTICATE") == "WWW-Authenticate"
    assert canonical_name("X-Custom-Thing") == "X-Custom-Thing"


def test_split_respects_quotes_and_brackets() -> None:
    value = '"Doe, John" <sip:a@b;x=1,2>;q=0.5, <sip:c@d>'
    assert split_header_list(value) == ['"Doe, John" <sip:a@b;x=1,2>;q=0.5', "<sip:c@d>"]
    with pytest.raises(RemoteProtocolError):
        split_header_list("<sip:a@b>,,<sip:c@d>")


def test_name_addr_round_trip_and_tag() -> None:
    na = NameAddr.parse('"A \\"quoted\\" name" <sip:a@example.com;lr>;tag=abc;expires=60')
    assert na.display_name == 'A "quoted" name'
    assert na.tag == "abc" and na.param("EXPIRES") == "60"
    assert NameAddr.parse(str(na)) == na
    assert na.with_tag("xyz").tag == "xyz" and na.tag == "abc"
    bare = NameAddr.parse("sip:b@example.com;tag=9")
    assert bare.tag == "9" and isinstance(bare.uri, SipUri) and bare.uri.params == {}
    assert str(bare) == "<sip:b@example.com>;tag=9"


@pytest.mark.parametrize(
    "text", ['"unterminated <sip:a@b>', "Bell, Alexander <sip:a@b>", "<sip:a@b", "sip:a@b?x=y",
             "", '"x" sip:a@b']
)
def test_bad_name_addr(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        NameAddr.parse(text)
    assert info.value.status == 400


def test_via_params() -> None:
    via = Via.parse("SIP/2.0/udp 192.0.2.1:5070;branch=z9hG4bKx;rport;received=1.2.3.4;ttl=16")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5070)
    assert via.branch == "z9hG4bKx" and via.rfc3261_branch
    assert via.has_rport and via.rport is None
    assert via.received == "1.2.3.4" and via.ttl == 16
    via.set_param("rport", "5071")
    assert via.rport == 5071
    assert str(via) == (
        "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKx;rport=5071;received=1.2.3.4;ttl=16"
    )
    v6 = Via.parse("SIP/2.0/TCP [2001:db8::9]:5060;maddr=224.2.0.1")
    assert (v6.host, v6.port, v6.maddr) == ("[2001:db8::9]", 5060, "224.2.0.1")
    with pytest.raises(RemoteProtocolError) as info:
        Via.parse("SIP/3.0/UDP host")
    assert info.value.status == 505


def test_cseq_limits() -> None:
    assert CSeq.parse("4294967295 BYE") == CSeq(2**32 - 1, "BYE")
    for bad in ("4294967296 BYE", "-1 BYE", "1", "1 BYE x", "x BYE"):
        with pytest.raises(RemoteProtocolError):
            CSeq.parse(bad)


def test_headers_multimap() -> None:
    h = Headers([("v", "a"), ("Route", "r1"), ("VIA", "b"), ("Route", "r2")])
    assert h.get_all("via") == ["a", "b"]
    assert h.get("V") == "a"
    h.set("Via", "c")
    assert list(h) == [("Via", "c"), ("Route", "r1"), ("Route", "r2")]
    h.remove("route")
    assert list(h) == [("Via", "c")]
    assert "via" in h and "Route" not in h


# -- factory ------------------------------------------------------------------------


def make_invite() -> Request:
    return build_request(
        "INVITE",
        "sip:8001@hotline.example.com",
        from_='"Zhang Wei" <sip:1001@pbx.example.com>;tag=f1',
        to="<sip:8001@hotline.example.com>",
        call_id="abc@192.0.2.10",
        cseq=7,
        via=[Via.parse("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone"),
             Via.parse("SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKtwo")],
        contact="<sip:1001@192.0.2.10>",
        body=b"v=0\r\n",
        content_type="application/sdp",
    )


def test_build_request_parses_back() -> None:
    inv = make_invite()
    again = parse_message(inv.serialize())
    assert isinstance(again, Request)
    assert again.method == "INVITE" and again.cseq == CSeq(7, "INVITE")
    assert again.max_forwards == 70
    assert again.body == b"v=0\r\n" and again.headers.get("Content-Length") == "5"


def test_build_response_copies_per_8_2_6() -> None:
    inv = make_invite()
    ok = build_response(inv, 200, to_tag="t9", body=b"v=0\r\n")
    assert ok.reason == "OK"
    assert ok.headers.get_all("Via") == inv.headers.get_all("Via")
    assert ok.from_ == inv.from_ and ok.call_id == inv.call_id and ok.cseq == inv.cseq
    assert ok.to.tag == "t9"
    trying = build_response(inv, 100, to_tag="t9")
    assert trying.to.tag is None and trying.reason == "Trying"
    in_dialog = build_response(parse_message(ok.serialize()) and _with_to_tag(inv, "old"), 200,
                               to_tag="new")
    assert in_dialog.to.tag == "old"
    with pytest.raises(LocalProtocolError):
        build_response(inv, 700)


def _with_to_tag(req: Request, tag: str) -> Request:
    req.headers.set("To", str(req.to.with_tag(tag)))
    return req


def test_serialize_fixes_wrong_content_length() -> None:
    inv = make_invite()
    inv.headers.set("Content-Length", "999")
    inv.headers.add("Content-Length", "3")
    wire = inv.serialize()
    assert wire.count(b"Content-Length:") == 1 and b"Content-Length: 5\r\n" in wire


# -- datagram edge cases ----------------------------------------------------------------


def test_leading_crlf_and_trailing_octets_ignored() -> None:
    data = b"\r\n\r\n" + make_invite().serialize() + b"garbage"
    msg = parse_message(data)
    assert isinstance(msg, Request) and msg.body == b"v=0\r\n"


def test_bare_lf_and_mixed_line_ends_parse_like_crlf() -> None:
    wire = make_invite().serialize()
    head, _, body = wire.partition(b"\r\n\r\n")
    expected = parse_message(wire)
    lines = head.split(b"\r\n")
    mixed = b"".join(line + (b"\n" if i % 2 else b"\r\n") for i, line in enumerate(lines))
    for variant in (head.replace(b"\r\n", b"\n") + b"\n\n" + body, mixed + b"\r\n" + body):
        msg = parse_message(variant)
        assert list(msg.headers) == list(expected.headers) and msg.body == expected.body
    folded = head.replace(b"\r\nTo:", b"\r\nSubject: a\n  folded\r\n line\r\nTo:") + b"\r\n\r\n" + body
    assert parse_message(folded).headers.get("Subject") == "a folded line"


def test_too_large_is_413() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(make_invite().serialize(), max_size=100)
    assert info.value.status == 413


def test_body_may_hold_nul_and_bare_cr() -> None:
    inv = make_invite()
    inv.body = b"\x00\rabc\r\n\x00"
    again = parse_message(inv.serialize())
    assert again.body == b"\x00\rabc\r\n\x00"


# -- stream framer --------------------------------------------------------------------


def test_framer_splits_and_waits() -> None:
    wire = make_invite().serialize()
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n" + wire[:10]) == []
    out = framer.feed(wire[10:] + b"\r\n" + wire + wire[:-3])
    assert len(out) == 2 and all(isinstance(m, Request) for m in out)
    assert framer.buffered == len(wire) - 3
    [last] = framer.feed(wire[-3:])
    assert last.body == b"v=0\r\n" and framer.buffered == 0


def test_framer_requires_content_length() -> None:
    inv = make_invite()
    wire = inv.serialize().replace(b"Content-Length: 5\r\n", b"")
    framer = StreamFramer()
    with pytest.raises(RemoteProtocolError) as info:
        framer.feed(wire)
    assert info.value.status == 400 and info.value.close_connection
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"\r\n")  # stays broken


def test_framer_size_limit() -> None:
    framer = StreamFramer(max_size=200)
    with pytest.raises(RemoteProtocolError) as info:
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: " + b"y" * 300)
    assert info.value.status == 413 and info.value.close_connection


# -- properties -----------------------------------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.!%*_+`'~", min_size=1,
                 max_size=12)
_host = st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
_user = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1, max_size=10)
_display = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\r\n"),
                                        max_size=12))


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    from_ = NameAddr(
        uri=SipUri(
            host=draw(_host), user=draw(_user), port=draw(st.none() | st.integers(1, 65535))
        ),
        display_name=draw(_display),
        params={"tag": draw(_token)},
    )
    to = NameAddr(uri=SipUri(host=draw(_host), user=draw(_user)), display_name=draw(_display))
    method = draw(st.sampled_from(["INVITE", "BYE", "OPTIONS", "X-" + draw(_token)]))
    vias = [
        Via(transport=draw(st.sampled_from(["UDP", "TCP", "TLS"])), host=draw(_host),
            params={"branch": "z9hG4bK" + draw(_token)})
        for _ in range(draw(st.integers(1, 3)))
    ]
    req = build_request(
        method,
        SipUri(host=draw(_host), user=draw(_user), params={draw(_token): draw(st.none() | _token)}),
        from_=from_, to=to, call_id=draw(_token) + "@" + draw(_host),
        cseq=draw(st.integers(0, 2**32 - 1)), via=vias, body=draw(st.binary(max_size=40)),
        headers=[("X-" + draw(_token), draw(_token))],
    )
    if draw(st.booleans()):
        return req
    return build_response(req, draw(st.integers(100, 699)), to_tag=draw(_token))


@settings(max_examples=150, deadline=None)
@given(messages())
def test_property_serialize_parse_round_trip(msg: Request | Response) -> None:
    again = parse_message(msg.serialize())
    assert type(again) is type(msg)
    assert again.from_ == msg.from_ and again.to == msg.to
    assert again.call_id == msg.call_id and again.cseq == msg.cseq
    assert [str(v) for v in again.vias] == [str(v) for v in msg.vias]
    assert again.body == msg.body
    if isinstance(msg, Request):
        assert isinstance(again, Request) and again.uri == msg.uri
    else:
        assert isinstance(again, Response) and again.status == msg.status


_SEED = make_invite().serialize()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_property_arbitrary_bytes_only_remote_errors(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_message(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SEED) - 1), st.binary(min_size=1, max_size=4), st.booleans())
def test_property_mutated_message_only_remote_errors(pos: int, junk: bytes, insert: bool) -> None:
    data = _SEED[:pos] + junk + _SEED[pos + (0 if insert else len(junk)) :]
    try:
        msg = parse_message(data)
        for attr in ("contacts", "route", "record_route", "vias", "from_", "to", "cseq"):
            getattr(msg, attr)
        StreamFramer().feed(data)
    except RemoteProtocolError:
        pass


def test_response_type_helpers() -> None:
    r = Response(status=180, reason="Ringing")
    assert r.is_provisional and not r.is_success


_FIELDS = ["Via", "From", "To", "CSeq", "Call-ID", "Contact", "Max-Forwards", "Route",
           "Record-Route", "Content-Length", "l", "v", "m"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_FIELDS),
       st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40),
       st.booleans())
def test_property_any_header_value_only_remote_errors(name: str, value: str, add: bool) -> None:
    inv = make_invite()
    if add:
        inv.headers.add(name, value)
    else:
        inv.headers.set(name, value)
    data = inv.serialize()
    with contextlib.suppress(RemoteProtocolError):
        msg = parse_message(data)
        for attr in ("contacts", "route", "record_route", "vias", "from_", "to", "cseq",
                     "max_forwards", "top_via", "branch"):
            getattr(msg, attr)
        for via in msg.vias:
            _ = (via.rport, via.ttl, via.sent_by, via.rfc3261_branch)


def test_display_name_control_characters_are_quoted_pairs() -> None:
    na = NameAddr(uri=SipUri(host="h"), display_name='a"b\\c\x07d\re')
    assert str(na) == '"a\\"b\\\\c\\\x07d e" <sip:h>'
    assert NameAddr.parse(str(na)).display_name == 'a"b\\c\x07d e'


def test_keepalive_detection() -> None:
    from hotline.sip.message import is_keepalive

    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n")
    assert not is_keepalive(b"") and not is_keepalive(make_invite().serialize())


def test_stamp_received_and_response_destination() -> None:
    from hotline.sip.message import response_destination, stamp_received

    inv = make_invite()
    inv.headers.set("Via", "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKnat;rport, "
                           "SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKtwo")
    stamp_received(inv, ("203.0.113.9", 40000))
    top = inv.top_via
    assert (top.received, top.rport) == ("203.0.113.9", 40000)
    assert [v.host for v in inv.vias] == ["10.0.0.5", "192.0.2.20"]
    reply = build_response(inv, 200, to_tag="t")
    assert response_destination(reply, ("203.0.113.9", 40000), reliable=False) == (
        "203.0.113.9", 40000
    )
    assert response_destination(reply, ("203.0.113.9", 40001), reliable=True) == (
        "203.0.113.9", 40001
    )
    plain = make_invite()
    stamp_received(plain, ("192.0.2.10", 5060))  # sent-by is the source: untouched
    assert plain.top_via.received is None
    assert response_destination(build_response(plain, 200), None, reliable=False) == (
        "192.0.2.10", 5060
    )
    plain.headers.set("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bKx;received=192.0.2.7")
    assert response_destination(build_response(plain, 200), None, reliable=False) == (
        "192.0.2.7", 5060
    )
    plain.headers.set("Via", "SIP/2.0/UDP a.example.com:5080;branch=z9hG4bKx;maddr=224.0.1.75")
    assert response_destination(build_response(plain, 200), None, reliable=False) == (
        "224.0.1.75", 5080
    )


def test_typed_parse_classmethods() -> None:
    wire = make_invite().serialize()
    assert Request.parse(wire).method == "INVITE"
    with pytest.raises(RemoteProtocolError):
        Response.parse(wire)
    reply = build_response(make_invite(), 404, to_tag="x").serialize()
    assert Response.parse(reply).status == 404
    with pytest.raises(RemoteProtocolError):
        Request.parse(reply)
