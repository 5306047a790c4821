"""Business calendar: holidays, make-up working days, business-time arithmetic, DST."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.calendar import (
    BusinessCalendar,
    CalendarData,
    CalendarFileError,
    CalendarYear,
    DayKind,
    Holiday,
    load_calendar_dir,
    load_calendar_file,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "calendar"
SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = [(time(8, 0), time(12, 0)), (time(13, 30), time(17, 30))]


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


@pytest.fixture(scope="module")
def data() -> CalendarData:
    return load_calendar_dir(CONFIG_DIR)


@pytest.fixture()
def cal(data: CalendarData) -> BusinessCalendar:
    return BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, data)


# -- the shipped data -----------------------------------------------------------


def test_shipped_files_load(data: CalendarData) -> None:
    assert sorted(data.years) == [2024, 2025, 2026]
    y2026 = data.years[2026]
    assert [h.name for h in y2026.holidays] == [
        "元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]
    assert y2026.path.endswith("cn-2026.toml")


@pytest.mark.parametrize("d", [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
                               date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)])
def test_2026_make_up_days_are_working_days(cal: BusinessCalendar, d: date) -> None:
    assert d.weekday() >= 5  # they really are weekend days
    day = cal.day(d)
    assert day.kind is DayKind.MAKE_UP_WORKDAY
    assert day.is_working and cal.is_working_day(d)
    assert day.hours == tuple(OFFICE)  # Monday's hours by default
    assert cal.is_business_time(datetime.combine(d, time(9), tzinfo=SH))
    assert not cal.is_business_time(datetime.combine(d, time(12, 30), tzinfo=SH))


def test_make_up_day_hours_follow_configured_weekday(data: CalendarData) -> None:
    hours = {wd: OFFICE for wd in range(4)} | {4: [(time(8), time(12))]}  # short Fridays
    cal = BusinessCalendar(SH, hours, data, make_up_day_hours=4)
    assert cal.day(date(2026, 10, 10)).hours == ((time(8), time(12)),)
    assert not cal.is_business_time(sh(2026, 10, 10, 14))


def test_spring_festival_2026_whole_week_off(cal: BusinessCalendar) -> None:
    d = date(2026, 2, 15)
    while d <= date(2026, 2, 23):
        day = cal.day(d)
        assert day.kind is DayKind.HOLIDAY and day.name == "春节", d
        assert not cal.is_business_time(datetime.combine(d, time(10), tzinfo=SH))
        d += timedelta(days=1)
    assert cal.day_kind(date(2026, 2, 24)) is DayKind.WORKDAY
    # Friday before the break, 17:00 + 60 min: 30 on Fri 13th, 30 on make-up Sat 14th.
    assert cal.add_business_minutes(sh(2026, 2, 13, 17), 60) == sh(2026, 2, 14, 8, 30)
    # From the make-up Saturday evening, the next business time is after the week off.
    assert cal.next_business_start(sh(2026, 2, 14, 18)) == sh(2026, 2, 24, 8)


def test_request_at_1729_day_before_national_day(cal: BusinessCalendar) -> None:
    # 1 minute on Wed 09-30, then 10-01..07 off, then Thu 10-08 08:00 + 59 min.
    t = sh(2026, 9, 30, 17, 29)
    assert cal.day_kind(date(2026, 10, 1)) is DayKind.HOLIDAY
    result = cal.add_business_minutes(t, 60)
    assert result == sh(2026, 10, 8, 8, 59)
    assert result.tzinfo == SH
    assert cal.business_minutes_between(t, result) == 60


def test_lunch_gap(cal: BusinessCalendar) -> None:
    assert cal.is_business_time(sh(2026, 11, 25, 11, 59))
    assert not cal.is_business_time(sh(2026, 11, 25, 12, 0))
    assert not cal.is_business_time(sh(2026, 11, 25, 13, 29))
    assert cal.is_business_time(sh(2026, 11, 25, 13, 30))
    assert cal.next_business_start(sh(2026, 11, 25, 12, 15)) == sh(2026, 11, 25, 13, 30)
    assert cal.add_business_minutes(sh(2026, 11, 25, 11, 30), 60) == sh(2026, 11, 25, 14, 0)
    # Exactly filling the morning ends at 12:00, not at 13:30.
    assert cal.add_business_minutes(sh(2026, 11, 25, 11, 0), 60) == sh(2026, 11, 25, 12, 0)
    assert cal.business_minutes_between(sh(2026, 11, 25, 11), sh(2026, 11, 25, 14)) == 90


def test_weekend(cal: BusinessCalendar) -> None:
    assert cal.day_kind(date(2026, 11, 28)) is DayKind.WEEKEND
    assert not cal.is_working_day(date(2026, 11, 29))
    assert cal.add_business_minutes(sh(2026, 11, 27, 17), 60) == sh(2026, 11, 30, 8, 30)
    assert cal.next_business_start(sh(2026, 11, 28, 10)) == sh(2026, 11, 30, 8)
    assert cal.business_minutes_between(sh(2026, 11, 27, 17, 30), sh(2026, 11, 30, 8)) == 0


def test_next_business_start_inside_is_identity(cal: BusinessCalendar) -> None:
    t = sh(2026, 11, 25, 9, 17, 3)
    assert cal.next_business_start(t) == t
    assert cal.next_business_start(sh(2026, 11, 25, 7)) == sh(2026, 11, 25, 8)


def test_other_timezone_input_is_converted(cal: BusinessCalendar) -> None:
    utc_in = datetime(2026, 9, 30, 9, 29, tzinfo=ZoneInfo("UTC"))  # 17:29 in Shanghai
    assert cal.add_business_minutes(utc_in, 60) == sh(2026, 10, 8, 8, 59)
    assert cal.add_business_minutes(utc_in, 60).utcoffset() == timedelta(hours=8)


def test_negative_and_zero(cal: BusinessCalendar) -> None:
    t = sh(2026, 10, 8, 8, 59)
    assert cal.add_business_minutes(t, -60) == sh(2026, 9, 30, 17, 29)
    assert cal.business_minutes_between(t, sh(2026, 9, 30, 17, 29)) == -60
    off = sh(2026, 10, 3, 10)
    assert cal.add_business_minutes(off, 0) == off


def test_naive_datetimes_refused(cal: BusinessCalendar) -> None:
    naive = datetime(2026, 11, 25, 9)
    for call in (lambda: cal.is_business_time(naive),
                 lambda: cal.next_business_start(naive),
                 lambda: cal.add_business_minutes(naive, 5),
                 lambda: cal.add_business_minutes(naive, 0),
                 lambda: cal.business_minutes_between(naive, sh(2026, 11, 25, 10)),
                 lambda: cal.warnings_for(naive)):
        with pytest.raises(ValueError, match="naive datetime"):
            call()


# -- missing years --------------------------------------------------------------


def test_missing_year_is_loud(cal: BusinessCalendar, caplog: pytest.LogCaptureFixture) -> None:
    assert cal.covered_years == (2024, 2025, 2026)
    assert cal.warnings_for(sh(2026, 6, 1)) == []
    (warning,) = cal.warnings_for(sh(2027, 3, 1, 10))
    assert "2027" in warning and "cn-2027.toml" in warning
    assert cal.years_missing(date(2023, 5, 1), date(2028, 1, 1)) == (2023, 2027, 2028)
    assert cal.coverage_warning(sh(2026, 11, 25)) is None
    december = cal.coverage_warning(sh(2026, 12, 5))
    assert december is not None and "2027" in december

    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        # Still computes by weekday: Fri 2027-01-01 has no holiday data, so it works.
        assert cal.add_business_minutes(sh(2026, 12, 31, 17), 60) == sh(2027, 1, 1, 8, 30)
        assert cal.is_business_time(sh(2027, 1, 4, 9))
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1  # once per calendar, not once per call


# -- inverse and property ----------------------------------------------------------


def test_between_is_inverse_of_add_across_a_year(cal: BusinessCalendar) -> None:
    t = sh(2026, 1, 5, 10, 15)  # Monday; 01-01..03 is the New Year holiday
    for m in (1, 59, 240, 480, 481, 10_000, 100_000):
        r = cal.add_business_minutes(t, m)
        assert cal.business_minutes_between(t, r) == m
        assert cal.add_business_minutes(r, -m) == t


@settings(max_examples=200, deadline=None)
@given(
    day_offset=st.integers(min_value=0, max_value=3 * 366),
    minute=st.integers(min_value=0, max_value=24 * 60 - 1),
    minutes=st.integers(min_value=0, max_value=50_000),
)
def test_property_add_then_between(day_offset: int, minute: int, minutes: int) -> None:
    cal = BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, load_calendar_dir(CONFIG_DIR))
    start = sh(2024, 1, 1) + timedelta(days=day_offset, minutes=minute)
    t = cal.next_business_start(start)
    assert cal.is_business_time(t)
    r = cal.add_business_minutes(t, minutes)
    assert cal.business_minutes_between(t, r) == minutes
    assert cal.add_business_minutes(r, -minutes) == t


def test_long_span_is_linear(data: CalendarData) -> None:
    """1,000 business days are found by visiting each calendar day once, not by rescanning."""
    cal = BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, data)
    t = sh(2024, 1, 2, 9)
    visited: list[object] = []
    day = cal.day

    def counting_day(d: Any) -> Any:
        visited.append(d)
        return day(d)

    cal.day = counting_day  # type: ignore[method-assign]
    r = cal.add_business_minutes(t, 1000 * 480)  # 1,000 business days, cold cache
    span = (r.date() - t.date()).days + 1
    assert len(visited) <= span  # each day once (cached), never a walk per minute or per step
    assert len(set(visited)) == len(visited)
    assert cal.business_minutes_between(t, r) == 1000 * 480


# -- DST ----------------------------------------------------------------------------


def berlin_cal(hours: list[tuple[time, time]]) -> BusinessCalendar:
    data = CalendarData.of([CalendarYear(2026)])  # no holidays, but the year is "known"
    return BusinessCalendar(BERLIN, {wd: hours for wd in range(7)}, data)


def test_dst_office_hours_keep_wall_clock() -> None:
    cal = berlin_cal([(time(8), time(12))])
    fri = datetime(2026, 3, 27, 11, tzinfo=BERLIN)  # CET, +01:00
    # 60 min on Fri, 240 Sat, 240 Sun (switch day, 08-12 is after the switch), 60 Mon.
    result = cal.add_business_minutes(fri, 600)
    assert result == datetime(2026, 3, 30, 9, tzinfo=BERLIN)
    assert result.utcoffset() == timedelta(hours=2)
    assert cal.business_minutes_between(fri, result) == 600


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 29), 120),   # 01:00 CET .. 04:00 CEST: one hour skipped
    (date(2026, 3, 28), 180),
    (date(2026, 10, 25), 240),  # 01:00 CEST .. 04:00 CET: one hour repeated
    (date(2026, 10, 26), 180),
])
def test_dst_switch_day_counts_real_minutes(day: date, expected: int) -> None:
    cal = berlin_cal([(time(1), time(4))])
    a = datetime.combine(day, time(0), tzinfo=BERLIN)
    b = datetime.combine(day, time(12), tzinfo=BERLIN)
    assert cal.business_minutes_between(a, b) == expected


def test_dst_add_across_switch() -> None:
    cal = berlin_cal([(time(1), time(4))])
    start = datetime(2026, 3, 29, 1, tzinfo=BERLIN)
    assert cal.add_business_minutes(start, 90) == datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)
    assert cal.add_business_minutes(start, 150) == datetime(2026, 3, 30, 1, 30, tzinfo=BERLIN)
    assert cal.is_business_time(datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN))
    autumn = datetime(2026, 10, 25, 1, tzinfo=BERLIN)
    r = cal.add_business_minutes(autumn, 210)  # 3.5 real hours: 03:30 on the second pass
    assert r.astimezone(ZoneInfo("UTC")) == datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("UTC"))
    assert cal.business_minutes_between(autumn, r) == 210


def test_24_hour_desk_with_midnight_end() -> None:
    cal = berlin_cal([(time(0), time(0))])
    a = datetime(2026, 10, 24, 12, tzinfo=BERLIN)
    b = datetime(2026, 10, 26, 12, tzinfo=BERLIN)
    assert cal.business_minutes_between(a, b) == 49 * 60  # the autumn day has 25 hours
    assert cal.is_business_time(datetime(2026, 10, 25, 23, 59, tzinfo=BERLIN))


# -- constructor validation -----------------------------------------------------------


@pytest.mark.parametrize(("hours", "make_up", "message"), [
    ({0: [(time(12), time(8))]}, 0, r"weekly_hours\[Monday\]: 12:00-08:00: end is not after"),
    ({0: [(time(8), time(12)), (time(11), time(13))]}, 0, "11:00-13:00 overlaps"),
    ({0: OFFICE}, 5, "Saturday has no working hours"),
    ({7: OFFICE}, 0, "weekday 7"),
    ({}, 0, "no weekday has working hours"),
])
def test_bad_hours_refused(hours: dict[int, list[tuple[time, time]]], make_up: int,
                           message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(SH, hours, CalendarData(), make_up_day_hours=make_up)


def test_holiday_beats_weekday_and_data_index() -> None:
    data = CalendarData.of([CalendarYear(2030, holidays=(
        Holiday("Test", date(2030, 5, 1), date(2030, 5, 2)),))])
    cal = BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, data)
    assert cal.day(date(2030, 5, 1)).name == "Test"
    assert cal.day_kind(date(2030, 5, 3)) is DayKind.WORKDAY
    with pytest.raises(ValueError, match="2030 given twice"):
        CalendarData.of([CalendarYear(2030), CalendarYear(2030)])


# -- file validation --------------------------------------------------------------------

GOOD = """\
# test calendar
year = 2026
region = "CN"

[[holiday]]
name = "元旦"
start = 2026-01-01
end = 2026-01-03
days = 3

[[holiday]]
name = "清明节"
start = 2026-04-04
end = 2026-04-06

[[workday]]
date = 2026-01-04
weekday = "Sunday"
holiday = "元旦"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_file(tmp_path: Path) -> None:
    cy = load_calendar_file(write(tmp_path, "cn-2026.toml", GOOD))
    assert cy.year == 2026 and len(cy.holidays) == 2
    assert cy.workdays[0].date == date(2026, 1, 4) and cy.workdays[0].holiday == "元旦"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("end = 2026-04-06", "end = 2026-04-03",
     "{f}:14: holiday[1].end: 2026-04-03 is before start 2026-04-04"),
    ("start = 2026-04-04", "start = 2025-04-04",
     "{f}:13: holiday[1].start: 2025-04-04 is not in 2026"),
    ("days = 3", "days = 4",
     "{f}:9: holiday[0].days: 4 but 2026-01-01..2026-01-03 is 3 days"),
    ("date = 2026-01-04", "date = 2026-01-03",
     "{f}:17: workday[0].date: 2026-01-03 is both a working day and inside holiday[0] "
     "元旦 2026-01-01..2026-01-03"),
    ("weekday = \"Sunday\"", "weekday = \"Saturday\"",
     "{f}:18: workday[0].weekday: 2026-01-04 is a Sunday, not Saturday"),
    ("year = 2026", "year = 2025",
     "{f}:2: year: 2025 does not match the year 2026 in the file name"),
    ("region = \"CN\"", "regoin = \"CN\"",
     "{f}:3: regoin: unknown key (expected one of cross_checked, holiday, published, region, "
     "source, source_url, workday, year)"),
    ("holiday = \"元旦\"", "holiday = \"New Year\"",
     "{f}:19: workday[0].holiday: 'New Year' is not the name of a [[holiday]] in this file"),
    ("end = 2026-04-06", "end = \"2026-04-06\"",
     "{f}:14: holiday[1].end: expected a date like 2026-10-01, got \"2026-04-06\""),
])
def test_file_errors_name_file_line_key(tmp_path: Path, old: str, new: str,
                                        expected: str) -> None:
    assert old in GOOD
    f = write(tmp_path, "cn-2026.toml", GOOD.replace(old, new))
    with pytest.raises(CalendarFileError) as err:
        load_calendar_file(f)
    want = expected.format(f=f)
    assert want in [str(p) for p in err.value.problems], err.value.problems


def test_workday_on_a_weekday_refused(tmp_path: Path) -> None:
    text = GOOD.replace("date = 2026-01-04\nweekday = \"Sunday\"", "date = 2026-01-05")
    f = write(tmp_path, "cn-2026.toml", text)
    with pytest.raises(CalendarFileError) as err:
        load_calendar_file(f)
    assert str(err.value) == (f"{f}:17: workday[0].date: 2026-01-05 is a Monday; a make-up "
                              "working day is a Saturday or Sunday")


def test_overlapping_holidays_refused(tmp_path: Path) -> None:
    text = GOOD.replace("start = 2026-04-04", "start = 2026-01-03")
    f = write(tmp_path, "cn-2026.toml", text)
    with pytest.raises(CalendarFileError, match=r"holiday\[1\]: 2026-01-03..2026-04-06 overlaps "
                       r"holiday\[0\] 元旦"):
        load_calendar_file(f)


def test_several_problems_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace("end = 2026-04-06", "end = 2026-04-03").replace("days = 3", "days = 9")
    f = write(tmp_path, "cn-2026.toml", text)
    with pytest.raises(CalendarFileError) as err:
        load_calendar_file(f)
    assert [p.key for p in err.value.problems] == ["holiday[0].days", "holiday[1].end"]
    assert str(err.value).count("\n") == 1


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    f = write(tmp_path, "cn-2026.toml", GOOD.replace("end = 2026-04-06", "end = 2026-04-06 x"))
    with pytest.raises(CalendarFileError, match=rf"^{f}:14: -: not valid TOML: "):
        load_calendar_file(f)


def test_file_name_must_carry_year(tmp_path: Path) -> None:
    f = write(tmp_path, "holidays.toml", GOOD)
    with pytest.raises(CalendarFileError, match="file name must end with the year"):
        load_calendar_file(f)


def test_directory_errors(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match="does not exist"):
        load_calendar_dir(tmp_path / "nope")
    write(tmp_path, "cn-2026.toml", GOOD)
    write(tmp_path, "extra-2026.toml", GOOD)
    write(tmp_path, "cn-2025.toml", GOOD.replace("year = 2026", "year = 2024"))
    with pytest.raises(CalendarFileError) as err:
        load_calendar_dir(tmp_path)
    problems = [str(p) for p in err.value.problems]
    assert any("cn-2025.toml:2: year: 2024 does not match" in p for p in problems)
    assert any(p.startswith(f"{tmp_path / 'extra-2026.toml'}: year: 2026 is already given by")
               for p in problems)
    assert any("cn-2025.toml:7: holiday[0].start: 2026-01-01 is not in 2024" in p
               for p in problems)


def test_very_long_span_and_impossible_search(cal: BusinessCalendar) -> None:
    t = sh(2026, 11, 25, 9)
    r = cal.add_business_minutes(t, 5000 * 480)  # ~20 years: long, but not "impossible"
    assert cal.business_minutes_between(t, r) == 5000 * 480
    closed = CalendarData.of(CalendarYear(y, holidays=(Holiday("x", date(y, 1, 1),
                                                               date(y, 12, 31)),))
                             for y in range(2030, 2041))
    never = BusinessCalendar(SH, {0: OFFICE}, closed)
    with pytest.raises(ValueError, match="no business time in the 3660 days"):
        never.next_business_start(sh(2030, 1, 1))
