"""On-call rotations, escalation chains, overrides and swaps.

One rota serves both call routing (who gets the after-hours forward) and the desk
(who is assigned an issue outside hours).

Theory of operation
-------------------
A :class:`Rotation` hands over from one member to the next every day or every
week at a wall-clock time in its timezone.  Shift ``n`` starts at
``anchor + n * period`` at the handover time (local wall clock, so 08:30 stays
08:30 across DST changes) and is held by ``members[n % len(members)]``; shift 0
starts on ``anchor``, and the pattern extends backwards before it.  Shifts are
half-open: at the handover instant itself the new member is on call.

Who is on call at an instant is computed in three steps:

1. **Rotation.**  The primary is the holder of the current shift; the secondary
   is the holder of the *next* shift (the next member in the rotation), or, if
   the :class:`EscalationChain` names a ``secondary_rota``, that rota's primary
   at the same instant.
2. **Swaps.**  A :class:`Swap` of ``a`` and ``b`` over ``[start, end)`` exchanges
   the two members' places in the rotation during that range: wherever the
   rotation puts ``a`` it puts ``b`` and vice versa, at both levels.  To trade
   ``a``'s week 10 for ``b``'s week 12, make the swap cover weeks 10 to 12; the
   week-11 holder is not affected.  Overlapping swaps apply in ``made_at`` order.
3. **Overrides.**  An :class:`Override` puts ``person`` at one level (primary or
   secondary) over ``[start, end)``.  With ``replaces`` set it applies only while
   the rotation (after swaps) would put ``replaces`` at that level — the natural
   "Li covers for Zhang during his leave" that does not touch other people's
   shifts; with ``replaces=None`` it applies unconditionally.  Where several
   overrides apply, the one made last (``made_at``, then position in the list)
   wins.

The chain is ``[primary, secondary, manager]`` with duplicates removed, order
kept (a one-member rota gives ``[primary, manager]``).

Configuration shape (the config loader maps each table to a :class:`Rotation`
and an :class:`EscalationChain`; overrides and swaps come from the database)::

    [[rota]]
    name = "it-oncall"
    period = "weekly"          # or "daily"
    handover = "08:30"         # local wall clock in the site timezone
    handover_weekday = "monday"  # weekly only; must be the anchor's weekday
    anchor = 2026-01-05        # the date the first member's first shift starts
    members = ["zhangwei", "liuyang", "wangfang"]
    manager = "chenjing"
    # secondary_rota = "network-oncall"  # default: the next member of this rota

becomes::

    Rotation(name="it-oncall", members=("zhangwei", "liuyang", "wangfang"),
             period=Period.WEEKLY, handover=time(8, 30), anchor=date(2026, 1, 5),
             tz=ZoneInfo("Asia/Shanghai"), handover_weekday=parse_weekday("monday"))
    EscalationChain(rota="it-oncall", manager="chenjing", secondary_rota=None)
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

__all__ = [
    "WEEKDAYS",
    "EscalationChain",
    "Level",
    "OnCall",
    "Override",
    "Period",
    "Rota",
    "RotaError",
    "Rotation",
    "Shift",
    "Source",
    "Swap",
    "parse_weekday",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""Weekday names as written in configuration, index = ``date.weekday()``."""


def parse_weekday(name: str) -> int:
    """``"monday"`` (any case) -> 0 … ``"sunday"`` -> 6; ``ValueError`` otherwise."""
    try:
        return WEEKDAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"{name!r} is not a weekday (expected one of "
                         f"{', '.join(WEEKDAYS)})") from None


class Period(enum.StrEnum):
    """How often a rotation hands over."""

    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def days(self) -> int:
        """Length of one shift in days."""
        return 1 if self is Period.DAILY else 7


class Level(enum.StrEnum):
    """A level of the escalation chain that an override can fill."""

    PRIMARY = "primary"
    SECONDARY = "secondary"


class Source(enum.StrEnum):
    """Why the chain is what it is: the plain rotation, a swap, or an override.

    ``OVERRIDE`` if an override decided any level, else ``SWAP`` if a swap
    changed any level, else ``ROTATION``.
    """

    ROTATION = "rotation"
    SWAP = "swap"
    OVERRIDE = "override"


class RotaError(ValueError):
    """Rota configuration, override or swap is invalid (an operator's or desk user's mistake).

    ``problems`` holds one message per mistake; the exception message joins them.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Rotation:
    """An ordered list of people taking turns, handing over at a fixed local time."""

    name: str
    """Unique rota name, e.g. ``"it-oncall"``."""
    members: Sequence[str]
    """Person ids in turn order; a person may appear more than once."""
    period: Period
    """``daily`` or ``weekly`` (a plain string is accepted and converted)."""
    handover: time
    """Local wall-clock time of the handover, naive (e.g. 08:30)."""
    anchor: date
    """Date on which ``members[0]``'s shift starts (shift 0)."""
    tz: ZoneInfo
    """Timezone of ``handover`` and ``anchor`` (the site timezone)."""
    handover_weekday: int | None = None
    """Weekly only: weekday of the handover, 0 = Monday; must be the anchor's weekday.
    None means "the anchor's weekday"."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        problems: list[str] = []
        try:
            object.__setattr__(self, "period", Period(self.period))
        except ValueError:
            problems.append(f"rota {self.name}: period: expected 'daily' or 'weekly', "
                            f"got {self.period!r}")
        if not self.name:
            problems.append("rota: name: must not be empty")
        if not self.members:
            problems.append(f"rota {self.name}: members: must not be empty")
        if self.handover.tzinfo is not None:
            problems.append(f"rota {self.name}: handover: a local wall-clock time, without tzinfo")
        if self.period == Period.DAILY and self.handover_weekday is not None:
            problems.append(f"rota {self.name}: handover_weekday: only for weekly rotas")
        if self.period == Period.WEEKLY and self.handover_weekday is not None \
                and self.handover_weekday != self.anchor.weekday():
            wd = self.handover_weekday
            wd_name = WEEKDAYS[wd] if wd in range(7) else repr(wd)
            problems.append(f"rota {self.name}: anchor: {self.anchor} is a "
                            f"{WEEKDAYS[self.anchor.weekday()]}, but handover_weekday is "
                            f"{wd_name}")
        if problems:
            raise RotaError(problems)

    def shift_start(self, n: int) -> datetime:
        """Start of shift ``n`` (0 = the anchor's), in the rotation's timezone."""
        d = self.anchor + timedelta(days=n * Period(self.period).days)
        # Wall clock -> instant; a handover inside a DST gap resolves with fold=0.
        return datetime.combine(d, self.handover, tzinfo=self.tz)

    def shift_index(self, t: datetime) -> int:
        """The shift holding instant ``t`` (aware): the ``n`` with start(n) <= t < start(n+1)."""
        u = _utc(t)
        local = u.astimezone(self.tz)
        n = (local.date() - self.anchor).days // Period(self.period).days
        # The estimate is off by at most one (time of day before the handover).
        while _utc(self.shift_start(n)) > u:
            n -= 1
        while _utc(self.shift_start(n + 1)) <= u:
            n += 1
        return n

    def member(self, n: int) -> str:
        """Holder of shift ``n`` according to the plain rotation."""
        members: tuple[str, ...] = tuple(self.members)
        return members[n % len(members)]


@dataclass(frozen=True)
class EscalationChain:
    """Who to try after the primary of a rota."""

    rota: str
    """Name of the rota this chain belongs to."""
    manager: str | None = None
    """Person id of the last level, or None for no manager level."""
    secondary_rota: str | None = None
    """Name of another rota whose primary is our secondary; None = the next member of ours."""


@dataclass(frozen=True, kw_only=True)
class Override:
    """``person`` takes ``level`` in ``rota`` over ``[start, end)``; made at run time by the desk."""

    rota: str
    """Rota name."""
    start: datetime
    """Start, timezone-aware, inclusive."""
    end: datetime
    """End, timezone-aware, exclusive; after ``start``."""
    person: str
    """Person id who is on call instead."""
    replaces: str | None = None
    """If set, the override applies only while this person would hold ``level``."""
    level: Level = Level.PRIMARY
    """Which level of the chain it fills."""
    made_by: str
    """Person id (or user name) who made it."""
    reason: str
    """Why, in the maker's words."""
    made_at: datetime
    """When it was made (aware); the later override wins where several apply."""
    id: int | None = None
    """Store row id, if stored."""


@dataclass(frozen=True, kw_only=True)
class Swap:
    """``a`` and ``b`` exchange their places in ``rota``'s rotation over ``[start, end)``."""

    rota: str
    """Rota name."""
    a: str
    """A member of the rotation."""
    b: str
    """Another member of the rotation."""
    start: datetime
    """Start, timezone-aware, inclusive."""
    end: datetime
    """End, timezone-aware, exclusive; after ``start``."""
    made_by: str
    """Person id (or user name) who made it."""
    reason: str
    """Why, in the maker's words."""
    made_at: datetime
    """When it was made (aware); overlapping swaps apply in this order."""
    id: int | None = None
    """Store row id, if stored."""


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant, and for how long this exact chain holds."""

    rota: str
    """Rota name."""
    chain: tuple[str, ...]
    """Person ids to try in order: primary, secondary, manager, duplicates removed."""
    shift_start: datetime
    """Start of the stretch over which ``chain`` holds unchanged (site timezone).
    A rotation handover, or an override/swap boundary inside a shift."""
    shift_end: datetime
    """End (exclusive) of that stretch; at most the next handover."""
    source: Source
    """Rotation, swap or override (see :class:`Source`)."""
    note: str
    """Human-readable account of the swaps/overrides applied; empty for the plain rotation."""
    applied: tuple[Override | Swap, ...] = ()
    """The overrides and swaps that changed the chain."""

    @property
    def primary(self) -> str:
        """The first person to call."""
        return self.chain[0]


@dataclass(frozen=True)
class Shift:
    """One row of a rota's schedule: a stretch with one unchanged chain."""

    rota: str
    """Rota name."""
    start: datetime
    """Start (site timezone)."""
    end: datetime
    """End, exclusive."""
    chain: tuple[str, ...]
    """Primary, secondary, manager, duplicates removed."""
    source: Source
    """Rotation, swap or override."""
    note: str
    """Account of swaps/overrides applied; empty for the plain rotation."""
    applied: tuple[Override | Swap, ...] = field(default=())
    """The overrides and swaps that changed the chain."""

    @property
    def primary(self) -> str:
        """The first person to call."""
        return self.chain[0]


@dataclass(frozen=True)
class _Eval:
    chain: tuple[str, ...]
    source: Source
    note: str
    applied: tuple[Override | Swap, ...]


class Rota:
    """All rotations with their chains, overrides and swaps; answers who is on call.

    ``people`` is the set of known person ids (active staff); override persons
    must be in it.  When None, the rotation members and managers are the known
    people.  When given, members and managers must be in it too.  Every problem
    found is reported together in one :class:`RotaError`.
    """

    def __init__(self, rotations: Sequence[Rotation], chains: Sequence[EscalationChain] = (),
                 overrides: Sequence[Override] = (), swaps: Sequence[Swap] = (),
                 people: Collection[str] | None = None) -> None:
        problems: list[str] = []
        self.rotations: dict[str, Rotation] = {}
        for r in rotations:
            if r.name in self.rotations:
                problems.append(f"rota {r.name}: defined twice")
            self.rotations[r.name] = r
        self.chains: dict[str, EscalationChain] = {}
        for c in chains:
            if c.rota not in self.rotations:
                problems.append(f"escalation chain for unknown rota {c.rota!r}")
            elif c.rota in self.chains:
                problems.append(f"rota {c.rota}: escalation chain given twice")
            if c.secondary_rota is not None and (c.secondary_rota not in self.rotations
                                                 or c.secondary_rota == c.rota):
                problems.append(f"rota {c.rota}: secondary_rota: {c.secondary_rota!r} is not "
                                "another rota")
            self.chains[c.rota] = c
        for name in self.rotations:
            self.chains.setdefault(name, EscalationChain(rota=name))
        staff = {m for r in self.rotations.values() for m in r.members} | {
            c.manager for c in self.chains.values() if c.manager is not None}
        if people is not None:
            self.people = frozenset(people)
            problems += [f"person {p!r} (a rota member or manager) is not a known person"
                         for p in sorted(staff - self.people)]
        else:
            self.people = frozenset(staff)
        if problems:
            raise RotaError(problems)
        for o in overrides:
            problems += self._override_problems(o)
        for s in swaps:
            problems += self._swap_problems(s)
        if problems:
            raise RotaError(problems)
        # Order of precedence: made_at, then position in the input list.
        self.overrides = tuple(o for _, _, o in sorted(
            ((_utc(o.made_at), i, o) for i, o in enumerate(overrides)), key=lambda x: x[:2]))
        self.swaps = tuple(s for _, _, s in sorted(
            ((_utc(s.made_at), i, s) for i, s in enumerate(swaps)), key=lambda x: x[:2]))
        self._by_rota_overrides = {n: tuple(o for o in self.overrides if o.rota == n)
                                   for n in self.rotations}
        self._by_rota_swaps = {n: tuple(s for s in self.swaps if s.rota == n)
                               for n in self.rotations}

    # -- validation for the desk ----------------------------------------------

    def check_override(self, o: Override) -> None:
        """Raise :class:`RotaError` if ``o`` could not be added to this rota."""
        if problems := self._override_problems(o):
            raise RotaError(problems)

    def check_swap(self, s: Swap) -> None:
        """Raise :class:`RotaError` if ``s`` could not be added to this rota."""
        if problems := self._swap_problems(s):
            raise RotaError(problems)

    def with_changes(self, overrides: Iterable[Override] = (),
                     swaps: Iterable[Swap] = ()) -> Rota:
        """A new rota with these overrides and swaps added (this one is unchanged)."""
        return Rota(list(self.rotations.values()), list(self.chains.values()),
                    [*self.overrides, *overrides], [*self.swaps, *swaps], self.people)

    def _override_problems(self, o: Override) -> list[str]:
        what = f"override of {o.rota} for {o.person}"
        problems = self._range_problems(what, o.rota, o.start, o.end, o.made_at)
        if o.person not in self.people:
            problems.append(f"{what}: person: {o.person!r} is not a known person")
        if o.replaces is not None and o.replaces not in self.people:
            problems.append(f"{what}: replaces: {o.replaces!r} is not a known person")
        if o.replaces == o.person:
            problems.append(f"{what}: replaces: a person cannot replace themselves")
        if o.level not in tuple(Level):
            problems.append(f"{what}: level: expected primary or secondary, got {o.level!r}")
        return problems

    def _swap_problems(self, s: Swap) -> list[str]:
        what = f"swap of {s.a} and {s.b} in {s.rota}"
        problems = self._range_problems(what, s.rota, s.start, s.end, s.made_at)
        rot = self.rotations.get(s.rota)
        if rot is not None:
            problems += [f"{what}: {p!r} is not a member of rota {s.rota}"
                         for p in (s.a, s.b) if p not in rot.members]
        if s.a == s.b:
            problems.append(f"{what}: a and b are the same person")
        return problems

    def _range_problems(self, what: str, rota: str, start: datetime, end: datetime,
                        made_at: datetime) -> list[str]:
        problems = []
        if rota not in self.rotations:
            problems.append(f"{what}: rota: {rota!r} is not a known rota")
        naive = [k for k, v in (("start", start), ("end", end), ("made_at", made_at))
                 if v.tzinfo is None or v.utcoffset() is None]
        problems += [f"{what}: {k}: naive datetime; a timezone is required" for k in naive]
        if not naive and end <= start:
            problems.append(f"{what}: end: {end.isoformat()} is not after start "
                            f"{start.isoformat()}")
        return problems

    # -- queries ----------------------------------------------------------------

    def on_call(self, t: datetime, rota_name: str) -> OnCall:
        """Who is on call in ``rota_name`` at ``t`` (aware), with the stretch it holds for."""
        rot = self._rotation(rota_name)
        u = _utc(t)
        n = rot.shift_index(u)
        for s in self._shift_segments(rot, n):
            if s.start <= u < s.end:
                return OnCall(rota=rota_name, chain=s.chain, shift_start=s.start,
                              shift_end=s.end, source=s.source, note=s.note,
                              applied=s.applied)
        raise AssertionError("unreachable: segments cover the shift")

    def next_handover(self, t: datetime, rota_name: str) -> datetime:
        """The first rotation handover strictly after ``t`` (overrides do not move it)."""
        rot = self._rotation(rota_name)
        return rot.shift_start(rot.shift_index(t) + 1)

    def schedule(self, rota_name: str, start: datetime, end: datetime,
                 max_shifts: int = 10_000) -> list[Shift]:
        """The rota over ``[start, end)``: every stretch overlapping it, in order.

        Stretches are rotation shifts split wherever a swap or override (or the
        secondary rota) changes the chain; the first and last keep their real
        bounds rather than being cut to ``start``/``end``.  More than
        ``max_shifts`` rotation shifts raise ``ValueError`` (a guard for
        console queries).
        """
        rot = self._rotation(rota_name)
        ua, ub = _utc(start), _utc(end)
        if ub <= ua:
            raise ValueError(f"schedule: end {end.isoformat()} is not after {start.isoformat()}")
        first, last = rot.shift_index(ua), rot.shift_index(ub - timedelta(microseconds=1))
        if last - first + 1 > max_shifts:
            raise ValueError(f"schedule: {last - first + 1} shifts requested, "
                             f"more than {max_shifts}")
        out: list[Shift] = []
        for n in range(first, last + 1):
            out += [s for s in self._shift_segments(rot, n) if s.end > ua and s.start < ub]
        return out

    # -- evaluation -------------------------------------------------------------

    def _rotation(self, name: str) -> Rotation:
        try:
            return self.rotations[name]
        except KeyError:
            raise KeyError(f"unknown rota {name!r}") from None

    def _shift_segments(self, rot: Rotation, n: int) -> list[Shift]:
        """Shift ``n`` of ``rot`` cut where the chain changes, equal neighbours merged."""
        s0, e0 = _utc(rot.shift_start(n)), _utc(rot.shift_start(n + 1))
        cuts = {s0, e0}
        chain = self.chains[rot.name]
        for name in filter(None, (rot.name, chain.secondary_rota)):
            changes: tuple[Override | Swap, ...] = (*self._overrides_of(name),
                                                    *self._swaps_of(name))
            for x in changes:
                cuts.update(_utc(b) for b in (x.start, x.end) if s0 < _utc(b) < e0)
        if chain.secondary_rota is not None:
            other = self.rotations[chain.secondary_rota]
            k = other.shift_index(s0) + 1
            while (b := _utc(other.shift_start(k))) < e0:
                cuts.add(b)
                k += 1
        points = sorted(cuts)
        out: list[Shift] = []
        for a, b in pairwise(points):
            ev = self._evaluate(rot, n, a)
            if out and (out[-1].chain, out[-1].source, out[-1].note, out[-1].applied) == (
                    ev.chain, ev.source, ev.note, ev.applied):
                out[-1] = replace(out[-1], end=b.astimezone(rot.tz))
            else:
                out.append(Shift(rota=rot.name, start=a.astimezone(rot.tz),
                                 end=b.astimezone(rot.tz), chain=ev.chain, source=ev.source,
                                 note=ev.note, applied=ev.applied))
        return out

    def _overrides_of(self, rota: str) -> tuple[Override, ...]:
        return self._by_rota_overrides[rota]

    def _swaps_of(self, rota: str) -> tuple[Swap, ...]:
        return self._by_rota_swaps[rota]

    def _swapped(self, rota: str, person: str, u: datetime,
                 used: list[Override | Swap]) -> str:
        """``person`` after the swaps of ``rota`` active at ``u``, in made order."""
        for s in self._swaps_of(rota):
            if _utc(s.start) <= u < _utc(s.end) and person in (s.a, s.b):
                person = s.b if person == s.a else s.a
                if s not in used:
                    used.append(s)
        return person

    def _overridden(self, rota: str, level: Level, person: str, u: datetime,
                    used: list[Override | Swap]) -> str:
        """``person`` at ``level`` after the overrides of ``rota`` active at ``u``."""
        winner: Override | None = None
        for o in self._overrides_of(rota):  # sorted by made order: the last match wins
            if o.level == level and _utc(o.start) <= u < _utc(o.end) \
                    and (o.replaces is None or o.replaces == person):
                winner = o
        if winner is None:
            return person
        used.append(winner)
        return winner.person

    def _primary_of(self, rot: Rotation, u: datetime, used: list[Override | Swap]) -> str:
        base = self._swapped(rot.name, rot.member(rot.shift_index(u)), u, used)
        return self._overridden(rot.name, Level.PRIMARY, base, u, used)

    def _evaluate(self, rot: Rotation, n: int, u: datetime) -> _Eval:
        chain_def = self.chains[rot.name]
        swaps: list[Override | Swap] = []
        primary = self._swapped(rot.name, rot.member(n), u, swaps)
        if chain_def.secondary_rota is None:
            secondary = self._swapped(rot.name, rot.member(n + 1), u, swaps)
        else:
            # The other rota's own swaps/overrides decide its primary; they are
            # not changes to *this* rota, so they do not mark our source.
            secondary = self._primary_of(self.rotations[chain_def.secondary_rota], u, [])
        overrides: list[Override | Swap] = []
        primary = self._overridden(rot.name, Level.PRIMARY, primary, u, overrides)
        secondary = self._overridden(rot.name, Level.SECONDARY, secondary, u, overrides)
        chain = tuple(dict.fromkeys(p for p in (primary, secondary, chain_def.manager)
                                    if p is not None))
        applied = tuple(swaps + overrides)
        source = Source.OVERRIDE if overrides else Source.SWAP if swaps else Source.ROTATION
        return _Eval(chain, source, "; ".join(_describe(x) for x in applied), applied)


def _describe(x: Override | Swap) -> str:
    if isinstance(x, Swap):
        return f"swap {x.a} <-> {x.b} by {x.made_by}: {x.reason}"
    instead = f" instead of {x.replaces}" if x.replaces else ""
    return f"{x.level} {x.person}{instead}, override by {x.made_by}: {x.reason}"


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: pass a timezone-aware datetime")
    return t.astimezone(UTC)
