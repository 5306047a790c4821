"""Speech: prompt lookup, espeak-ng synthesis, the prompt builder and whisper assembly.

Real espeak-ng and real files under tmp_path throughout. Only the failure
tests point the synthesizer at a missing program or at small shell scripts
(one that fails, one that hangs) standing in for espeak-ng.
"""

import asyncio
import math
import os
import shutil
import time
import wave
from pathlib import Path

import pytest

from hotline.calls.prompt_build import build_prompts
from hotline.calls.speech import (
    FRAGMENTS,
    PromptLibrary,
    Segment,
    Speech,
    SpeechError,
    Synthesizer,
    issue_digits,
)
from hotline.media.codecs import audioop
from hotline.media.wav import write_wav

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

TEXTS = {
    "greeting": {"zh": "您好，这里是信息中心服务热线。", "en": "Hello, this is the IT service desk hotline."},
    "goodbye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling, goodbye."},
}
CATEGORIES = [
    ("network", "网络问题", "Network", "2"),
    ("printer", "打印机", None, None),
]
VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us"}
MINUS_3_DBFS = 32767 * 10 ** (-3 / 20)


def wav_facts(path: Path) -> tuple[int, int, int, float, float, int]:
    """(rate, channels, sample width, seconds, RMS, peak), read with the standard `wave` module."""
    with wave.open(str(path), "rb") as w:
        pcm = w.readframes(w.getnframes())
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
    seconds = len(pcm) / (rate * channels * width)
    return rate, channels, width, seconds, audioop.rms(pcm, width), audioop.max(pcm, width)


def silence(path: Path, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, bytes(int(8000 * seconds) * 2))
    return path


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def running(pid: int) -> bool:
    """Whether a process runs (a zombie, killed but not yet reaped by init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prompts folder with every fragment, category and TEXTS prompt generated, built once."""
    prompts = tmp_path_factory.mktemp("built")
    report = asyncio.run(build_prompts(prompts, TEXTS, CATEGORIES))
    assert report.ok, report.failed
    return prompts


@pytest.fixture
def prompts(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built folder (whispers write to its cache)."""
    return Path(shutil.copytree(built, tmp_path / "prompts"))


def speech_for(
    prompts: Path, synth: Synthesizer | None = None, *, max_cached: int = 2000, timeout: float = 2.0
) -> Speech:
    synth = synth or Synthesizer()
    return Speech(
        PromptLibrary(prompts), synth, categories=CATEGORIES, max_cached=max_cached, timeout=timeout
    )


# --- synthesis -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text"),
    [("zh", "张伟，财务部"), ("en", "John Smith, finance department"), ("en", "For 网络问题, press 2.")],
)
async def test_synthesis_is_8k_mono_16bit_speech_at_minus_3_dbfs(
    tmp_path: Path, lang: str, text: str
) -> None:
    out = tmp_path / "deep" / "name.wav"
    assert await Synthesizer().synthesize(text, lang, out) == out
    rate, channels, width, seconds, rms, peak = wav_facts(out)
    assert (rate, channels, width) == (8000, 1, 2)
    assert 0.3 <= seconds <= 10
    assert rms > 1000  # speech, not silence
    assert 20 * math.log10(peak / 32767) == pytest.approx(-3, abs=0.5)
    assert os.listdir(out.parent) == ["name.wav"]  # no temporary file left behind


async def test_voices_prefer_pinyin_mandarin_and_american_english() -> None:
    voices = await Synthesizer().voices()
    assert voices["zh"] in ("cmn-latn-pinyin", "cmn")
    assert voices["en"] in ("en-us", "en")


def test_english_text_with_han_is_spoken_in_runs() -> None:
    synth = Synthesizer(voices=VOICES)
    assert synth.plan("For 网络问题, press 2.", "en", VOICES) == [
        Segment("en-us", "For"),
        Segment("cmn-latn-pinyin", "网络问题"),
        Segment("en-us", ", press 2."),
    ]
    assert synth.plan("网络问题请按2。", "zh", VOICES) == [Segment("cmn-latn-pinyin", "网络问题请按2。")]
    assert synth.plan("  Li\tMing \x00", "en", VOICES) == [Segment("en-us", "Li Ming")]


async def test_failures_raise_speech_error(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    with pytest.raises(SpeechError, match="cannot run"):
        await Synthesizer(espeak=str(tmp_path / "no-such-espeak")).synthesize("hello", "en", out)
    with pytest.raises(SpeechError, match="cannot run"):
        await Synthesizer(espeak=str(tmp_path / "no-such-espeak")).voices()
    failing = script(tmp_path, "failing", "echo 'voice exploded' >&2; exit 3")
    with pytest.raises(SpeechError, match="voice exploded"):
        await Synthesizer(espeak=failing, voices=VOICES).synthesize("hello", "en", out)
    with pytest.raises(SpeechError, match="nothing to say"):
        await Synthesizer().synthesize(" \n ", "en", out)
    with pytest.raises(SpeechError, match="silence"):
        await Synthesizer().synthesize("。", "zh", out)

    # A hanging espeak-ng: killed at the timeout with the whole process group, and reaped.
    pidfile = tmp_path / "pid"
    hanging = script(tmp_path, "hanging", f"sleep 1000 & echo $! > {pidfile}; wait")
    started = time.monotonic()
    with pytest.raises(SpeechError, match=r"took over 0\.3 s"):
        await Synthesizer(espeak=hanging, voices=VOICES, timeout=0.3).synthesize("hello", "en", out)
    assert time.monotonic() - started < 2
    sleeper = int(pidfile.read_text())
    for _ in range(50):
        if not running(sleeper):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the hanging script's child outlived the timeout")
    assert not out.exists()


# --- lookup ----------------------------------------------------------------------------------


def test_lookup_prefers_recordings_per_language_then_any_language_then_generated(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path)
    assert library.resolve("greeting", "zh") is None
    assert not library.exists("greeting", "zh")
    generated = silence(tmp_path / "generated" / "greeting.zh.wav")
    assert library.resolve("greeting", "zh") == generated
    recorded = silence(tmp_path / "greeting.wav")
    assert library.resolve("greeting", "zh") == recorded
    recorded_zh = silence(tmp_path / "greeting.zh.wav")
    assert library.resolve("greeting", "zh") == recorded_zh
    assert library.resolve("greeting", "en") == recorded
    assert library.exists("greeting", "en")
    with pytest.raises(ValueError, match="names a file"):
        library.resolve("../greeting", "zh")
    with pytest.raises(ValueError, match="language"):
        library.resolve("greeting", "fr")


# --- the builder -----------------------------------------------------------------------------


def expected_files() -> set[str]:
    names = {f"{pid}.{lang}.wav" for pid in [*FRAGMENTS, *TEXTS] for lang in ("zh", "en")}
    names |= {f"category-{c}.{lang}.wav" for c in ("network", "printer") for lang in ("zh", "en")}
    return names | {"menu-category-network.zh.wav", "menu-category-network.en.wav"}


async def test_build_renders_once_then_only_what_changed(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    recorded = silence(tmp_path / "goodbye.wav")
    recorded_bytes = recorded.read_bytes()

    first = await build_prompts(tmp_path, TEXTS, CATEGORIES)
    assert first.ok, first.failed
    assert set(first.rendered) == expected_files()
    assert first.overridden == ["goodbye.en.wav", "goodbye.zh.wav"]
    assert {p.name for p in generated.glob("*.wav")} == expected_files()
    assert (generated / "manifest.json").is_file()
    _, _, _, seconds, _, _ = wav_facts(generated / "menu-category-network.en.wav")
    assert seconds > 0.8

    second = await build_prompts(tmp_path, TEXTS, CATEGORIES)
    assert second.rendered == []
    assert set(second.up_to_date) == expected_files()

    changed = {**TEXTS, "goodbye": {**TEXTS["goodbye"], "en": "Goodbye."}}
    (generated / "digit-7.en.wav").unlink()
    third = await build_prompts(tmp_path, changed, CATEGORIES)
    assert third.rendered == ["digit-7.en.wav", "goodbye.en.wav"]

    forced = await build_prompts(tmp_path, changed, CATEGORIES, force=True)
    assert set(forced.rendered) == expected_files()
    assert recorded.read_bytes() == recorded_bytes
    assert not [p for p in generated.iterdir() if p.name.endswith(".tmp")]


async def test_build_reports_failures_and_builds_the_rest(tmp_path: Path) -> None:
    texts = {
        "greeting": {"zh": "您好。", "en": "。"},  # punctuation only: espeak-ng says nothing
        "../escape": {"zh": "不行"},
        "menu": {"fr": "Bonjour", "en": "Press 1."},
    }
    report = await build_prompts(tmp_path, texts, [("bad id", "坏", None, None), ("vpn", "VPN", None, "x")])
    failed = dict(report.failed)
    assert set(failed) == {
        "greeting.en.wav",
        "../escape",
        "menu.fr.wav",
        "category 'bad id'",
        "menu-category-vpn",
    }
    assert "silence" in failed["greeting.en.wav"]
    assert {"greeting.zh.wav", "menu.en.wav", "category-vpn.zh.wav"} <= set(report.rendered)
    assert not (tmp_path / "escape.zh.wav").exists()
    again = await build_prompts(tmp_path, texts, [("vpn", "VPN", None, "x")])
    assert again.rendered == []  # the failure is not in the manifest, and fails again
    assert "greeting.en.wav" in dict(again.failed)


async def test_build_with_espeak_missing_fails_every_file_without_raising(tmp_path: Path) -> None:
    report = await build_prompts(
        tmp_path, TEXTS, CATEGORIES, synthesizer=Synthesizer(espeak="/nonexistent/espeak-ng")
    )
    assert report.rendered == []
    assert {name for name, _ in report.failed} == expected_files()


# --- whispers --------------------------------------------------------------------------------


def gen(prompts: Path, *ids: str, lang: str = "zh") -> list[Path]:
    return [prompts / "generated" / f"{i}.{lang}.wav" for i in ids]


async def test_whisper_for_a_known_caller_caches_the_name(prompts: Path) -> None:
    synth = Synthesizer()
    speech = speech_for(prompts, synth)

    async def whisper() -> list[Path]:
        return await speech.whisper(
            "zh",
            caller_name="张伟",
            department="财务部",
            number="13800138000",
            category_id="network",
            issue_number="HL-2026-000123",
        )

    first = await whisper()
    assert synth.renders == 2  # name and department
    cache = prompts / "generated" / "cache"
    name, dept = first[1], first[3]
    assert name.parent == cache and dept.parent == cache and name != dept
    assert first == [
        *gen(prompts, "whisper-call-from"),
        name,
        *gen(prompts, "whisper-department"),
        dept,
        *gen(
            prompts, "whisper-category", "category-network", "whisper-issue", "digit-1", "digit-2", "digit-3"
        ),
        *gen(prompts, "whisper-accept"),
    ]
    assert all(p.is_file() for p in first)
    assert wav_facts(name)[:3] == (8000, 1, 2)

    second = await whisper()
    assert second == first
    assert synth.renders == 2  # no synthesis the second time


async def test_whisper_for_an_unknown_caller_reads_the_number(prompts: Path) -> None:
    synth = Synthesizer()
    speech = speech_for(prompts, synth)
    paths = await speech.whisper(
        "en",
        caller_name=None,
        department="IT",
        number="010-6275 1234",
        category_id=None,
        issue_number="HL-2026-000007",
    )
    digits = [f"digit-{d}" for d in "01062751234"]
    assert paths == gen(
        prompts, "whisper-call-from", *digits, "whisper-issue", "digit-7", "whisper-accept", lang="en"
    )
    assert synth.renders == 0

    anonymous = await speech.whisper(
        "en",
        caller_name=None,
        department=None,
        number="anonymous",
        category_id="printer",
        issue_number="HL-2026-000010",
    )
    assert anonymous == gen(
        prompts,
        "whisper-call-from",
        "whisper-unknown",
        "whisper-category",
        "category-printer",
        "whisper-issue",
        "digit-1",
        "digit-0",
        "whisper-accept",
        lang="en",
    )


async def test_whisper_synthesises_missing_fragments_and_skips_unknown_ones(prompts: Path) -> None:
    (prompts / "generated" / "category-network.en.wav").unlink()
    (prompts / "generated" / "whisper-accept.en.wav").unlink()
    synth = Synthesizer()
    speech = speech_for(prompts, synth)
    paths = await speech.whisper(
        "en",
        caller_name=None,
        department=None,
        number=None,
        category_id="network",
        issue_number="HL-2026-000001",
    )
    assert synth.renders == 2
    assert paths[3].parent.name == "cache"  # category-network, from its English name
    assert paths[-1].parent.name == "cache"  # whisper-accept, from its text
    assert len(paths) == 7

    nowhere = await speech.whisper(
        "en", caller_name=None, department=None, number=None, category_id="nowhere", issue_number="-"
    )
    assert nowhere == [*gen(prompts, "whisper-call-from", "whisper-unknown", lang="en"), paths[-1]]
    assert await speech.fragment("../../etc/passwd", "en") is None


async def test_whisper_falls_back_to_digits_when_synthesis_hangs(prompts: Path, tmp_path: Path) -> None:
    (prompts / "generated" / "category-network.zh.wav").unlink()
    hanging = script(tmp_path, "hanging", "exec sleep 1000")
    synth = Synthesizer(espeak=hanging, voices=VOICES)
    speech = speech_for(prompts, synth, timeout=0.3)
    started = time.monotonic()
    paths = await speech.whisper(
        "zh",
        caller_name="李明",
        department="人事部",
        number="8001",
        category_id="network",
        issue_number="HL-2026-000123",
    )
    # One timeout only: after the name failed, the missing category was not tried (and skipped).
    assert time.monotonic() - started < 1.5
    assert synth.renders == 1
    assert paths == gen(
        prompts,
        "whisper-call-from",
        "digit-8",
        "digit-0",
        "digit-0",
        "digit-1",
        "whisper-issue",
        "digit-1",
        "digit-2",
        "digit-3",
        "whisper-accept",
    )


async def test_digits_for_read_backs(prompts: Path) -> None:
    speech = speech_for(prompts)
    assert await speech.digits("No. 2026#", "en") == gen(
        prompts, "digit-2", "digit-0", "digit-2", "digit-6", lang="en"
    )
    assert await speech.digits("", "zh") == []


async def test_name_cache_is_bounded_oldest_first(prompts: Path) -> None:
    cache = prompts / "generated" / "cache"
    old = [silence(cache / f"{i:064x}.wav") for i in range(6)]
    for age, path in enumerate(old):
        os.utime(path, (1_000_000 - age * 1000,) * 2)  # old[0] is the newest
    speech = speech_for(prompts, max_cached=5)
    fresh = await speech.say("王芳", "zh")
    left = set(cache.glob("*.wav"))
    assert len(left) == 4  # trimmed to nine tenths of the bound
    assert fresh in left
    assert set(old[:3]) <= left


def test_issue_digits_are_the_sequence_without_leading_zeros() -> None:
    assert issue_digits("HL-2026-000123") == "123"
    assert issue_digits("HL-2026-000000") == "0"
    assert issue_digits("HL-2026-1234567") == "1234567"
    assert issue_digits("no digits") == ""
