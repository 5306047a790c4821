"""Offer/answer (RFC 3264) for hotline's audio UA, driven by real equipment's offers."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest

from hotline.sip.offer_answer import (
    LocalSdpSession,
    SdpError,
    check_offer,
    make_offer,
    negotiate_answer,
    parse_answer,
)
from hotline.sip.sdp_wire import Connection, SessionDescription

DATA = Path(__file__).parent / "data"
class _Local(TypedDict):
    local_address: str
    local_port: int


LOCAL: _Local = {"local_address": "192.0.2.10", "local_port": 40000}


def body(name: str) -> bytes:
    return next(DATA.glob(f"{name}*.sdp")).read_bytes()


def edit(raw: bytes, *pairs: tuple[bytes, bytes]) -> bytes:
    """A variant of a real body; each replacement must apply, so tests cannot go stale."""
    for old, new in pairs:
        assert old in raw, old
        raw = raw.replace(old, new)
    return raw


def test_asterisk_offer_picks_first_common_codec_and_telephone_event() -> None:
    answer = negotiate_answer(body("001"), **LOCAL)
    media = answer.media
    assert (media.codec, media.payload_type, media.clock_rate) == ("PCMU", 0, 8000)
    assert media.telephone_event_pt == 101  # the 8000 Hz one, not 103 at 48000 Hz
    assert (media.remote_address, media.remote_port) == ("192.168.86.35", 13344)
    assert (media.ptime_ms, media.direction, media.on_hold) == (20, "sendrecv", False)
    sdp = SessionDescription.parse(answer.body)
    (audio,) = sdp.media
    assert (audio.port, audio.formats) == (40000, ("0", "101"))
    assert audio.fmtps == {101: "0-15"}  # the offer said 0-16; we only do the DTMF keys
    assert sdp.connection == Connection("IN", "IP4", "192.0.2.10")
    assert sdp.timing == SessionDescription.parse(body("001")).timing


def test_pcma_only_offer() -> None:
    raw = edit(body("002"), (b"RTP/AVP 0 8", b"RTP/AVP 8"), (b"a=rtpmap:0 PCMU/8000\r\n", b""))
    media = negotiate_answer(raw, **LOCAL).media
    assert (media.codec, media.payload_type) == ("PCMA", 8)
    assert media.telephone_event_pt is None


def test_our_codec_preference_is_not_the_order_used() -> None:
    # RFC 3264 §6.1: the answerer should take the offerer's preference order.
    media = negotiate_answer(body("002"), supported_codecs=("PCMA", "PCMU"), **LOCAL).media
    assert media.codec == "PCMU"
    only_a = negotiate_answer(body("002"), supported_codecs=("PCMA",), **LOCAL).media
    assert (only_a.codec, only_a.payload_type) == ("PCMA", 8)


def test_static_payload_types_without_rtpmap() -> None:
    # NexTone maps only G729; 0 and 8 are RFC 3551 static types.
    media = negotiate_answer(body("028"), supported_codecs=("PCMA",), **LOCAL).media
    assert (media.codec, media.payload_type) == ("PCMA", 8)


def test_dynamic_payload_type_for_pcmu_matched_by_name() -> None:
    raw = edit(
        body("002"),
        (b"RTP/AVP 0 8", b"RTP/AVP 98"),
        (b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", b"a=rtpmap:98 pcmu/8000\r\n"),
    )
    answer = negotiate_answer(raw, **LOCAL)
    assert (answer.media.codec, answer.media.payload_type) == ("PCMU", 98)
    assert b"a=rtpmap:98 PCMU/8000\r\n" in answer.body


def test_static_number_remapped_to_another_codec_is_not_taken_for_g711() -> None:
    raw = edit(body("002"), (b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:0 G722/16000"))
    assert negotiate_answer(raw, **LOCAL).media.codec == "PCMA"


def test_no_common_codec_is_488() -> None:
    raw = edit(
        body("006"),
        (b"RTP/AVP 114 9 113 115 0 8 116 18 101", b"RTP/AVP 114 9 113 18 101"),
    )
    with pytest.raises(SdpError) as caught:
        negotiate_answer(raw, **LOCAL)
    assert caught.value.status == 488
    assert "G729" in str(caught.value)


def test_srtp_only_offer_is_488() -> None:
    raw = edit(body("002"), (b"RTP/AVP", b"RTP/SAVP"))
    with pytest.raises(SdpError) as caught:
        negotiate_answer(raw, **LOCAL)
    assert caught.value.status == 488


@pytest.mark.parametrize("pt", [96, 101, 127])
def test_telephone_event_uses_the_offerers_payload_type(pt: int) -> None:
    raw = edit(
        body("005"),
        (b"RTP/AVP 0 101", b"RTP/AVP 0 %d" % pt),
        (b"a=rtpmap:101", b"a=rtpmap:%d" % pt),
        (b"a=fmtp:101", b"a=fmtp:%d" % pt),
    )
    answer = negotiate_answer(raw, **LOCAL)
    assert answer.media.telephone_event_pt == pt
    assert b"a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n" % (pt, pt) in answer.body


def test_telephone_event_can_be_declined() -> None:
    answer = negotiate_answer(body("001"), telephone_event=False, **LOCAL)
    assert answer.media.telephone_event_pt is None
    assert b"telephone-event" not in answer.body


def test_ptime_30_is_honoured() -> None:
    raw = edit(body("001"), (b"a=ptime:20", b"a=ptime:30"))
    answer = negotiate_answer(raw, **LOCAL)
    assert answer.media.ptime_ms == 30
    assert b"a=ptime:30\r\n" in answer.body


@pytest.mark.parametrize(
    ("ptime_line", "ours", "expected"),
    [(b"a=ptime:5", None, 10), (b"a=ptime:90", None, 60), (b"", 40, 40), (b"", None, 20)],
)
def test_ptime_bounds_and_default(ptime_line: bytes, ours: int | None, expected: int) -> None:
    raw = edit(body("033"), (b"a=ptime:20\r\n", ptime_line + b"\r\n" if ptime_line else b""))
    assert negotiate_answer(raw, ptime=ours, **LOCAL).media.ptime_ms == expected


def test_maxptime_caps_our_ptime() -> None:
    raw = edit(body("001"), (b"a=ptime:20\r\n", b""), (b"a=maxptime:60", b"a=maxptime:10"))
    assert negotiate_answer(raw, ptime=30, **LOCAL).media.ptime_ms == 10


def test_sendonly_hold_reinvite_is_answered_recvonly() -> None:
    session = LocalSdpSession()
    first = negotiate_answer(body("001"), session=session, **LOCAL)
    hold = negotiate_answer(body("d11"), session=session, **LOCAL)
    assert (hold.media.direction, hold.media.on_hold) == ("recvonly", True)
    assert not hold.media.sends and hold.media.receives
    assert b"a=recvonly\r\n" in hold.body
    # Same session id, version one higher (RFC 3264 §8).
    assert hold.sdp.origin.session_id == first.sdp.origin.session_id
    assert int(hold.sdp.origin.session_version) == int(first.sdp.origin.session_version) + 1
    unhold = negotiate_answer(body("001"), session=session, **LOCAL)
    assert (unhold.media.direction, unhold.media.on_hold) == ("sendrecv", False)
    assert int(unhold.sdp.origin.session_version) == int(first.sdp.origin.session_version) + 2


def test_identical_reanswer_keeps_the_version() -> None:
    session = LocalSdpSession()
    first = negotiate_answer(body("001"), session=session, **LOCAL)
    again = negotiate_answer(body("001"), session=session, **LOCAL)
    assert again.sdp.origin == first.sdp.origin


def test_inactive_hold() -> None:
    answer = negotiate_answer(body("d12"), **LOCAL)
    assert (answer.media.direction, answer.media.on_hold) == ("inactive", True)
    assert b"a=inactive\r\n" in answer.body


def test_recvonly_offer_is_answered_sendonly() -> None:
    raw = edit(body("001"), (b"a=sendrecv", b"a=recvonly"))
    answer = negotiate_answer(raw, **LOCAL)
    assert (answer.media.direction, answer.media.on_hold) == ("sendonly", False)


def test_our_own_direction_narrows_the_answer() -> None:
    answer = negotiate_answer(body("001"), direction="sendonly", **LOCAL)
    assert answer.media.direction == "sendonly"
    held = negotiate_answer(body("d11"), direction="sendonly", **LOCAL)
    assert held.media.direction == "inactive"


def test_rfc2543_hold_with_zero_address() -> None:
    raw = edit(body("001"), (b"c=IN IP4 192.168.86.35", b"c=IN IP4 0.0.0.0"))
    answer = negotiate_answer(raw, **LOCAL)
    assert answer.media.on_hold
    assert answer.media.remote_address == "0.0.0.0"
    assert answer.media.direction == "recvonly"
    assert not answer.media.sends


def test_rtcp_port_from_attribute_or_rtp_plus_one() -> None:
    assert negotiate_answer(body("001"), **LOCAL).media.rtcp_port == 13345
    raw = edit(body("001"), (b"a=sendrecv\r\n", b"a=sendrecv\r\na=rtcp:13400\r\n"))
    media = negotiate_answer(raw, **LOCAL).media
    assert (media.remote_rtcp_port, media.rtcp_port) == (13400, 13400)


def test_zero_address_wins_over_recvonly() -> None:
    # Never send RTP to 0.0.0.0, even if the attribute would let us.
    raw = edit(
        body("001"),
        (b"c=IN IP4 192.168.86.35", b"c=IN IP4 0.0.0.0"),
        (b"a=sendrecv", b"a=recvonly"),
    )
    media = negotiate_answer(raw, **LOCAL).media
    assert (media.direction, media.on_hold, media.sends) == ("inactive", True, False)


def test_ipv6_offer_gets_ipv6_answer() -> None:
    raw = edit(
        body("001"),
        (b"IN IP4 192.168.86.35\r\ns=", b"IN IP6 2001:db8::35\r\ns="),
        (b"c=IN IP4 192.168.86.35", b"c=IN IP6 2001:db8::35"),
    )
    answer = negotiate_answer(raw, local_address="2001:db8::10", local_port=40002)
    assert answer.media.remote_address == "2001:db8::35"
    sdp = SessionDescription.parse(answer.body)
    assert sdp.connection == Connection("IN", "IP6", "2001:db8::10")
    assert sdp.origin.addrtype == "IP6"


def test_media_level_connection_overrides_session_level() -> None:
    raw = edit(body("005"), (b"a=ptime:20\r\n", b"c=IN IP4 10.48.32.77\r\na=ptime:20\r\n"))
    assert SessionDescription.parse(raw).connection == Connection("IN", "IP4", "10.48.32.33")
    assert negotiate_answer(raw, **LOCAL).media.remote_address == "10.48.32.77"


def test_offer_without_any_connection_is_400() -> None:
    raw = edit(body("006"), (b"c=IN IP4 10.48.38.102\r\n", b""))
    with pytest.raises(SdpError) as caught:
        negotiate_answer(raw, **LOCAL)
    assert caught.value.status == 400


def test_video_stream_is_rejected_keeping_m_line_order() -> None:
    # RFC 4475 §3.3.15: audio (PCMU, QCELP) then video.
    answer = negotiate_answer(body("rfc4475"), **LOCAL)
    sdp = SessionDescription.parse(answer.body)
    assert [(m.media, m.port) for m in sdp.media] == [("audio", 40000), ("video", 0)]
    assert sdp.media[1].formats == ("31",)
    video_first = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=video 3227 RTP/AVP 31\r\n"
        b"m=audio 49217 RTP/AVP 97\r\na=rtpmap:97 telephone-event/8000\r\n"
        b"m=audio 49219 RTP/AVP 8\r\n"
    )
    sdp = negotiate_answer(video_first, **LOCAL).sdp
    assert [(m.media, m.port) for m in sdp.media] == [("video", 0), ("audio", 0), ("audio", 40000)]


def test_answer_round_trips() -> None:
    for name in ("001", "006", "025", "rfc4475"):
        answer = negotiate_answer(body(name), **LOCAL)
        assert SessionDescription.parse(answer.body) == answer.sdp


def test_quirky_ata_offer() -> None:
    media = negotiate_answer(body("025"), **LOCAL).media
    assert (media.codec, media.telephone_event_pt) == ("PCMU", 101)


# --------------------------------------------------------------------------- our offers


def test_make_offer_and_parse_cisco_style_answer() -> None:
    session = LocalSdpSession()
    offer = make_offer("192.0.2.10", 40000, ("PCMU", "PCMA"), session=session)
    audio = offer.media[0]
    assert audio.formats == ("0", "8", "101")
    assert (audio.ptime, audio.direction) == (20, "sendrecv")
    assert audio.fmtps == {101: "0-15"}
    # The CUCM answer of the corpus (PCMU + 101, sendonly).
    media = parse_answer(offer, body("005"))
    assert (media.codec, media.payload_type, media.telephone_event_pt) == ("PCMU", 0, 101)
    assert (media.remote_address, media.remote_port) == ("10.48.32.33", 4000)
    assert (media.direction, media.on_hold) == ("recvonly", True)


def test_make_offer_reoffer_bumps_version() -> None:
    session = LocalSdpSession()
    first = make_offer("192.0.2.10", 40000, session=session)
    hold = make_offer("192.0.2.10", 40000, direction="sendonly", session=session)
    assert hold.origin.session_id == first.origin.session_id
    assert int(hold.origin.session_version) == int(first.origin.session_version) + 1


def test_parse_answer_with_our_own_answerer() -> None:
    offer = make_offer("192.0.2.10", 40000, ("PCMA",), telephone_event_pt=96, ptime=30)
    answer = negotiate_answer(offer, local_address="198.51.100.7", local_port=30000)
    media = parse_answer(offer, answer.sdp)
    assert (media.codec, media.payload_type, media.telephone_event_pt) == ("PCMA", 8, 96)
    assert (media.ptime_ms, media.direction, media.on_hold) == (30, "sendrecv", False)
    assert (media.remote_address, media.remote_port) == ("198.51.100.7", 30000)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"m=audio 0 RTP/AVP 0\r\n", 488),
        (b"m=audio 5000 RTP/AVP 18\r\n", 400),
        (b"m=audio 5000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n", 400),
    ],
)
def test_parse_answer_rejects_bad_answers(answer: bytes, status: int) -> None:
    offer = make_offer("192.0.2.10", 40000)
    head = b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
    with pytest.raises(SdpError) as caught:
        parse_answer(offer, head + answer)
    assert caught.value.status == status


def test_make_offer_rejects_our_own_mistakes() -> None:
    with pytest.raises(ValueError, match="G729"):
        make_offer("192.0.2.10", 40000, ("G729",))
    with pytest.raises(ValueError, match="ptime"):
        make_offer("192.0.2.10", 40000, ptime=5)


@pytest.mark.parametrize("codecs", [("PCMU", "PCMA"), ("PCMA",), ("PCMU",)])
@pytest.mark.parametrize(
    "edits",
    [(), ((b"m=audio", b"m=video"),), ((b"RTP/AVP", b"RTP/SAVP"),), ((b"c=IN", b"x=IN"),)],
)
def test_check_offer_refuses_exactly_what_negotiate_answer_refuses(
    codecs: tuple[str, ...], edits: tuple[tuple[bytes, bytes], ...]
) -> None:
    """The endpoint turns an INVITE away with check_offer; make_answer must then agree."""
    outcomes: list[int | None] = []
    for path in sorted(DATA.glob("*.sdp")):
        try:
            raw = path.read_bytes()
            for old, new in edits:
                raw = raw.replace(old, new)
            offer = SessionDescription.parse(raw)
        except SdpError:
            continue
        results: list[int | None] = []
        for check in (
            lambda o: check_offer(o, supported_codecs=codecs),
            lambda o: negotiate_answer(o, local_address="192.0.2.1", local_port=4000, supported_codecs=codecs),
        ):
            try:
                check(offer)
                results.append(None)
            except SdpError as exc:
                results.append(exc.status)
        assert results[0] == results[1], path.name
        outcomes.append(results[0])
    assert outcomes  # the corpus was read
