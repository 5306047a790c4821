"""The administration's pure pieces: the A/B matrix and the staff forms' checks."""

from __future__ import annotations

from datetime import date

import pytest

from hotline.callerid import NumberingPlan
from hotline.console.ab_matrix import (
    NOT_A_MARK,
    RANK_TWICE,
    TWO_AS,
    build_matrix,
    describe,
    mark_choices,
    read_row,
    version_of,
)
from hotline.console.staff_forms import (
    ADMIN_ONLY,
    BAD_WINDOWS,
    ENDS_BEFORE,
    NOT_EXTENSION,
    NOT_MOBILE,
    OVERLAP,
    OWN_ROLES,
    check_leave,
    check_person,
    check_shifts,
    shifts_text,
)
from hotline.store.desk.dispatch import Leave, WeeklyShift
from hotline.store.records import Person, Post, PostAssignment

PLAN = NumberingPlan(region="CN", trunk_area_code="0571", extension_pattern=r"[2-8]\d{3}")
PEOPLE = [Person("ann", "Ann"), Person("bob", "Bob"), Person("cat", "Cat"), Person("dan", "Dan", active=False),
          Person("eve", "Eve", active=False)]
POSTS = [Post("net", "Network"), Post("mail", "Mail"), Post("erp", "ERP")]
ROLES = [PostAssignment("net", "ann", "A"), PostAssignment("net", "cat", "B", 5), PostAssignment("net", "bob", "B", 2),
         PostAssignment("mail", "dan", "B", 0), PostAssignment("mail", "ann", "B", 1)]


def test_the_matrix_marks_ranks_loads_and_gaps() -> None:
    matrix = build_matrix(PEOPLE, POSTS, ROLES)
    # Inactive people appear only while they hold a mark.
    assert [p.id for p in matrix.people] == ["ann", "bob", "cat", "dan"]
    net, mail, erp = matrix.rows
    assert dict(net.marks) == {"ann": "A", "bob": "B1", "cat": "B2"}  # ranks renumbered in order
    assert dict(mail.marks) == {"dan": "B1", "ann": "B2"} and dict(erp.marks) == {}
    assert [r.post.id for r in matrix.without_a] == ["mail", "erp"]
    assert [r.post.id for r in matrix.thin_rows] == ["erp"]
    assert matrix.load == {"ann": (1, 1), "bob": (0, 1), "cat": (0, 1), "dan": (0, 1)}
    assert describe(ROLES[:3]) == "A ann; B bob, cat" and describe([]) == "none"


def test_a_version_changes_with_the_marks_not_with_raw_ranks() -> None:
    same = [PostAssignment("net", "ann", "A"), PostAssignment("net", "bob", "B", 0),
            PostAssignment("net", "cat", "B", 1)]
    assert version_of(ROLES[:3]) == version_of(same)
    swapped = [PostAssignment("net", "ann", "A"), PostAssignment("net", "cat", "B", 0),
               PostAssignment("net", "bob", "B", 1)]
    assert version_of(swapped) != version_of(same)


def test_a_row_form_becomes_the_posts_assignments() -> None:
    form = {"_csrf": "x", "post": "net", "mark:ann": "", "mark:bob": "b3", "mark:cat": "A", "mark:dan": "B1"}
    edit = read_row("net", form, ["ann", "bob", "cat", "dan"])
    assert edit.errors == []
    assert edit.assignments == [PostAssignment("net", "cat", "A", 0), PostAssignment("net", "dan", "B", 0),
                                PostAssignment("net", "bob", "B", 1)]
    assert edit.typed == {"ann": "", "bob": "B3", "cat": "A", "dan": "B1"}


@pytest.mark.parametrize(("form", "message"), [
    ({"mark:ann": "A", "mark:bob": "A"}, TWO_AS),
    ({"mark:ann": "B2", "mark:bob": "B2"}, RANK_TWICE),
    ({"mark:ann": "C"}, NOT_A_MARK),
    ({"mark:ann": "B0"}, NOT_A_MARK),
    ({"mark:ann": "B٣"}, NOT_A_MARK),  # a non-ASCII digit is not a rank
])
def test_a_bad_row_is_refused_with_its_reason(form: dict[str, str], message: str) -> None:
    edit = read_row("net", form, ["ann", "bob"])
    assert [m for m, _ in edit.errors] == [message] and edit.assignments == []


def test_the_cells_offer_as_many_ranks_as_there_can_be_backups() -> None:
    assert mark_choices(3) == ["", "A", "B1", "B2"]
    assert mark_choices(40)[-1] == "B9"


def person_form(**fields: str) -> dict[str, str]:
    return {"name": "张伟", "mobile": "138 1234 5678", "extension": "8001", "email": "zw@example.com",
            "active": "1", **fields}


def test_a_person_is_normalised_and_checked() -> None:
    existing = Person("zhangwei", "张伟", roles=("engineer",))
    checked = check_person(person_form(), ["engineer"], existing, plan=PLAN, actor=None, actor_is_admin=False)
    assert checked.errors == {}
    assert checked.values["person"] == Person("zhangwei", "张伟", "+8613812345678", "8001", "zw@example.com",
                                              ("engineer",), True)
    bad = check_person(person_form(mobile="0571 8765 4321", extension="12"), ["engineer"], existing, plan=PLAN,
                       actor=None, actor_is_admin=False)
    assert bad.errors["mobile"][0] == NOT_MOBILE and bad.errors["extension"][0] == NOT_EXTENSION


def test_roles_a_manager_may_not_change() -> None:
    manager = Person("wangjun", "王军", roles=("manager",))
    engineer = Person("zhangwei", "张伟", roles=("engineer",))
    grant = check_person(person_form(), ["engineer", "admin"], engineer, plan=PLAN, actor=manager,
                         actor_is_admin=False)
    assert grant.errors["roles"][0] == ADMIN_ONLY
    assert not check_person(person_form(), ["engineer", "admin"], engineer, plan=PLAN, actor=manager,
                            actor_is_admin=True).errors
    own = check_person(person_form(name="王军"), ["engineer"], manager, plan=PLAN, actor=manager,
                       actor_is_admin=False)
    assert own.errors["roles"][0] == OWN_ROLES


def test_shifts_are_read_per_weekday() -> None:
    checked = check_shifts({"day0": "08:00-12:00， 13:30-17:30", "day5": "22:00-24:00"}, "ann")
    assert checked.errors == {}
    shifts = checked.values["shifts"]
    assert shifts == [WeeklyShift("ann", 0, "08:00", "12:00"), WeeklyShift("ann", 0, "13:30", "17:30"),
                      WeeklyShift("ann", 5, "22:00", "24:00")]
    assert shifts_text(shifts) == {0: "08:00-12:00, 13:30-17:30", 5: "22:00-24:00"}
    assert check_shifts({"day1": "12:00-08:00"}, "ann").errors["day1"][0] == BAD_WINDOWS
    assert check_shifts({"day1": "8-12"}, "ann").errors["day1"][0] == BAD_WINDOWS
    assert check_shifts({"day2": "08:00-12:00, 11:00-13:00"}, "ann").errors["day2"][0] == OVERLAP


def test_a_leave_needs_two_dates_in_order() -> None:
    ok = check_leave({"starts_on": "2026-12-02", "ends_on": "2026-12-04", "reason": " 年假 "}, "ann")
    assert ok.values["leave"] == Leave("ann", date(2026, 12, 2), date(2026, 12, 4), "年假")
    assert check_leave({"starts_on": "2026-12-02", "ends_on": "2026-12-01"}, "ann").errors["ends_on"][0] \
        == ENDS_BEFORE
    assert set(check_leave({"starts_on": "tomorrow"}, "ann").errors) == {"starts_on", "ends_on"}
