"""Builds the domain objects that configuration describes (calendar, rota).

The one place where configuration dataclasses meet the pure domain modules,
so that ``check-config`` and ``serve`` validate exactly the same things.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.callerid import NumberingPlan
from hotline.config import Config, ConfigError, ConfigProblem
from hotline.rota import EscalationChain, Level, Override, Period, Rota, RotaError, Rotation, Swap
from hotline.store.records import RotaChange
from hotline.working_hours import calendar_hours, configured

__all__ = ["CalendarSetup", "build_calendar", "build_rota", "numbering_plan"]


class CalendarSetup(BusinessCalendar):
    """The business calendar of a configuration, with its start-up warnings."""

    def startup_warnings(self, now: datetime | None = None) -> list[str]:
        warning = self.coverage_warning(now or datetime.now(UTC))
        return [warning] if warning else []


def build_calendar(config: Config) -> CalendarSetup:
    """The site's business calendar; calendar file mistakes are configuration errors.

    A calendar file's mistakes raise :class:`~hotline.calendar.CalendarFileError`, a
    :class:`ConfigError` naming the file's lines.
    """
    data = load_calendar_dir(config.calendar.folder)
    hours = calendar_hours(configured(config))
    try:
        return CalendarSetup(config.site.timezone, hours, data, config.calendar.make_up_day_as)
    except ValueError as exc:
        raise ConfigError([_problem(config, "calendar", exc)]) from None


def build_rota(
    config: Config,
    *,
    people: Collection[str] | None = None,
    changes: Iterable[RotaChange] = (),
) -> Rota:
    """The on-call rota of a configuration, with the run-time overrides and swaps from the store.

    ``people`` is the set of known staff ids (from the database); None accepts the members named
    in the configuration. Rota mistakes are configuration errors naming the ``[[rota]]`` table.
    """
    rotations = []
    chains = []
    for index, rc in enumerate(config.rotas):
        try:
            rotations.append(Rotation(
                name=rc.name, members=rc.members, period=Period(rc.period), handover=rc.handover,
                anchor=rc.anchor, tz=config.site.timezone,
                handover_weekday=rc.handover_weekday if rc.period == "weekly" else None,
            ))
        except RotaError as exc:
            raise ConfigError([_problem(config, f"rota[{index}] ({rc.name})", exc)]) from None
        chains.append(EscalationChain(rota=rc.name, manager=rc.manager))
    overrides: list[Override] = []
    swaps: list[Swap] = []
    for change in changes:
        if change.kind == "swap":
            assert change.other is not None
            swaps.append(Swap(rota=change.rota, a=change.person, b=change.other,
                              start=change.starts_at, end=change.ends_at, made_by=change.made_by,
                              reason=change.reason, made_at=change.made_at, id=change.id))
        else:
            overrides.append(Override(rota=change.rota, start=change.starts_at, end=change.ends_at,
                                      person=change.person, replaces=change.other,
                                      level=Level(change.level), made_by=change.made_by,
                                      reason=change.reason, made_at=change.made_at, id=change.id))
    try:
        return Rota(rotations, chains, overrides, swaps, people=people)
    except RotaError as exc:
        raise ConfigError([_problem(config, "rota", exc)]) from None


def _problem(config: Config, key: str, exc: Exception) -> ConfigProblem:
    # The domain objects check what spans several keys; their errors name no line.
    return ConfigProblem(str(config.source), None, key, str(exc))


def numbering_plan(config: Config) -> NumberingPlan:
    """How caller IDs and directory numbers are normalised at this site (one plan for both)."""
    return NumberingPlan(
        region=config.site.region,
        trunk_area_code=config.site.area_code,
        extension_pattern=config.site.extension_pattern,
    )
