"""Who to ring for a route: the duty desk, the on-call chain, a post's A and B roles, a named target.

Theory of operation. A flow's ``route`` node names a destination, never a number:
``desk``, ``oncall``, ``post:<id>`` or a target named in ``[routing.targets]``.
:func:`plan_route` (pure) turns that name, with the facts of the moment — who is on call
now, the staff records, who is away, the post's A/B assignments — into a :class:`RoutePlan`:
the numbers to ring in order (or together), how long each rings, and whether the person
who answers hears a whisper and must press 1.

Every number in a plan comes from configuration (desk phones, named targets) or from a staff
record (a mobile): the caller's keys never become a number, and the forwarder's allow-check
(:meth:`RoutePlan.allows`) refuses anything else. People who cannot be rung (on leave,
inactive, no mobile) stay in the plan as skipped targets, so the call record says why they
were passed over. :class:`Router` gathers the facts from the store and the rota and calls
:func:`plan_route`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.config import RoutingConfig
from hotline.rota import OnCall, Rota, RotaError
from hotline.store import Store
from hotline.store.records import IssueRecord, Person, PostAssignment

__all__ = ["RoutePlan", "Router", "Target", "plan_route"]


@dataclass(frozen=True, slots=True)
class Target:
    """One phone of a route."""

    dial: str
    """A SIP URI or a number dialled through the outbound proxy ("" when skipped for lack of one)."""
    role: str
    """"desk", "primary", "secondary", "manager", "A", "B" or "target"."""
    person: str | None = None
    """The staff member it belongs to (None: a desk phone or a named target)."""
    name: str | None = None
    """Their name, for the record and the console."""
    skip: str | None = None
    """Why this person is not rung ("on leave 2026-10-01..07", "no mobile"); None: ring."""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """How to ring one route."""

    route: str
    """The flow's name for it: "desk", "oncall", "post:<id>" or a target name."""
    targets: tuple[Target, ...]
    """In order; skipped ones included (they are recorded, not rung)."""
    together: bool
    """Ring every target at once (first answer wins) rather than one after another."""
    ring_seconds: float
    """How long each target (or all together) rings."""
    whisper: bool
    """The person who answers hears who calls and must press 1."""
    note: str = ""
    """How the plan came about (the on-call chain and its overrides), for the record."""

    @property
    def reachable(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.skip is None)

    def allows(self, dial: str) -> bool:
        """Whether ``dial`` is one of this plan's numbers (the forwarder's allow-check)."""
        return any(t.dial == dial for t in self.reachable)

    def record_label(self, target: Target | None) -> str:
        """The call row's ``route``: ``desk``, ``oncall:<person>``, ``post:<id>:<person>``…"""
        if target is None or target.person is None:
            return self.route
        return f"{self.route}:{target.person}"


NO_PROXY = "no sip.outbound.proxy to dial numbers through"


def _is_uri(dial: str) -> bool:
    return dial.startswith(("sip:", "sips:"))


def _person_target(person_id: str, role: str, staff: Mapping[str, Person],
                   away: Mapping[str, str], can_dial_numbers: bool) -> Target:
    person = staff.get(person_id)
    if person is None:
        return Target("", role, person_id, None, "not on the staff list")
    why = away.get(person_id)
    if why is None and not person.active:
        why = "inactive"
    if why is None and not person.mobile:
        why = "no mobile number on record"
    if why is None and not can_dial_numbers and not _is_uri(person.mobile or ""):
        why = NO_PROXY
    return Target(person.mobile or "", role, person.id, person.name, why)


def _config_target(dial: str, role: str, can_dial_numbers: bool) -> Target:
    return Target(dial, role, skip=None if can_dial_numbers or _is_uri(dial) else NO_PROXY)


def plan_route(
    route: str,
    *,
    routing: RoutingConfig,
    on_call: OnCall | None,
    staff: Mapping[str, Person],
    away: Mapping[str, str],
    assignments: Sequence[PostAssignment] = (),
    ring_seconds: float | None = None,
    manager: str | None = None,
    can_dial_numbers: bool = True,
    owner: str | None = None,
) -> RoutePlan:
    """The plan for ``route`` (see the module doc). Unknown routes give an empty plan.

    ``away`` maps person ids to why they cannot be rung now (leave); ``assignments`` are the
    post's A/B roles for ``post:<id>``; ``ring_seconds`` overrides the configured ring time;
    ``manager`` is the rota's escalation manager (so the last of the chain is labelled so);
    without ``can_dial_numbers`` (no outbound proxy) only SIP URIs can be rung. For ``owner``,
    ``owner`` is the linked issue's owner and ``assignments`` its post's roles.
    """
    if route == "desk":
        targets = tuple(_config_target(phone, "desk", can_dial_numbers) for phone in routing.desk)
        return RoutePlan(route, targets, routing.desk_strategy == "together",
                         ring_seconds or routing.desk_ring_seconds, routing.whisper_desk)
    ring = ring_seconds or routing.oncall_ring_seconds
    if route == "oncall":
        if on_call is None:
            return RoutePlan(route, (), False, ring, True, "no on-call rota configured")
        # The chain is primary, secondary, manager with duplicates removed (a one-person rota
        # with a manager is primary, manager); roles are what the record shows.
        roles = ["primary", "secondary", "manager"][:len(on_call.chain)]
        if manager is not None and on_call.chain[-1] == manager and len(on_call.chain) > 1:
            roles[-1] = "manager"
        targets = tuple(_person_target(p, role, staff, away, can_dial_numbers)
                        for p, role in zip(on_call.chain, roles, strict=False))
        note = f"on call {on_call.rota} ({on_call.source.value})"
        if on_call.note:
            note += f": {on_call.note}"
        return RoutePlan(route, targets, False, ring, True, note)
    if route == "owner":
        # The owner of the issue the call was linked to, then its post's A and B roles.
        ordered = [a for a in sorted(assignments, key=lambda a: (a.role != "A", a.rank))
                   if a.person_id != owner]
        targets = ((_person_target(owner, "owner", staff, away, can_dial_numbers),) if owner else ())
        targets += tuple(_person_target(a.person_id, a.role, staff, away, can_dial_numbers) for a in ordered)
        return RoutePlan(route, targets, False, ring, True, "" if targets else "the issue has no owner "
                         "and its post no A or B role")
    if route.startswith("post:"):
        ordered = sorted(assignments, key=lambda a: (a.role != "A", a.rank))
        targets = tuple(_person_target(a.person_id, a.role, staff, away, can_dial_numbers)
                        for a in ordered)
        note = "" if ordered else f"post {route[5:]} has no A or B role"
        return RoutePlan(route, targets, False, ring, True, note)
    dial = routing.targets.get(route)
    if dial is None:
        return RoutePlan(route, (), False, ring, True, f"no target named {route!r} in [routing.targets]")
    return RoutePlan(route, (_config_target(dial, "target", can_dial_numbers),), False, ring, True)


class Router:
    """Plans routes from the live facts: the rota now, staff records, leave, post roles."""

    def __init__(
        self,
        routing: RoutingConfig,
        store: Store,
        *,
        rota: Callable[[], Rota | None],
        away: Callable[[Sequence[str], datetime], Awaitable[Mapping[str, str]]],
        managers: Mapping[str, str | None] | None = None,
        can_dial_numbers: bool = True,
    ) -> None:
        """``managers`` maps rota names to their escalation manager (labels only);
        ``can_dial_numbers`` is whether an outbound proxy is configured."""
        self.can_dial_numbers = can_dial_numbers
        self.routing = routing
        self.store = store
        self._rota = rota
        self._away = away
        self._managers = dict(managers or {})

    def on_call(self, now: datetime) -> OnCall | None:
        rota = self._rota()
        if rota is None or not rota.rotations:
            return None
        name = self.routing.rota or next(iter(rota.rotations))
        try:
            return rota.on_call(now, name)
        except (RotaError, KeyError):
            return None

    async def plan_owner(self, issue: IssueRecord | None, now: datetime, *,
                         ring_seconds: float | None = None) -> RoutePlan:
        """The ``owner`` route: ``issue``'s owner, then the A and B roles of its category's post.

        ``issue`` is the one the call was linked to; None (not linked) gives an empty plan.
        """
        if issue is None:
            return RoutePlan("owner", (), False, ring_seconds or self.routing.oncall_ring_seconds, True,
                             "the call is not linked to an issue")
        post = next((c.post_id for c in await self.store.people.categories() if c.id == issue.category), None)
        assignments = await self.store.people.assignments(post) if post else []
        people = list(dict.fromkeys([*([issue.owner] if issue.owner else []),
                                     *(a.person_id for a in assignments)]))
        staff: dict[str, Person] = {}
        for person_id in people:
            person = await self.store.people.get(person_id)
            if person is not None:
                staff[person_id] = person
        away = await self._away(people, now) if people else {}
        return plan_route("owner", routing=self.routing, on_call=None, staff=staff, away=away,
                          assignments=assignments, ring_seconds=ring_seconds, owner=issue.owner,
                          can_dial_numbers=self.can_dial_numbers)

    async def plan(self, route: str, now: datetime, *, ring_seconds: float | None = None) -> RoutePlan:
        on_call = self.on_call(now) if route == "oncall" else None
        assignments: Sequence[PostAssignment] = ()
        people: list[str] = []
        if on_call is not None:
            people = list(on_call.chain)
        elif route.startswith("post:"):
            assignments = await self.store.people.assignments(route[5:])
            people = [a.person_id for a in assignments]
        staff: dict[str, Person] = {}
        away: Mapping[str, str] = {}
        if people:
            for person_id in people:
                person = await self.store.people.get(person_id)
                if person is not None:
                    staff[person_id] = person
            away = await self._away(people, now)
        manager = self._managers.get(on_call.rota) if on_call is not None else None
        return plan_route(route, routing=self.routing, on_call=on_call, staff=staff, away=away,
                          assignments=assignments, ring_seconds=ring_seconds, manager=manager,
                          can_dial_numbers=self.can_dial_numbers)
