"""The State Council's holiday notice read from pasted text, checked, and written as a calendar file.

The 2024–2026 notices are rebuilt from the lines quoted in the shipped
``config/calendar/cn-YYYY.toml`` files (title, salutation, numbered list,
closing paragraph, signature) and must give back exactly those files' facts.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hotline.calendar import load_calendar_file
from hotline.holiday_notice import (
    NoticeError,
    english_holiday_name,
    parse_notice,
    render_calendar_toml,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "calendar"
NUMBERS = "一二三四五六七八九"
YEARS = [2024, 2025, 2026]


def shipped(year: int) -> dict[str, Any]:
    with (CONFIG_DIR / f"cn-{year}.toml").open("rb") as f:
        return tomllib.load(f)


def notice_text(year: int, items: list[str], published: date | None = None) -> str:
    """A notice as an administrator would paste it from www.gov.cn."""
    lines = [
        f"国务院办公厅关于{year}年部分节假日安排的通知",
        f"国办发明电〔{year - 1}〕7号",
        "",
        "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：",
        f"　　经国务院批准，现将{year}年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。",
    ]
    lines += [f"　　{NUMBERS[i]}、{item}" for i, item in enumerate(items)]
    lines += [
        "　　节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，确保人民群众欢乐祥和过节。",
        "国务院办公厅",
    ]
    if published is not None:
        lines.append(f"{published.year}年{published.month}月{published.day}日")
    return "\n".join(lines) + "\n"


def shipped_notice(year: int) -> str:
    data = shipped(year)
    return notice_text(year, [h["notice"] for h in data["holiday"]], data["published"])


@pytest.mark.parametrize("year", YEARS)
def test_shipped_notices_parse_to_the_files_facts(year: int) -> None:
    data = shipped(year)
    notice = parse_notice(shipped_notice(year))
    assert notice.year == year
    assert notice.published == data["published"]
    assert notice.document_number == f"国办发明电〔{year - 1}〕7号"
    assert [(h.name, h.start, h.end, h.days, h.notice) for h in notice.holidays] == [
        (h["name"], h["start"], h["end"], h["days"], h["notice"]) for h in data["holiday"]]
    assert [(w.date, w.holiday) for w in notice.workdays] == [
        (w["date"], w["holiday"]) for w in data["workday"]]
    # Line numbers point into the pasted text: the first item is line 6.
    assert [h.line for h in notice.holidays] == list(range(6, 6 + len(data["holiday"])))


@pytest.mark.parametrize("year", YEARS)
def test_rendered_file_loads_to_the_same_year(year: int, tmp_path: Path) -> None:
    notice = parse_notice(shipped_notice(year))
    path = tmp_path / f"cn-{year}.toml"
    path.write_text(render_calendar_toml(notice, source_url="https://www.gov.cn/x"), encoding="utf-8")
    loaded = load_calendar_file(path)
    original = load_calendar_file(CONFIG_DIR / f"cn-{year}.toml")
    assert loaded.holidays == original.holidays  # names, ranges and English names
    assert loaded.workdays == original.workdays
    expected = notice.calendar_year()
    assert (loaded.holidays, loaded.workdays, loaded.source) == (
        expected.holidays, expected.workdays, expected.source)
    rendered = tomllib.loads(path.read_text(encoding="utf-8"))
    assert rendered["source"] == f"国务院办公厅关于{year}年部分节假日安排的通知（国办发明电〔{year - 1}〕7号）"
    assert rendered["source_url"] == "https://www.gov.cn/x"
    assert [h["notice"] for h in rendered["holiday"]] == [h["notice"] for h in shipped(year)["holiday"]]
    assert [w["weekday"] for w in rendered["workday"]] == [w["weekday"] for w in shipped(year)["workday"]]


def test_explicit_year_and_text_without_title_or_numbering() -> None:
    text = ("元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。\n"
            "清明节：4月4日放假，与周末连休。\n")
    notice = parse_notice(text, year=2026)
    assert [(h.name, h.start, h.end) for h in notice.holidays] == [
        ("元旦", date(2026, 1, 1), date(2026, 1, 3)), ("清明节", date(2026, 4, 4), date(2026, 4, 4))]
    assert [w.date for w in notice.workdays] == [date(2026, 1, 4)]
    with pytest.raises(NoticeError) as e:
        parse_notice(text)
    assert e.value.line == 1 and "title" in str(e.value)


def test_full_width_digits_and_a_range_across_months() -> None:
    notice = parse_notice("国务院办公厅关于2025年部分节假日安排的通知\n"
                          "一、端午节：５月３１日（周六）至６月２日（周一）放假，共３天。\n"
                          "二、劳动节：5月1日（星期四）至5日（星期一）放假调休，共5天。4月27日（星期日）上班。\n")
    assert [(h.start, h.end, h.days) for h in notice.holidays] == [
        (date(2025, 5, 31), date(2025, 6, 2), 3), (date(2025, 5, 1), date(2025, 5, 5), 5)]


def test_title_year_disagreeing_with_the_given_year() -> None:
    with pytest.raises(NoticeError) as e:
        parse_notice(shipped_notice(2026), year=2027)
    assert e.value.line == 1 and "2026" in str(e.value)


def test_range_across_the_new_year_is_clipped_in_the_file(tmp_path: Path) -> None:
    # The 2019 notice: the New Year break began in 2018 and a 2018 Saturday was worked.
    text = notice_text(2019, ["元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。"])
    notice = parse_notice(text)
    (h,) = notice.holidays
    assert (h.start, h.end, h.days) == (date(2018, 12, 30), date(2019, 1, 1), 3)
    assert [w.date for w in notice.workdays] == [date(2018, 12, 29)]
    path = tmp_path / "cn-2019.toml"
    rendered = render_calendar_toml(notice)
    path.write_text(rendered, encoding="utf-8")
    loaded = load_calendar_file(path)
    assert [(x.start, x.end) for x in loaded.holidays] == [(date(2019, 1, 1), date(2019, 1, 1))]
    assert loaded.workdays == ()
    assert "2018-12-29" in rendered and "cn-2018.toml" in rendered  # kept as a comment, not lost
    assert loaded.holidays == notice.calendar_year().holidays


def test_english_names() -> None:
    assert english_holiday_name("国庆节、中秋节") == "National Day and Mid-Autumn Festival"
    assert english_holiday_name("春节") == "Spring Festival (Chinese New Year)"
    assert english_holiday_name("植树节") == ""


def test_quotes_and_backslashes_survive_the_toml(tmp_path: Path) -> None:
    text = notice_text(2026, ['元旦：1月1日（周四）至3日（周六）放假调休，共3天。鼓励"错峰"出行\\返程。'])
    notice = parse_notice(text)
    path = tmp_path / "cn-2026.toml"
    path.write_text(render_calendar_toml(notice), encoding="utf-8")
    assert tomllib.loads(path.read_text(encoding="utf-8"))["holiday"][0]["notice"] == notice.holidays[0].notice
    assert load_calendar_file(path).holidays[0].name == "元旦"


# -- malformed text: each error names the line and what was expected ------------------

# The items are lines 6, 7, 8 of notice_text().
GOOD = [
    "元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。",
    "春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。",
    "清明节：4月4日（周六）至6日（周一）放假，共3天。",
]


def test_good_items_parse() -> None:
    assert len(parse_notice(notice_text(2026, GOOD)).holidays) == 3


@pytest.mark.parametrize(("index", "bad", "words"), [
    (1, "春节：2月30日至3月2日放假调休，共9天。", ["2月30日 is not a date in 2026"]),
    (0, "元旦：1月1日（周五）至3日（周六）放假调休，共3天。", ["Thursday", "not 周五"]),
    (2, "清明节：4月4日（周六）至6日（周一）放假，共4天。", ["共4天", "3 days"]),
    (0, "元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月5日（周一）上班。", ["1月5日", "Monday", "Saturday or a Sunday"]),
    (1, "春节放假九天", ["expected a holiday line"]),
    (1, "春节：正月初一放假", ["expected the first day off"]),
    (2, "清明节：4月4日至6日休息", ["expected 放假"]),
    (2, "清明节：4月6日至4日放假", ["ends (2026-04-04) before it starts"]),
    (2, "清明节：4月4日（周六）至6日（周一）放假，共3天，请注意。", ["expected 共N天"]),
    (2, "清明节：4月4日（周八）放假。", ["expected a weekday"]),
    (0, "元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）、1月10日（周六）加班。", ["、 and another date, or 上班"]),
    (2, "清明节：1月2日至5日放假，共4天。", ["overlaps 元旦", "line 6"]),
    (2, "清明节：4月4日放假。1月3日（周六）上班。", ["lies inside 元旦"]),
])
def test_malformed_item_names_its_line(index: int, bad: str, words: list[str]) -> None:
    items = list(GOOD)
    items[index] = bad
    with pytest.raises(NoticeError) as e:
        parse_notice(notice_text(2026, items))
    assert e.value.line == 6 + index
    message = str(e.value)
    assert message.startswith(f"line {6 + index}: ")
    for word in words:
        assert word in message


def test_unnumbered_line_inside_the_list_part() -> None:
    text = notice_text(2026, GOOD).replace("　　二、", "　　顺便说一句：今年放假很多。\n　　二、")
    with pytest.raises(NoticeError) as e:
        parse_notice(text)
    assert e.value.line == 7
    assert "expected the numbered holiday line 二、" in str(e.value)


@pytest.mark.parametrize(("joined", "line"), [("二", 6), ("三", 7)])
def test_items_run_together_on_one_line(joined: str, line: int) -> None:
    text = notice_text(2026, GOOD).replace(f"\n　　{joined}、", f"{joined}、")
    with pytest.raises(NoticeError) as e:
        parse_notice(text)
    assert e.value.line == line and "one holiday per line" in str(e.value)


def test_numbering_gap_names_the_line() -> None:
    text = notice_text(2026, GOOD).replace("　　二、", "　　四、")
    with pytest.raises(NoticeError) as e:
        parse_notice(text)
    assert e.value.line == 7 and "expected item 二、, got 四、" in str(e.value)


def test_make_up_day_listed_twice() -> None:
    items = [*GOOD[:2], "清明节：4月4日（周六）至6日（周一）放假，共3天。2月14日（周六）上班。"]
    with pytest.raises(NoticeError) as e:
        parse_notice(notice_text(2026, items))
    assert e.value.line == 8 and "2026-02-14 is already listed" in str(e.value)


@pytest.mark.parametrize("text", ["", "\n\n   \n", "　　\n"])
def test_empty_text(text: str) -> None:
    with pytest.raises(NoticeError) as e:
        parse_notice(text, year=2026)
    assert e.value.line is None and "empty" in str(e.value)


def test_text_without_holiday_lines() -> None:
    with pytest.raises(NoticeError) as e:
        parse_notice("国务院办公厅关于2026年部分节假日安排的通知\n节假日期间注意安全。\n")
    assert e.value.line is None and "no holiday lines" in str(e.value)


def test_notice_error_is_a_value_error() -> None:
    assert issubclass(NoticeError, ValueError)
