"""RTCP wire objects and receiver statistics."""

import random

import pytest

from hotline.media.rtcp import (
    Bye,
    ReceiverReport,
    ReceiverStats,
    ReportBlock,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    ntp_middle32,
    ntp_timestamp,
    parse_compound,
    rtcp_interval,
    serialize_compound,
)
from hotline.media.rtp import MalformedPacket, RtpPacket


def block(**kw: int) -> ReportBlock:
    base = dict(ssrc=5, fraction_lost=51, cumulative_lost=-3, highest_seq=70000,
                jitter=12, lsr=0x12345678, dlsr=65536)
    base.update(kw)
    return ReportBlock(**base)


def test_compound_round_trip() -> None:
    packets = [
        SenderReport(1, ntp_timestamp(1_700_000_000.5), 1234, 10, 1600, (block(),)),
        SourceDescription.cname_of(1, "hotline@10.0.0.1"),
        Bye((1,), "hang-up"),
    ]
    data = serialize_compound(packets)
    assert len(data) % 4 == 0
    assert parse_compound(data) == packets
    rr = [ReceiverReport(9, (block(), block(ssrc=6, cumulative_lost=100))),
          SourceDescription.cname_of(9, "x"), UnknownRtcp(204, 0, b"name")]
    assert parse_compound(serialize_compound(rr)) == rr


def test_sr_header_and_fields() -> None:
    sr = SenderReport(0xAABBCCDD, (3 << 32) | 5, 160, 2, 320)
    data = sr.serialize()
    assert data[:4] == bytes([0x80, 200, 0, 6])  # RC 0, 28 bytes -> length 6
    (back,) = parse_compound(data)
    assert back == sr


def test_ntp() -> None:
    ntp = ntp_timestamp(0.5)
    assert ntp >> 32 == 2_208_988_800
    assert ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_middle32(ntp) == ((2_208_988_800 & 0xFFFF) << 16) | 0x8000


def test_sdes_cname_and_padding() -> None:
    sdes = SourceDescription.cname_of(42, "abc")  # 4 + 2 + 3 + 1 = 10 -> 12 bytes
    data = sdes.serialize()
    assert len(data) == 4 + 12
    (back,) = parse_compound(data)
    assert isinstance(back, SourceDescription)
    assert back.chunks[0].cname == "abc"


@pytest.mark.parametrize("data", [
    b"\x80\xc8",
    bytes([0x80, 200, 0, 9]) + bytes(8),   # length runs past the end
    bytes([0x40, 201, 0, 1]) + bytes(4),   # version 1
    bytes([0x81, 201, 0, 1]) + bytes(4),   # RC 1 but no block
    bytes([0x81, 203, 0, 0]),              # BYE with SC 1 and no SSRC
    bytes([0x80, 100, 0, 0]),              # not an RTCP type
])
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_compound(data)


def feed(stats: ReceiverStats, seqs: list[int], arrivals: list[float],
         ts_step: int = 160) -> None:
    for seq, t in zip(seqs, arrivals, strict=True):
        stats.update(RtpPacket(0, seq & 0xFFFF, (seq * ts_step) & 0xFFFFFFFF, 77), t)


def test_loss_and_fraction() -> None:
    s = ReceiverStats()
    # 0..9 sent every 20 ms, 3 and 7 lost.
    seqs = [0, 1, 2, 4, 5, 6, 8, 9]
    feed(s, seqs, [0.02 * q for q in seqs])
    assert (s.expected, s.received, s.lost) == (10, 8, 2)
    b = s.report_block(now=1.0)
    assert b.fraction_lost == (2 << 8) // 10 == 51
    assert b.cumulative_lost == 2
    assert b.highest_seq == 9
    # Next interval: 10..19 all arrive -> fraction 0, cumulative stays 2.
    feed(s, list(range(10, 20)), [0.02 * q for q in range(10, 20)])
    b2 = s.report_block(now=2.0)
    assert (b2.fraction_lost, b2.cumulative_lost, b2.highest_seq) == (0, 2, 19)


def test_jitter_by_hand() -> None:
    s = ReceiverStats()
    # Perfect pacing: transit constant, J stays 0.
    feed(s, [0, 1, 2], [0.0, 0.02, 0.04])
    assert s.jitter == 0
    # Packet 3 is 10 ms late: D = 80 ts units -> J = 0 + (80 - 0)/16 = 5.
    feed(s, [3], [0.07])
    assert s.jitter == pytest.approx(5.0)
    # Packet 4 on time: D = -80 -> J = 5 + (80 - 5)/16 = 9.6875 (1.2109 ms).
    feed(s, [4], [0.08])
    assert s.jitter == pytest.approx(9.6875)
    assert s.jitter_ms == pytest.approx(9.6875 / 8)
    assert s.report_block(1.0).jitter == 9


def test_wrap_duplicates_and_late() -> None:
    s = ReceiverStats()
    seqs = [65533, 65534, 0, 65535, 1, 1, 2]  # 65535 late, 1 duplicated
    feed(s, seqs, [0.02 * i for i in range(len(seqs))])
    assert s.extended_max == 65536 + 2
    assert s.expected == 6
    assert s.duplicates == 1
    assert s.late == 1
    assert s.lost == 0
    assert s.cumulative_lost == -1  # A.3 counts the duplicate as received


def test_same_timestamp_packets_leave_jitter_alone() -> None:
    s = ReceiverStats()
    for i in range(10):  # a telephone-event: one timestamp, one packet per 20 ms
        s.update(RtpPacket(101, i, 8000, 1, b"\x01\x0a\x00\xa0"), 0.02 * i)
    assert s.jitter == 0


def test_lsr_dlsr() -> None:
    s = ReceiverStats()
    feed(s, [0], [0.0])
    sr = SenderReport(77, ntp_timestamp(100.25), 0, 1, 160)
    s.sender_report_received(sr, arrival=10.0)
    b = s.report_block(now=10.5)
    assert b.lsr == ntp_middle32(sr.ntp)
    assert b.dlsr == 32768


def test_rtcp_interval_bounds() -> None:
    rng = random.Random(3)
    values = [rtcp_interval(rng=rng) for _ in range(200)]
    assert min(values) >= 2.5 and max(values) <= 7.5
    assert 4.5 < sum(values) / len(values) < 5.5
    assert max(rtcp_interval(initial=True, rng=rng) for _ in range(50)) <= 3.75
    # Many members on a thin session: the bandwidth share sets a longer interval.
    long = rtcp_interval(members=1000, senders=2, we_sent=False,
                         session_bandwidth=64000, rng=random.Random(1))
    assert long > 20


def test_jitter_across_timestamp_wrap() -> None:
    s = ReceiverStats()
    ts0 = 2**32 - 480
    for i in range(8):  # perfectly paced, the timestamp wraps after packet 2
        s.update(RtpPacket(0, i, (ts0 + 160 * i) & 0xFFFFFFFF, 1), 5.0 + 0.02 * i)
    assert s.jitter == pytest.approx(0, abs=1e-6)
    # One packet 5 ms late right after the wrap: D = 40 -> J = 40/16 = 2.5.
    s.update(RtpPacket(0, 8, (ts0 + 160 * 8) & 0xFFFFFFFF, 1), 5.0 + 0.02 * 8 + 0.005)
    assert s.jitter == pytest.approx(2.5)
