"""Saving a year's calendar file from the console: checked first, written atomically, the old one kept.

Theory of operation
-------------------
The running server reads ``<calendar folder>/*.toml`` once at start. When an administrator
saves a year (from the State Council's pasted notice or by editing the file's text), the text
is checked as the loader would check it — alone (:func:`check_year_text`), then together with
the other years of the folder — before anything on disk changes. The file is then written
beside its final name (``.cn-2026.toml.partial``: not ``*.toml``, so a start meanwhile never
reads half a file), flushed to disk and renamed over the old one; the old one is first copied
to ``cn-2026.toml.before-<UTC time>`` (not ``*.toml`` either: kept aside, never loaded).
Finally the whole folder is loaded again and returned, so that what the server uses from now on
is exactly what a restart would read; if that fails the old file is put back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotline.calendar import (
    CalendarData,
    CalendarFileError,
    CalendarYear,
    load_calendar_dir,
    load_calendar_file,
)
from hotline.configreader import ConfigProblem

__all__ = ["SavedYear", "check_year_text", "file_name", "save_year_file", "year_file"]


@dataclass(frozen=True)
class SavedYear:
    """What :func:`save_year_file` did."""

    path: Path
    """The year's file, now holding the new text."""
    previous: Path | None
    """Where the file it replaced was kept; None if the year had no file."""
    data: CalendarData
    """Every year of the folder as loaded after the write."""


def file_name(year: int, region: str = "CN") -> str:
    """``cn-2026.toml``: the name a new year's file gets."""
    return f"{region.lower()}-{year}.toml"


def year_file(folder: Path, year: int, data: CalendarData, region: str = "CN") -> Path:
    """The file holding ``year``: the one it was loaded from, else a new ``cn-YYYY.toml``."""
    known = data.years.get(year)
    if known is not None and known.path:
        return Path(known.path)
    return folder / file_name(year, region)


def check_year_text(text: str, year: int, name: str | None = None) -> CalendarYear:
    """``text`` as the calendar file of ``year``, checked as the loader checks it.

    Raises :class:`CalendarFileError` whose problems name ``name`` (default ``cn-YYYY.toml``)
    and the line, e.g. ``cn-2026.toml:52: holiday[2].end: 2026-04-03 is before start …``.
    """
    shown = name or file_name(year)
    with tempfile.TemporaryDirectory(prefix="hotline-calendar-") as tmp:
        path = Path(tmp) / shown
        path.write_text(text, encoding="utf-8")
        try:
            loaded = load_calendar_file(path)
        except CalendarFileError as exc:
            raise CalendarFileError([_renamed(p, str(path), shown) for p in exc.problems]) from None
    if loaded.year != year:
        raise CalendarFileError([ConfigProblem(shown, None, "year", f"{loaded.year}, expected {year}")])
    return dataclasses.replace(loaded, path="")


def _renamed(problem: ConfigProblem, path: str, shown: str) -> ConfigProblem:
    return dataclasses.replace(problem, file=shown if problem.file == path else problem.file)


def save_year_file(folder: Path, year: int, text: str, *, now: datetime | None = None,
                   region: str = "CN") -> SavedYear:
    """Write ``text`` as ``year``'s file in ``folder`` (see the module docstring).

    Raises :class:`CalendarFileError` (nothing written) if the text is not a valid file for
    ``year`` or does not fit with the folder's other years.
    """
    current = load_calendar_dir(folder)
    target = year_file(folder, year, current, region)
    year_data = check_year_text(text, year, target.name)
    others = [cy for y, cy in current.years.items() if y != year]
    try:
        CalendarData.of([*others, year_data])
    except ValueError as exc:
        raise CalendarFileError([ConfigProblem(target.name, None, "year", str(exc))]) from None
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    previous: Path | None = None
    if target.exists():
        previous = target.with_name(f"{target.name}.before-{stamp}")
        shutil.copy2(target, previous)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, target)
    _sync_folder(folder)
    try:
        data = load_calendar_dir(folder)
    except CalendarFileError:
        # Not expected after the checks above, unless the folder changed meanwhile: undo.
        if previous is not None:
            shutil.copy2(previous, target)
        else:
            target.unlink()
        raise
    return SavedYear(target, previous, data)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform lets a folder be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
