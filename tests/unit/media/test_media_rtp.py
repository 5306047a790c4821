"""RTP packets, wrap-around arithmetic, sender numbering and the rewriter."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.media.rtp import (
    MalformedPacket,
    RtpExtension,
    RtpPacket,
    RtpRewriter,
    RtpSender,
    SequenceTracker,
    is_rtcp,
    seq_diff,
    ts_diff,
)


def test_minimal_packet_bytes() -> None:
    p = RtpPacket(payload_type=0, sequence=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304,
                  payload=b"\xff\xfe", marker=True)
    data = p.serialize()
    # V=2 -> 0x80; M + PT0 -> 0x80; then seq, ts, ssrc big-endian.
    assert data == bytes.fromhex("8080 1234 deadbeef 01020304 fffe".replace(" ", ""))
    assert RtpPacket.parse(data) == p


def test_round_trip_with_csrc_extension_padding() -> None:
    p = RtpPacket(
        payload_type=8, sequence=65535, timestamp=2**32 - 1, ssrc=7, payload=b"abc",
        csrc=(1, 2, 3), extension=RtpExtension(0xBEDE, b"\x10\xaa\x00\x00"), padding=5,
    )
    data = p.serialize()
    assert len(data) == 12 + 12 + 4 + 4 + 3 + 5
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[-1] == 5
    q = RtpPacket.parse(data)
    assert q == p
    assert q.payload == b"abc"


@given(
    pt=st.integers(0, 127), seq=st.integers(0, 65535), ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1), payload=st.binary(max_size=200), marker=st.booleans(),
    csrc=st.lists(st.integers(0, 2**32 - 1), max_size=15), padding=st.integers(0, 255),
)
def test_round_trip_property(pt, seq, ts, ssrc, payload, marker, csrc, padding) -> None:
    p = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrc), None, padding)
    assert RtpPacket.parse(p.serialize()) == p


@pytest.mark.parametrize("data, why", [
    (b"\x80\x00\x00", "short"),
    (bytes.fromhex("40000001000000010000000100"), "version"),
    (bytes.fromhex("82000001000000010000000100000000"), "CSRC"),  # CC=2, one present
    (bytes.fromhex("90000001000000010000000100"), "extension header"),
    (bytes.fromhex("9000000100000001000000010000000a"), "extension longer"),
    (bytes.fromhex("a0000001000000010000000100"), "padding"),  # pad count 0
    (bytes.fromhex("a000000100000001000000010203"), "padding"),  # pad 3 > 2 bytes left
])
def test_malformed(data: bytes, why: str) -> None:
    with pytest.raises(MalformedPacket, match=why):
        RtpPacket.parse(data)


def test_is_rtcp() -> None:
    assert is_rtcp(bytes([0x81, 200, 0, 1]))
    assert not is_rtcp(RtpPacket(0, 1, 1, 1).serialize())


def test_seq_and_ts_diff_wrap() -> None:
    assert seq_diff(2, 65534) == 4
    assert seq_diff(65534, 2) == -4
    assert seq_diff(100, 100) == 0
    assert seq_diff(32768 + 5, 5) == -32768
    assert ts_diff(10, 2**32 - 10) == 20
    assert ts_diff(2**32 - 10, 10) == -20


def test_sequence_tracker_extends_across_wrap_and_reorder() -> None:
    t = SequenceTracker()
    got = [t.update(s) for s in (65533, 65534, 65535, 0, 1)]
    assert got == [65533, 65534, 65535, 65536, 65537]
    # 65535 arrives again late, after the wrap: it belongs to the first cycle.
    assert t.update(65535) == 65535
    assert t.extended_max == 65537
    assert t.cycles == 65536


def test_sequence_tracker_restart_needs_confirmation() -> None:
    t = SequenceTracker()
    t.update(100)
    t.update(101)
    assert t.update(40000) is None  # one stray packet is discarded
    assert t.update(102) == 102
    assert t.update(50000) is None
    assert t.update(50001) == 50001  # the second in a row confirms a restart
    assert t.restarted
    assert t.base_seq == 50001


def test_sender_continuity_and_marker_after_gap() -> None:
    s = RtpSender(0, rng=random.Random(1))
    seq0, ts0 = s.next_seq, s.timestamp
    a = s.audio(b"\xff" * 160, 160)
    b = s.audio(b"\xff" * 160, 160)
    assert a.marker and not b.marker  # the first packet starts a talkspurt
    assert (a.sequence, a.timestamp) == (seq0, ts0)
    assert b.sequence == (seq0 + 1) & 0xFFFF
    assert b.timestamp == (ts0 + 160) & 0xFFFFFFFF
    s.skip(160 * 5)
    c = s.audio(b"\xff" * 160, 160)
    assert c.marker
    assert c.sequence == (seq0 + 2) & 0xFFFF  # no sequence gap: nothing was lost
    assert ts_diff(c.timestamp, b.timestamp) == 160 * 6
    assert a.ssrc == b.ssrc == c.ssrc


def test_senders_get_different_ssrcs() -> None:
    assert len({RtpSender(0).ssrc for _ in range(20)}) == 20


def test_rewriter_makes_one_stream_across_sources() -> None:
    out = RtpSender(0, rng=random.Random(2))
    for _ in range(3):  # a prompt first
        out.audio(b"\x01" * 160, 160)
    next_seq, next_ts = out.next_seq, out.timestamp
    rw = RtpRewriter(out)
    src1 = [RtpPacket(0, 65534 + i & 0xFFFF, 2**32 - 160 + 160 * i & 0xFFFFFFFF, 0xAAAA,
                      b"\x02" * 160) for i in range(4)]
    got = [rw.rewrite(p, samples=160) for p in src1]
    assert [g.sequence for g in got] == [(next_seq + i) & 0xFFFF for i in range(4)]
    assert [g.timestamp for g in got] == [(next_ts + 160 * i) & 0xFFFFFFFF for i in range(4)]
    assert got[0].marker and not any(g.marker for g in got[1:])
    assert {g.ssrc for g in got} == {out.ssrc}
    # A lost packet stays a gap; a reordered one keeps its place.
    p5 = src1[-1].with_(sequence=(src1[-1].sequence + 2) & 0xFFFF,
                        timestamp=(src1[-1].timestamp + 320) & 0xFFFFFFFF)
    p4 = src1[-1].with_(sequence=(src1[-1].sequence + 1) & 0xFFFF,
                        timestamp=(src1[-1].timestamp + 160) & 0xFFFFFFFF)
    g5, g4 = rw.rewrite(p5, samples=160), rw.rewrite(p4, samples=160)
    assert seq_diff(g5.sequence, got[-1].sequence) == 2
    assert seq_diff(g4.sequence, got[-1].sequence) == 1
    # A new source (the other leg re-INVITEd) continues where we are, with the marker.
    expect_seq, expect_ts = out.next_seq, out.timestamp
    g = rw.rewrite(RtpPacket(0, 7, 999, 0xBBBB, b"\x03" * 160), samples=160)
    assert (g.sequence, g.timestamp, g.marker) == (expect_seq, expect_ts, True)
    # And the sender continues after the bridge, too.
    after = out.audio(b"\x04" * 160, 160)
    assert seq_diff(after.sequence, g.sequence) == 1
    assert ts_diff(after.timestamp, g.timestamp) == 160


def test_audio_datagram_equals_audio_serialized() -> None:
    a, b = RtpSender(8, rng=random.Random(9)), RtpSender(8, rng=random.Random(9))
    b.skip(160)
    a.skip(160)
    for i in range(5):
        assert a.audio_datagram(bytes([i]) * 160, 160) == b.audio(bytes([i]) * 160, 160).serialize()
    assert (a.next_seq, a.timestamp, a.packets_sent) == (b.next_seq, b.timestamp, b.packets_sent)


def test_peek_matches_parse() -> None:
    from hotline.media.rtp import peek
    plain = RtpPacket(0, 5, 6, 7, b"abc", marker=True)
    fancy = plain.with_(csrc=(1,), extension=RtpExtension(1, b"1234"), padding=4)
    for p in (plain, fancy):
        h = peek(p.serialize())
        data = p.serialize()
        assert (h.payload_type, h.marker, h.sequence, h.timestamp, h.ssrc) == (0, True, 5, 6, 7)
        assert data[h.start : h.end] == b"abc"
    with pytest.raises(MalformedPacket):
        peek(b"\x80\x00")
