"""Tone cadence and phase continuity across frames."""

import math

import pytest

from hotline.media.codecs import PCMA, PCMU, samples_from_pcm
from hotline.media.tones import BUSY, CONGESTION, DIAL, RINGBACK, ToneGenerator, render_cycle


def on_off_runs(samples: list[int]) -> list[tuple[bool, int]]:
    """Run lengths of tone/no-tone, judging 'on' by any non-zero sample."""
    runs: list[tuple[bool, int]] = []
    for s in samples:
        on = s != 0
        if runs and runs[-1][0] == on:
            runs[-1] = (on, runs[-1][1] + 1)
        else:
            runs.append((on, 1))
    return runs


def generate(spec, seconds: float, spp: int) -> list[int]:
    gen = ToneGenerator(spec, samples_per_packet=spp)
    out: list[int] = []
    for _ in range(int(seconds * 8000) // spp):
        out += samples_from_pcm(gen.next_pcm())
    return out


@pytest.mark.parametrize("spec, on_ms, off_ms", [
    (RINGBACK, 1000, 4000), (BUSY, 350, 350), (CONGESTION, 700, 700),
])
@pytest.mark.parametrize("spp", [160, 240, 80])  # 20, 30 and 10 ms frames
def test_cadence_exact_across_frames(spec, on_ms, off_ms, spp) -> None:
    samples = generate(spec, 3 * (on_ms + off_ms) / 1000, spp)
    runs = on_off_runs(samples)
    # A sine sample can be exactly zero at the start of an on-period (sin 0), so
    # count on-runs by their span: first non-zero to last non-zero of each burst.
    on, off = 8 * on_ms, 8 * off_ms
    burst_starts = [i for i in range(len(samples)) if i % (on + off) == 0]
    for start in burst_starts:
        burst = samples[start : start + on]
        gap = samples[start + on : start + on + off]
        assert sum(1 for s in burst if s != 0) >= on - on // 20  # zero crossings only
        assert not any(gap)
        assert any(burst[-20:])  # sounds to the end of the on-period
    assert samples[1] != 0 and runs[1][0] is True  # starts with the tone (sample 0 is sin 0)


def test_phase_continuous_and_450_hz() -> None:
    samples = generate(DIAL, 1.0, 160)
    # 450 Hz at -10 dBm0, i.e. -13.17 dBFS: peak 32767·10^(-13.17/20) ≈ 7193.
    amp = 32767 * 10 ** (-13.17 / 20)
    assert amp == pytest.approx(7193, abs=1)
    # Every sample matches one continuous sine: no phase jump at frame edges.
    for i in range(0, 8000, 37):
        assert samples[i] == pytest.approx(amp * math.sin(2 * math.pi * 450 * i / 8000), abs=1)
    # The dial tone's cycle is 160 samples (9 periods of 450 Hz).
    assert len(render_cycle(DIAL)) == 160 * 2


def test_encoded_payloads_match_encoded_pcm() -> None:
    for codec in (PCMU, PCMA):
        a = ToneGenerator(RINGBACK, samples_per_packet=160)
        b = ToneGenerator(RINGBACK, samples_per_packet=160)
        for _ in range(300):  # 6 s: crosses the 5 s cycle boundary
            assert a.next_payload(codec) == codec.encode(b.next_pcm())
