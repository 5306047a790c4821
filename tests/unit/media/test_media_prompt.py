"""WAV loading, prompt framing and the prompt cache.

data/welcome.wav is an 8 kHz µ-law WAV synthesised with espeak-ng
("Welcome ..." in English), converted with sox.
"""

import math
import os
import shutil
import struct
import wave
from pathlib import Path

import pytest

from hotline.media.codecs import PCMA, PCMU, pcm_from_samples, samples_from_pcm
from hotline.media.prompt import Prompt, PromptCache, PromptError
from hotline.media.wav import load_wav, write_wav

DATA = Path(__file__).parent / "data"
WELCOME = DATA / "welcome.wav"
PROMPTS = Path(__file__).parents[3] / "hotline" / "media" / "prompts"


def riff_data_chunk(path: Path) -> bytes:
    """The data chunk of a WAV, read independently of the code under test."""
    raw = path.read_bytes()
    pos = 12
    while pos < len(raw):
        cid, size = struct.unpack_from("<4sI", raw, pos)
        if cid == b"data":
            return raw[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def test_ulaw_wav_frames_are_the_source_bytes() -> None:
    source = riff_data_chunk(WELCOME)  # µ-law bytes as stored
    prompt = Prompt.load(WELCOME, PCMU, 20)
    assert prompt.source_samples == len(source)
    assert len(prompt.frames) == math.ceil(len(source) / 160)
    assert all(len(f) == 160 for f in prompt.frames)
    joined = b"".join(prompt.frames)
    # µ-law → linear → µ-law is lossless, so the frames are the file's bytes, then padding.
    assert joined[: len(source)] == source
    assert set(joined[len(source) :]) == {0xFF}
    assert prompt.duration == pytest.approx(len(prompt.frames) * 0.02)


def test_ptime_and_other_codec() -> None:
    p30 = Prompt.load(WELCOME, PCMA, 30)
    assert p30.samples_per_packet == 240
    assert len(p30.frames) == math.ceil(p30.source_samples / 240)
    assert p30.frames[-1].endswith(bytes([0xD5]))


def test_16k_pcm_is_resampled_and_stereo_mixed(tmp_path: Path) -> None:
    tone = [8000 * math.sin(2 * math.pi * 440 * i / 16000) for i in range(16000)]
    write_wav(tmp_path / "m16.wav", pcm_from_samples(tone), rate=16000)
    audio = load_wav(tmp_path / "m16.wav")
    assert audio.samples == pytest.approx(8000, abs=2)
    assert max(samples_from_pcm(audio.pcm)) == pytest.approx(8000, rel=0.02)
    stereo = b"".join(struct.pack("<hh", 1000, 3000) for _ in range(800))
    write_wav(tmp_path / "st.wav", stereo, channels=2)
    mixed = samples_from_pcm(load_wav(tmp_path / "st.wav").pcm)
    assert len(mixed) == 800 and set(mixed) == {2000}


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"nope\.wav: cannot read"):
        load_wav(tmp_path / "nope.wav")
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(PromptError, match="not a WAV"):
        load_wav(tmp_path / "text.wav")
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * 100)
    with pytest.raises(PromptError, match="8-bit PCM"):
        load_wav(tmp_path / "u8.wav")
    write_wav(tmp_path / "r96.wav", b"\0\0" * 10, rate=96000)
    with pytest.raises(PromptError, match="96000 Hz"):
        load_wav(tmp_path / "r96.wav")
    raw = bytearray(WELCOME.read_bytes())
    struct.pack_into("<I", raw, 24, 16000)  # claim 16 kHz µ-law
    (tmp_path / "u16.wav").write_bytes(bytes(raw))
    with pytest.raises(PromptError, match="8 kHz mono 8-bit"):
        load_wav(tmp_path / "u16.wav")


def test_cache_hits_and_reloads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "w.wav"
    shutil.copy(WELCOME, path)
    cache = PromptCache()
    a = cache.get(path, PCMU)
    assert cache.get(path, PCMU) is a
    b = cache.get(path, PCMA)
    assert b is not a and cache.loads == 1  # decoded once, encoded per codec
    assert cache.get(path, PCMU, 30) is not a
    write_wav(path, b"\0\0" * 1600)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    c = cache.get(path, PCMU)
    assert len(c.frames) == 10 and cache.loads == 2
    small = PromptCache(max_entries=1)
    small.get(path, PCMU)
    small.get(path, PCMA)
    assert len(small) == 1


@pytest.mark.parametrize("name", ["greeting", "menu", "voicemail", "invalid", "goodbye",
                                  "transfer"])
def test_shipped_prompts_load_and_are_small(name: str) -> None:
    path = PROMPTS / f"{name}.wav"
    assert path.stat().st_size < 200_000
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
    prompt = Prompt.load(path, PCMU)
    assert 1.0 < prompt.duration < 13.0
