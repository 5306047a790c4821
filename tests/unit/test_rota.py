"""On-call rota: handovers, escalation chains, overrides, swaps, schedule, DST."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from hotline.rota import (
    EscalationChain,
    Level,
    Override,
    Period,
    Rota,
    RotaError,
    Rotation,
    Source,
    Swap,
    parse_weekday,
)

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
TEAM = ("zhangwei", "liuyang", "wangfang")
PEOPLE = {*TEAM, "chenjing", "zhaolei", "sunli"}
MADE = datetime(2026, 1, 1, 9, tzinfo=SH)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SH)


def weekly(members: tuple[str, ...] = TEAM, name: str = "it-oncall",
           tz: ZoneInfo = SH) -> Rotation:
    # Monday 2026-01-05 08:30: zhangwei's first week.
    return Rotation(name=name, members=members, period=Period.WEEKLY, handover=time(8, 30),
                    anchor=date(2026, 1, 5), tz=tz, handover_weekday=parse_weekday("Monday"))


def daily(members: tuple[str, ...] = TEAM, tz: ZoneInfo = SH) -> Rotation:
    return Rotation(name="daily", members=members, period="daily",  # type: ignore[arg-type]
                    handover=time(8, 30), anchor=date(2026, 3, 1), tz=tz)


def it_rota(overrides: list[Override] | None = None, swaps: list[Swap] | None = None) -> Rota:
    return Rota([weekly()], [EscalationChain("it-oncall", manager="chenjing")],
                overrides or [], swaps or [], people=PEOPLE)


def override(person: str, start: datetime, end: datetime, *, replaces: str | None = None,
             level: Level = Level.PRIMARY, made_at: datetime = MADE, reason: str = "sick leave",
             rota: str = "it-oncall") -> Override:
    return Override(rota=rota, start=start, end=end, person=person, replaces=replaces,
                    level=level, made_by="chenjing", reason=reason, made_at=made_at)


# -- handover instants ------------------------------------------------------------


def test_weekly_handover_exact_instant() -> None:
    rota = it_rota()
    before = rota.on_call(sh(2026, 1, 12, 8, 29, 59), "it-oncall")
    at = rota.on_call(sh(2026, 1, 12, 8, 30), "it-oncall")
    assert before.chain == ("zhangwei", "liuyang", "chenjing")
    assert before.shift_start == sh(2026, 1, 5, 8, 30)
    assert before.shift_end == sh(2026, 1, 12, 8, 30)
    assert before.source is Source.ROTATION and before.note == ""
    assert at.chain == ("liuyang", "wangfang", "chenjing")
    assert at.shift_start == sh(2026, 1, 12, 8, 30)
    assert at.shift_end == sh(2026, 1, 19, 8, 30)
    assert rota.next_handover(sh(2026, 1, 12, 8, 29, 59), "it-oncall") == sh(2026, 1, 12, 8, 30)
    assert rota.next_handover(sh(2026, 1, 12, 8, 30), "it-oncall") == sh(2026, 1, 19, 8, 30)


def test_daily_handover_exact_instant() -> None:
    rota = Rota([daily()])
    assert rota.on_call(sh(2026, 3, 1, 8, 30), "daily").primary == "zhangwei"
    assert rota.on_call(sh(2026, 3, 2, 8, 29, 59), "daily").primary == "zhangwei"
    at = rota.on_call(sh(2026, 3, 2, 8, 30), "daily")
    assert at.chain == ("liuyang", "wangfang")  # no manager configured
    assert rota.on_call(sh(2026, 3, 4, 8, 30), "daily").primary == "zhangwei"
    assert rota.next_handover(sh(2026, 3, 2, 23, 0), "daily") == sh(2026, 3, 3, 8, 30)


def test_before_anchor_extends_backwards() -> None:
    rota = it_rota()
    assert rota.on_call(sh(2026, 1, 5, 8, 29), "it-oncall").primary == "wangfang"
    assert rota.on_call(sh(2025, 12, 22, 8, 30), "it-oncall").primary == "liuyang"


def test_other_timezone_input() -> None:
    rota = it_rota()
    # 00:30 UTC on Monday 01-12 is 08:30 in Shanghai: the handover instant.
    assert rota.on_call(datetime(2026, 1, 12, 0, 30, tzinfo=UTC), "it-oncall").primary \
        == "liuyang"
    with pytest.raises(ValueError, match="naive datetime"):
        rota.on_call(datetime(2026, 1, 12, 8, 30), "it-oncall")
    with pytest.raises(KeyError, match="unknown rota"):
        rota.on_call(sh(2026, 1, 12), "nope")


def test_long_spans() -> None:
    rota = it_rota()
    t = sh(2026, 1, 5, 9) + timedelta(weeks=1000)
    starts: list[int] = []
    shift_start = Rotation.shift_start

    def counting(self: Rotation, n: int) -> datetime:
        starts.append(n)
        return shift_start(self, n)

    Rotation.shift_start = counting  # type: ignore[method-assign]
    try:
        oc = rota.on_call(t, "it-oncall")
    finally:
        Rotation.shift_start = shift_start  # type: ignore[method-assign]
    assert oc.chain == (TEAM[1000 % 3], TEAM[1001 % 3], "chenjing")
    assert oc.shift_start == sh(2026, 1, 5, 8, 30) + timedelta(weeks=1000)
    # Arithmetic, not a walk over 1,000 weeks: a handful of shifts around week 1000 are looked at.
    assert 0 < len(starts) < 10 and min(starts) >= 998, starts
    assert weekly().shift_index(t) == 1000
    d = daily()
    assert d.member(d.shift_index(sh(2026, 3, 1, 12) + timedelta(days=100_000))) == TEAM[100_000 % 3]


# -- escalation chain -------------------------------------------------------------


@pytest.mark.parametrize(("members", "manager", "chain"), [
    (("zhangwei",), "chenjing", ("zhangwei", "chenjing")),
    (("zhangwei",), None, ("zhangwei",)),
    (("zhangwei", "liuyang"), "chenjing", ("zhangwei", "liuyang", "chenjing")),
    (("zhangwei", "liuyang"), "liuyang", ("zhangwei", "liuyang")),
    (("zhangwei", "liuyang"), "zhangwei", ("zhangwei", "liuyang")),
])
def test_chain_has_no_duplicates(members: tuple[str, ...], manager: str | None,
                                 chain: tuple[str, ...]) -> None:
    rota = Rota([weekly(members)], [EscalationChain("it-oncall", manager=manager)])
    assert rota.on_call(sh(2026, 1, 6), "it-oncall").chain == chain


def test_secondary_from_another_rota() -> None:
    net = Rotation(name="net", members=("zhaolei", "sunli"), period=Period.DAILY,
                   handover=time(20, 0), anchor=date(2026, 1, 5), tz=SH)
    rota = Rota([weekly(), net], [EscalationChain("it-oncall", "chenjing", secondary_rota="net")])
    assert rota.on_call(sh(2026, 1, 5, 19), "it-oncall").chain == \
        ("zhangwei", "sunli", "chenjing")  # net's shift -1 (from 01-04 20:00)
    oc = rota.on_call(sh(2026, 1, 5, 21), "it-oncall")
    assert oc.chain == ("zhangwei", "zhaolei", "chenjing")
    # The secondary rota's handovers split our stretch.
    assert oc.shift_start == sh(2026, 1, 5, 20) and oc.shift_end == sh(2026, 1, 6, 20)
    assert oc.source is Source.ROTATION


# -- overrides ----------------------------------------------------------------------


def test_override_in_the_middle_of_a_shift() -> None:
    o = override("zhaolei", sh(2026, 1, 7, 12), sh(2026, 1, 8, 12))
    rota = it_rota([o])
    before = rota.on_call(sh(2026, 1, 7, 11, 59), "it-oncall")
    assert before.primary == "zhangwei"
    assert (before.shift_start, before.shift_end) == (sh(2026, 1, 5, 8, 30), sh(2026, 1, 7, 12))
    during = rota.on_call(sh(2026, 1, 7, 12), "it-oncall")
    assert during.chain == ("zhaolei", "liuyang", "chenjing")
    assert during.source is Source.OVERRIDE and during.applied == (o,)
    assert "zhaolei" in during.note and "chenjing" in during.note and "sick leave" in during.note
    assert (during.shift_start, during.shift_end) == (sh(2026, 1, 7, 12), sh(2026, 1, 8, 12))
    after = rota.on_call(sh(2026, 1, 8, 12), "it-oncall")
    assert after.primary == "zhangwei" and after.source is Source.ROTATION
    assert after.shift_end == sh(2026, 1, 12, 8, 30)


def test_overlapping_overrides_latest_made_wins() -> None:
    older = override("zhaolei", sh(2026, 1, 6), sh(2026, 1, 9), made_at=MADE)
    newer = override("sunli", sh(2026, 1, 7), sh(2026, 1, 8), made_at=MADE + timedelta(hours=1))
    for listed in ([older, newer], [newer, older]):  # input order must not matter
        rota = it_rota(listed)
        assert rota.on_call(sh(2026, 1, 6, 12), "it-oncall").primary == "zhaolei"
        assert rota.on_call(sh(2026, 1, 7, 12), "it-oncall").primary == "sunli"
        assert rota.on_call(sh(2026, 1, 8, 12), "it-oncall").primary == "zhaolei"
    # Same made_at: the later one in the list wins.
    tie = override("sunli", sh(2026, 1, 6), sh(2026, 1, 9), made_at=MADE)
    assert it_rota([older, tie]).on_call(sh(2026, 1, 7), "it-oncall").primary == "sunli"
    assert it_rota([tie, older]).on_call(sh(2026, 1, 7), "it-oncall").primary == "zhaolei"


def test_override_with_replaces_only_covers_that_person() -> None:
    # zhaolei covers zhangwei's leave 01-10..01-14; the 01-12 handover ends zhangwei's week.
    o = override("zhaolei", sh(2026, 1, 10), sh(2026, 1, 14), replaces="zhangwei")
    rota = it_rota([o])
    assert rota.on_call(sh(2026, 1, 11), "it-oncall").primary == "zhaolei"
    oc = rota.on_call(sh(2026, 1, 13), "it-oncall")
    assert oc.chain == ("liuyang", "wangfang", "chenjing") and oc.source is Source.ROTATION
    # The week before, zhangwei is secondary: a primary-level cover does not touch that.
    prev = it_rota([override("zhaolei", sh(2026, 1, 1), sh(2026, 1, 3), replaces="zhangwei")])
    assert prev.on_call(sh(2026, 1, 2), "it-oncall").chain == \
        ("wangfang", "zhangwei", "chenjing")


def test_secondary_level_override() -> None:
    o = override("sunli", sh(2026, 1, 6), sh(2026, 1, 7), level=Level.SECONDARY)
    oc = it_rota([o]).on_call(sh(2026, 1, 6, 12), "it-oncall")
    assert oc.chain == ("zhangwei", "sunli", "chenjing") and oc.source is Source.OVERRIDE
    # An override that makes the secondary equal to the primary is deduplicated.
    dup = override("zhangwei", sh(2026, 1, 6), sh(2026, 1, 7), level=Level.SECONDARY)
    assert it_rota([dup]).on_call(sh(2026, 1, 6, 12), "it-oncall").chain == \
        ("zhangwei", "chenjing")


# -- swaps ----------------------------------------------------------------------------


def test_swap_exchanges_shifts_in_range() -> None:
    # zhangwei (week 1) and wangfang (week 3) trade weeks; liuyang keeps week 2.
    s = Swap(rota="it-oncall", a="zhangwei", b="wangfang", start=sh(2026, 1, 5, 8, 30),
             end=sh(2026, 1, 26, 8, 30), made_by="chenjing", reason="family wedding",
             made_at=MADE)
    rota = it_rota(swaps=[s])
    w1 = rota.on_call(sh(2026, 1, 6), "it-oncall")
    assert w1.chain == ("wangfang", "liuyang", "chenjing")
    assert w1.source is Source.SWAP and w1.applied == (s,) and "family wedding" in w1.note
    w2 = rota.on_call(sh(2026, 1, 13), "it-oncall")
    assert w2.chain == ("liuyang", "zhangwei", "chenjing")  # next shift's holder is zhangwei now
    assert w2.source is Source.SWAP
    assert rota.on_call(sh(2026, 1, 20), "it-oncall").primary == "zhangwei"
    assert rota.on_call(sh(2026, 1, 27), "it-oncall").chain == \
        ("zhangwei", "liuyang", "chenjing")  # range over: back to normal
    # An override on top of a swap: the override wins and is the source.
    o = override("sunli", sh(2026, 1, 6), sh(2026, 1, 7), replaces="wangfang")
    both = it_rota([o], [s]).on_call(sh(2026, 1, 6, 12), "it-oncall")
    assert both.chain == ("sunli", "liuyang", "chenjing") and both.source is Source.OVERRIDE
    assert both.applied == (s, o)


# -- schedule -------------------------------------------------------------------------


def test_schedule_splits_at_override_boundaries() -> None:
    o = override("zhaolei", sh(2026, 1, 7, 12), sh(2026, 1, 8, 12))
    shifts = it_rota([o]).schedule("it-oncall", sh(2026, 1, 6), sh(2026, 1, 13))
    assert [(s.start, s.end, s.primary, s.source) for s in shifts] == [
        (sh(2026, 1, 5, 8, 30), sh(2026, 1, 7, 12), "zhangwei", Source.ROTATION),
        (sh(2026, 1, 7, 12), sh(2026, 1, 8, 12), "zhaolei", Source.OVERRIDE),
        (sh(2026, 1, 8, 12), sh(2026, 1, 12, 8, 30), "zhangwei", Source.ROTATION),
        (sh(2026, 1, 12, 8, 30), sh(2026, 1, 19, 8, 30), "liuyang", Source.ROTATION),
    ]
    for a, b in pairwise(shifts):
        assert a.end == b.start


def test_schedule_merges_irrelevant_cuts_and_guards() -> None:
    # An override for someone not on call in the range cuts nothing.
    o = override("zhaolei", sh(2026, 1, 7), sh(2026, 1, 8), replaces="wangfang")
    shifts = it_rota([o]).schedule("it-oncall", sh(2026, 1, 6), sh(2026, 1, 8))
    assert len(shifts) == 1 and shifts[0].source is Source.ROTATION
    with pytest.raises(ValueError, match="not after"):
        it_rota().schedule("it-oncall", sh(2026, 1, 8), sh(2026, 1, 8))
    with pytest.raises(ValueError, match="more than 100"):
        it_rota().schedule("it-oncall", sh(2026, 1, 8), sh(2030, 1, 8), max_shifts=100)
    # Exactly one week from a handover is one shift, not two.
    assert len(it_rota().schedule("it-oncall", sh(2026, 1, 5, 8, 30),
                                  sh(2026, 1, 12, 8, 30))) == 1


# -- DST ------------------------------------------------------------------------------


def test_dst_daily_handover_stays_at_0830_local() -> None:
    rota = Rota([daily(tz=BERLIN)])
    spring = rota.on_call(datetime(2026, 3, 29, 8, 29, tzinfo=BERLIN), "daily")
    assert spring.shift_start == datetime(2026, 3, 28, 8, 30, tzinfo=BERLIN)
    assert spring.shift_end == datetime(2026, 3, 29, 8, 30, tzinfo=BERLIN)
    assert spring.shift_end.utcoffset() == timedelta(hours=2)
    real = spring.shift_end.astimezone(UTC) - spring.shift_start.astimezone(UTC)
    assert real == timedelta(hours=23)
    at = rota.on_call(datetime(2026, 3, 29, 8, 30, tzinfo=BERLIN), "daily")
    assert at.primary != spring.primary
    assert at.shift_start.astimezone(UTC) == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)


def test_dst_weekly_handover_across_autumn_change() -> None:
    rota = Rota([weekly(tz=BERLIN)])
    oc = rota.on_call(datetime(2026, 10, 25, 12, tzinfo=BERLIN), "it-oncall")
    assert oc.shift_start == datetime(2026, 10, 19, 8, 30, tzinfo=BERLIN)
    assert oc.shift_end.astimezone(UTC) == datetime(2026, 10, 26, 7, 30, tzinfo=UTC)  # 08:30 CET
    length = oc.shift_end.astimezone(UTC) - oc.shift_start.astimezone(UTC)
    assert length == timedelta(days=7, hours=1)
    assert rota.next_handover(datetime(2026, 10, 26, 7, 29, tzinfo=UTC), "it-oncall") == \
        datetime(2026, 10, 26, 8, 30, tzinfo=BERLIN)


# -- validation ---------------------------------------------------------------------


def test_rotation_validation() -> None:
    with pytest.raises(RotaError, match="anchor: 2026-01-06 is a tuesday, but handover_weekday"
                                        " is monday"):
        Rotation(name="x", members=TEAM, period=Period.WEEKLY, handover=time(8, 30),
                 anchor=date(2026, 1, 6), tz=SH, handover_weekday=0)
    with pytest.raises(RotaError) as err:
        Rotation(name="x", members=(), period="hourly",  # type: ignore[arg-type]
                 handover=time(8), anchor=date(2026, 1, 6), tz=SH)
    assert err.value.problems == ["rota x: period: expected 'daily' or 'weekly', got 'hourly'",
                                  "rota x: members: must not be empty"]
    with pytest.raises(ValueError, match="'mon' is not a weekday"):
        parse_weekday("mon")


def test_rota_validation_reports_all_problems() -> None:
    with pytest.raises(RotaError) as err:
        Rota([weekly(), weekly()], [EscalationChain("nope"),
                                    EscalationChain("it-oncall", "ghost", secondary_rota="x")],
             people=PEOPLE)
    assert err.value.problems == [
        "rota it-oncall: defined twice",
        "escalation chain for unknown rota 'nope'",
        "rota it-oncall: secondary_rota: 'x' is not another rota",
        "person 'ghost' (a rota member or manager) is not a known person",
    ]


def test_override_and_swap_validation() -> None:
    bad = override("nobody", sh(2026, 1, 8), sh(2026, 1, 7))
    with pytest.raises(RotaError) as err:
        it_rota([bad])
    assert err.value.problems == [
        "override of it-oncall for nobody: end: 2026-01-07T00:00:00+08:00 is not after start "
        "2026-01-08T00:00:00+08:00",
        "override of it-oncall for nobody: person: 'nobody' is not a known person",
    ]
    naive = Override(rota="it-oncall", start=datetime(2026, 1, 7), end=sh(2026, 1, 8),
                     person="zhaolei", made_by="chenjing", reason="x", made_at=MADE)
    with pytest.raises(RotaError, match="start: naive datetime"):
        it_rota().check_override(naive)
    swap = Swap(rota="it-oncall", a="zhangwei", b="zhaolei", start=sh(2026, 1, 7),
                end=sh(2026, 1, 8), made_by="chenjing", reason="x", made_at=MADE)
    with pytest.raises(RotaError, match="'zhaolei' is not a member of rota it-oncall"):
        it_rota(swaps=[swap])
    with pytest.raises(RotaError, match="rota: 'other' is not a known rota"):
        it_rota().check_override(override("zhaolei", sh(2026, 1, 7), sh(2026, 1, 8),
                                          rota="other"))


def test_with_changes_returns_new_rota() -> None:
    base = it_rota()
    o = override("zhaolei", sh(2026, 1, 7), sh(2026, 1, 8))
    base.check_override(o)
    changed = base.with_changes(overrides=[o])
    assert changed.on_call(sh(2026, 1, 7, 12), "it-oncall").primary == "zhaolei"
    assert base.on_call(sh(2026, 1, 7, 12), "it-oncall").primary == "zhangwei"
