"""SDP wire format: parsing real bodies, serialising, and failing cleanly on garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.offer_answer import negotiate_answer
from hotline.sip.sdp_wire import (
    Attribute,
    Connection,
    RtpMap,
    SdpError,
    SessionDescription,
)

DATA = Path(__file__).parent / "data"
BODIES = sorted(DATA.glob("*.sdp"))
assert len(BODIES) >= 10, f"no SDP bodies under {DATA}: the parametrised tests would test nothing"


def body(name: str) -> bytes:
    return next(DATA.glob(f"{name}*.sdp")).read_bytes()


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.stem)
def test_real_bodies_round_trip_byte_exact(path: Path) -> None:
    raw = path.read_bytes()
    sdp = SessionDescription.parse(raw)
    assert sdp.serialize() == raw
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_asterisk_offer_fields() -> None:
    sdp = SessionDescription.parse(body("001"))
    assert sdp.origin.username == "-"
    assert sdp.origin.session_id == "1460456014"
    assert sdp.origin.address == "192.168.86.35"
    assert sdp.session_name == "Asterisk"
    assert sdp.connection == Connection("IN", "IP4", "192.168.86.35")
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 13344, "RTP/AVP")
    assert audio.payload_types == [0, 8, 107, 9, 3, 111, 101, 103]
    assert audio.rtpmaps[107] == RtpMap(107, "opus", 48000, 2)
    assert audio.rtpmaps[101] == RtpMap(101, "telephone-event", 8000)
    assert audio.fmtps == {101: "0-16", 103: "0-16"}
    assert (audio.ptime, audio.maxptime, audio.direction) == (20, 60, "sendrecv")
    # Attributes keep their wire order.
    assert [a.name for a in audio.attributes][:3] == ["rtpmap", "rtpmap", "rtpmap"]
    assert audio.attributes[-1] == Attribute("sendrecv")


def test_cisco_media_level_connection_and_bandwidth() -> None:
    sdp = SessionDescription.parse(body("006"))
    assert sdp.connection is None
    assert sdp.bandwidths == ("AS:4064",)
    (audio,) = sdp.media
    assert sdp.connection_for(audio) == Connection("IN", "IP4", "10.48.38.102")
    assert audio.bandwidths == ("TIAS:64000",)
    assert audio.fmtps[18] == "annexb=yes"


def test_duplicate_payload_type_first_rtpmap_wins() -> None:
    # The TA612V ATA lists 101 twice and maps it to telephone-event and to G726-24.
    audio = SessionDescription.parse(body("025")).media[0]
    assert audio.formats.count("101") == 2
    assert audio.payload_types == [0, 101, 18, 100, 2, 103, 8]
    assert audio.rtpmaps[101].encoding == "telephone-event"


def test_non_numeric_origin_ids_are_accepted() -> None:
    # Cisco 7960 firmware sends "o=Cisco-SIPUA (null) (null) ..."
    sdp = SessionDescription.parse(body("029"))
    assert sdp.origin.session_id == "(null)"
    assert sdp.media[0].port == 1


def test_unreadable_rtpmap_is_kept_raw_and_ignored() -> None:
    # RFC 4475 §3.3.15: "a=rtpmap:31 LPC" has no clock rate.
    sdp = SessionDescription.parse(body("rfc4475"))
    video = sdp.media[1]
    assert video.attributes == (Attribute("rtpmap", "31 LPC"),)
    assert video.rtpmaps == {}


def test_session_direction_is_the_default_for_media() -> None:
    raw = body("002").replace(b"a=sendrecv\r\n", b"")
    raw = raw.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
    sdp = SessionDescription.parse(raw)
    assert sdp.media[0].direction is None
    assert sdp.direction_for(sdp.media[0]) == "sendonly"
    plain = SessionDescription.parse(body("028"))
    assert plain.direction_for(plain.media[0]) == "sendrecv"


def test_ipv6_connection_and_rtcp_attribute() -> None:
    raw = (
        b"v=0\r\no=- 1 1 IN IP6 2001:db8::35\r\ns=-\r\nc=IN IP6 2001:db8::35\r\nt=0 0\r\n"
        b"m=audio 13344 RTP/AVP 0\r\na=rtcp:13347 IN IP6 2001:db8::36\r\n"
    )
    sdp = SessionDescription.parse(raw)
    assert sdp.connection == Connection("IN", "IP6", "2001:db8::35")
    port, conn = sdp.media[0].rtcp or (0, None)
    assert port == 13347
    assert conn == Connection("IN", "IP6", "2001:db8::36")


def test_lf_only_and_unknown_lines_and_serialisation_order() -> None:
    raw = (
        "v=0\no=- 7 7 IN IP4 192.0.2.1\ns=-\nt=0 0\na=tool:x\ny=0100000001\n"
        "c=IN IP4 192.0.2.1\nm=audio 5000 RTP/AVP 8\nf=v/2/25\na=recvonly\n"
    )
    sdp = SessionDescription.parse(raw)
    assert sdp.unknown_lines == ("y=0100000001",)
    assert sdp.media[0].unknown_lines == ("f=v/2/25",)
    # Written back with CRLF, c= moved to its RFC 4566 place, unknown lines last in section.
    assert sdp.serialize() == (
        b"v=0\r\no=- 7 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"a=tool:x\r\ny=0100000001\r\nm=audio 5000 RTP/AVP 8\r\na=recvonly\r\nf=v/2/25\r\n"
    )


def test_non_utf8_session_name_survives_round_trip() -> None:
    raw = body("002").replace(b"s=GP ARS 1.0", b"s=\xd5\xc5\xce\xb0")
    assert SessionDescription.parse(raw).serialize() == raw


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "v= line"),
        (b"o=- 1 1 IN IP4 192.0.2.1\r\n", "v= line"),
        (b"v=1\r\n", "version"),
        (b"v=0\r\ns=-\r\nt=0 0\r\n", "no o= line"),
        (b"v=0\r\no=- 1 IN IP4 192.0.2.1\r\ns=-\r\n", "o= needs 6"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n", "no s= line"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4\r\n", "c= needs 3"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 99999 RTP/AVP 0\r\n", "bad port"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 5000 RTP/AVP\r\n", "no formats"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nhello\r\n", "line 4"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=now\r\n", "t= needs"),
        (
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\ns=x\r\n",
            "inside a media",
        ),
    ],
)
def test_malformed_bodies_are_400_with_a_reason(raw: bytes, needle: str) -> None:
    with pytest.raises(SdpError) as caught:
        SessionDescription.parse(raw)
    assert caught.value.status == 400
    assert needle in str(caught.value)


_sdp_line = st.one_of(
    st.sampled_from(
        [
            "v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
            "m=audio 5000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15", "a=ptime:x", "a=sendonly", "m=video 0 RTP/AVP 31", "r=1 2",
        ]
    ),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_sdp_line, max_size=15), st.sampled_from(["\r\n", "\n"]))
def test_fuzz_only_sdp_error_escapes(lines: list[str], eol: str) -> None:
    raw = eol.join(lines)
    try:
        sdp = SessionDescription.parse(raw)
    except SdpError as exc:
        assert exc.status == 400
        return
    # Whatever parsed must survive a round trip and its accessors must not raise.
    assert SessionDescription.parse(sdp.serialize()) == sdp
    for media in sdp.media:
        _ = (media.rtpmaps, media.fmtps, media.ptime, media.rtcp, sdp.direction_for(media))
    # Negotiating on whatever parsed fails only with an SdpError that maps to a response.
    try:
        answer = negotiate_answer(sdp, local_address="192.0.2.10", local_port=40000)
    except SdpError as exc:
        assert exc.status in (400, 488)
    else:
        assert SessionDescription.parse(answer.body) == answer.sdp


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes(raw: bytes) -> None:
    try:
        SessionDescription.parse(b"v=0\r\n" + raw)
    except SdpError as exc:
        assert exc.status == 400
