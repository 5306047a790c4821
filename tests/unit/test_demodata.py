"""Demo data: deterministic, unique where it must be, and matchable by the normaliser."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from hotline.callerid import CallerKind, NumberingPlan, display_key, normalise_number
from hotline.demodata import (
    DEMO_AREA_CODE,
    generate_directory,
    generate_staff,
)
from hotline.directory import DirectoryEntry, read_directory_csv, write_directory_csv

PLAN = NumberingPlan(trunk_area_code="0" + DEMO_AREA_CODE)


@pytest.fixture(scope="module")
def directory() -> list[DirectoryEntry]:
    return generate_directory(3000, seed=7)


def test_deterministic_for_a_seed(directory: list[DirectoryEntry]) -> None:
    assert generate_directory(3000, seed=7) == directory
    assert generate_directory(3000, seed=8) != directory
    assert generate_staff(seed=3) == generate_staff(seed=3)


def test_unique_ids_extensions_mobiles_and_dids(directory: list[DirectoryEntry]) -> None:
    assert len(directory) == 3000
    ids = [e.employee_id for e in directory]
    assert ids == sorted(ids) and len(set(ids)) == 3000
    for values in (
        [e.extension for e in directory if e.extension],
        [e.mobile for e in directory if e.mobile],
        [k for e in directory for k in e.desk_numbers],
    ):
        assert len(values) == len(set(values)) > 1000
    keys = [k for e in directory for k in e.keys]
    assert len(keys) == len(set(keys))  # no two employees share a key


def test_shape_of_entries(directory: list[DirectoryEntry]) -> None:
    for e in directory:
        assert e.employee_id[0] == "E" and len(e.employee_id) == 7
        assert e.email == f"e{e.employee_id[1:]}@example.com"
        assert 2 <= len(e.name) <= 4
        assert e.department and e.location
        if e.extension:
            assert len(e.extension) == 4 and "2000" <= e.extension <= "8999"
            assert not 8800 <= int(e.extension) <= 8899  # the IT block
        for did in e.desk_numbers:
            # The DID ends with the extension: 0571-8876-<ext>.
            assert did == f"+86{DEMO_AREA_CODE}8876{e.extension}"
    with_ext = sum(1 for e in directory if e.extension)
    with_mobile = sum(1 for e in directory if e.mobile)
    assert 0.85 < with_ext / 3000 < 0.95 and 0.92 < with_mobile / 3000 < 0.98


def test_surnames_follow_frequency(directory: list[DirectoryEntry]) -> None:
    surnames = Counter(
        e.name[:2] if e.name[:2] in ("欧阳", "司马", "上官", "诸葛") else e.name[0]
        for e in directory
    )
    top = [name for name, _ in surnames.most_common(5)]
    assert set(top[:3]) == {"王", "李", "张"}
    for name in ("王", "李", "张"):
        # ≈ 9.5 % each: census shares renormalised over the listed surnames.
        assert 0.07 < surnames[name] / 3000 < 0.12
    assert len(surnames) > 60
    departments = Counter(e.department for e in directory)
    assert departments.most_common(1)[0][0] == "炼油一部"
    assert "信息中心" in departments and len(departments) == 20


def test_keys_are_what_the_normaliser_makes(directory: list[DirectoryEntry]) -> None:
    for e in directory[::10]:
        if e.mobile:
            cid = PLAN.normalise(e.mobile[3:])
            assert (cid.kind, cid.key, cid.number_type) == (CallerKind.E164, e.mobile, "mobile")
        for did in e.desk_numbers:
            local = display_key(did).split(" ", 1)[1]  # "8876 2001", as a local caller shows
            assert PLAN.normalise(local).key == did
            assert PLAN.normalise(display_key(did)).key == did
        if e.extension:
            assert PLAN.normalise(e.extension).key == f"ext:{e.extension}"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_round_trip_through_csv(encoding: str) -> None:
    entries = generate_directory(300, seed=11)
    result = read_directory_csv(write_directory_csv(entries, encoding=encoding), plan=PLAN)
    assert result.rejected == [] and result.warnings == []
    assert [replace(e, raw={}) for e in result.rows] == entries


def test_scales_to_six_digit_extensions() -> None:
    entries = generate_directory(20_000, seed=5)
    extensions = [e.extension for e in entries if e.extension]
    assert len(extensions) == len(set(extensions)) > 6900
    assert all(len(x) == 6 and "200000" <= x <= "899999" for x in extensions)
    sample = entries[::500]
    for e in sample:
        if e.extension:
            assert PLAN.normalise(e.extension).key == f"ext:{e.extension}"
        for did in e.desk_numbers:
            assert did == f"+86{DEMO_AREA_CODE}88{e.extension}"
            assert normalise_number(did).e164 == did
    assert len({k for e in entries for k in e.keys}) == sum(len(e.keys) for e in entries)


def test_refuses_impossible_sizes() -> None:
    with pytest.raises(ValueError, match=r"^n: expected 0–999,999 employees, got 1000000$"):
        generate_directory(1_000_000)
    assert generate_directory(0) == []


def test_staff_posts_and_rota() -> None:
    staff = generate_staff()
    people = {p.person_id: p for p in staff.people}
    assert len(staff.people) == len(people) == 19
    assert len({p.extension for p in staff.people}) == 19
    assert len({p.mobile for p in staff.people}) == 19
    for p in staff.people:
        assert PLAN.normalise(p.mobile).number_type == "mobile"
        assert 8800 <= int(p.extension) <= 8899
        assert set(p.roles) <= {"operator", "engineer", "manager", "admin"}
    assert Counter(r for p in staff.people for r in p.roles)["manager"] == 1

    engineers = {pid for pid, p in people.items() if "engineer" in p.roles}
    assert len(staff.posts) == 20
    assert {"network", "desktop", "printer", "email", "erp", "mes", "dcs", "phone",
            "account", "vpn"} <= {post.code for post in staff.posts}
    for post in staff.posts:
        assert post.a_owner in engineers
        assert 1 <= len(post.b_backups) <= 3
        assert len(set(post.b_backups)) == len(post.b_backups)
        assert post.a_owner not in post.b_backups and set(post.b_backups) <= engineers
    assert {post.a_owner for post in staff.posts} == engineers

    (rota,) = staff.rotas
    assert rota.period == "weekly" and rota.start.weekday() == rota.handover_weekday == 0
    assert set(rota.members) <= engineers and len(rota.members) >= 10
    assert "manager" in people[rota.manager].roles


def test_staff_extensions_do_not_collide_with_the_directory(directory: list[DirectoryEntry]) -> None:
    staff_keys = {f"ext:{p.extension}" for p in generate_staff().people}
    assert not staff_keys & {k for e in directory for k in e.keys}
