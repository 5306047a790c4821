"""Building the generated prompts: every flow text, whisper fragment and category, rendered once.

`build_prompts` renders into ``<prompts_dir>/generated/`` (see
`hotline.calls.speech.PromptLibrary` for how lookups prefer recordings):

- each flow prompt text, ``<id>.<lang>.wav``;
- the fixed fragments of `hotline.calls.speech.FRAGMENTS` (digits and the
  parts of a whisper), in every language;
- for each category, ``category-<id>.<lang>.wav`` (its name, for whispers)
  and, when it has a menu digit, ``menu-category-<id>.<lang>.wav``
  ("网络问题请按2。" / "For Network, press 2.").

``generated/manifest.json`` maps each file name to the synthesizer's
fingerprint of it (voices, speed, text): a file whose fingerprint is
unchanged and which still exists is left alone, so a second build renders
nothing and editing one text re-renders one file. A text that cannot be
rendered is reported, not raised, and the rest are built. Files under
``generated/`` are only ever written, and recordings beside it never touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hotline.calls.speech import (
    FRAGMENTS,
    LANGS,
    Category,
    PromptLibrary,
    SpeechError,
    Synthesizer,
    category_text,
    check_prompt_id,
)

__all__ = ["BuildReport", "PromptJob", "build_prompts", "prompt_jobs"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class PromptJob:
    """One file to render."""

    prompt_id: str
    lang: str
    text: str

    @property
    def file_name(self) -> str:
        """Its name under ``generated/``."""
        return f"{self.prompt_id}.{self.lang}.wav"


@dataclass
class BuildReport:
    """What a build did, by file name under ``generated/``."""

    rendered: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(file or entry, why) for what could not be rendered."""
    overridden: list[str] = field(default_factory=list)
    """Generated files that a recording in the prompts folder replaces when played."""

    @property
    def ok(self) -> bool:
        """Whether everything was rendered or already up to date."""
        return not self.failed

    def summary(self) -> str:
        """One line for the operator."""
        return (
            f"{len(self.rendered)} rendered, {len(self.up_to_date)} up to date, "
            f"{len(self.failed)} failed, {len(self.overridden)} overridden by recordings"
        )


def prompt_jobs(
    texts: Mapping[str, Mapping[str, str]], categories: Sequence[Category]
) -> tuple[list[PromptJob], list[tuple[str, str]]]:
    """The files a build renders, and (entry, why) for entries that cannot become files.

    Later definitions win: categories over fixed fragments, flow texts over both.
    """
    jobs: dict[str, PromptJob] = {}
    bad: list[tuple[str, str]] = []

    def add(prompt_id: str, lang: str, text: str) -> None:
        job = PromptJob(prompt_id, lang, text)
        if job.file_name in jobs:
            log.info("prompts: %s defined twice; the later text wins", job.file_name)
        jobs[job.file_name] = job

    for fragment_id, fragment in FRAGMENTS.items():
        for lang, text in fragment.items():
            add(fragment_id, lang, text)
    for category in categories:
        cat_id, _, _, digit = category
        try:
            check_prompt_id(cat_id)
        except ValueError as exc:
            bad.append((f"category {cat_id!r}", str(exc)))
            continue
        if digit is not None and (len(digit) != 1 or digit not in "0123456789"):
            bad.append((f"menu-category-{cat_id}", f"menu digit {digit!r} is not one of 0–9"))
            digit = None
        for lang in LANGS:
            name = category_text(category, lang)
            add(f"category-{cat_id}", lang, name)
            if digit is not None:
                menu = f"{name}请按{digit}。" if lang == "zh" else f"For {name}, press {digit}."
                add(f"menu-category-{cat_id}", lang, menu)
    for prompt_id, by_lang in texts.items():
        try:
            check_prompt_id(prompt_id)
        except ValueError as exc:
            bad.append((prompt_id, str(exc)))
            continue
        for lang, text in by_lang.items():
            if lang in LANGS:
                add(prompt_id, lang, text)
            else:
                bad.append((f"{prompt_id}.{lang}.wav", f"language {lang!r}: use one of {', '.join(LANGS)}"))
    return list(jobs.values()), bad


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("prompts: %s unreadable (%s); rendering everything", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("prompts: %s is not a JSON object; rendering everything", path)
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _write_manifest(path: Path, manifest: Mapping[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, path)


async def build_prompts(
    prompts_dir: Path,
    texts: Mapping[str, Mapping[str, str]],
    categories: Sequence[Category],
    *,
    force: bool = False,
    synthesizer: Synthesizer | None = None,
    concurrency: int = 4,
) -> BuildReport:
    """Render what is missing or changed under ``<prompts_dir>/generated/`` (everything if `force`).

    `texts` maps flow prompt ids to language to text; `categories` are
    (id, Chinese name, English name or None, menu digit or None).
    """
    library = PromptLibrary(prompts_dir)
    synth = synthesizer or Synthesizer()
    generated = library.generated_dir
    generated.mkdir(parents=True, exist_ok=True)
    manifest_path = generated / MANIFEST
    manifest = await asyncio.to_thread(_read_manifest, manifest_path)
    jobs, bad = prompt_jobs(texts, categories)
    report = BuildReport(failed=list(bad))
    gate = asyncio.Semaphore(concurrency)

    async def build(job: PromptJob) -> None:
        path = generated / job.file_name
        async with gate:
            try:
                fingerprint = await synth.fingerprint(job.text, job.lang)
                if not force and manifest.get(job.file_name) == fingerprint and path.is_file():
                    report.up_to_date.append(job.file_name)
                    return
                manifest.pop(job.file_name, None)
                await synth.synthesize(job.text, job.lang, path)
            except (SpeechError, OSError, ValueError) as exc:
                log.warning("prompts: %s: %s", job.file_name, exc)
                report.failed.append((job.file_name, str(exc)))
                return
        manifest[job.file_name] = fingerprint
        report.rendered.append(job.file_name)

    await asyncio.gather(*(build(job) for job in jobs))
    await asyncio.to_thread(_write_manifest, manifest_path, manifest)
    for job in jobs:
        found = library.resolve(job.prompt_id, job.lang)
        if found is not None and found != generated / job.file_name:
            report.overridden.append(job.file_name)
    for names in (report.rendered, report.up_to_date, report.overridden):
        names.sort()
    report.failed.sort()
    log.info("prompts: %s", report.summary())
    return report
