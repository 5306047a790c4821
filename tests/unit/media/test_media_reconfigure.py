"""A leg whose media is agreed after its port is chosen: `MediaSession.reconfigure`."""

import random

from hotline.media.codecs import PCMA, PCMU
from hotline.media.events import PlaybackEnded, RtpTimedOut
from hotline.media.player import ToneItem
from hotline.media.rtp import RtpPacket
from hotline.media.session import MediaSession, StreamConfig
from hotline.media.tones import RINGBACK

FAR = ("192.0.2.7", 6000)


def test_outbound_leg_takes_the_answer_and_keeps_its_numbering() -> None:
    # Dialling: the codec is a guess, nobody to send to, no RTP expected yet.
    leg = MediaSession(StreamConfig(PCMU, None, receives=False, rtp_timeout=2.0), 0.0,
                       rng=random.Random(3))
    leg.play([ToneItem(RINGBACK)])
    assert [leg.tick() for _ in range(3)] == [None] * 3  # no remote: time passes unsent
    assert leg.poll(10.0) == []  # no timeout while ringing
    ts_before = leg.sender.timestamp
    leg.reconfigure(StreamConfig(PCMA, FAR, ptime_ms=30, telephone_event_pt=96,
                                 rtp_timeout=2.0), 10.0)
    assert leg.pop_events() == [PlaybackEnded("ringback", True, True)]
    assert leg.remote == FAR and leg.remote_rtcp == (FAR[0], FAR[1] + 1)
    assert leg.samples_per_packet == 240
    first = RtpPacket.parse(leg.tick())
    assert first.payload_type == 8 and first.marker and len(first.payload) == 240
    assert first.payload == PCMA.silence(240)
    assert first.timestamp == ts_before and first.ssrc == leg.sender.ssrc
    leg.send_digits("5")
    event = RtpPacket.parse(leg.tick())
    assert event.payload_type == 96
    # The RTP timeout counts from the answer, not from the dial.
    assert leg.poll(11.9) == []
    (timeout,) = leg.poll(12.0)
    assert isinstance(timeout, RtpTimedOut) and timeout.silent_for == 2.0
