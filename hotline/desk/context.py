"""What every desk service needs: the store, the calendar, the settings, a clock and the rota."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from hotline.calendar import BusinessCalendar
from hotline.desk.settings import DeskSettings
from hotline.rota import Rota
from hotline.store import Store
from hotline.store.desk import DeskStores

__all__ = ["DeskContext", "RotaSource", "utc_now"]

RotaSource = Rota | Callable[[], Rota]
"""The on-call rota, or a function returning the current one (the app may rebuild it when
overrides are made, and the desk must see the one call routing uses)."""


def utc_now() -> datetime:
    """The real time, aware and in UTC: the desk's clock unless it is given another."""
    return datetime.now(UTC)


@dataclass
class DeskContext:
    store: Store
    calendar: BusinessCalendar
    settings: DeskSettings
    clock: Callable[[], datetime] = utc_now
    """Returns the current aware datetime; tests pass a fake."""
    rota: RotaSource | None = None
    """The site's on-call rota (the one call routing forwards to); None: no after-hours rules."""
    rota_name: str | None = None
    """Which rotation of ``rota`` the desk uses; None: the first one configured."""
    def __post_init__(self) -> None:
        found = self.on_call_rota()
        if self.rota_name is not None and found is None:
            rota = self.current_rota()
            known = ", ".join(rota.rotations) if rota is not None else "no rota given"
            raise ValueError(f"desk: rota_name {self.rota_name!r} is not a rotation of the rota "
                             f"({known})")

    @property
    def desk(self) -> DeskStores:
        """The store's desk stores (``store.desk``), which every desk service works on."""
        return self.store.desk

    def now(self) -> datetime:
        return self.clock()

    def current_rota(self) -> Rota | None:
        """The rota as it is now (a function given is called each time); None if none was given."""
        if self.rota is None:
            return None
        return self.rota if isinstance(self.rota, Rota) else self.rota()

    def on_call_rota(self) -> tuple[Rota, str] | None:
        """The current rota and the desk's rotation name in it; None if the desk has none."""
        rota = self.current_rota()
        if rota is None:
            return None
        name = self.rota_name if self.rota_name is not None else next(iter(rota.rotations), None)
        if name is None or name not in rota.rotations:
            return None
        return rota, name
