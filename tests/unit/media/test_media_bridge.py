"""Bridging two legs: pass-through, transcoding, events, continuity with prompts."""

import random

from hotline.media.bridge import Bridge, LegMedia
from hotline.media.codecs import PCMA, PCMU, transcode
from hotline.media.dtmf import DtmfReceiver, TelephoneEvent
from hotline.media.rtp import RtpPacket, RtpSender, seq_diff, ts_diff


def senders() -> tuple[RtpSender, RtpSender]:
    return RtpSender(0, rng=random.Random(1)), RtpSender(8, rng=random.Random(2))


def test_same_codec_passes_payload_and_renumbers() -> None:
    a_out, b_out = senders()
    br = Bridge(LegMedia(PCMU), a_out, LegMedia(PCMU), b_out)
    payload = bytes(range(160))
    out = br.relay("a", RtpPacket(0, 10, 1000, 0xA, payload))
    assert out is not None
    assert out.payload is payload and out.payload_type == 0
    assert out.ssrc == b_out.ssrc and out.marker
    assert br.stats("a").relayed == 1 and br.stats("a").transcoded == 0


def test_transcoding_both_ways_and_continuity_after_a_prompt() -> None:
    a_out, b_out = senders()
    # The caller (a, PCMA) heard ringback from us first: 50 packets.
    for _ in range(50):
        a_out.audio(PCMA.silence(160), 160)
    seq_before, ts_before = a_out.next_seq, a_out.timestamp
    br = Bridge(LegMedia(PCMA, 101), a_out, LegMedia(PCMU, 96), b_out)
    ulaw = bytes(range(256))[:160]
    from_b = [RtpPacket(0, 500 + i, 77 + 160 * i, 0xB, ulaw) for i in range(3)]
    to_a = [br.relay("b", p) for p in from_b]
    assert all(p is not None for p in to_a)
    assert [p.payload_type for p in to_a] == [8, 8, 8]
    assert to_a[0].payload == transcode(ulaw, PCMU, PCMA)
    # Continues the caller's stream where ringback left it.
    assert to_a[0].sequence == seq_before and to_a[0].timestamp == ts_before
    assert seq_diff(to_a[2].sequence, to_a[0].sequence) == 2
    assert ts_diff(to_a[2].timestamp, to_a[0].timestamp) == 320
    back = br.relay("a", RtpPacket(8, 1, 1, 0xA, PCMA.silence(160)))
    assert back is not None and back.payload_type == 0
    # A-law's quietest code decodes to +8, which µ-law codes as 0xFE.
    assert back.payload == b"\xfe" * 160
    assert br.stats("b").transcoded == 3 and br.stats("a").transcoded == 1
    # A whisper/prompt played to a in the middle: the bridge re-anchors after it.
    for _ in range(5):
        a_out.audio(PCMA.silence(160), 160)
    seq_mid, ts_mid = a_out.next_seq, a_out.timestamp
    nxt = br.relay("b", RtpPacket(0, 503, 77 + 480, 0xB, ulaw))
    assert nxt is not None and (nxt.sequence, nxt.timestamp, nxt.marker) == (seq_mid, ts_mid, True)


def test_telephone_event_pt_mapped_and_still_one_digit() -> None:
    a_out, b_out = senders()
    br = Bridge(LegMedia(PCMU, 101), a_out, LegMedia(PCMU, 96), b_out)
    rx = DtmfReceiver()
    digits = []
    for i, end in enumerate([False, False, True, True, True]):
        te = TelephoneEvent(5, end, 10, 160 * min(i + 1, 3))
        out = br.relay("a", RtpPacket(101, 20 + i, 4000, 0xA, te.serialize(), i == 0))
        assert out is not None and out.payload_type == 96
        digits += rx.receive(out, 0.02 * i)
    assert [d.digit for d in digits] == ["5"]
    assert br.stats("a").events == 5


def test_drops_what_the_other_leg_cannot_take() -> None:
    a_out, b_out = senders()
    br = Bridge(LegMedia(PCMU, 101), a_out, LegMedia(PCMU, None), b_out)
    assert br.relay("a", RtpPacket(101, 1, 1, 1, b"\x01\x0a\x00\xa0")) is None
    assert br.relay("a", RtpPacket(13, 2, 1, 1, b"\x40")) is None  # comfort noise
    assert br.stats("a").dropped == 2
