"""Configuration → calendar and rota: the example wires up, mistakes are configuration errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hotline.config import ConfigError, load_config
from hotline.services import build_calendar, build_rota
from hotline.store.records import RotaChange
from tests.conftest import EXAMPLE_CONFIG


def test_example_rota_and_calendar() -> None:
    config = load_config(EXAMPLE_CONFIG)
    rota = build_rota(config)
    # Anchor Mon 2026-01-05; Mon 2026-11-23 is 322 days = 46 weeks later.
    # 13 members: 46 % 13 = 7, members[7] = luoyu is primary, the next member yangfan
    # secondary, then the manager.
    on_call = rota.on_call(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "it-oncall")
    assert on_call.chain == ("luoyu", "yangfan", "wangjun")
    calendar = build_calendar(config)
    assert calendar.is_working_day(date(2026, 10, 10))  # make-up Saturday after National Day
    assert not calendar.is_working_day(date(2026, 10, 8 - 1))


def test_override_from_store_applies() -> None:
    config = load_config(EXAMPLE_CONFIG)
    t0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    change = RotaChange("it-oncall", "override", t0, t0.replace(day=26), "hexin", "luoyu",
                        "wangjun", "罗宇 on leave", t0)
    rota = build_rota(config, changes=[change])
    assert rota.on_call(t0.replace(hour=12), "it-oncall").chain[0] == "hexin"
    assert rota.on_call(t0.replace(day=26, hour=12), "it-oncall").chain[0] == "luoyu"


def test_weekly_anchor_on_wrong_weekday(tmp_path: Path) -> None:
    config = load_config(EXAMPLE_CONFIG)
    bad = dataclasses.replace(config, rotas=(dataclasses.replace(config.rotas[0], anchor=date(2026, 1, 6)),))
    with pytest.raises(ConfigError, match=r"rota\[0\] \(it-oncall\)"):
        build_rota(bad)


def test_unknown_person_in_rota() -> None:
    config = load_config(EXAMPLE_CONFIG)
    with pytest.raises(ConfigError, match="rota"):
        build_rota(config, people={"zhangwei"})
