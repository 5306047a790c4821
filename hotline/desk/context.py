"""What every desk service needs: the store, the calendar, the settings and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hotline.calendar import BusinessCalendar
from hotline.desk.settings import DeskSettings
from hotline.store import Store
from hotline.store.desk_stores import DeskStores

__all__ = ["DeskContext"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeskContext:
    store: Store
    calendar: BusinessCalendar
    settings: DeskSettings
    clock: Callable[[], datetime] = _utc_now
    """Returns the current aware datetime; tests pass a fake."""
    desk: DeskStores = field(init=False)

    def __post_init__(self) -> None:
        self.desk = DeskStores(self.store.db)

    def now(self) -> datetime:
        return self.clock()
