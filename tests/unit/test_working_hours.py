"""Working hours typed in the console: parsing, the stored form, and the calendar taking them."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.working_hours import Week, calendar_hours, from_setting, parse_week, to_setting
from tests.unit.test_calendar import CONFIG_DIR

SH = ZoneInfo("Asia/Shanghai")
CLOSED = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), "")


def test_spans_are_read_in_any_order_with_any_separator_and_24_00_ends_the_day() -> None:
    week, errors = parse_week({**CLOSED, "monday": "13:30-17:30, 08:00-12:00", "tuesday": "08:00–12:00；13:00-24:00",
                               "saturday": " 09:00-11:00 "}, "monday")
    assert errors == {} and week is not None
    assert week.days[0] == ((time(8), time(12)), (time(13, 30), time(17, 30)))
    assert week.days[1] == ((time(8), time(12)), (time(13), time.max))
    assert week.days[5] == ((time(9), time(11)),) and week.days[6] == ()
    assert from_setting(to_setting(week)) == week
    assert to_setting(week)["hours"]["tuesday"] == ["08:00-12:00", "13:00-24:00"]


def test_spans_typed_with_a_chinese_input_method_or_spaces_around_the_dash() -> None:
    week, errors = parse_week({**CLOSED, "monday": "08：00 - 12：00，13:30 — 17:30", "tuesday": "9:00~17:00"},
                              "monday")
    assert errors == {} and week is not None
    assert week.days[0] == ((time(8), time(12)), (time(13, 30), time(17, 30)))
    assert week.days[1] == ((time(9), time(17)),)


@pytest.mark.parametrize(("fields", "make_up", "expected"), [
    ({"monday": "8-12"}, "monday", {"monday": "bad span"}),
    ({"monday": "12:00-08:00"}, "monday", {"monday": "bad span"}),
    ({"monday": "08:00-12:00, 11:59-13:00"}, "monday", {"monday": "overlap"}),
    ({"monday": "25:00-26:00"}, "monday", {"monday": "bad span"}),
    ({"monday": "08:00-12:00"}, "funday", {"make_up": "no weekday"}),
    ({"monday": "08:00-12:00"}, "sunday", {"make_up": "closed"}),
    ({}, "monday", {"_": "all closed"}),
])
def test_mistakes_are_named_by_field(fields: dict[str, str], make_up: str, expected: dict[str, str]) -> None:
    assert parse_week({**CLOSED, **fields}, make_up) == (None, expected)


def test_a_stored_value_that_is_not_hours_is_refused() -> None:
    for bad in (None, [], {"hours": []}, {"hours": {"monday": ["nine to five"]}, "make_up_day_as": "monday"},
                {"hours": {"monday": ["08:00-12:00"]}, "make_up_day_as": "someday"}):
        with pytest.raises(ValueError):
            from_setting(bad)


def test_the_calendar_takes_new_hours_in_place_or_keeps_its_own() -> None:
    office = Week({wd: ((time(8), time(12)), (time(13, 30), time(17, 30))) for wd in range(5)}, 0)
    cal = BusinessCalendar(SH, calendar_hours(office), load_calendar_dir(CONFIG_DIR))
    wednesday_evening = datetime(2025, 12, 3, 19, 0, tzinfo=SH).astimezone(UTC)
    assert not cal.is_business_time(wednesday_evening)
    late, _ = parse_week({**CLOSED, "wednesday": "13:00-24:00", "monday": "08:00-12:00"}, "monday")
    assert late is not None
    cal.replace_hours(calendar_hours(late), late.make_up_day_as)
    assert cal.is_business_time(wednesday_evening)
    with pytest.raises(ValueError):
        cal.replace_hours({}, 0)  # no working day at all: refused, nothing changed
    assert cal.is_business_time(wednesday_evening) and cal.make_up_day_hours == 0
