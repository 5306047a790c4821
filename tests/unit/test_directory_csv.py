"""Reading the employee directory CSV: encodings, delimiters, headers, bad rows.

Fixtures in tests/data/directory/ were written for these tests (fictitious
people); the GBK and UTF-16 variants are produced here with Python's codecs.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.callerid import NumberingPlan, caller_from_headers
from hotline.directory import (
    DirectoryCsvError,
    DirectoryEntry,
    RejectedRow,
    RowWarning,
    read_directory_csv,
)

DATA = Path(__file__).parent.parent / "data" / "directory"
HANGZHOU = NumberingPlan(trunk_area_code="0571")


def test_english_headers_utf8() -> None:
    result = read_directory_csv(DATA / "employees-en.csv", plan=HANGZHOU)
    assert (result.encoding, result.delimiter, result.rejected) == ("utf-8", ",", [])
    assert [e.employee_id for e in result.rows] == ["E000101", "E000102", "E000103"]
    first, second, third = result.rows
    assert first == DirectoryEntry(
        employee_id="E000101", name="张伟", department="信息中心", location="行政楼 3F",
        email="e000101@example.com", desk_numbers=("+8657187654321",), extension="8001",
        mobile="+8613812345678",
    )
    assert first.raw["desk_phone"] == "0571-87654321"
    assert second.desk_numbers == ("+8657187654322", "+8657187654323")
    assert second.mobile == "+8613900001234"
    assert (third.location, third.desk_numbers, third.mobile, third.email) == (None, (), None, None)
    assert third.keys == ("ext:8003",)
    assert first.keys == ("+8657187654321", "ext:8001", "+8613812345678")


def test_chinese_headers_utf8_bom_tab_delimited() -> None:
    result = read_directory_csv(DATA / "bom-tab.csv", plan=HANGZHOU)
    assert (result.encoding, result.delimiter) == ("utf-8-sig", "\t")
    (entry,) = result.rows
    assert (entry.employee_id, entry.name, entry.department, entry.location) == (
        "E000201", "刘洋", "化工二部", "二号厂区"
    )
    assert (entry.desk_numbers, entry.extension, entry.mobile) == (
        ("+8657187655001",), "5001", "+8613900005001"
    )
    # The BOM must not stick to the first header name.
    assert "员工编号" in entry.raw


def test_gbk_semicolon_with_comma_inside_a_field() -> None:
    data = (DATA / "gbk-semicolon.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is GBK
    result = read_directory_csv(data, plan=HANGZHOU)
    assert (result.encoding, result.delimiter, result.rejected) == ("gb18030", ";", [])
    assert [(e.name, e.department) for e in result.rows] == [
        ("欧阳娜娜", "炼油一部, 二车间"), ("赵磊", "质量检验中心")
    ]
    assert result.rows[0].mobile == "+8615900006001"


EXPECTED_REJECTED = [
    (3, "missing employee id (工号)"),
    (4, "missing name (姓名)"),
    (5, "duplicate employee id E001 (first on line 2)"),
    (6, "mobile '01087654321' is a fixed_line number, not a mobile"),
    (7, "desk phone '电话待定' is not a phone number"),
    (11, "mobile '1.38123E+10' was turned into a number by Excel; "
         "format the column as text and export again"),
    (12, "extension '12' is not an extension here"),
    (13, "too many columns: 10 fields, the header has 8"),
    (16, "missing employee id (工号); missing name (姓名); mobile '138 abc' is not a phone number"),
]


@pytest.mark.parametrize(
    ("codec", "encoding"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_bad_rows_reported_with_exact_line_numbers(codec: str, encoding: str) -> None:
    text = (DATA / "bad-rows.csv").read_text(encoding="utf-8")
    for newline in ("\n", "\r\n"):
        result = read_directory_csv(text.replace("\n", newline).encode(codec), plan=HANGZHOU)
        assert result.encoding == encoding
        assert [(r.line, r.reason) for r in result.rejected] == EXPECTED_REJECTED
        assert [e.employee_id for e in result.rows] == ["E001", "E007", "E014", "E016"]
        assert result.warnings == [
            RowWarning(8, "mobile '14912345678' is not in phonenumbers' metadata; kept as 14912345678"),
            RowWarning(17, "email 'sunli-at-example' does not look like an address"),
        ]
        assert result.blank_lines == 2
        # Nothing is dropped silently: every non-blank data row is accounted for.
        assert len(result.rows) + len(result.rejected) == 13


def test_rejected_row_keeps_its_text_and_multiline_cells() -> None:
    result = read_directory_csv(DATA / "bad-rows.csv", plan=HANGZHOU)
    assert result.rejected[0] == RejectedRow(3, "missing employee id (工号)", ",王芳,信息中心,,,8002,,")
    e007 = result.rows[1]
    # The quoted department spans lines 8–9 of the file; shown on one line.
    assert (e007.department, e007.extension, e007.mobile) == ("安全环保部 (HSE)", "8007", "14912345678")


def test_desk_phone_with_extension_notation() -> None:
    result = read_directory_csv(DATA / "bad-rows.csv", plan=HANGZHOU)
    e014 = next(e for e in result.rows if e.employee_id == "E014")
    assert (e014.desk_numbers, e014.extension) == (("+8657187654321", "ext:8014"), "8014")
    e016 = next(e for e in result.rows if e.employee_id == "E016")
    assert (e016.desk_numbers, e016.extension) == (("+8657187654321", "ext:8016"), "8016")


def test_without_trunk_area_code_local_desk_numbers_are_kept_with_a_warning() -> None:
    data = "工号,姓名,座机\nE1,张三,87654321\n".encode()
    result = read_directory_csv(data)
    assert result.rows[0].desk_numbers == ("87654321",)
    assert result.warnings == [
        RowWarning(2, "desk phone '87654321' has no area code and none fits; kept as 87654321")
    ]


def test_several_desk_separators() -> None:
    data = "工号,姓名,座机\nE1,张三,\"010-87654321；010-87654322，010-87654323;8001\"\n".encode()
    (entry,) = read_directory_csv(data).rows
    assert entry.desk_numbers == ("+861087654321", "+861087654322", "+861087654323", "ext:8001")


def test_mobile_with_several_numbers_is_rejected() -> None:
    data = b"employee_id,name,mobile\nE1,Zhang San,13812345678/13912345678\n"
    result = read_directory_csv(data)
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "mobile '13812345678/13912345678' holds several numbers; give one")
    ]


def test_extension_pattern_from_the_plan_applies() -> None:
    data = b"employee_id,name,extension\nE1,A,8001\nE2,B,1001\n"
    result = read_directory_csv(data, plan=NumberingPlan(extension_pattern=r"[2-8]\d{3}"))
    assert [e.extension for e in result.rows] == ["8001"]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "extension '1001' is not an extension here")
    ]


def test_short_rows_and_trailing_empty_columns_are_fine() -> None:
    data = b"employee_id,name,department,mobile\nE1,A\nE2,B,IT,13812345678,,,\n"
    result = read_directory_csv(data)
    assert [(e.employee_id, e.department, e.mobile) for e in result.rows] == [
        ("E1", None, None), ("E2", "IT", "+8613812345678")
    ]
    assert result.rejected == []


def test_unknown_columns_are_kept_in_raw_and_listed() -> None:
    data = "工号,姓名,职务\nE1,张三,工程师\n".encode()
    result = read_directory_csv(data)
    assert result.ignored_columns == ("职务",)
    assert result.rows[0].raw == {"工号": "E1", "姓名": "张三", "职务": "工程师"}


# -- whole-file errors, messages verbatim -------------------------------------------


def test_header_without_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("编号,部门\nE1,IT\n", encoding="utf-8")
    with pytest.raises(DirectoryCsvError) as info:
        read_directory_csv(path)
    assert str(info.value) == (
        f"{path}: line 1: the header row has no employee id (工号) and no name (姓名) column; "
        "found '编号', '部门'"
    )


def test_two_columns_with_one_meaning() -> None:
    with pytest.raises(DirectoryCsvError) as info:
        read_directory_csv("工号,姓名,手机,移动电话\n".encode())
    assert str(info.value) == "<bytes>: line 1: columns '手机' and '移动电话' both mean mobile"


def test_undecodable_bytes_name_the_line() -> None:
    data = "工号,姓名\nE1,张三\n".encode() + b"E2,\xff\xff\n"
    with pytest.raises(DirectoryCsvError) as info:
        read_directory_csv(data)
    assert str(info.value) == (
        "<bytes>: line 3: byte 0xff at offset 27 is not UTF-8 or GB18030/GBK; "
        "save the file as CSV UTF-8 or GBK"
    )


def test_empty_file() -> None:
    with pytest.raises(DirectoryCsvError, match=r"^<bytes>: the file has no header row$"):
        read_directory_csv(codecs.BOM_UTF8 + b"\n\n")


# -- the point of it all: callers find their entry ------------------------------------


def test_callers_match_imported_entries() -> None:
    result = read_directory_csv(DATA / "employees-en.csv", plan=HANGZHOU)
    index = {key: entry.employee_id for entry in result.rows for key in entry.keys}
    calls = [
        # Hangzhou trunk presenting a local number without area code.
        ("<sip:87654321@198.51.100.1>", "E000101"),
        ("<sip:+8613812345678@198.51.100.1;user=phone>", "E000101"),
        ("<sip:013900001234@198.51.100.1>", "E000102"),
        ('"王芳" <sip:8002@10.0.0.5>', "E000102"),
        ("<tel:+86-571-8765-4323>", "E000102"),
        ("<sip:8003@10.0.0.5>", "E000103"),
    ]
    for from_, employee in calls:
        caller = caller_from_headers(p_asserted_identity=None, from_=from_, plan=HANGZHOU)
        assert index.get(caller.key) == employee, from_
    stranger = caller_from_headers(p_asserted_identity=None, from_="<sip:8009@h>", plan=HANGZHOU)
    assert stranger.key not in index


# -- any bytes: a result or a DirectoryCsvError, nothing else --------------------------

_HEADER = "工号,姓名,座机,分机,手机,邮箱\n".encode()
_CELLS = st.text(alphabet=st.sampled_from('0123456789+-,;/、"\n\r转x 张\tE'), max_size=120)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=120), _CELLS)
def test_arbitrary_input_is_read_or_refused_cleanly(junk: bytes, cells: str) -> None:
    for data in (_HEADER + junk, _HEADER + cells.encode(), junk):
        try:
            result = read_directory_csv(data)
        except DirectoryCsvError:
            continue
        lines = [r.line for r in result.rejected]
        assert lines == sorted(lines) and all(line >= 2 for line in lines)
        assert all(e.employee_id and e.name for e in result.rows)
