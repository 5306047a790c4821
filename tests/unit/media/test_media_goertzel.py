"""In-band DTMF detection on generated tones, noise, speech and ringback."""

import math
import random
from pathlib import Path

import pytest

from hotline.media.codecs import PCMU, pcm_from_samples
from hotline.media.goertzel import COLS, KEYS, ROWS, GoertzelDetector
from hotline.media.wav import load_wav

DATA = Path(__file__).parent / "data"
RATE = 8000


def key_tone(key: str, ms: int, amp: float = 6000.0, twist_db: float = 0.0) -> list[float]:
    r = next(i for i, row in enumerate(KEYS) if key in row)
    c = KEYS[r].index(key)
    col_amp = amp * 10 ** (twist_db / 20)
    return [
        amp * math.sin(2 * math.pi * ROWS[r] * i / RATE)
        + col_amp * math.sin(2 * math.pi * COLS[c] * i / RATE)
        for i in range(RATE * ms // 1000)
    ]


def with_noise(samples: list[float], snr_db: float, signal_power: float, seed: int) -> bytes:
    rng = random.Random(seed)
    sigma = math.sqrt(signal_power / 10 ** (snr_db / 10))
    return pcm_from_samples([s + rng.gauss(0, sigma) for s in samples])


def detect(pcm: bytes, frame: int = 160) -> str:
    det = GoertzelDetector()
    out = []
    for i in range(0, len(pcm), 2 * frame):  # fed in 20 ms frames, like the media path
        out += det.feed(pcm[i : i + 2 * frame], i / 16000)
    out += det.flush(len(pcm) / 16000)
    return "".join(d.digit for d in out)


def test_all_sixteen_keys_in_noise_at_15_db() -> None:
    keys = "123A456B789C*0#D"
    samples: list[float] = []
    for k in keys:
        samples += [0.0] * 480 + key_tone(k, 80)  # 60 ms pause, 80 ms tone
    samples += [0.0] * 480
    # Two tones of amplitude 6000: power 2 × 6000²/2; noise 15 dB below that.
    pcm = with_noise(samples, 15.0, 6000.0**2, seed=1)
    assert detect(pcm) == keys


def test_through_g711_and_with_twist() -> None:
    samples = [0.0] * 400 + key_tone("5", 60, twist_db=-6) + [0.0] * 400
    samples += key_tone("9", 60, amp=3000, twist_db=3) + [0.0] * 400
    pcm = pcm_from_samples(samples)
    assert detect(PCMU.decode(PCMU.encode(pcm))) == "59"
    # Too much twist (12 dB) is not a key.
    assert detect(pcm_from_samples(key_tone("5", 100, twist_db=-12))) == ""


def test_duration_reported_and_minimum_duration() -> None:
    det = GoertzelDetector()
    out = det.feed(pcm_from_samples([0.0] * 300 + key_tone("7", 200) + [0.0] * 800), 1.0)
    assert [d.digit for d in out] == ["7"]
    assert out[0].duration_ms == pytest.approx(200, abs=26)  # block quantisation 12.75 ms
    for offset in range(0, 102, 17):
        silence = [0.0] * offset
        assert detect(pcm_from_samples(silence + key_tone("4", 40) + [0.0] * 400)) == "4"
        assert detect(pcm_from_samples(silence + key_tone("4", 15) + [0.0] * 400)) == ""


def test_held_key_with_a_short_dropout_is_one_digit_and_pause_separates_repeats() -> None:
    tone = key_tone("8", 100)
    dropout = [0.0] * 60  # 7.5 ms: shorter than a block
    assert detect(pcm_from_samples(tone + dropout + tone + [0.0] * 400)) == "8"
    pause = [0.0] * 400  # 50 ms
    assert detect(pcm_from_samples(tone + pause + tone + [0.0] * 400)) == "88"


def test_no_false_detection_on_ringback_noise_and_speech() -> None:
    ring = [8000 * math.sin(2 * math.pi * 450 * i / RATE) for i in range(RATE * 2)]
    assert detect(pcm_from_samples(ring)) == ""
    rng = random.Random(7)
    assert detect(pcm_from_samples([rng.gauss(0, 4000) for _ in range(RATE * 2)])) == ""
    # Speech-like: a voiced buzz whose pitch glides through 697/5 and 1209/9 Hz,
    # so harmonics sweep across the DTMF frequencies.
    buzz, phase = [], 0.0
    for i in range(RATE * 3):
        f0 = 110 + 80 * (0.5 + 0.5 * math.sin(2 * math.pi * 0.7 * i / RATE))
        phase += 2 * math.pi * f0 / RATE
        buzz.append(sum(3000 / h * math.sin(h * phase) for h in range(1, 16)))
    assert detect(pcm_from_samples(buzz)) == ""
    # Real synthetic speech: the welcome prompt and the shipped bilingual ones.
    assert detect(load_wav(DATA / "welcome.wav").pcm) == ""
    prompts = Path(__file__).parents[3] / "hotline" / "media" / "prompts"
    for name in ("greeting", "menu"):
        assert detect(load_wav(prompts / f"{name}.wav").pcm) == "", name
