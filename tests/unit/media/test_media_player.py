"""Playlists: order, gaps, barge-in, loops, events, and the marker after a gap."""

import random

import pytest

from hotline.media.codecs import PCMA, PCMU, Codec
from hotline.media.player import Player, PromptItem, SilenceItem, ToneItem
from hotline.media.prompt import Prompt
from hotline.media.rtp import RtpSender
from hotline.media.tones import RINGBACK, ToneGenerator
from hotline.media.wav import Audio

SIL = PCMU.silence(160)


def prompt(name: str, frames: int, fill: int = 0x10, codec: Codec = PCMU) -> Prompt:
    return Prompt(name, codec, 160, tuple(bytes([fill + i % 8]) * 160 for i in range(frames)),
                  frames * 160)


def test_items_in_order_with_gap_silence_then_idle_silence() -> None:
    p1, p2 = prompt("one", 3, 0x10), prompt("two", 2, 0x40)
    player = Player(PCMU, gap_ms=40)
    player.play([PromptItem(p1), PromptItem(p2)])
    out = [player.tick() for _ in range(10)]
    assert out == [*p1.frames, SIL, SIL, *p2.frames, SIL, SIL, SIL]
    events = player.pop_events()
    assert [(e.item, e.interrupted, e.playlist_done) for e in events] == [
        ("one", False, False), ("two", False, True)]
    assert player.pop_events() == []
    assert not player.playing


def test_events_keep_coming_after_a_pop_with_or_without_a_sink() -> None:
    sink: list = []
    for player, seen in ((Player(PCMU), None), (Player(PCMU, on_ended=sink.append), sink)):
        for name in ("one", "two"):
            player.play([PromptItem(prompt(name, 1))])
            player.tick()
            player.tick()
            ended = player.pop_events() if seen is None else [seen.pop()]
            assert [e.item for e in ended] == [name]
        assert player.pop_events() == []


def test_silence_and_tone_items_durations() -> None:
    player = Player(PCMA)
    player.play([SilenceItem(60), ToneItem(RINGBACK, duration_ms=100)])
    out = [player.tick() for _ in range(9)]
    gen = ToneGenerator(RINGBACK)
    assert out[:3] == [PCMA.silence(160)] * 3
    assert out[3:8] == [gen.next_payload(PCMA) for _ in range(5)]
    assert out[8] == PCMA.silence(160)


def test_barge_in_stops_only_items_that_allow_it() -> None:
    menu, hold = prompt("menu", 50), prompt("hold", 5, 0x60)
    player = Player(PCMU, idle_silence=False)
    player.play([PromptItem(menu), SilenceItem(1000), PromptItem(hold, barge_in=False)])
    assert [player.tick() for _ in range(2)] == list(menu.frames[:2])
    assert player.barge_in() is True
    # menu and the pause are skipped; "please hold" plays in full.
    assert [player.tick() for _ in range(6)] == [*hold.frames, None]
    assert player.barge_in() is False
    assert [(e.item, e.interrupted) for e in player.pop_events()] == [
        ("menu", True), ("silence", True), ("hold", False)]


def test_barge_in_ignored_for_tone_by_default_and_stop() -> None:
    player = Player(PCMU)
    player.play([ToneItem(RINGBACK)])
    player.tick()
    assert player.barge_in() is False
    assert player.playing
    player.stop()
    assert not player.playing
    assert [(e.item, e.interrupted) for e in player.pop_events()] == [("ringback", True)]


def test_loop_for_music_on_hold_and_replace() -> None:
    moh = prompt("moh", 3)
    player = Player(PCMU)
    player.play([PromptItem(moh, loop=True)])
    assert [player.tick() for _ in range(7)] == [*moh.frames, *moh.frames, moh.frames[0]]
    other = prompt("other", 1, 0x70)
    player.play([PromptItem(other)])  # replaces the music
    assert player.tick() == other.frames[0]


def test_codec_mismatch_is_our_bug() -> None:
    player = Player(PCMU)
    with pytest.raises(ValueError, match="PCMA"):
        player.play([PromptItem(prompt("a", 1, codec=PCMA))])


def test_marker_after_gap_through_the_sender() -> None:
    p = Prompt.from_audio(Audio(b"\x10\x00" * 320, "x.wav"), PCMU, 20)
    player = Player(PCMU, idle_silence=False)
    sender = RtpSender(0, rng=random.Random(1))
    player.play([PromptItem(p)])
    sent = []
    for tick in range(6):
        if tick == 4:
            player.play([PromptItem(p)])
        payload = player.tick()
        if payload is None:
            sender.skip(160)
        else:
            sent.append(sender.audio(payload, 160))
    assert [pk.marker for pk in sent] == [True, False, True, False]
    assert sent[2].timestamp - sent[0].timestamp == 4 * 160
