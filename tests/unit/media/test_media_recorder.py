"""Recording: timeline from RTP timestamps, loss as silence, mix/stereo, limits, WAV round trip."""

import math
import wave
from pathlib import Path

from hotline.media.codecs import PCMU, pcm_from_samples, samples_from_pcm
from hotline.media.recorder import Recorder, SilenceDetector
from hotline.media.wav import load_wav, write_wav

DATA = Path(__file__).parent / "data"


def frame(value: int, n: int = 160) -> bytes:
    return pcm_from_samples([value] * n)


def test_loss_is_silence_and_reorder_lands_in_place(tmp_path: Path) -> None:
    rec = Recorder(start=10.0, latency=0.1)
    ts0 = 2**32 - 320  # wraps during the recording
    order = [0, 1, 3, 2, 5]  # 4 lost, 3 and 2 swapped
    for k, i in enumerate(order):
        rec.add(0, (ts0 + 160 * i) & 0xFFFFFFFF, frame(100 * (i + 1)), now=10.0 + 0.02 * k)
    out = rec.pull(now=10.0 + 0.1 + 0.04)  # only 40 ms are final so far
    assert len(out) == 320 * 2
    out += rec.finish()
    samples = samples_from_pcm(out)
    assert len(samples) == 6 * 160
    blocks = [set(samples[i * 160 : (i + 1) * 160]) for i in range(6)]
    assert blocks == [{100}, {200}, {300}, {400}, {0}, {600}]
    assert rec.stopped == "finished"
    write_wav(tmp_path / "r.wav", out)
    assert load_wav(tmp_path / "r.wav").pcm == out


def test_prompt_through_g711_round_trip(tmp_path: Path) -> None:
    source = load_wav(DATA / "welcome.wav").pcm
    encoded = PCMU.encode(source)
    rec = Recorder(start=0.0)
    for i in range(0, len(encoded), 160):
        rec.add(0, 5000 + i, PCMU.decode(encoded[i : i + 160]), now=i / 8000)
    pcm = rec.finish()
    assert pcm == source  # µ-law is lossless on audio that came from µ-law


def test_two_legs_mono_mix_and_stereo() -> None:
    mono = Recorder(start=0.0, legs=2)
    stereo = Recorder(start=0.0, legs=2, stereo=True)
    for rec in (mono, stereo):
        for i in range(5):
            rec.add(0, 1000 + 160 * i, frame(1000), now=0.02 * i)
            # Leg b starts 40 ms later with its own timestamp base.
            if i >= 2:
                rec.add(1, 9_000_000 + 160 * (i - 2), frame(-300), now=0.02 * i)
    m = samples_from_pcm(mono.finish())
    assert len(m) == 800
    assert set(m[:320]) == {1000} and set(m[320:]) == {700}
    s = samples_from_pcm(stereo.finish())
    left, right = s[0::2], s[1::2]
    assert set(left) == {1000}
    assert set(right[:320]) == {0} and set(right[320:]) == {-300}


def test_max_duration_cuts_exactly() -> None:
    rec = Recorder(start=0.0, max_seconds=1.0, latency=0.0)
    got = b""
    for i in range(100):  # 2 s offered
        rec.add(0, 160 * i, frame(50), now=0.02 * i)
        got += rec.pull(now=0.02 * (i + 1))
    assert len(got) == 8000 * 2
    assert rec.stopped == "max_duration"
    assert rec.finish() == b""


def test_end_on_silence_for_voicemail() -> None:
    speech = pcm_from_samples([3000 * math.sin(2 * math.pi * 300 * i / 8000) for i in range(160)])
    rec = Recorder(start=0.0, latency=0.0, end_on_silence=SilenceDetector(seconds=2.0))
    t = 0.0
    for i in range(400):  # 1 s of speech, then silence
        rec.add(0, 160 * i, speech if i < 50 else frame(0), now=t)
        t += 0.02
        rec.pull(now=t)
        if rec.stopped:
            break
    assert rec.stopped == "silence"
    # 1 s of speech + 2 s of silence (detected in 100 ms windows).
    assert rec.duration == 3.0


def test_source_jump_is_reanchored_not_a_long_hole() -> None:
    rec = Recorder(start=0.0)
    rec.add(0, 100, frame(1), now=0.0)
    rec.add(0, 100 + 160 * 1_000_000, frame(2), now=0.02)  # a new RTP base after re-INVITE
    assert rec.resyncs == 1
    assert len(rec.finish()) == 320 * 2


def test_wav_writer_stereo_header(tmp_path: Path) -> None:
    write_wav(tmp_path / "s.wav", b"\x01\x00\x02\x00" * 10, channels=2)
    with wave.open(str(tmp_path / "s.wav")) as w:
        assert (w.getnchannels(), w.getnframes(), w.getframerate()) == (2, 10, 8000)
