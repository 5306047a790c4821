"""Desk fixtures: the real store on a tmp_path file, the shipped 2026 calendar, a fake clock."""

from __future__ import annotations

import pytest
from deskkit import CONFIG_DIR, OFFICE, SH, Clock, sh

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.desk.service import Desk
from hotline.desk.settings import DeskSettings
from hotline.store import Store
from hotline.store.records import Category, Person, Post, PostAssignment


@pytest.fixture(scope="session")
def calendar() -> BusinessCalendar:
    return BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, load_calendar_dir(CONFIG_DIR))


@pytest.fixture
def clock() -> Clock:
    return Clock(sh(2026, 11, 23, 9, 0))  # a Monday


@pytest.fixture
def settings() -> DeskSettings:
    return DeskSettings()


@pytest.fixture
async def desk(store: Store, calendar: BusinessCalendar, settings: DeskSettings, clock: Clock) -> Desk:
    """A desk over a seeded store: post "network" (A zhang, B li rank 1, B wang rank 2),
    post "erp" (A zhao only), a manager."""
    await store.people.upsert_people([
        Person("zhang", "张伟", email="zhang@example.com"), Person("li", "李娜", email="li@example.com"),
        Person("wang", "王强"), Person("zhao", "赵敏"),
        Person("boss", "刘经理", email="boss@example.com", roles=("manager",)),
    ])
    await store.people.upsert_posts([Post("network", "网络"), Post("erp", "ERP")])
    await store.people.upsert_categories([Category("network", "网络故障", "network", "1"),
                                          Category("erp", "ERP 系统", "erp", "2")])
    await store.people.set_assignments("network", [
        PostAssignment("network", "zhang", "A"), PostAssignment("network", "li", "B", 1),
        PostAssignment("network", "wang", "B", 2)])
    await store.people.set_assignments("erp", [PostAssignment("erp", "zhao", "A")])
    return Desk(store, calendar, settings, clock)


