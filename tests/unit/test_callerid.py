"""Caller-ID normalisation: real-world presentations → kind and directory key.

Expected values come from docs/cn-numbering.md §4 (what phonenumbers 9.0.43
returns, with the verdict chosen here for the rows it gets wrong) and from the
caller-ID fixtures tests/traces/derived/d01–d10 and tests/traces/real/ (header
values copied verbatim below).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.callerid import (
    CallerKind,
    NumberingPlan,
    NumberingPlanError,
    caller_from_headers,
    display_key,
    extension_key,
    normalise_number,
    parse_name_addr,
    split_header_values,
)

E, S, X, L, N, W = (
    CallerKind.E164,
    CallerKind.SHORT,
    CallerKind.EXTENSION,
    CallerKind.LOCAL,
    CallerKind.INVALID,
    CallerKind.WITHHELD,
)

# (presented, expected kind, expected key, expected number_type)
# Rows 1–39: every input of docs/cn-numbering.md §4, in its order.
TABLE: list[tuple[str, CallerKind, str, str | None]] = [
    ("13812345678", E, "+8613812345678", "mobile"),
    ("+8613812345678", E, "+8613812345678", "mobile"),
    ("8613812345678", E, "+8613812345678", "mobile"),
    ("008613812345678", E, "+8613812345678", "mobile"),
    ("013812345678", E, "+8613812345678", "mobile"),
    ("+86013812345678", E, "+8613812345678", "mobile"),
    ("1795113812345678", E, "+8613812345678", "mobile"),
    ("01087654321", E, "+861087654321", "fixed_line"),
    ("1087654321", E, "+861087654321", "fixed_line"),
    ("861087654321", E, "+861087654321", "fixed_line"),
    ("8601087654321", E, "+861087654321", "fixed_line"),
    ("+86 10 8765 4321", E, "+861087654321", "fixed_line"),
    ("tel:+86-10-8765-4321", E, "+861087654321", "fixed_line"),
    # phonenumbers refuses SIP URIs (surprise 9); we take the user part.
    ("sip:+8613812345678@192.0.2.1", E, "+8613812345678", "mobile"),
    ("075512345678", E, "+8675512345678", "fixed_line"),
    # Shenzhen has 8-digit numbers: 7 digits is invalid, keyed on the national number.
    ("07552345678", N, "7552345678", "unknown"),
    ("09122345678", E, "+869122345678", "fixed_line"),
    # No trunk area code configured: a local number keeps its digits.
    ("87654321", L, "87654321", "unknown"),
    # 86 + a local number (surprise 2): not a number; never the garbage +8687654321.
    ("8687654321", N, "87654321", "unknown"),
    # IP prefix + fixed line with trunk 0: phonenumbers fails (surprise 8), we strip.
    ("17951075512345678", E, "+8675512345678", "fixed_line"),
    # Stray 00 before a mobile (surprise 7): a domestic mobile, not +1 381….
    ("0013812345678", E, "+8613812345678", "mobile"),
    ("4008123456", E, "+864008123456", "shared_cost"),
    ("8008101234", E, "+868008101234", "toll_free"),
    ("95588", S, "95588", "service"),
    ("10086", S, "10086", "service"),
    ("02196510", E, "+862196510", "shared_cost"),
    ("110", S, "110", "emergency"),
    # 122 is "expandedEmergency" in the metadata, not is_emergency_number (surprise 6).
    ("122", S, "122", "emergency"),
    ("16212345678", E, "+8616212345678", "mobile"),
    ("17012345678", E, "+8617012345678", "mobile"),
    ("19212345678", E, "+8619212345678", "mobile"),
    # Allocated to China Telecom but invalid in phonenumbers: kept, still matchable.
    ("14912345678", N, "14912345678", "unknown"),
    ("14812345678", N, "14812345678", "unknown"),
    ("17491234567", N, "17491234567", "unknown"),
    ("16191234567", N, "16191234567", "unknown"),
    ("16101234567", E, "+8616101234567", "mobile"),
    ("19412345678", N, "19412345678", "unknown"),
    ("12345678901", N, "12345678901", "unknown"),
    ("1440123456789", N, "1440123456789", "unknown"),
    # Further forms seen on trunks and PBXs (§5) and in directories.
    ("+8614912345678", N, "14912345678", "unknown"),
    ("014912345678", N, "14912345678", "unknown"),
    ("8001", X, "ext:8001", "extension"),
    ("800123", X, "ext:800123", "extension"),
    ("1337", X, "ext:1337", "extension"),
    ("12345", S, "12345", "service"),
    ("119", S, "119", "emergency"),
    ("120", S, "120", "emergency"),
    ("+8610086", S, "10086", "service"),
    ("1791113812345678", E, "+8613812345678", "mobile"),
    ("1790913812345678", E, "+8613812345678", "mobile"),
    ("1259301087654321", E, "+861087654321", "fixed_line"),
    ("0571-8765 4321", E, "+8657187654321", "fixed_line"),
    ("(0571) 8765-4321", E, "+8657187654321", "fixed_line"),
    ("0571.8765.4321", E, "+8657187654321", "fixed_line"),
    ("138-1234-5678", E, "+8613812345678", "mobile"),
    ("138 1234 5678", E, "+8613812345678", "mobile"),
    ("１３８１２３４５６７８", E, "+8613812345678", "mobile"),  # fullwidth digits
    ("tel:+8613812345678;cpc=ordinary", E, "+8613812345678", "mobile"),
    ("tel:87654321;phone-context=+86-10", E, "+861087654321", "fixed_line"),
    ("sip:87654321;phone-context=+8621@192.0.2.1;user=phone", E, "+862187654321", "fixed_line"),
    ("sips:+8613812345678@192.0.2.1:5061;user=phone", E, "+8613812345678", "mobile"),
    ("sip:%2B8613812345678@192.0.2.1", E, "+8613812345678", "mobile"),
    ("057685686327", E, "+8657685686327", "fixed_line"),
    ("+442079460958", E, "+442079460958", "fixed_line"),
    ("00442079460958", E, "+442079460958", "fixed_line"),
    ("+1 650 253 0000", E, "+16502530000", "fixed_line_or_mobile"),
    ("+4412", N, "+4412", "unknown"),
    ("2200001234567", N, "2200001234567", "unknown"),  # cloud-PBX account id (real/015)
    ("12", N, "12", "unknown"),
    ("alice", N, "", "unknown"),
    ("138123x5678", N, "", "unknown"),
    ("anonymous", W, "", None),
    ("Anonymous", W, "", None),
    ("restricted", W, "", None),
    ("unavailable", W, "", None),
    ("", W, "", None),
    ("   ", W, "", None),
    ("sip:anonymous@anonymous.invalid", W, "", None),
    ("sip:192.0.2.1:5060", W, "", None),
]


@pytest.mark.parametrize(("presented", "kind", "key", "number_type"), TABLE)
def test_normalisation_table(
    presented: str, kind: CallerKind, key: str, number_type: str | None
) -> None:
    cid = normalise_number(presented)
    assert (cid.kind, cid.key, cid.number_type) == (kind, key, number_type)
    assert cid.raw == presented
    # An E.164 string only ever comes from a valid number (surprise 1).
    assert (cid.e164 is not None) == (kind is E)
    if cid.e164 is not None:
        assert cid.key == cid.e164
    assert cid.withheld == (kind is W)


def test_table_has_enough_real_world_forms() -> None:
    assert len({row[0] for row in TABLE}) == len(TABLE) >= 40


def test_display_formats() -> None:
    assert normalise_number("+8613812345678").national == "138 1234 5678"
    assert normalise_number("01087654321").national == "010 8765 4321"
    assert normalise_number("0044 20 7946 0958").national == "+44 20 7946 0958"
    assert normalise_number("95588").national == "95588"
    assert normalise_number("anonymous").national == ""


def test_digits_are_the_presented_digits_without_prefixes() -> None:
    assert normalise_number("1795113812345678").digits == "13812345678"
    assert normalise_number("+86 138-1234-5678").digits == "8613812345678"
    assert normalise_number("9013671108090", access_prefixes=("9",)).digits == "013671108090"


# -- the trunk's area code and local numbers ------------------------------------


@pytest.mark.parametrize("area", ["0571", "571", "0571 "])
def test_local_number_gets_trunk_area_code(area: str) -> None:
    cid = normalise_number("87654321", trunk_area_code=area)
    assert (cid.kind, cid.key, cid.e164, cid.national) == (
        L, "+8657187654321", "+8657187654321", "0571 8765 4321"
    )


def test_local_number_of_wrong_length_for_the_area_stays_local_and_matchable() -> None:
    # Hangzhou has 8-digit numbers; a 7-digit one is invalid there.
    cid = normalise_number("2345678", trunk_area_code="0571")
    assert (cid.kind, cid.key, cid.e164) == (L, "5712345678", None)


def test_local_number_matches_the_same_number_given_with_area_code() -> None:
    local = normalise_number("87654321", trunk_area_code="010")
    assert local.key == normalise_number("010-87654321").key == "+861087654321"


# -- extensions versus service numbers -------------------------------------------


def test_extension_pattern_decides() -> None:
    plan = NumberingPlan(extension_pattern=r"[2-8]\d{3}")
    assert plan.normalise("8001").key == "ext:8001"
    assert plan.normalise("2000").kind is X
    # Outside the pattern: a short number, a service one when phonenumbers knows it.
    assert (plan.normalise("1337").kind, plan.normalise("1337").number_type) == (S, "unknown")
    assert (plan.normalise("800123").kind, plan.normalise("800123").key) == (S, "800123")
    for service in ("95588", "10086", "110", "119", "120", "122", "12345"):
        assert plan.normalise(service).kind is S, service


def test_extension_pattern_may_cover_longer_internal_numbers() -> None:
    plan = NumberingPlan(extension_pattern=r"6\d{6}")
    assert plan.normalise("6123456").key == "ext:6123456"


def test_extension_lengths_restrict_default_rule() -> None:
    plan = NumberingPlan(extension_lengths=(4,))
    assert plan.normalise("8001").kind is X
    assert plan.normalise("800123").kind is S
    assert plan.normalise("800").kind is S
    assert extension_key("8001") == "ext:8001"


def test_extension_and_directory_number_do_not_collide() -> None:
    assert normalise_number("8001").key != normalise_number("+868001").key


# -- access digits and IP prefixes ------------------------------------------------


@pytest.mark.parametrize(
    ("presented", "key"),
    [
        # §5: a call-centre PBX that prefixes 9 (local) / 90 (non-local).
        ("913566863501", "+8613566863501"),
        ("9013671108090", "+8613671108090"),
        ("9057685686327", "+8657685686327"),
        ("9001067651238", "+861067651238"),
        # Never strip into a service number or an extension.
        ("95588", "95588"),
        ("9001", "ext:9001"),
    ],
)
def test_access_prefixes(presented: str, key: str) -> None:
    assert normalise_number(presented, access_prefixes=("9", "90")).key == key


def test_ip_prefix_stripping_can_be_switched_off() -> None:
    assert normalise_number("1795113812345678", strip_ip_prefixes=False).key == "+8613812345678"
    # phonenumbers strips it for mobiles itself, but not before a trunk 0 (surprise 8).
    cid = normalise_number("17951075512345678", strip_ip_prefixes=False)
    assert (cid.kind, cid.e164) == (N, None)


# -- plan validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "XX"}, "region: expected an ISO region like 'CN', got 'XX'"),
        ({"trunk_area_code": "abc"}, "trunk_area_code: expected 2–4 digits like '0571', got 'abc'"),
        ({"extension_lengths": (0, 4)}, "extension_lengths: expected lengths between 1 and 8, got (0, 4)"),
        ({"access_prefixes": ("9", "x")}, "access_prefixes: expected digit strings, got ('9', 'x')"),
    ],
)
def test_plan_errors_name_the_setting(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(NumberingPlanError) as info:
        NumberingPlan(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_plan_error_for_bad_pattern() -> None:
    with pytest.raises(NumberingPlanError, match=r"^extension_pattern: not a regular expression"):
        NumberingPlan(extension_pattern="[2-8")


# -- one key for every presentation of one number ----------------------------------

MOBILE_BLOCKS = ["130", "135", "138", "147", "150", "166", "172", "177", "186", "191", "199"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MOBILE_BLOCKS), st.integers(0, 99_999_999))
def test_every_presentation_of_a_mobile_gives_one_key(block: str, rest: int) -> None:
    mobile = f"{block}{rest:08d}"
    forms = [
        mobile, f"+86{mobile}", f"86{mobile}", f"0086{mobile}", f"0{mobile}",
        f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}",
        f"tel:+86{mobile}", f"sip:{mobile}@192.0.2.1;user=phone", f"17951{mobile}",
    ]
    keys = {normalise_number(form).key for form in forms}
    assert keys == {f"+86{mobile}"}


# -- name-addr parsing ------------------------------------------------------------


def test_parse_name_addr_forms() -> None:
    a = parse_name_addr('"a \\"b\\" c" <sip:8001@h;user=phone>;tag=x;privacy=full')
    assert a is not None
    assert (a.display_name, a.uri, a.params) == (
        'a "b" c', "sip:8001@h;user=phone", {"tag": "x", "privacy": "full"}
    )
    b = parse_name_addr("sip:8001@h;tag=y")
    assert b is not None and (b.display_name, b.uri, b.params) == (None, "sip:8001@h", {"tag": "y"})
    c = parse_name_addr("Blue Face<sip:3000@127.0.0.1>;tag=as5fd53de7")
    assert c is not None and c.display_name == "Blue Face"
    assert parse_name_addr('"unterminated <sip:1@h>') is None
    assert parse_name_addr("no uri here") is None


def test_split_header_values_respects_quotes_and_brackets() -> None:
    value = '"Zhang, Wei" <sip:+8613812345678@h;a=1,2>, <tel:+8613812345678>'
    assert split_header_values(value) == [
        '"Zhang, Wei" <sip:+8613812345678@h;a=1,2>', "<tel:+8613812345678>"
    ]


# -- caller from headers -----------------------------------------------------------

GBK_ZHANG_WEI = bytes.fromhex("d5c5ceb0")  # 张伟 in GBK: invalid UTF-8 (d08)


def _sip_text(raw: bytes) -> str:
    """What the SIP layer hands over: UTF-8 decoded with surrogateescape."""
    return raw.decode("utf-8", "surrogateescape")


# (PAI, From, Privacy) → kind, key, display name, source header.
# d01–d10: tests/traces/derived; the others: tests/traces/real/<number>.
HEADER_CASES = [
    pytest.param(
        "<tel:+8613812345678>",
        "<sip:+8613812345678@203.0.113.47;user=phone>;tag=f76a4465771c69a4becab3be45ed30c7",
        None, E, "+8613812345678", None, "P-Asserted-Identity", id="d01",
    ),
    pytest.param(
        None, "<sip:8613812345678@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7",
        None, E, "+8613812345678", None, "From", id="d02",
    ),
    pytest.param(
        None, "<sip:013812345678@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7",
        None, E, "+8613812345678", None, "From", id="d03",
    ),
    pytest.param(
        None, "<sip:01058781234@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7",
        None, E, "+861058781234", None, "From", id="d04",
    ),
    pytest.param(
        None, "<sip:1058781234@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7",
        None, E, "+861058781234", None, "From", id="d05",
    ),
    pytest.param(
        "<sip:+861058781234@203.0.113.47;user=phone>",
        '"01058781234" <sip:01058781234@203.0.113.47;user=phone>;tag=f76a4465771c69a4becab3be45ed30c7',
        None, E, "+861058781234", None, "P-Asserted-Identity", id="d06",
    ),
    pytest.param(
        None, '"张伟" <sip:8001@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7',
        None, X, "ext:8001", "张伟", "From", id="d07",
    ),
    pytest.param(
        None,
        _sip_text(b'"' + GBK_ZHANG_WEI + b'" <sip:800123@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7'),
        None, X, "ext:800123", "张伟", "From", id="d08",
    ),
    pytest.param(
        "<sip:+8613812345678@203.0.113.47;user=phone>",
        '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=f76a4465771c69a4becab3be45ed30c7',
        "id", W, "", None, "P-Asserted-Identity", id="d09",
    ),
    pytest.param(
        None, '"Restricted" <sip:Restricted@203.0.113.47>;tag=f76a4465771c69a4becab3be45ed30c7',
        None, W, "", None, "From", id="d10",
    ),
    pytest.param(
        '"Reception Desk" <sip:1337@192.168.86.35>',
        '"Reception Desk" <sip:1337@192.168.86.35>;tag=551734e6-3253-4f5a-82cb-f4af2400298c',
        None, X, "ext:1337", "Reception Desk", "P-Asserted-Identity", id="real-001",
    ),
    pytest.param(
        "<sip:unknown@198.51.100.4>", '"Anonymous" <sip:198.51.100.4:5060>;tag=3433217327-893254',
        "none", W, "", None, "P-Asserted-Identity", id="real-028",
    ),
    pytest.param(
        None, "Blue Face<sip:3000@127.0.0.1>;tag=as5fd53de7",
        None, X, "ext:3000", "Blue Face", "From", id="real-031",
    ),
    pytest.param(
        None, '"呼叫方名字" <sip:57660000@172.17.2.2;tag=FLYTRWSZOS>',
        None, L, "57660000", "呼叫方名字", "From", id="real-033",
    ),
]


@pytest.mark.parametrize(
    ("pai", "from_", "privacy", "kind", "key", "display", "source"), HEADER_CASES
)
def test_caller_from_headers_corpus(
    pai: str | None, from_: str, privacy: str | None,
    kind: CallerKind, key: str, display: str | None, source: str,
) -> None:
    cid = caller_from_headers(p_asserted_identity=pai, from_=from_, privacy=privacy)
    assert (cid.kind, cid.key, cid.display_name, cid.source) == (kind, key, display, source)


def test_privacy_id_keeps_asserted_identity_in_raw_only() -> None:
    pai = "<sip:+8613812345678@203.0.113.47;user=phone>"
    cid = caller_from_headers(
        p_asserted_identity=pai, from_='"张伟" <sip:+8613812345678@h>', privacy="id;critical"
    )
    assert (cid.raw, cid.withheld, cid.key, cid.e164, cid.digits, cid.display_name) == (
        pai, True, "", None, "", None
    )


@pytest.mark.parametrize("privacy", ["id", "header", "user", "ID", "header;id", "session, id"])
def test_privacy_values_that_hide(privacy: str) -> None:
    cid = caller_from_headers(p_asserted_identity=None, from_="<sip:8001@h>", privacy=privacy)
    assert cid.withheld and cid.raw == "<sip:8001@h>"


@pytest.mark.parametrize("privacy", ["none", "session", "critical", ""])
def test_privacy_values_that_do_not_hide(privacy: str) -> None:
    cid = caller_from_headers(p_asserted_identity=None, from_="<sip:8001@h>", privacy=privacy)
    assert cid.key == "ext:8001"


def test_pai_preferred_over_rpid_and_from_and_from_name_used() -> None:
    cid = caller_from_headers(
        p_asserted_identity="<sip:+8613812345678@h;user=phone>",
        remote_party_id="<sip:+8613900000000@h>;party=calling",
        from_='"王芳" <sip:8002@h>;tag=1',
    )
    assert (cid.key, cid.display_name, cid.source) == ("+8613812345678", "王芳", "P-Asserted-Identity")


def test_first_sip_or_tel_value_of_pai() -> None:
    cid = caller_from_headers(
        p_asserted_identity="<mailto:a@b>, <tel:+861087654321>, <sip:+8613812345678@h>",
        from_="<sip:8001@h>",
    )
    assert (cid.key, cid.source) == ("+861087654321", "P-Asserted-Identity")


def test_rpid_used_when_no_pai_and_its_privacy() -> None:
    rpid = '"Li" <sip:+8613812345678@h>;party=calling;privacy=off'
    cid = caller_from_headers(p_asserted_identity=None, remote_party_id=rpid, from_="<sip:8001@h>")
    assert (cid.key, cid.display_name, cid.source) == ("+8613812345678", "Li", "Remote-Party-ID")
    hidden = caller_from_headers(
        p_asserted_identity=None, remote_party_id=rpid.replace("off", "full"), from_="<sip:8001@h>"
    )
    assert hidden.withheld
    nameless = caller_from_headers(
        p_asserted_identity=None, remote_party_id=rpid.replace("off", "name"), from_="<sip:8001@h>"
    )
    assert (nameless.key, nameless.display_name) == ("+8613812345678", None)


def test_header_without_number_falls_through_to_from() -> None:
    # real/023: RPID and From carry a user name, not a number.
    cid = caller_from_headers(
        p_asserted_identity=None,
        remote_party_id='"dev" <sip:alice@198.51.100.186>;party=calling;privacy=off;screen=yes',
        from_="dev <sip:alice@home.example.org>",
    )
    assert (cid.kind, cid.key, cid.display_name) == (N, "", "dev")
    numbered = caller_from_headers(
        p_asserted_identity="<sip:alice@h>", from_="<sip:+8613812345678@h>"
    )
    assert (numbered.key, numbered.source) == ("+8613812345678", "From")


def test_no_headers_at_all_is_withheld() -> None:
    cid = caller_from_headers(p_asserted_identity=None, from_=None)
    assert cid.withheld and cid.raw == ""


def test_bytes_header_values_and_gb18030_display() -> None:
    raw = b'"' + "欧阳娜娜".encode("gb18030") + b'" <sip:8003@h>'
    cid = caller_from_headers(p_asserted_identity=None, from_=raw)
    assert (cid.display_name, cid.key) == ("欧阳娜娜", "ext:8003")


def test_percent_encoded_display_and_user() -> None:
    cid = caller_from_headers(
        p_asserted_identity=None, from_='"%E5%BC%A0%E4%BC%9F" <sip:%2B8613812345678@h>'
    )
    assert (cid.display_name, cid.key) == ("张伟", "+8613812345678")
    # RFC 4475 esc02: "%Z%45" is not an escape sequence and stays as it is.
    odd = caller_from_headers(p_asserted_identity=None, from_='"%Z%45" <sip:8001@h>')
    assert odd.display_name == "%Z%45"


def test_number_only_display_name_is_not_a_name() -> None:
    cid = normalise_number('"010-5878 1234" <sip:01058781234@h>')
    assert (cid.display_name, cid.key) == (None, "+861058781234")


def test_plan_or_keywords_but_not_both() -> None:
    plan = NumberingPlan(trunk_area_code="0571")
    by_plan = caller_from_headers(p_asserted_identity=None, from_="<sip:87654321@h>", plan=plan)
    by_kw = caller_from_headers(
        p_asserted_identity=None, from_="<sip:87654321@h>", trunk_area_code="0571"
    )
    assert by_plan.key == by_kw.key == "+8657187654321"
    with pytest.raises(TypeError):
        caller_from_headers(p_asserted_identity=None, from_=None, plan=plan, region="CN")
    with pytest.raises(TypeError, match="unknown numbering setting"):
        caller_from_headers(p_asserted_identity=None, from_=None, area="0571")


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("+8657187654321", "0571 8765 4321"),
        ("+8613812345678", "138 1234 5678"),
        ("+442079460958", "+44 20 7946 0958"),
        ("ext:8001", "8001"),
        ("95588", "95588"),
        ("14912345678", "14912345678"),
        ("+", "+"),
    ],
)
def test_display_key(key: str, shown: str) -> None:
    assert display_key(key) == shown


# -- remote junk never raises --------------------------------------------------------

_JUNK = st.text(alphabet=st.sampled_from('0123456789+-.() <>";,:@%=\\abcsiptel#*\udcd5\udcff张'))


@settings(max_examples=300, deadline=None)
@given(_JUNK, _JUNK, _JUNK)
def test_arbitrary_header_values_never_raise(pai: str, from_: str, rpid: str) -> None:
    cid = caller_from_headers(p_asserted_identity=pai, from_=from_, remote_party_id=rpid)
    assert cid.kind in CallerKind
    assert (cid.e164 is None) or cid.key == cid.e164
    assert normalise_number(from_).kind in CallerKind


def test_service_number_with_country_code_is_never_an_extension() -> None:
    plan = NumberingPlan(extension_pattern=r"\d{5}")
    assert plan.normalise("10086").kind is X  # the site said so
    cid = plan.normalise("+8610086")
    assert (cid.kind, cid.key, cid.number_type) == (S, "10086", "service")
    assert not plan.is_extension("1008a") and not plan.is_extension("")
