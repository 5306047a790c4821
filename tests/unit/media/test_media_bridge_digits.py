"""Key presses of our own on a bridged leg (an INFO digit relayed as RFC 4733), in memory."""

import itertools
import random

from hotline.media.bridge import Bridge, LegMedia
from hotline.media.codecs import PCMA, PCMU
from hotline.media.dtmf import TelephoneEvent
from hotline.media.rtp import RtpPacket
from hotline.media.session import MediaSession, StreamConfig

A = ("192.0.2.1", 4000)
B = ("192.0.2.2", 5000)


def test_digits_sent_into_a_bridge_hold_the_relay_then_it_resumes() -> None:
    caller = MediaSession(StreamConfig(PCMA, A), 0.0, rng=random.Random(1))
    oncall = MediaSession(StreamConfig(PCMU, B, telephone_event_pt=96), 0.0, rng=random.Random(2))
    bridge = Bridge(LegMedia(PCMA), caller.sender, LegMedia(PCMU, 96), oncall.sender)
    caller.bridge, oncall.bridge = (bridge, "a"), (bridge, "b")
    audio = [RtpPacket(8, 100 + i, 160 * i, 0xCA, PCMA.silence(160)) for i in range(40)]
    sent: list[RtpPacket] = []
    oncall.send_digits("5", duration_ms=100)
    for i, packet in enumerate(audio):
        relayed = caller.receive_rtp(packet.serialize(), A, 0.02 * i)  # caller -> engineer
        own = oncall.tick()  # the engineer's leg: our key press, or nothing (relaying)
        sent += [RtpPacket.parse(d) for d in (relayed, own) if d is not None]  # as they went
    events = [p for p in sent if p.payload_type == 96]
    assert {TelephoneEvent.parse(p.payload).event for p in events} == {5}
    assert TelephoneEvent.parse(events[-1].payload).end and events[0].marker
    first_audio_after = next(p for p in sent[sent.index(events[-1]):] if p.payload_type == 0)
    # No caller audio between the first and last event packet; afterwards it resumes, re-anchored.
    between = sent[sent.index(events[0]) : sent.index(events[-1])]
    assert all(p.payload_type == 96 for p in between)
    assert first_audio_after.marker
    assert len({p.ssrc for p in sent}) == 1
    assert [(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(sent)] == [
        1] * (len(sent) - 1)
    assert bridge.stats("a").held >= len(events) - 1
    assert bridge.stats("a").as_dict()["held"] == bridge.stats("a").held
