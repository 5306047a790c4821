"""The State Council's yearly holiday notice, pasted as text, read into holidays and make-up days.

Theory of operation
-------------------
Each autumn the General Office of the State Council publishes
《国务院办公厅关于YYYY年部分节假日安排的通知》.  Its body is a numbered list, one
holiday per item::

    一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
    三、清明节：4月4日放假，与周末连休。

:func:`parse_notice` reads the whole pasted text (title, salutation, list,
closing paragraph, signature) and returns a :class:`HolidayNotice`; the
administrator confirms it and :func:`render_calendar_toml` writes it in the
format of ``config/calendar/cn-YYYY.toml`` (see the README there).

What is read, line by line:

* the year from the title (``关于2026年``) unless the caller names it; both
  given and different is an error;
* the *list part*: the numbered items ``一、`` ``二、`` … in order.  Every
  non-blank line between the first and the last item must be an item, and
  every item a holiday line; a text without numbering is read the same way
  from the lines shaped ``名称：…放假…``.  Lines before and after the list
  (salutation, closing paragraph) are not holiday data and are skipped;
* in a holiday line, the first sentence is the range (``M月D日`` [``至``
  [``M月``]``D日``] ``放假``[``调休``]) with the count ``共N天`` / ``放假N天``
  and the remarks ``与周末连休`` / ``不调休``; a later sentence that starts with
  a date is the list of make-up working days ending in ``上班``; other
  sentences (``鼓励各单位…``) are advice and only kept in the quoted line.

What is checked, each failure a :class:`NoticeError` naming the line: every
date exists; a weekday remark ``（周日）`` / ``（星期日）`` matches the calendar;
the range does not end before it starts; ``共N天`` equals the range's length;
a make-up day is a Saturday or a Sunday, lies outside every holiday and is
given once; holidays do not overlap.

Parsing runs on an NFKC-normalised copy of each line (full-width digits,
colons, commas and brackets become ASCII, spaces are dropped), so text pasted
from a web page or a word processor reads the same; the quoted ``notice`` keeps
the line as written.

A range that crosses the new year (2019's ``2018年12月30日至2019年1月1日``) is
kept whole here; the calendar file can hold only its own year, so the writer
clips it and says so in a ``note`` (and a make-up day in another year becomes a
comment naming the file it belongs in).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hotline.calendar import CalendarYear, Holiday, MakeUpWorkday

__all__ = [
    "HolidayNotice",
    "NoticeError",
    "NoticeHoliday",
    "NoticeWorkday",
    "english_holiday_name",
    "parse_notice",
    "render_calendar_toml",
]


class NoticeError(ValueError):
    """The pasted notice cannot be read: ``line`` (1-based, None for the whole text) and what was expected.

    This is the administrator's input, not a bug: the console shows the message
    next to the text so the line can be corrected and pasted again.
    """

    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        """1-based line number in the pasted text, or None when no line is to blame."""
        self.reason = message
        """What is wrong, without the line number."""
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class NoticeHoliday:
    """One holiday item of the notice."""

    name: str
    """Name as the notice gives it, e.g. ``"春节"`` or ``"国庆节、中秋节"``."""
    start: date
    """First day off."""
    end: date
    """Last day off (inclusive)."""
    notice: str
    """The item's own text without its number, as pasted (e.g. ``"春节：2月15日…上班。"``)."""
    line: int
    """1-based line number of the item in the pasted text."""

    @property
    def days(self) -> int:
        """Length of the range in days, the notice's ``共N天``."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class NoticeWorkday:
    """A make-up working day (调休上班): a Saturday or Sunday that is worked."""

    date: date
    """The date that is worked."""
    holiday: str
    """Name of the holiday whose item lists it."""
    line: int
    """1-based line number of that item."""


@dataclass(frozen=True)
class HolidayNotice:
    """Everything read from one year's notice."""

    year: int
    """The year the notice arranges."""
    holidays: tuple[NoticeHoliday, ...]
    """The holiday items, in the notice's order."""
    workdays: tuple[NoticeWorkday, ...]
    """The make-up working days, in the notice's order."""
    title: str = ""
    """The title line, when the text has one."""
    document_number: str = ""
    """e.g. ``"国办发明电〔2025〕7号"``, when the text has it."""
    published: date | None = None
    """The date under the signature, when the text has it."""

    def calendar_year(self, region: str = "CN") -> CalendarYear:
        """What the calendar file written by :func:`render_calendar_toml` holds: the holidays
        clipped to the year, the make-up days that lie in it."""
        return CalendarYear(
            year=self.year,
            holidays=tuple(Holiday(name=h.name, start=start, end=end,
                                   name_en=english_holiday_name(h.name))
                           for h in self.holidays
                           for start, end in [_clip(h, self.year)]),
            workdays=tuple(MakeUpWorkday(date=w.date, holiday=w.holiday)
                           for w in self.workdays if w.date.year == self.year),
            region=region,
            source=_source(self),
        )


def _clip(h: NoticeHoliday, year: int) -> tuple[date, date]:
    return max(h.start, date(year, 1, 1)), min(h.end, date(year, 12, 31))


def _source(notice: HolidayNotice) -> str:
    title = notice.title or f"国务院办公厅关于{notice.year}年部分节假日安排的通知"
    return f"{title}（{notice.document_number}）" if notice.document_number else title


# ---------------------------------------------------------------------------
# Reading

_NUMERALS = "一二三四五六七八九"
_ITEM = re.compile(r"^([一二三四五六七八九十]{1,3})[、.．](.*)$")
_HOLIDAY_SHAPE = re.compile(r"^[^\d:]{1,30}:.*放假")
_TITLE_YEAR = re.compile(r"关于(\d{4})年.*节假日")
_DOCUMENT_NUMBER = re.compile(r"^(国办发[^\s]*〔\d{4}〕\d+号)$")
_SIGNATURE_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_DATE = re.compile(r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日")
_COUNT = re.compile(r"(\d+|[一二三四五六七八九十]{1,3})天")
_WEEKDAY_REMARK = re.compile(r"^(?:周|星期|礼拜)([一二三四五六日天])$")
_WEEKDAY_CHARS = "一二三四五六日"
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EXAMPLE = "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。"


def _numeral(text: str) -> int | None:
    """1..99 written in Chinese numerals (一, 十, 十二, 二十三), else None."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _NUMERALS.index(text) + 1 if len(text) == 1 and text in _NUMERALS else None
    tens, _, units = text.partition("十")
    if (tens and tens not in _NUMERALS) or (units and units not in _NUMERALS) or len(text) > 3:
        return None
    return (_NUMERALS.index(tens) + 1 if tens else 1) * 10 + (_NUMERALS.index(units) + 1 if units else 0)


def _chinese_numeral(n: int) -> str:
    tens, units = divmod(n, 10)
    if not tens:
        return _NUMERALS[units - 1]
    return (_NUMERALS[tens - 1] if tens > 1 else "") + "十" + (_NUMERALS[units - 1] if units else "")


def _normalise(line: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", line))


def parse_notice(text: str, year: int | None = None) -> HolidayNotice:
    """Read the pasted notice; ``year`` overrides (and must agree with) the title's year.

    Raises :class:`NoticeError` naming the line and what was expected.
    """
    raw_lines = text.splitlines()
    lines = [_normalise(line) for line in raw_lines]
    if not any(lines):
        raise NoticeError(None, "the text is empty: expected the notice 国务院办公厅关于20XX年"
                                "部分节假日安排的通知 with its numbered holiday lines")
    first = next(i for i, line in enumerate(lines) if line)
    title, title_year = "", None
    for i, line in enumerate(lines):
        m = _TITLE_YEAR.search(line)
        if m:
            title, title_year = raw_lines[i].strip(), int(m.group(1))
            if year is not None and year != title_year:
                raise NoticeError(i + 1, f"the title is for {title_year}, not {year}")
            break
    if year is None:
        if title_year is None:
            raise NoticeError(first + 1, "expected the title 国务院办公厅关于20XX年部分节假日安排的通知 "
                                         "(or give the year)")
        year = title_year

    items = _list_part(lines)
    holidays: list[NoticeHoliday] = []
    workdays: list[NoticeWorkday] = []
    for index, body in items:
        reader = _LineReader(body, index + 1, year)
        name, start, end, made_up = reader.holiday()
        if end.year < year or start.year > year:
            raise NoticeError(index + 1, f"{name} {start}..{end} has no day in {year}")
        notice = _strip_number(raw_lines[index].strip())
        holiday = NoticeHoliday(name=name, start=start, end=end, notice=notice, line=index + 1)
        for other in holidays:
            if start <= other.end and other.start <= end:
                raise NoticeError(index + 1, f"{name} {start}..{end} overlaps {other.name} "
                                             f"{other.start}..{other.end} (line {other.line})")
        holidays.append(holiday)
        for d in made_up:
            if any(w.date == d for w in workdays):
                raise NoticeError(index + 1, f"make-up working day {d} is already listed")
            workdays.append(NoticeWorkday(date=d, holiday=name, line=index + 1))
    for w in workdays:
        for h in holidays:
            if h.start <= w.date <= h.end:
                raise NoticeError(w.line, f"make-up working day {w.date} lies inside {h.name} "
                                          f"{h.start}..{h.end}")

    number = next((m.group(1) for line in lines if (m := _DOCUMENT_NUMBER.match(line))), "")
    published = None
    last_item = items[-1][0]
    for i in range(last_item + 1, len(lines)):
        m = _SIGNATURE_DATE.match(lines[i])
        if m:
            published = _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), i + 1)
    return HolidayNotice(year=year, holidays=tuple(holidays), workdays=tuple(workdays),
                         title=title, document_number=number, published=published)


def _strip_number(line: str) -> str:
    m = _ITEM.match(line.lstrip())
    return m.group(2).strip() if m else line


def _list_part(lines: Sequence[str]) -> list[tuple[int, str]]:
    """``(line index, text without number)`` of each holiday item, checked for order and gaps."""
    numbered = [(i, m) for i, line in enumerate(lines) if (m := _ITEM.match(line))]
    if numbered:
        first, last = numbered[0][0], numbered[-1][0]
        items: list[tuple[int, str]] = []
        expected = 1
        for i in range(first, last + 1):
            line = lines[i]
            if not line:
                continue
            m = _ITEM.match(line)
            if m is None:
                raise NoticeError(i + 1, f"expected the numbered holiday line "
                                         f"{_chinese_numeral(expected)}、…, got {line[:30]!r}")
            if _numeral(m.group(1)) != expected:
                missing = _chinese_numeral(expected) + "、"
                if items and missing in items[-1][1]:
                    raise NoticeError(items[-1][0] + 1, f"expected one holiday per line, got item "
                                                        f"{missing} inside this one")
                raise NoticeError(i + 1, f"expected item {missing}, got {m.group(1)}、")
            items.append((i, m.group(2)))
            expected += 1
        return items
    shaped = [i for i, line in enumerate(lines) if _HOLIDAY_SHAPE.match(line)]
    if not shaped:
        raise NoticeError(None, f"no holiday lines found: expected lines like {_EXAMPLE}")
    for i in range(shaped[0], shaped[-1] + 1):
        if lines[i] and i not in shaped:
            raise NoticeError(i + 1, f"expected a holiday line like {_EXAMPLE}, got {lines[i][:30]!r}")
    return [(i, lines[i]) for i in shaped]


def _real_date(y: int, m: int, d: int, line: int) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise NoticeError(line, f"{m}月{d}日 is not a date in {y}") from None


class _LineReader:
    """Reads one holiday item (already normalised, number removed) left to right."""

    def __init__(self, text: str, line: int, year: int) -> None:
        self.text = text
        self.pos = 0
        self.line = line
        self.year = year

    def fail(self, expected: str) -> NoticeError:
        rest = self.text[self.pos:self.pos + 20]
        got = repr(rest) if rest else "the end of the line"
        return NoticeError(self.line, f"expected {expected}, got {got}")

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def holiday(self) -> tuple[str, date, date, list[date]]:
        name, colon, _ = self.text.partition(":")
        if not colon or not name or re.search(r"\d", name):
            raise NoticeError(self.line, f"expected a holiday line like {_EXAMPLE}, "
                                         f"got {self.text[:30]!r}")
        self.pos = len(name) + 1
        start = self.read_date(None, "the first day off, a date like 1月1日")
        self.weekday_remark(start)
        end = start
        if self.take("至"):
            end = self.read_date(start, "the last day off after 至, a date like 3日 or 2月4日")
            self.weekday_remark(end)
            if end < start:
                raise NoticeError(self.line, f"the range ends ({end}) before it starts ({start})")
        if not self.take("放假"):
            raise self.fail("放假 after the dates")
        self.take("调休")
        counts: list[int] = []
        self.count(counts)
        while self.take(","):
            if self.take("共"):
                if not self.count(counts):
                    raise self.fail("a number of days after 共, like 共3天")
            elif not (self.take("与周末连休") or self.take("不调休") or self.take("调休")):
                raise self.fail("共N天, 与周末连休 or 不调休 after 放假")
        if not (self.take("。") or self.pos == len(self.text)):
            raise self.fail("the end of the sentence (。) after the number of days")
        days = (end - start).days + 1
        for n in counts:
            if n != days:
                raise NoticeError(self.line, f"共{n}天 but {start}..{end} is {days} days")
        workdays: list[date] = []
        for sentence in self.text[self.pos:].split("。"):
            if _DATE.match(sentence):
                workdays.extend(_LineReader(sentence, self.line, self.year).make_up_days())
            elif _ITEM.match(sentence) or _HOLIDAY_SHAPE.match(sentence):
                # Text pasted without its line breaks: the next item would be silently lost.
                raise NoticeError(self.line, f"expected one holiday per line, got "
                                             f"{sentence[:20]!r} inside this one")
        return name, start, end, workdays

    def count(self, counts: list[int]) -> bool:
        m = _COUNT.match(self.text, self.pos)
        if not m:
            return False
        n = _numeral(m.group(1))
        if n is None:
            raise self.fail("a number of days")
        counts.append(n)
        self.pos = m.end()
        return True

    def read_date(self, after: date | None, expected: str) -> date:
        """A date; after ``至`` (``after`` given) the year and month default to the start's."""
        m = _DATE.match(self.text, self.pos)
        if not m or (after is None and m.group(2) is None):
            raise self.fail(expected)
        y = int(m.group(1)) if m.group(1) else (after.year if after else self.year)
        month = int(m.group(2)) if m.group(2) else after.month if after else 0
        if abs(y - self.year) > 1:
            raise NoticeError(self.line, f"{y}年 is too far from the notice's year {self.year}")
        d = _real_date(y, month, int(m.group(3)), self.line)
        self.pos = m.end()
        return d

    def weekday_remark(self, d: date) -> None:
        """An optional ``（…、周日）`` after a date: its weekday part must be ``d``'s weekday."""
        if not self.take("("):
            return
        close = self.text.find(")", self.pos)
        if close < 0:
            raise self.fail("a closing bracket ）")
        remark, self.pos = self.text[self.pos:close], close + 1
        for part in re.split(r"[、,]", remark):
            m = _WEEKDAY_REMARK.match(part)
            if m:
                said = _WEEKDAY_CHARS.index(m.group(1).replace("天", "日"))
                if said != d.weekday():
                    raise NoticeError(self.line, f"{d.month}月{d.day}日 is {_WEEKDAY_NAMES[d.weekday()]} "
                                                 f"(周{_WEEKDAY_CHARS[d.weekday()]}), not {part}")
            elif part.startswith(("周", "星期", "礼拜")):
                raise NoticeError(self.line, f"expected a weekday like 周日 or 星期日, got {part!r}")

    def make_up_days(self) -> list[date]:
        """``2月14日（周六）、2月28日（周六）上班``: each date a Saturday or a Sunday."""
        out: list[date] = []
        while True:
            d = self.read_date(None, "a make-up working day like 2月14日")
            self.weekday_remark(d)
            if d.weekday() < 5:
                raise NoticeError(self.line, f"make-up working day {d.month}月{d.day}日 is a "
                                             f"{_WEEKDAY_NAMES[d.weekday()]}: "
                                             "expected a Saturday or a Sunday")
            out.append(d)
            if self.take("上班"):
                if self.pos != len(self.text):
                    raise self.fail("the end of the sentence (。) after 上班")
                return out
            if not self.take("、"):
                raise self.fail("、 and another date, or 上班")


# ---------------------------------------------------------------------------
# Writing the calendar file

_ENGLISH_NAMES = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival (Chinese New Year)",
    "清明节": "Qingming Festival (Tomb-Sweeping Day)",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-Autumn Festival",
    "国庆节": "National Day",
}


def english_holiday_name(name: str) -> str:
    """English name of a usual holiday (``"国庆节、中秋节"`` joins both); empty if one is unknown."""
    parts = [p for p in re.split(r"[、和与]", name) if p]
    english = [_ENGLISH_NAMES.get(p, "") for p in parts]
    return " and ".join(english) if english and all(english) else ""


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_HEADER = """\
# Mainland China public holidays and make-up working days (调休) — {year}.
#
# How to read this file (same schema in every cn-YYYY.toml):
#   * A date inside any [[holiday]] range start..end (both inclusive) is a day off.
#   * A date listed as a [[workday]] is a working day although it is a Saturday
#     or Sunday (调休上班).
#   * Every other date: Monday–Friday is a working day, Saturday/Sunday a day off.
#   * start/end are exactly the dates the notice gives. Where the notice only
#     says "与周末连休" (joined with the weekend), the adjacent weekend is NOT in
#     the range (it is off anyway).
#   * `days` = end - start + 1; equals the notice's "共N天" where it states one.
#   * `notice` quotes the notice's own line for that holiday.
#   * Hong Kong, Macao and Taiwan are not covered.
#
# Read from the pasted text of the notice and confirmed in the console; compare
# it with a second source (config/calendar/README.md, "Adding a year").
"""


def render_calendar_toml(
    notice: HolidayNotice, *, region: str = "CN", source_url: str = ""
) -> str:
    """The notice as the text of ``config/calendar/<region>-<year>.toml``.

    The text loads with :func:`hotline.calendar.load_calendar_file` to exactly the
    notice's holidays (clipped to the year, see the module docstring) and its
    make-up days in that year.
    """
    year = notice.year
    out = [_HEADER.format(year=year)]
    out.append(f"year = {year}")
    out.append(f"region = {_toml_string(region)}")
    out.append(f"source = {_toml_string(_source(notice))}")
    if notice.published is not None:
        out.append(f"published = {notice.published.isoformat()}")
    if source_url:
        out.append(f"source_url = {_toml_string(source_url)}")
    for h in notice.holidays:
        start, end = _clip(h, year)
        out.append("")
        out.append("[[holiday]]")
        out.append(f"name = {_toml_string(h.name)}")
        english = english_holiday_name(h.name)
        if english:
            out.append(f"name_en = {_toml_string(english)}")
        out.append(f"start = {start.isoformat()}")
        out.append(f"end = {end.isoformat()}")
        if (start, end) == (h.start, h.end):
            out.append(f"days = {h.days}")
        out.append(f"notice = {_toml_string(h.notice)}")
        if (start, end) != (h.start, h.end):
            note = (f"The notice gives {h.start}..{h.end} ({h.days} days); "
                    f"only the days in {year} belong in this file.")
            out.append(f"note = {_toml_string(note)}")
    for w in notice.workdays:
        out.append("")
        if w.date.year != year:
            out.append(f"# Make-up working day {w.date} ({_WEEKDAY_NAMES[w.date.weekday()]}) for "
                       f"{w.holiday} belongs in {region.lower()}-{w.date.year}.toml.")
            continue
        out.append("[[workday]]")
        out.append(f"date = {w.date.isoformat()}")
        out.append(f"weekday = {_toml_string(_WEEKDAY_NAMES[w.date.weekday()])}")
        out.append(f"holiday = {_toml_string(w.holiday)}")
    return "\n".join(out) + "\n"

