"""G.711 encode/decode, transcoding error bounds, packet timing."""

import math

import pytest

from hotline.media.codecs import (
    PCMA,
    PCMU,
    UnsupportedCodec,
    codec_for_payload_type,
    codec_named,
    dbfs,
    mix,
    pcm_from_samples,
    rms,
    samples_from_pcm,
    samples_per_packet,
    silence_pcm,
    transcode,
)


def sine(freq: float, n: int, amp: float = 10000.0) -> bytes:
    return pcm_from_samples([amp * math.sin(2 * math.pi * freq * i / 8000) for i in range(n)])


def test_names_and_payload_types() -> None:
    assert codec_named("pcmu") is PCMU and codec_named("PCMA") is PCMA
    assert codec_for_payload_type(8) is PCMA
    with pytest.raises(UnsupportedCodec):
        codec_named("opus")
    with pytest.raises(UnsupportedCodec):
        codec_for_payload_type(18)


def test_silence_decodes_to_zero() -> None:
    for codec in (PCMU, PCMA):
        payload = codec.silence(160)
        assert len(payload) == 160
        # A-law has no exact zero: its smallest code decodes to ±8.
        assert max(abs(s) for s in samples_from_pcm(codec.decode(payload))) <= 8


@pytest.mark.parametrize("codec", [PCMU, PCMA])
def test_round_trip_error_is_within_g711_quantisation(codec) -> None:
    pcm = sine(1000, 800, 20000) + sine(300, 800, 300)
    back = codec.decode(codec.encode(pcm))
    src, out = samples_from_pcm(pcm), samples_from_pcm(back)
    assert len(out) == len(src)
    for a, b in zip(src, out, strict=True):
        # G.711 is logarithmic: the step is ≤ 1/16 of the segment, i.e. ≲ 3.2 % of |x|,
        # plus the smallest step near zero.
        assert abs(a - b) <= abs(a) * 0.032 + 16
    # Signal-to-quantisation-noise ratio of a loud sine: ~38 dB for G.711.
    noise = pcm_from_samples([a - b for a, b in zip(src[:800], out[:800], strict=True)])
    snr = 20 * math.log10(rms(pcm[:1600]) / max(rms(noise), 1))
    assert snr > 33


def test_transcode_matches_decode_encode_and_round_trips() -> None:
    payload = bytes(range(256))
    a = transcode(payload, PCMU, PCMA)
    assert a == PCMA.encode(PCMU.decode(payload))
    back = transcode(a, PCMA, PCMU)
    # Two quantisations: every sample within one A-law step of the original.
    for x, y in zip(samples_from_pcm(PCMU.decode(payload)),
                    samples_from_pcm(PCMU.decode(back)), strict=True):
        assert abs(x - y) <= abs(x) * 0.07 + 16
    assert transcode(payload, PCMU, PCMU) is payload


def test_ptime() -> None:
    assert samples_per_packet(20) == 160
    assert samples_per_packet(10) == 80
    assert samples_per_packet(60) == 480
    with pytest.raises(ValueError):
        samples_per_packet(5)
    with pytest.raises(ValueError):
        samples_per_packet(80)


def test_levels_and_mix() -> None:
    assert rms(silence_pcm(10)) == 0 and dbfs(silence_pcm(10)) == -math.inf
    assert dbfs(sine(1000, 8000, 32767)) == pytest.approx(0, abs=0.1)
    assert dbfs(sine(1000, 8000, 3277)) == pytest.approx(-20, abs=0.1)
    m = samples_from_pcm(mix(pcm_from_samples([30000, 1, -30000]), pcm_from_samples([10000])))
    assert list(m) == [32767, 1, -30000]  # saturates, pads the shorter
