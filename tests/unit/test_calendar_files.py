"""Saving a year's calendar file: checked before anything is written, atomic, the old file kept aside.

Every file is written in the test's tmp dir: copies of the shipped years, never ``config/``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.calendar import BusinessCalendar, CalendarFileError, DayKind, load_calendar_dir
from hotline.calendar_files import check_year_text, save_year_file

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "calendar"
NOW = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "calendar"
    out.mkdir()
    for year in (2024, 2025):
        shutil.copy2(SHIPPED / f"cn-{year}.toml", out / f"cn-{year}.toml")
    return out


def test_a_new_year_is_written_and_loads_with_the_others(folder: Path) -> None:
    text = (SHIPPED / "cn-2026.toml").read_text(encoding="utf-8")
    saved = save_year_file(folder, 2026, text, now=NOW)
    assert saved.path == folder / "cn-2026.toml" and saved.previous is None
    assert sorted(saved.data.years) == [2024, 2025, 2026]
    assert saved.path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in folder.iterdir()) == ["cn-2024.toml", "cn-2025.toml", "cn-2026.toml"]


def test_replacing_a_year_keeps_the_old_file_where_the_loader_does_not_look(folder: Path) -> None:
    before = (folder / "cn-2025.toml").read_text(encoding="utf-8")
    text = before.replace('\n[[workday]]\ndate = 2025-09-28\nweekday = "Sunday"\nholiday = "国庆节、中秋节"\n', "\n")
    assert text != before
    saved = save_year_file(folder, 2025, text, now=NOW)
    assert saved.previous == folder / "cn-2025.toml.before-20251203T020000Z"
    assert saved.previous.read_text(encoding="utf-8") == before
    assert date(2025, 9, 28) not in {w.date for w in saved.data.years[2025].workdays}
    assert load_calendar_dir(folder).years[2025].workdays == saved.data.years[2025].workdays


@pytest.mark.parametrize(("text", "expected"), [
    ("year = 2026\n[[holiday]]\nname = \"x\"\nstart = 2026-04-06\nend = 2026-04-04\n",
     "cn-2026.toml:5: holiday[0].end: 2026-04-04 is before start 2026-04-06"),
    ("year = 2027\n", "cn-2026.toml:1: year: 2027 does not match the year 2026 in the file name"),
    ("year = 2026\nregion = = 1\n", "line 2"),
])
def test_a_bad_text_is_refused_with_its_line_and_nothing_is_written(
        folder: Path, text: str, expected: str) -> None:
    with pytest.raises(CalendarFileError) as info:
        save_year_file(folder, 2026, text, now=NOW)
    assert expected in str(info.value), str(info.value)
    assert sorted(p.name for p in folder.iterdir()) == ["cn-2024.toml", "cn-2025.toml"]
    with pytest.raises(CalendarFileError):
        check_year_text(text, 2026)


def test_replace_data_changes_what_every_holder_of_the_calendar_sees(folder: Path) -> None:
    hours = {d: ((time(8), time(12)),) for d in range(5)}
    cal = BusinessCalendar(ZoneInfo("Asia/Shanghai"), hours, load_calendar_dir(folder))
    national_day = datetime(2026, 10, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert cal.is_business_time(national_day)  # 2026 unknown: a Thursday like any other (cached now)
    saved = save_year_file(folder, 2026, (SHIPPED / "cn-2026.toml").read_text(encoding="utf-8"), now=NOW)
    cal.replace_data(saved.data)
    assert not cal.is_business_time(national_day)
    assert cal.day(date(2026, 10, 10)).kind is DayKind.MAKE_UP_WORKDAY
    assert cal.coverage_warning(datetime(2025, 12, 3, tzinfo=UTC)) is None
