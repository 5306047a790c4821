"""Speech for the IVR: where prompts are, espeak-ng synthesis, whisper assembly.

Theory of operation.

*Lookup.* A prompt has an id ("greeting", "digit-7", "category-network") and
is wanted in a language, "zh" or "en". `PromptLibrary.resolve` looks, in
order, for a recording made for that language (``<dir>/<id>.<lang>.wav``), a
recording for any language (``<dir>/<id>.wav``), and what the builder
synthesised (``<dir>/generated/<id>.<lang>.wav``). An operator who drops a
recording in overrides the synthetic voice without touching configuration;
the builder (`hotline.calls.prompt_build`) writes only under ``generated/``.

*Synthesis.* `Synthesizer` runs espeak-ng (never through a shell, the text
one argument after ``--``) with an overall timeout; a timed-out or cancelled
run has its whole process group killed and reaped. The CPU work then runs in
a worker thread: espeak-ng writes 22.05 kHz, whose 4–11 kHz (fricatives)
the linear-interpolating resampler of `audioop` -- the one
`hotline.media.wav` uses -- would fold back into the telephone band as hiss,
so the audio is low-passed first (a 63-tap windowed sinc done with `audioop`
on 32-bit samples, so no pure-Python loop over samples), resampled to 8 kHz,
trimmed to `edge_ms` of silence at each end (fragments played back to back
then sound like one sentence), normalised to a −3 dBFS peak and written
atomically (temporary file, then rename) as 8 kHz mono 16-bit PCM.

*Voices.* For "zh" the first of ``cmn-latn-pinyin``, ``cmn``, ``zh`` that
espeak-ng has. The pinyin voice comes first on purpose: espeak-ng 1.51 (the
Debian 12 package) gives many characters as pinyin with a tone digit, and
the ``cmn`` voice reads Latin as English, so 三 comes out as "san one" and
您好 as "nin two hao three"; the pinyin voice reads that pinyin as Mandarin
and still reads words that are not pinyin (John, Outlook) as English. For
"en", ``en-us`` or else ``en``. English text holding Han characters (a
Chinese name in an English whisper) is cut into runs: the Han runs are
spoken by the zh voice, the rest by the en voice.

*Whispers.* `Speech.whisper` lists the WAVs that tell the engineer who is
calling and about what. Fixed fragments come from the library; a caller's
name and department are synthesised on demand into ``generated/cache/``,
named by a hash of language and text, so the next call from the same person
costs a ``stat``. The cache is bounded (oldest modification time evicted;
a hit refreshes it). Anything missing is synthesised if possible, else
skipped -- a whisper never fails the call -- and after one failed synthesis
a whisper stops trying others, so a hanging espeak-ng delays the engineer by
one timeout at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import secrets
import signal
import tempfile
import unicodedata
import wave
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hotline.media.codecs import SAMPLE_RATE, SAMPLE_WIDTH, audioop
from hotline.media.wav import write_wav

__all__ = [
    "FRAGMENTS",
    "LANGS",
    "Category",
    "PromptLibrary",
    "Segment",
    "Speech",
    "SpeechError",
    "Synthesizer",
    "category_text",
    "check_prompt_id",
    "clean_text",
    "issue_digits",
]

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
"""Languages prompts exist in."""
DEFAULT_LANG = "zh"
VOICE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "zh": ("cmn-latn-pinyin", "cmn", "zh"),
    "en": ("en-us", "en"),
}
MAX_TEXT = 500
"""Longest text synthesised, in characters (a prompt is a sentence or two)."""

Category = tuple[str, str, str | None, str | None]
"""An issue category as speech needs it: (id, Chinese name, English name or None, menu digit or None)."""

# Digits are read the way Chinese operators read phone, room and ticket numbers:
# 1 as 幺 (yāo), because 一 (yī) is easily taken for 七 (qī) on a narrowband line.
_ZH_DIGITS = "零幺二三四五六七八九"
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_STATUS_WORDS: dict[str, dict[str, str]] = {
    "new": {"zh": "已受理，待登记", "en": "received, not yet recorded"},
    "recorded": {"zh": "已登记，待派单", "en": "recorded, waiting to be assigned"},
    "dispatched": {"zh": "已派单", "en": "assigned to an engineer"},
    "in_progress": {"zh": "处理中", "en": "being worked on"},
    "pending_caller": {"zh": "等待您的答复", "en": "waiting for your reply"},
    "resolved": {"zh": "已解决", "en": "resolved"},
    "callback_done": {"zh": "已回访", "en": "resolved and followed up"},
    "closed": {"zh": "已关闭", "en": "closed"},
    "reopened": {"zh": "已重新打开", "en": "reopened"},
}
"""Issue statuses (``hotline.issues.Status``) in words a caller understands."""


def _zh_number(n: int) -> str:
    """1..99 in Chinese numerals as dates are read (一, not the 幺 of digit strings)."""
    digits = "零一二三四五六七八九"
    tens, units = divmod(n, 10)
    if tens == 0:
        return digits[units]
    return f"{'' if tens == 1 else digits[tens]}十{digits[units] if units else ''}"


def _en_ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"the {n}{suffix}"


FRAGMENTS: dict[str, dict[str, str]] = {
    **{f"digit-{d}": {"zh": _ZH_DIGITS[d], "en": _EN_DIGITS[d]} for d in range(10)},
    "whisper-call-from": {"zh": "来电：", "en": "Call from"},
    "whisper-department": {"zh": "部门：", "en": "department"},
    "whisper-unknown": {"zh": "未知号码", "en": "an unknown number"},
    "whisper-category": {"zh": "问题类别：", "en": "About:"},
    "whisper-issue": {"zh": "工单号：", "en": "Issue number:"},
    "whisper-accept": {"zh": "接听请按1，拒绝请按2。", "en": "Press 1 to accept, 2 to decline."},
    # Both sides of a recorded bridge hear it first ([routing] record, announce_recording).
    "recorded": {"zh": "本通话将被录音。", "en": "This call is recorded."},
    **{f"month-{m}": {"zh": f"{_zh_number(m)}月", "en": _EN_MONTHS[m - 1]} for m in range(1, 13)},
    **{f"day-{d}": {"zh": f"{_zh_number(d)}日", "en": _en_ordinal(d)} for d in range(1, 32)},
    # The repeat caller's offer and the status read-back (hotline.calls.self_service).
    "offer-one": {"zh": "您有一个处理中的问题。", "en": "You have an open issue."},
    "offer-two": {"zh": "您有两个处理中的问题。", "en": "You have two open issues."},
    "issue-number": {"zh": "编号", "en": "Number"},
    **{f"offer-add-{k}": {"zh": f"补充这个问题请按{k}。", "en": f"To add to this issue, press {k}."}
       for k in (1, 2)},
    **{f"offer-new-{k}": {"zh": f"报告新问题请按{k}。", "en": f"To report a new problem, press {k}."}
       for k in (2, 3)},
    "status-intro": {"zh": "您最近的问题，编号", "en": "Your latest issue, number"},
    "status-none": {"zh": "没有找到您的问题记录。", "en": "We have no issue on record for you."},
    "status-is": {"zh": "状态：", "en": "Status:"},
    **{f"status-{state}": words for state, words in _STATUS_WORDS.items()},
    "status-owner": {"zh": "处理人：", "en": "Handled by"},
    "status-unassigned": {"zh": "尚未指派处理人。", "en": "Nobody is assigned yet."},
    "status-planned": {"zh": "计划", "en": "Planned to be done by"},
    "status-planned-end": {"zh": "前完成。", "en": "at the latest."},
    "status-progress": {"zh": "最近进展：", "en": "Last update on"},
    # A major incident: after its announcement (hotline.incidents).
    "incident-press": {"zh": "如果您是因为这个问题来电，请按1；其他问题请按2。",
                       "en": "If you are calling about this, press 1. For anything else, press 2."},
    # The automated callback survey (hotline.calls.survey): the issue's number and category
    # are spoken between "survey-intro" and "survey-how".
    "survey-intro": {"zh": "您好，这里是信息中心服务台，对您报告的问题进行回访。问题编号",
                     "en": "Hello, this is the IT service desk, following up on the issue you reported, "
                           "number"},
    "survey-how": {"zh": "请用电话按键为我们的服务打分，1分最差，5分最好。如果问题没有解决，请随时按0。",
                   "en": "Please score our service on your keypad, from 1, the worst, to 5, the best. "
                         "If the problem is not solved, press 0 at any time."},
    "survey-efficiency": {"zh": "处理效率，请按1到5。", "en": "How quickly was it handled? Press 1 to 5."},
    "survey-result": {"zh": "处理效果，请按1到5。", "en": "How well was it solved? Press 1 to 5."},
    "survey-attitude": {"zh": "服务态度，请按1到5。", "en": "How was the engineer's attitude? Press 1 to 5."},
    "survey-not-fixed-noted": {"zh": "已记录问题没有解决，我们会重新处理。",
                               "en": "Noted: the problem is not solved. We will work on it again."},
    "survey-invalid": {"zh": "请按1到5。", "en": "Please press a key from 1 to 5."},
    "survey-thanks": {"zh": "感谢您的评价，再见。", "en": "Thank you for your feedback. Goodbye."},
    "survey-goodbye": {"zh": "没有收到您的评价，我们稍后再联系您，再见。",
                       "en": "We did not get your scores. We will call again later. Goodbye."},
}
"""The fixed fragments of whispers and number read-backs: prompt id → language → text."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(rf"[{_HAN}](?:[{_HAN}\u3000-\u303f\uff00-\uffef\s]*[{_HAN}])?")


class SpeechError(RuntimeError):
    """Text could not be spoken: espeak-ng missing, failing, too slow or silent, or nothing to say."""


def check_prompt_id(prompt_id: str) -> str:
    """`prompt_id` if it can name a file (letters, digits, ``-``, ``_``); else ValueError."""
    if not _ID.match(prompt_id):
        raise ValueError(f"prompt id {prompt_id!r}: use letters, digits, '-' and '_' (it names a file)")
    return prompt_id


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def clean_text(text: str) -> str:
    """`text` with control characters and runs of white space made single spaces; SpeechError if empty."""
    cleaned = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in text).split())
    if not cleaned:
        raise SpeechError("nothing to say: the text is empty")
    if len(cleaned) > MAX_TEXT:
        raise SpeechError(f"text of {len(cleaned)} characters is longer than {MAX_TEXT}")
    return cleaned


def category_text(category: Category, lang: str) -> str:
    """What a category is called in `lang` (the Chinese name when it has no English one)."""
    _, zh_name, en_name, _ = category
    return en_name if lang == "en" and en_name else zh_name


def issue_digits(issue_number: str) -> str:
    """The digits read out for an issue number: its last digit run without leading zeros.

    "HL-2026-000123" is read "123": the prefix and year are the same for every
    call this year, and the sequence number alone finds the issue in the
    console, so reading them would only lengthen the whisper.
    """
    runs = re.findall(r"[0-9]+", issue_number)
    return (runs[-1].lstrip("0") or "0") if runs else ""


class PromptLibrary:
    """Where the WAV for a prompt id and language is: recordings first, then generated."""

    def __init__(self, prompts_dir: Path) -> None:
        self.prompts_dir = Path(prompts_dir)

    @property
    def generated_dir(self) -> Path:
        """Where the builder writes (and nothing else does)."""
        return self.prompts_dir / "generated"

    @property
    def cache_dir(self) -> Path:
        """Where names and other call-time texts are synthesised."""
        return self.generated_dir / "cache"

    def generated_path(self, prompt_id: str, lang: str) -> Path:
        """The builder's file for this prompt and language."""
        return self.generated_dir / f"{check_prompt_id(prompt_id)}.{_check_lang(lang)}.wav"

    def candidates(self, prompt_id: str, lang: str) -> tuple[Path, Path, Path]:
        """The files `resolve` tries, in order."""
        check_prompt_id(prompt_id)
        return (
            self.prompts_dir / f"{prompt_id}.{_check_lang(lang)}.wav",
            self.prompts_dir / f"{prompt_id}.wav",
            self.generated_path(prompt_id, lang),
        )

    def resolve(self, prompt_id: str, lang: str) -> Path | None:
        """The WAV to play for this prompt in `lang`, or None; ValueError for a bad id or language."""
        return next((p for p in self.candidates(prompt_id, lang) if p.is_file()), None)

    def exists(self, prompt_id: str, lang: str) -> bool:
        """Whether `resolve` finds a file."""
        return self.resolve(prompt_id, lang) is not None

    def cache_path(self, text: str, lang: str) -> Path:
        """The cache file for `text` (already cleaned) spoken in `lang`."""
        digest = hashlib.sha256(f"{_check_lang(lang)}\n{text}".encode()).hexdigest()
        return self.cache_dir / f"{digest}.wav"


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of text and the espeak-ng voice that speaks it."""

    voice: str
    text: str


def parse_voice_list(listing: str) -> set[str]:
    """The names ``espeak-ng -v`` accepts, from the output of ``espeak-ng --voices`` (lower case)."""
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            names.add(fields[1].lower())
            names.add(fields[4].rsplit("/", 1)[-1].lower())
    return names


class Synthesizer:
    """Text to 8 kHz mono 16-bit WAV files with espeak-ng."""

    def __init__(
        self,
        *,
        espeak: str = "espeak-ng",
        speed: int = 160,
        timeout: float = 5.0,
        voices: Mapping[str, str] | None = None,
        edge_ms: int = 60,
    ) -> None:
        self.espeak = espeak
        """The espeak-ng program (a name looked up in PATH, or a path)."""
        self.speed = speed
        """Words per minute (``-s``)."""
        self.timeout = timeout
        """Seconds one text may take, all espeak-ng runs included."""
        self.edge_ms = edge_ms
        """Silence kept at each end of a file."""
        self._voices: dict[str, str] | None = dict(voices) if voices is not None else None
        self._voices_lock = asyncio.Lock()
        self.renders = 0
        """Texts given to `synthesize` (cache hits elsewhere do not count)."""

    async def voices(self) -> dict[str, str]:
        """The voice for each language espeak-ng can speak, found once from ``espeak-ng --voices``."""
        async with self._voices_lock:
            if self._voices is None:
                try:
                    async with asyncio.timeout(self.timeout):
                        listing = await self._run([self.espeak, "--voices"])
                except TimeoutError:
                    raise SpeechError(f"{self.espeak} --voices took over {self.timeout:g} s") from None
                available = parse_voice_list(listing.decode(errors="replace"))
                self._voices = {
                    lang: next(v for v in names if v in available)
                    for lang, names in VOICE_CANDIDATES.items()
                    if any(v in available for v in names)
                }
                log.info("speech: espeak-ng voices %s", self._voices)
            return dict(self._voices)

    def plan(self, text: str, lang: str, voices: Mapping[str, str]) -> list[Segment]:
        """How `text` is spoken in `lang`: one segment, or Han runs of English text split off."""
        text = clean_text(text)
        voice = voices.get(_check_lang(lang))
        if voice is None:
            tried = ", ".join(VOICE_CANDIDATES[lang])
            raise SpeechError(f"espeak-ng has no voice for {lang!r} (tried {tried})")
        zh_voice = voices.get("zh")
        if lang == "zh" or zh_voice is None or not _HAN_RUN.search(text):
            return [Segment(voice, text)]
        segments: list[Segment] = []
        pos = 0
        for run in _HAN_RUN.finditer(text):
            segments += _segment(voice, text[pos : run.start()]) + _segment(zh_voice, run.group())
            pos = run.end()
        return segments + _segment(voice, text[pos:])

    async def fingerprint(self, text: str, lang: str) -> str:
        """A hash of everything that makes the audio (voices, speed, text): equal means no re-render."""
        segments = self.plan(text, lang, await self.voices())
        recipe = [_RENDER_VERSION, self.speed, self.edge_ms, [[s.voice, s.text] for s in segments]]
        return hashlib.sha256(json.dumps(recipe, ensure_ascii=False).encode()).hexdigest()

    async def synthesize(self, text: str, lang: str, out: Path, *, timeout: float | None = None) -> Path:
        """Speak `text` in `lang` into the WAV `out` (replaced atomically); SpeechError on failure."""
        out = Path(out)
        limit = self.timeout if timeout is None else timeout
        self.renders += 1
        segments = self.plan(text, lang, await self.voices())
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="hotline-speech-") as scratch:
            raws = [Path(scratch, f"{i}.wav") for i in range(len(segments))]
            try:
                async with asyncio.timeout(limit):
                    for segment, raw in zip(segments, raws, strict=True):
                        speed = str(self.speed)
                        argv = [self.espeak, "-v", segment.voice, "-s", speed, "-w", str(raw)]
                        await self._run([*argv, "--", segment.text])
            except TimeoutError:
                raise SpeechError(f"{self.espeak} took over {limit:g} s for {text!r}; killed") from None
            await asyncio.to_thread(_render, raws, out, self.edge_ms)
        return out

    async def _run(self, argv: list[str]) -> bytes:
        """Run a program to completion, its output; SpeechError unless it exits 0."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a kill reaches its children too
            )
        except OSError as exc:
            raise SpeechError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        try:
            stdout, stderr = await proc.communicate()
        except BaseException:  # timed out or cancelled: leave nothing running
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        if proc.returncode != 0:
            why = stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise SpeechError(f"{argv[0]} failed: {why}")
        return stdout


def _segment(voice: str, text: str) -> list[Segment]:
    text = text.strip()
    return [Segment(voice, text)] if any(c.isalnum() for c in text) else []


# --- audio, run in a worker thread ------------------------------------------------------------

_RENDER_VERSION = 1
"""Bump when the processing below changes, so that the builder renders again."""
_WIDE = 4
"""Bytes per sample while processing: 32-bit, at a quarter of full scale for headroom."""
_WIDE_FULL = 1 << 29
_SILENT = _WIDE_FULL // 1000
"""Peak under −60 dBFS: espeak-ng said nothing."""
_TARGET_PEAK = round(32767 * 10 ** (-3 / 20)) << 16
"""−3 dBFS, in 32-bit samples."""
_CUTOFF_HZ = 3600
_TAPS = 63


@functools.lru_cache(maxsize=4)
def _lowpass_taps(rate: int) -> tuple[float, ...]:
    """A Hamming-windowed sinc low-pass at `_CUTOFF_HZ` for `rate`, unity gain at DC."""
    fc = _CUTOFF_HZ / rate
    mid = (_TAPS - 1) / 2
    taps = [
        (2 * fc if i == mid else math.sin(2 * math.pi * fc * (i - mid)) / (math.pi * (i - mid)))
        * (0.54 - 0.46 * math.cos(2 * math.pi * i / (_TAPS - 1)))
        for i in range(_TAPS)
    ]
    total = sum(taps)
    return tuple(t / total for t in taps)


def _lowpass(wide: bytes, rate: int) -> bytes:
    """FIR-filter 32-bit samples: one shifted, scaled copy per tap, summed by `audioop` (C speed)."""
    taps = _lowpass_taps(rate)
    pad = bytes(_WIDE * (len(taps) // 2))
    padded = pad + wide + pad
    acc = bytes(len(wide))
    for k, h in enumerate(taps):
        shifted = padded[k * _WIDE : k * _WIDE + len(wide)]
        acc = audioop.add(acc, audioop.mul(shifted, _WIDE, h), _WIDE)
    return acc


def _read_8k(raw: Path) -> bytes:
    """An espeak-ng WAV as 32-bit samples at 8 kHz (quarter scale)."""
    try:
        with wave.open(str(raw), "rb") as w:
            if w.getsampwidth() != SAMPLE_WIDTH or w.getnchannels() != 1:
                raise SpeechError(f"espeak-ng wrote {w.getnchannels()}-channel {8 * w.getsampwidth()}-bit")
            rate = w.getframerate()
            pcm = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise SpeechError(f"espeak-ng wrote no usable WAV ({exc})") from exc
    wide = audioop.mul(audioop.lin2lin(pcm, SAMPLE_WIDTH, _WIDE), _WIDE, 0.25)
    if rate != SAMPLE_RATE:
        if rate > SAMPLE_RATE:
            wide = _lowpass(wide, rate)
        wide, _ = audioop.ratecv(wide, _WIDE, 1, rate, SAMPLE_RATE, None)
    return wide


def _trim(wide: bytes, edge_ms: int) -> bytes:
    """Cut the silence at both ends down to `edge_ms`; empty if all of it is silence."""
    peak = audioop.max(wide, _WIDE) if wide else 0
    if peak < _SILENT:
        return b""
    window = SAMPLE_RATE // 100 * _WIDE  # 10 ms
    threshold = peak // 100  # −40 dB under the peak
    loud = [i for i in range(0, len(wide), window) if audioop.rms(wide[i : i + window], _WIDE) > threshold]
    keep = SAMPLE_RATE * edge_ms // 1000 * _WIDE
    return wide[max(0, loud[0] - keep) : loud[-1] + window + keep]


def _render(raws: list[Path], out: Path, edge_ms: int) -> None:
    """espeak-ng's files → one normalised 8 kHz 16-bit WAV at `out`, written atomically."""
    wide = b"".join(_trim(_read_8k(raw), edge_ms) for raw in raws)
    if not wide:
        raise SpeechError("espeak-ng produced only silence")
    wide = audioop.mul(wide, _WIDE, _TARGET_PEAK / audioop.max(wide, _WIDE))
    pcm = audioop.lin2lin(wide, _WIDE, SAMPLE_WIDTH)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write_wav(tmp, pcm)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- whispers ---------------------------------------------------------------------------------


class _Attempt:
    """One whisper's state: after a synthesis fails, it stops synthesising."""

    def __init__(self) -> None:
        self.synthesis_failed = False


def _count_wavs(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.wav")) if folder.is_dir() else 0


def _evict(folder: Path, keep: int) -> int:
    """Delete the oldest (by modification time) WAVs of `folder` beyond `keep`; the count left."""
    files: list[tuple[float, Path]] = []
    for path in folder.glob("*.wav"):
        with contextlib.suppress(OSError):
            files.append((path.stat().st_mtime, path))
    files.sort()
    for _, path in files[: max(0, len(files) - keep)]:
        with contextlib.suppress(OSError):
            path.unlink()
    return min(len(files), keep)


class Speech:
    """Call-time speech: cached synthesis of names, number read-backs, whispers to engineers."""

    def __init__(
        self,
        library: PromptLibrary,
        synthesizer: Synthesizer,
        *,
        categories: Iterable[Category] = (),
        max_cached: int = 2000,
        timeout: float = 2.0,
    ) -> None:
        self.library = library
        self.synthesizer = synthesizer
        self.max_cached = max_cached
        """Files kept in the cache; beyond that the oldest tenth is evicted."""
        self.timeout = timeout
        """Seconds a call-time synthesis may take before the whisper does without it."""
        self._categories = {c[0]: c for c in categories}
        self._cached: int | None = None

    async def say(self, text: str, lang: str) -> Path:
        """`text` spoken in `lang`: the cached file, synthesised first if needed (SpeechError)."""
        return await self._say(clean_text(text), lang, _Attempt())

    async def fragment(self, prompt_id: str, lang: str) -> Path | None:
        """A fixed fragment or ``category-<id>``: the library's file, else synthesised, else None."""
        return await self._fragment(prompt_id, lang, _Attempt())

    async def digits(self, text: str, lang: str) -> list[Path]:
        """The digit fragments that read the ASCII digits of `text` one by one (others skipped)."""
        return await self._digits(text, lang, _Attempt())

    async def whisper(
        self,
        lang: str,
        *,
        caller_name: str | None,
        department: str | None,
        number: str | None,
        category_id: str | None,
        issue_number: str,
    ) -> list[Path]:
        """The WAVs to play, in order, to the engineer who answers; never raises (but cancellation)."""
        if lang not in LANGS:
            log.warning("whisper: no language %r, speaking %s", lang, DEFAULT_LANG)
            lang = DEFAULT_LANG
        attempt = _Attempt()
        parts: list[Path | None] = []
        try:
            parts.append(await self._fragment("whisper-call-from", lang, attempt))
            name = await self._text(caller_name, lang, attempt, "caller name") if caller_name else None
            if name is not None:
                parts.append(name)
                dept = await self._text(department, lang, attempt, "department") if department else None
                if dept is not None:
                    parts += [await self._fragment("whisper-department", lang, attempt), dept]
            elif number and any(c in "0123456789" for c in number):
                parts += await self._digits(number, lang, attempt)
            else:
                parts.append(await self._fragment("whisper-unknown", lang, attempt))
            if category_id:
                category = await self._fragment(f"category-{category_id}", lang, attempt)
                if category is not None:
                    parts += [await self._fragment("whisper-category", lang, attempt), category]
            issue = issue_digits(issue_number)
            if issue:
                parts += [await self._fragment("whisper-issue", lang, attempt)]
                parts += await self._digits(issue, lang, attempt)
            parts.append(await self._fragment("whisper-accept", lang, attempt))
        except Exception:
            log.exception("whisper: assembly failed; playing what was found")
        return [p for p in parts if p is not None]

    async def _text(self, text: str, lang: str, attempt: _Attempt, what: str) -> Path | None:
        try:
            return await self._say(clean_text(text), lang, attempt)
        except SpeechError as exc:
            log.warning("whisper: cannot say the %s %r: %s", what, text, exc)
            return None

    async def _fragment(self, prompt_id: str, lang: str, attempt: _Attempt) -> Path | None:
        try:
            found = self.library.resolve(prompt_id, lang)
        except ValueError as exc:
            log.warning("speech: %s", exc)
            return None
        if found is not None:
            return found
        text = FRAGMENTS.get(prompt_id, {}).get(lang)
        if text is None and prompt_id.startswith("category-"):
            category = self._categories.get(prompt_id.removeprefix("category-"))
            text = category_text(category, lang) if category is not None else None
        if text is None:
            log.warning("speech: no prompt %s for %s and no text to synthesise it", prompt_id, lang)
            return None
        return await self._text(text, lang, attempt, prompt_id)

    async def _digits(self, text: str, lang: str, attempt: _Attempt) -> list[Path]:
        found = [await self._fragment(f"digit-{c}", lang, attempt) for c in text if c in "0123456789"]
        return [p for p in found if p is not None]

    async def _say(self, text: str, lang: str, attempt: _Attempt) -> Path:
        path = self.library.cache_path(text, lang)
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # a hit: now the newest, so evicted last
            return path
        if attempt.synthesis_failed:
            raise SpeechError("not tried: an earlier synthesis of this whisper failed")
        try:
            await self.synthesizer.synthesize(text, lang, path, timeout=self.timeout)
        except SpeechError:
            attempt.synthesis_failed = True
            raise
        await self._added_to_cache()
        return path

    async def _added_to_cache(self) -> None:
        if self._cached is None:
            self._cached = await asyncio.to_thread(_count_wavs, self.library.cache_dir)
        else:
            self._cached += 1
        if self._cached > self.max_cached:
            keep = self.max_cached * 9 // 10
            self._cached = await asyncio.to_thread(_evict, self.library.cache_dir, keep)
            log.info("speech: cache trimmed to %d files", self._cached)
