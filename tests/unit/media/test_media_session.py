"""MediaSession in memory: two sessions wired back to back on a fake clock, and the port pool."""

import math
import random
from dataclasses import dataclass

import pytest

from hotline.media.bridge import Bridge, LegMedia
from hotline.media.codecs import PCMA, PCMU, pcm_from_samples
from hotline.media.events import DigitReceived, DigitSource, PlaybackEnded, RtpTimedOut
from hotline.media.player import PromptItem
from hotline.media.ports import PortPool, PortsExhausted
from hotline.media.prompt import Prompt
from hotline.media.recorder import Recorder
from hotline.media.rtcp import Bye, ReceiverReport, SenderReport, SourceDescription, parse_compound
from hotline.media.rtp import RtpPacket
from hotline.media.session import MediaSession, StreamConfig

A = ("192.0.2.1", 4000)
B = ("192.0.2.2", 5000)


def prompt(frames: int, codec=PCMU) -> Prompt:
    return Prompt("p", codec, 160, tuple(bytes([0x20 + i % 50]) * 160 for i in range(frames)),
                  frames * 160)


def pair(**kw) -> tuple[MediaSession, MediaSession]:
    a = MediaSession(StreamConfig(PCMU, B, **kw), 0.0, rng=random.Random(1))
    b = MediaSession(StreamConfig(PCMU, A, **kw), 0.0, rng=random.Random(2))
    return a, b


def run(a: MediaSession, b: MediaSession, ticks: int, t0: float = 0.0) -> float:
    """Tick both for `ticks` packet times, delivering each datagram at once."""
    t = t0
    for _ in range(ticks):
        t += 0.02
        for src, dst, addr in ((a, b, A), (b, a, B)):
            data = src.tick()
            if data is not None:
                dst.receive_rtp(data, addr, t)
    return t


def test_prompt_plays_then_silence_keeps_the_stream_alive() -> None:
    a, _b = pair()
    p = prompt(10)
    a.play([PromptItem(p)])
    sent = [RtpPacket.parse(a.tick()) for _ in range(15)]
    assert [s.payload for s in sent[:10]] == list(p.frames)
    assert all(s.payload == PCMU.silence(160) for s in sent[10:])
    assert [s.sequence - sent[0].sequence for s in sent] == list(range(15))
    assert sent[0].marker and not any(s.marker for s in sent[1:])
    events = a.pop_events()
    assert events == [PlaybackEnded("p", False, True)]


def test_digits_end_to_end_barge_in_and_info_dedup() -> None:
    a, b = pair()
    b.play([PromptItem(prompt(200))])
    a.send_digits("4", duration_ms=80)
    t = run(a, b, 12)
    events = b.pop_events()
    digits = [e for e in events if isinstance(e, DigitReceived)]
    assert [(d.digit, d.duration_ms, d.source) for d in digits] == [
        ("4", 80, DigitSource.RFC4733)]
    # Barge-in: the 200-frame prompt stopped early.
    assert PlaybackEnded("p", True, True) in events
    # The gateway also sends the key press as SIP INFO: dropped as a copy.
    b.digit_from_info("4", 80, t + 0.1)
    assert b.pop_events() == []
    assert b.digits.collected == "4"


def test_inband_digits_and_recording_of_received_audio() -> None:
    a = MediaSession(StreamConfig(PCMU, B), 0.0)
    b = MediaSession(StreamConfig(PCMU, A, inband_dtmf=True), 0.0)
    rec = Recorder(start=0.02)  # the first packet arrives at the first tick
    b.recorder = (rec, 0)
    tone = [6000 * (math.sin(2 * math.pi * 852 * i / 8000)
                    + math.sin(2 * math.pi * 1477 * i / 8000)) for i in range(800)]
    pcm = pcm_from_samples([0.0] * 400 + tone + [0.0] * 800)
    frames = PCMU.encode(pcm)
    a.play([PromptItem(Prompt("dtmf", PCMU, 160, tuple(frames[i:i + 160] for i in range(
        0, len(frames), 160)), len(frames)))])
    run(a, b, 13)  # 2000 samples: 12½ frames
    digits = [e for e in b.pop_events() if isinstance(e, DigitReceived)]
    assert [(d.digit, d.source) for d in digits] == [("9", DigitSource.INBAND)]
    recorded = rec.finish()
    assert PCMU.encode(recorded)[: len(frames)] == frames


def test_symmetric_rtp_latches_and_drops_others() -> None:
    a, b = pair()
    nat = ("198.51.100.7", 61000)
    data = a.tick()
    b.receive_rtp(data, nat, 0.02)
    assert b.latched and b.remote == nat and b.remote_rtcp == (nat[0], nat[1] + 1)
    assert b.receive_rtp(a.tick(), A, 0.04) is None
    assert b.foreign_packets == 1 and b.stats.received == 1
    # Switched off: anything is accepted and we keep sending to the SDP address.
    c = MediaSession(StreamConfig(PCMU, A, symmetric_rtp=False), 0.0)
    c.receive_rtp(a.tick(), nat, 0.06)
    c.receive_rtp(a.tick(), ("203.0.113.9", 1), 0.08)
    assert c.remote == A and c.stats.received == 2 and c.foreign_packets == 0


def test_malformed_and_unknown_payloads_are_counted() -> None:
    _a, b = pair()
    assert b.receive_rtp(b"\x00\x01", A, 0.1) is None
    b.receive_rtp(RtpPacket(13, 1, 1, 9, b"\x40").serialize(), A, 0.1)
    assert (b.malformed, b.unknown_payload) == (1, 1)


def test_rtp_timeout_reported_once_and_rearmed() -> None:
    a, b = pair(rtp_timeout=30.0)
    assert b.poll(29.9) == []
    (ev,) = b.poll(30.0)
    assert isinstance(ev, RtpTimedOut) and ev.silent_for == pytest.approx(30.0)
    assert b.poll(45.0) == []
    b.receive_rtp(a.tick(), A, 50.0)
    assert b.poll(79.0) == []
    assert isinstance(b.poll(80.5)[0], RtpTimedOut)


def test_rtcp_reports_and_bye() -> None:
    a, b = pair()
    t = run(a, b, 10)
    assert a.rtcp_due(t, 1_700_000_000.0) is None  # not before the first interval
    t = 10.0
    report = a.rtcp_due(t, 1_700_000_000.0)
    assert report is not None
    sr, sdes = parse_compound(report)
    assert isinstance(sr, SenderReport) and sr.packet_count == 10
    assert sr.reports[0].ssrc == b.sender.ssrc and sr.reports[0].cumulative_lost == 0
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == "hotline"
    assert a.rtcp_due(t + 1.0, 1_700_000_001.0) is None  # next one ≥ 2.5 s later
    b.receive_rtcp(report, (A[0], A[1] + 1), t)
    assert b.stats.report_block(t + 0.5).dlsr == 32768
    listener = MediaSession(StreamConfig(PCMU, A, sends=False), 0.0)
    listener.receive_rtp(a.tick(), A, 0.1)
    listener.tick()
    rr = parse_compound(listener.bye(1.0, 1_700_000_000.0, "hang-up"))
    assert isinstance(rr[0], ReceiverReport) and isinstance(rr[-1], Bye)
    a.receive_rtcp(listener.bye(1.0, 0.0), B, 1.0)
    assert a.remote_bye


def test_bridge_between_sessions_transcodes_and_continues_numbering() -> None:
    caller = MediaSession(StreamConfig(PCMA, A), 0.0)   # our leg to the caller
    oncall = MediaSession(StreamConfig(PCMU, B), 0.0)   # our leg to the engineer
    caller_sent = [RtpPacket.parse(caller.tick()) for _ in range(5)]  # ringback so far
    bridge = Bridge(LegMedia(PCMA), caller.sender, LegMedia(PCMU), oncall.sender)
    caller.bridge, oncall.bridge = (bridge, "a"), (bridge, "b")
    assert caller.tick() is None and oncall.tick() is None  # relaying, not playing
    engineer = RtpPacket(0, 9, 1234, 0xE, PCMU.encode(b"\x00\x10" * 160))
    out = oncall.receive_rtp(engineer.serialize(), B, 1.0)
    assert out is not None
    to_caller = RtpPacket.parse(out)
    assert to_caller.payload_type == 8 and to_caller.ssrc == caller.sender.ssrc
    assert (to_caller.sequence - caller_sent[-1].sequence) & 0xFFFF == 1
    assert caller.summary()["relay"] == {"relayed": 0, "transcoded": 0, "events": 0,
                                         "dropped": 0}
    assert oncall.summary()["relay"]["transcoded"] == 1
    # The engineer puts the call on hold and sends nothing: after 25 quiet packet
    # times the caller gets silence again, continuing the same numbering.
    quiet = [caller.tick() for _ in range(30)]
    assert quiet[:25] == [None] * 25
    keep = [RtpPacket.parse(q) for q in quiet[25:] if q is not None]
    assert len(keep) == 5 and keep[0].marker and keep[0].payload == PCMA.silence(160)
    assert (keep[0].sequence - to_caller.sequence) & 0xFFFF == 1
    assert (keep[0].timestamp - to_caller.timestamp) & 0xFFFFFFFF == 160 * 25
    # Relayed audio resumes: re-anchored after our silence, marker set.
    back = RtpPacket.parse(oncall.receive_rtp(engineer.with_(
        sequence=10, timestamp=1234 + 160 * 31).serialize(), B, 1.7))
    assert back.marker and (back.sequence - keep[-1].sequence) & 0xFFFF == 1
    assert caller.tick() is None


def test_a_bridged_leg_needs_no_clock_while_the_relay_carries_it() -> None:
    caller = MediaSession(StreamConfig(PCMU, A), 0.0)
    oncall = MediaSession(StreamConfig(PCMU, B), 0.0)
    assert caller.needs_clock and oncall.needs_clock  # playing: every packet time
    bridge = Bridge(LegMedia(PCMU), caller.sender, LegMedia(PCMU), oncall.sender)
    caller.bridge, oncall.bridge = (bridge, "a"), (bridge, "b")
    engineer = RtpPacket(0, 9, 1234, 0xE, PCMU.encode(b"\x00\x10" * 160))
    oncall.receive_rtp(engineer.serialize(), B, 1.0)
    assert caller.tick() is None and not caller.needs_clock
    # Off the clock, polls watch the relay: packets keep it off...
    for i in range(1, 4):
        relayed = RtpPacket.parse(oncall.receive_rtp(
            engineer.with_(sequence=9 + i, timestamp=1234 + 160 * i).serialize(), B, 1.0 + 0.02 * i))
        assert caller.poll(1.0 + 0.02 * i) == [] and not caller.needs_clock
    # ...and five quiet packet times bring it back, the quiet time already counted.
    caller.poll(1.06 + 0.02 * 4)
    assert not caller.needs_clock
    caller.poll(1.06 + 0.02 * 5)
    assert caller.needs_clock
    ticks = [caller.tick() for _ in range(25)]
    first = next(i for i, t in enumerate(ticks) if t is not None)
    assert first == 25 - 5 - 1  # silence on the 25th quiet packet time, as on the clock
    keep = RtpPacket.parse(ticks[first])
    assert keep.marker and keep.payload == PCMU.silence(160)
    assert (keep.sequence - relayed.sequence) & 0xFFFF == 1
    assert (keep.timestamp - relayed.timestamp) & 0xFFFFFFFF == 160 * 25
    # Key presses of its own need the clock, whatever the relay does.
    oncall.receive_rtp(engineer.with_(sequence=20, timestamp=1234 + 160 * 11).serialize(), B, 1.7)
    assert caller.tick() is None and not caller.needs_clock
    caller.send_digits("1")
    assert caller.needs_clock
    caller.bridge = None
    assert caller.needs_clock


@dataclass
class FakeNegotiated:
    codec: str = "PCMA"
    telephone_event_pt: int | None = 96
    ptime_ms: int = 30
    remote_address: str = "192.0.2.9"
    remote_port: int = 7000
    rtcp_port: int = 7005
    sends: bool = True
    receives: bool = False


def test_config_from_negotiated_media() -> None:
    cfg = StreamConfig.from_negotiated(FakeNegotiated(), rtp_timeout=10.0)
    assert cfg.codec is PCMA and cfg.remote == ("192.0.2.9", 7000)
    assert cfg.remote_rtcp == ("192.0.2.9", 7005) and cfg.ptime_ms == 30
    assert MediaSession(cfg, 0.0).samples_per_packet == 240
    # We only send (the peer is recvonly, or we play music on hold): silence is no timeout.
    assert cfg.receives is False
    assert MediaSession(cfg, 0.0).poll(3600.0) == []


def test_config_from_the_sip_layers_negotiated_media() -> None:
    from hotline.sip.sdp import NegotiatedMedia

    media = NegotiatedMedia(codec="PCMU", payload_type=0, clock_rate=8000,
                            telephone_event_pt=101, ptime_ms=20, remote_address="192.0.2.5",
                            remote_port=30000, direction="sendonly", on_hold=False)
    cfg = StreamConfig.from_negotiated(media)
    assert (cfg.codec, cfg.remote, cfg.remote_rtcp) == (
        PCMU, ("192.0.2.5", 30000), ("192.0.2.5", 30001))
    assert cfg.sends and cfg.telephone_event_pt == 101


def test_port_pool() -> None:
    pool = PortPool(20001, 20007, quiet_period=10.0)
    assert pool.capacity == 3
    ports = [pool.allocate(0.0) for _ in range(3)]
    assert ports == [20002, 20004, 20006]
    with pytest.raises(PortsExhausted):
        pool.allocate(0.0)
    pool.release(20004, now=1.0)
    with pytest.raises(PortsExhausted):
        pool.allocate(10.9)  # still resting
    assert pool.allocate(11.0) == 20004
    with pytest.raises(ValueError):
        pool.release(20008, 12.0)
    pool.release(20002, 12.0)
    pool.block(20002)
    with pytest.raises(PortsExhausted):
        pool.allocate(100.0)
    assert pool.in_use == 2
