"""The parser against RFC 4475 torture messages and real equipment traces (tests/traces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.sip.errors import RemoteProtocolError
from hotline.sip.message import Request, Response, parse_message
from hotline.sip.uri import AbsoluteUri, SipUri

TRACES = Path(__file__).resolve().parents[2] / "traces"
RFC = TRACES / "rfc4475"


def load(name: str) -> Request | Response:
    return parse_message((TRACES / name).read_bytes())


def req(name: str) -> Request:
    msg = load(name)
    assert isinstance(msg, Request)
    return msg


def resp(name: str) -> Response:
    msg = load(name)
    assert isinstance(msg, Response)
    return msg


# -- RFC 4475 §3.1.1: valid messages, each with checks of what makes it tricky -------


def test_wsinv_folding_and_lws() -> None:
    m = req("rfc4475/3.1.1.1-wsinv.sip")
    assert m.method == "INVITE"
    assert m.headers.get("Subject") == ""  # "s :" compact, empty
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    vias = m.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.max_forwards == 68
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    [contact] = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue"
    assert contact.has_param("secondparam") and contact.param("secondparam") is None
    assert contact.param("q") == "0.33"
    [route] = m.route
    assert isinstance(route.uri, SipUri)
    assert route.uri.has_param("lr") and route.uri.param("unknownwith") == "value"
    assert route.uri.has_param("unknown-no-value")
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_intmeth_token_punctuation() -> None:
    m = req("rfc4475/3.1.1.2-intmeth.sip")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == "example.com"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.branch == "z9hG4bK-.!%66*_+`'~"


def test_esc01_escapes_decoded_once() -> None:
    m = req("rfc4475/3.1.1.3-esc01.sip")
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "sips:user@example.com"
    assert m.uri.host == "example.net"
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "user"
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "I have spaces"
    [contact] = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}  # not "valueA"
    assert str(contact.uri) == "sip:caller@host5.example.net;lr;name=value%2541"


def test_escnull_keeps_nul_and_two_contacts() -> None:
    m = req("rfc4475/3.1.1.4-escnull.sip")
    assert isinstance(m.to.uri, SipUri) and m.to.uri.user == "null-\x00-null"
    users = [c.uri.user for c in m.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]
    assert str(m.contacts[1].uri) == "sip:%00%00@host5.example.com"


def test_esc02_percent_not_an_escape() -> None:
    m = req("rfc4475/3.1.1.5-esc02.sip")
    assert m.method == "RE%47IST%45R"
    assert m.to.display_name == "%Z%45"
    assert len(m.contacts) == 2  # C%6Fntact is another header
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_token_display_name_glued_to_bracket() -> None:
    m = req("rfc4475/3.1.1.6-lwsdisp.sip")
    assert m.from_.display_name == "caller"
    assert m.from_.tag == "323"


def test_longreq_long_values() -> None:
    m = req("rfc4475/3.1.1.7-longreq.sip")
    assert len(m.vias) > 30
    assert len(m.from_.tag or "") > 100
    assert (m.to.display_name or "").startswith("I have a user name of extremeextreme")
    assert isinstance(m.to.uri, SipUri) and m.to.uri.port == 6000
    assert len(m.call_id) > 100


def test_dblreq_ignores_trailing_invite() -> None:
    m = req("rfc4475/3.1.1.8-dblreq.sip")
    assert m.method == "REGISTER"
    assert m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def test_semiuri_user_with_semicolons() -> None:
    m = req("rfc4475/3.1.1.9-semiuri.sip")
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "user;par=u@example.net"
    assert m.uri.host == "example.com" and m.uri.params == {}
    assert len([x for v in m.headers.get_all("Accept") for x in v.split(",")]) == 6


def test_transports_unknown_tokens() -> None:
    m = req("rfc4475/3.1.1.10-transports.sip")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_body() -> None:
    m = req("rfc4475/3.1.1.11-mpart01.sip")
    assert int(m.headers.get("Content-Length") or 0) == len(m.body)
    assert b"\x00" in m.body or b"\r" in m.body.replace(b"\r\n", b"")
    assert m.media_type == "multipart/mixed"
    assert m.body.rstrip().endswith(b"--7a9cbec02ceef655--")


def test_unreason_utf8_reason() -> None:
    m = resp("rfc4475/3.1.1.12-unreason.sip")
    assert m.status == 200
    assert m.reason.startswith("= 2**3 * 5**2 но сто девяносто девять")


def test_noreason_empty_reason() -> None:
    m = resp("rfc4475/3.1.1.13-noreason.sip")
    assert (m.status, m.reason) == (100, "")


# -- RFC 4475 §3.1.2: invalid messages and the status we answer with ----------------

INVALID = {
    "3.1.2.1-badinv01.sip": 400,  # ";;,;,," in Via
    "3.1.2.2-clerr.sip": 400,  # Content-Length larger than the datagram
    "3.1.2.3-ncl.sip": 400,  # negative Content-Length
    "3.1.2.4-scalar02.sip": 400,  # CSeq > 2**32-1
    "3.1.2.5-scalarlg.sip": 400,  # response: status is nominal, the caller drops it
    "3.1.2.6-quotbal.sip": 400,  # unterminated quote
    "3.1.2.7-ltgtruri.sip": 400,  # <> around the Request-URI
    "3.1.2.8-lwsruri.sip": 400,  # LWS inside the Request-URI
    "3.1.2.9-lwsstart.sip": 400,  # decided: no liberal extra SP in the request line
    "3.1.2.10-trws.sip": 400,  # decided: no trailing SP in the request line
    "3.1.2.11-escruri.sip": 400,  # decided: headers in the Request-URI are rejected
    "3.1.2.15-baddn.sip": 400,  # unquoted display name with ","
    "3.1.2.16-badvers.sip": 505,
    "3.1.2.17-mismatch01.sip": 400,
    "3.1.2.18-mismatch02.sip": 501,  # unknown method NEWMETHOD with CSeq INVITE
    "3.1.2.19-bigcode.sip": 400,  # response code 4294967301: dropped
    "3.3.1-insuf.sip": 400,  # no To/From/Call-ID
    "3.3.8-multi01.sip": 400,  # repeated single-value headers
    "3.3.9-mcl01.sip": 400,  # conflicting Content-Length
    "x-test.sip": 400,  # no SIP version, header without colon
}


@pytest.mark.parametrize(("name", "status"), sorted(INVALID.items()))
def test_invalid_rfc4475_rejected_with_status(name: str, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message((RFC / name).read_bytes())
    assert info.value.status == status


def test_content_length_errors_close_stream() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message((RFC / "3.1.2.3-ncl.sip").read_bytes())
    assert info.value.close_connection


def test_baddate_accepted_date_ignored() -> None:
    # Decided: the Date header is not interpreted, so a bad zone does not matter.
    m = req("rfc4475/3.1.2.12-baddate.sip")
    assert m.headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_regbadct_contact_rejected_on_use() -> None:
    # The message frames fine; the Contact (bare addr-spec with "?") is a 400 when read.
    m = req("rfc4475/3.1.2.13-regbadct.sip")
    with pytest.raises(RemoteProtocolError) as info:
        _ = m.contacts
    assert info.value.status == 400


def test_badaspec_spaces_in_brackets_tolerated() -> None:
    m = req("rfc4475/3.1.2.14-badaspec.sip")
    assert isinstance(m.to.uri, SipUri) and m.to.uri.host == "example.org"
    assert m.to.display_name == "Watson, Thomas"
    assert m.from_.display_name == "Bell, Alexander"


# -- RFC 4475 §3.2-3.4: syntactically valid, for the layers above ---------------------


def test_badbranch_bare_cookie_parses() -> None:
    m = req("rfc4475/3.2.1-badbranch.sip")
    assert m.branch == "z9hG4bK"
    assert not m.top_via.rfc3261_branch


def test_unknown_schemes_are_kept() -> None:
    m = req("rfc4475/3.3.2-unkscm.sip")
    assert isinstance(m.uri, AbsoluteUri)
    assert str(m.uri) == "nobodyKnowsThisScheme:totallyopaquecontent"
    m = req("rfc4475/3.3.3-novelsc.sip")
    assert isinstance(m.uri, AbsoluteUri) and m.uri.scheme == "soap.beep"
    m = req("rfc4475/3.3.4-unksm2.sip")
    assert str(m.to.uri) == "isbn:2983792873"
    assert str(m.from_.uri) == "http://www.example.com"
    assert [str(c.uri) for c in m.contacts] == ["name:John_Smith"]


def test_bcast_response_has_two_vias() -> None:
    m = resp("rfc4475/3.3.10-bcast.sip")
    assert [v.host for v in m.vias] == ["192.0.2.198", "255.255.255.255"]


def test_zeromf() -> None:
    assert req("rfc4475/3.3.11-zeromf.sip").max_forwards == 0


def test_cparam_header_vs_uri_parameter() -> None:
    [c1] = req("rfc4475/3.3.12-cparam01.sip").contacts
    assert c1.has_param("unknownparam")
    assert isinstance(c1.uri, SipUri) and not c1.uri.has_param("unknownparam")
    [c2] = req("rfc4475/3.3.13-cparam02.sip").contacts
    assert not c2.has_param("unknownparam")
    assert isinstance(c2.uri, SipUri) and c2.uri.has_param("unknownparam")


def test_regescrt_escaped_route_header_in_contact() -> None:
    [c] = req("rfc4475/3.3.14-regescrt.sip").contacts
    assert isinstance(c.uri, SipUri)
    assert c.uri.headers == {"Route": "<sip:sip.example.com>"}
    assert str(c.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_inv2543_accepted() -> None:
    m = req("rfc4475/3.4.1-inv2543.sip")
    assert m.max_forwards is None
    assert m.branch is None and m.from_.tag is None
    assert m.body.startswith(b"v=0")  # no Content-Length: rest of the datagram


@pytest.mark.parametrize(
    "name",
    [
        "3.1.1.1-wsinv.sip", "3.1.1.2-intmeth.sip", "3.1.1.3-esc01.sip",
        "3.1.1.4-escnull.sip", "3.1.1.5-esc02.sip", "3.1.1.6-lwsdisp.sip",
        "3.1.1.7-longreq.sip", "3.1.1.8-dblreq.sip", "3.1.1.9-semiuri.sip",
        "3.1.1.10-transports.sip", "3.1.1.11-mpart01.sip", "3.1.1.12-unreason.sip",
        "3.1.1.13-noreason.sip", "3.2.1-badbranch.sip", "3.3.2-unkscm.sip",
        "3.3.3-novelsc.sip", "3.3.4-unksm2.sip", "3.3.5-bext01.sip", "3.3.6-invut.sip",
        "3.3.7-regaut01.sip", "3.3.10-bcast.sip", "3.3.11-zeromf.sip",
        "3.3.12-cparam01.sip", "3.3.13-cparam02.sip", "3.3.14-regescrt.sip",
        "3.3.15-sdp01.sip", "3.4.1-inv2543.sip",
    ],
)
def test_valid_rfc4475_round_trips(name: str) -> None:
    check_round_trip(RFC / name)


# -- real equipment and derived fixtures ---------------------------------------------

REAL = sorted((TRACES / "real").glob("*.sip")) + sorted((TRACES / "derived").glob("*.sip"))
assert len(REAL) >= 30, "the real and derived SIP traces are missing: the parametrised tests would test nothing"


def check_round_trip(path: Path) -> None:
    first = parse_message(path.read_bytes())
    wire = first.serialize()
    second = parse_message(wire)
    assert type(second) is type(first)
    assert second.call_id == first.call_id
    assert second.cseq == first.cseq
    assert second.from_ == first.from_ and second.to == first.to
    assert [str(v) for v in second.vias] == [str(v) for v in first.vias]
    assert second.record_route == first.record_route
    assert second.route == first.route
    assert second.body == first.body
    def no_length(msg: Request | Response) -> list[tuple[str, str]]:
        return [(n, v) for n, v in msg.headers if n != "Content-Length"]

    assert no_length(second) == no_length(first)
    assert second.headers.get("Content-Length") == str(len(first.body))
    if isinstance(first, Request):
        assert isinstance(second, Request)
        assert (second.method, str(second.uri)) == (first.method, str(first.uri))
    else:
        assert isinstance(second, Response)
        assert (second.status, second.reason) == (first.status, first.reason)
    # A second pass is byte-stable.
    assert second.serialize() == wire


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_message_parses_and_round_trips(path: Path) -> None:
    check_round_trip(path)
    msg = parse_message(path.read_bytes())
    _ = msg.contacts  # every real Contact is readable


def test_002_record_route_and_vias() -> None:
    m = req("real/002-kr-carrier-trunk-invite-record-route.sip")
    assert [str(r.uri) for r in m.record_route] == ["sip:203.0.113.47;lr"]
    assert [v.host for v in m.vias] == ["203.0.113.47", "198.51.100.227"]
    assert m.uri == SipUri(host="0.0.0.0", user="07012345678", port=5060, params={"user": "phone"})


def test_repeated_record_route_order_kept() -> None:
    m = resp("real/022-avaya-session-manager-200.sip")
    hosts = [(r.uri.host, r.uri.port) for r in m.record_route if isinstance(r.uri, SipUri)]
    assert hosts == [
        ("10.224.51.62", None), ("127.0.0.2", 15060), ("127.0.0.2", 15060), ("10.224.51.62", None)
    ]
    first = m.record_route[0].uri
    assert isinstance(first, SipUri) and first.user == "Session Manager A"
    assert [r.uri.param("transport") for r in m.record_route if isinstance(r.uri, SipUri)] == [
        "TCP", "tcp", "udp", None,
    ]


def test_comma_joined_via_and_record_route() -> None:
    m = resp("real/020-tmobile-mavenir-300-emergency.sip")
    assert [v.host for v in m.vias] == ["10.68.103.193", "10.68.101.167", "10.166.226.87"]
    assert len(m.record_route) == 3
    assert str(m.to.uri) == "urn:service:sos"
    [c] = m.contacts
    assert isinstance(c.uri, SipUri)
    assert c.uri.headers == {"P-Asserted-Identity": "sip:+13125550178;cpc=emergency;user=phone"}


def test_012_compact_headers() -> None:
    m = resp("real/012-freeswitch-200-register-compact-headers.sip")
    assert m.call_id == "4_723949779@10.6.1.14"
    assert m.from_.display_name == "201 T2" and m.to.tag == "pc1ev197NtQBc"
    assert m.top_via.rport == 5060
    [c] = m.contacts
    assert c.param("expires") == "1800"
    assert m.headers.get("Supported") == "timer,path,replaces"
    assert m.headers.get("k") == "timer,path,replaces"
    assert b"\r\nVia: SIP/2.0/UDP" in m.serialize()  # canonical long names on output


def test_033_chinese_display_names_and_tag_inside_brackets() -> None:
    m = resp("real/033-cn-dispatch-200-chinese-display-names.sip")
    assert m.to.display_name == "被叫方名字"
    assert m.from_.display_name == "呼叫方名字"
    assert m.to.tag is None  # the tag is a URI parameter here
    assert isinstance(m.to.uri, SipUri) and m.to.uri.param("tag") == "ENVNTODUZJ"
    [c] = m.contacts  # "sip: 172.17.2.2:5060"
    assert isinstance(c.uri, SipUri) and (c.uri.host, c.uri.port) == ("172.17.2.2", 5060)
    assert m.top_via.received == "172.17.3.2" and m.top_via.rport == 5060


def test_d07_utf8_display_name() -> None:
    assert req("derived/d07-cn-extension-utf8-display.sip").from_.display_name is not None
    name = req("derived/d07-cn-extension-utf8-display.sip").from_.display_name or ""
    assert all("\u4e00" <= ch <= "\u9fff" for ch in name) and name


def test_d08_gbk_display_name_survives() -> None:
    raw = (TRACES / "derived/d08-cn-extension-gbk-display.sip").read_bytes()
    m = req("derived/d08-cn-extension-gbk-display.sip")
    name = m.from_.display_name or ""
    assert name.encode("utf-8", "surrogateescape").decode("gbk") == "张伟"
    assert b'"\xd5\xc5\xce\xb0"' in m.serialize() and b'"\xd5\xc5\xce\xb0"' in raw


def test_016_to_param_after_tag() -> None:
    m = req("real/016-fritzbox7590-ack-to-header-param.sip")
    assert m.to.tag == "L-zcs8hZZRoygcGMaSbbhW2O8hvOB95o"
    assert m.to.has_param("+sip.ice")
    assert isinstance(m.from_.uri, SipUri) and m.from_.uri.user == "**610"


def test_017_quoted_contact_param_kept() -> None:
    [c] = req("real/017-baresip-register-sha256-tcp.sip").contacts
    assert c.param("+sip.instance") == '"<urn:uuid:9b21c1a8-dc58-a3d6-83d5-7be67cbe70ce>"'
    assert c.param("reg-id") == "1"


def test_031_unquoted_plus_display_and_bare_to_with_tag() -> None:
    m = resp("real/031-msc-vc510-200-unquoted-plus-display.sip")
    assert m.from_.display_name == "Blue Face"
    assert m.contacts[0].display_name == "+3535xxx"
    assert m.to.tag == "MTHf2-ol1Yn0"
    assert len(m.record_route) == 2


def test_023_from_without_tag() -> None:
    m = req("real/023-cisco7960-ack-rpid-no-from-tag.sip")
    assert m.from_.tag is None and m.from_.display_name == "dev"


def test_040_hostless_refer_to() -> None:
    m = req("real/040-sipdroid-refer-hostless-refer-to.sip")
    assert m.headers.get("r") == "<sip:2002>"
