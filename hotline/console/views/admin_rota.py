"""The on-call rota for managers and administrators: now, next, the coming weeks, overrides and swaps.

* ``GET /admin/rota``: for each rotation, who is on call now (the chain: primary, secondary,
  manager) and who is next, the coming four weeks as a table of stretches, and the overrides and
  swaps in force or to come with who made them, when and why. A person who cannot be reached —
  inactive, on leave during the stretch, no mobile to forward the call to — is marked; a stretch
  whose primary cannot be reached is a *gap* and highlighted, the more so when nobody of the
  chain can be.
* ``POST /admin/rota/override``: someone takes a level of a rotation over a time range ("I take
  Thursday night"), for everyone or only while a named person would hold it.
* ``POST /admin/rota/swap``: two members exchange their places over a time range.
* ``POST /admin/rota/changes/{id}/withdraw``: an override or swap still in force is taken back,
  with a reason; the row stays as history (who withdrew it, when, why).

A change (or its withdrawal) is checked by the rota itself (:meth:`~hotline.rota.Rota.check_override`,
:meth:`~hotline.rota.Rota.check_swap`), stored in ``rota_changes`` with the acting user and the
reason, written to the console's audit log, and applied at once: the app rebuilds its rota
(:func:`hotline.app.reload_rota`), which call routing and the desk read at each decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from hotline.console.render import N_, page, text
from hotline.console.security import USER, requires
from hotline.desk.availability import format_span
from hotline.keys import CLOCK, CONFIG, ROTA, STORE
from hotline.rota import Level, Override, Rota, RotaError, Shift, Swap
from hotline.store.accounts import AuditEntry
from hotline.store.desk.dispatch import Leave
from hotline.store.records import RotaChange

__all__ = ["Member", "Stretch", "add_routes", "unreachable"]

ROLES = ("manager", "admin")
WEEKS_SHOWN = 4
LEVEL_LABELS = {"primary": N_("primary"), "secondary": N_("secondary")}
SOURCE_LABELS = {"rotation": N_("rotation"), "swap": N_("swap"), "override": N_("override")}
MAX_REASON = 500
WITHDRAWN_DAYS_SHOWN = 30
"""Withdrawn changes are listed this many days after their withdrawal (the audit log keeps them)."""


@dataclass(frozen=True)
class Member:
    """A person of a chain, and why they cannot be reached (None: reachable)."""

    id: str
    name: str
    away: str | None


@dataclass(frozen=True)
class Stretch:
    """A row of the rota's table: a stretch with one chain."""

    start: datetime
    end: datetime
    chain: tuple[Member, ...]
    source: str
    note: str

    @property
    def gap(self) -> bool:
        """The primary cannot be reached: calls go first to someone away."""
        return self.chain[0].away is not None

    @property
    def nobody(self) -> bool:
        """Nobody of the chain can be reached."""
        return all(m.away is not None for m in self.chain)


def unreachable(person: str, first: date, last: date, *, contacts: Mapping[str, Mapping[str, str | None]],
                inactive: set[str], leaves: Sequence[Leave]) -> str | None:
    """Why ``person`` cannot take a forwarded call on local days ``first``..``last``; None if they can."""
    if person not in contacts:
        return "not on the staff list"
    if person in inactive:
        return "inactive"
    for lv in leaves:
        if lv.person_id == person and lv.starts_on <= last and lv.ends_on >= first:
            return f"on leave {format_span(lv.starts_on, lv.ends_on)}"
    if not contacts[person].get("mobile"):
        return "no mobile"
    return None


class _Facts:
    """Who can be reached, gathered once for the page."""

    def __init__(self, contacts: Mapping[str, Mapping[str, str | None]], inactive: set[str],
                 leaves: Sequence[Leave], tz: Any) -> None:
        self.contacts, self.inactive, self.leaves, self.tz = contacts, inactive, leaves, tz

    def stretch(self, start: datetime, end: datetime, chain: Sequence[str], source: str,
                note: str) -> Stretch:
        first = start.astimezone(self.tz).date()
        last = (end - timedelta(microseconds=1)).astimezone(self.tz).date()
        members = tuple(Member(p, str(self.contacts.get(p, {}).get("name") or p),
                               unreachable(p, first, last, contacts=self.contacts, inactive=self.inactive,
                                           leaves=self.leaves)) for p in chain)
        return Stretch(start.astimezone(self.tz), end.astimezone(self.tz), members, source, note)


def _people_in(rota: Rota) -> list[str]:
    ids = {m for r in rota.rotations.values() for m in r.members}
    ids |= {c.manager for c in rota.chains.values() if c.manager}
    ids |= {o.person for o in rota.overrides}
    return sorted(ids)


async def _rota_page(request: web.Request, *, errors: Mapping[str, Mapping[str, str]] | None = None,
                     kept: Mapping[str, Mapping[str, str]] | None = None, status: int = 200) -> web.Response:
    app = request.app
    config, rota, store = app[CONFIG], app[ROTA], app[STORE]
    tz = config.site.timezone
    now = app[CLOCK]().astimezone(tz)
    until = now + timedelta(weeks=WEEKS_SHOWN)
    schedules: dict[str, list[Shift]] = {name: rota.schedule(name, now, until) for name in rota.rotations}
    nexts = {name: rota.on_call(rota.on_call(now, name).shift_end, name) for name in rota.rotations}
    ids = sorted({p for shifts in schedules.values() for s in shifts for p in s.chain}
                 | {p for n in nexts.values() for p in n.chain} | set(_people_in(rota)))
    dispatch = store.desk.dispatch
    last_day = max([until, *(n.shift_end for n in nexts.values())]).astimezone(tz).date()
    facts = _Facts(await dispatch.contacts(ids), await dispatch.inactive(ids),
                   await dispatch.leaves(ids, now.date(), last_day), tz)
    rotations = []
    for name, shifts in schedules.items():
        current = rota.on_call(now, name)
        upcoming = nexts[name]
        rotations.append({
            "name": name,
            "now": facts.stretch(now, current.shift_end, current.chain, current.source.value, current.note),
            "now_since": current.shift_start.astimezone(tz),
            "next": facts.stretch(upcoming.shift_start, upcoming.shift_end, upcoming.chain,
                                  upcoming.source.value, upcoming.note),
            "rows": [facts.stretch(max(s.start, now), s.end, s.chain, s.source.value, s.note)
                     for s in shifts],
            "members": list(rota.rotations[name].members),
        })
    changes = sorted(await store.rota.around(now), key=lambda c: (c.starts_at, c.id or 0))
    withdrawn = await store.rota.withdrawn_since(now - timedelta(days=WITHDRAWN_DAYS_SHOWN))
    staff = [(p.id, p.name) for p in await store.people.all(active_only=True)]
    user = request[USER]
    context: dict[str, Any] = {
        "now": now, "rotations": rotations, "changes": changes, "staff": staff, "withdrawn": withdrawn,
        "withdrawn_days": WITHDRAWN_DAYS_SHOWN,
        "names": {p: n for p, n in staff}, "levels": LEVEL_LABELS, "sources": SOURCE_LABELS,
        "errors": errors or {}, "kept": kept or {}, "made": request.query.get("made", ""),
        "me": user.id if user is not None else "", "weeks": WEEKS_SHOWN,
    }
    return page(request, "admin_rota.html", context, status=status)


@requires(*ROLES)
async def rota_view(request: web.Request) -> web.StreamResponse:
    return await _rota_page(request)


def _field(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _when(request: web.Request, raw: str, errors: dict[str, str], key: str) -> datetime | None:
    if not raw:
        errors[key] = text(request, "Required.")
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors[key] = text(request, "Expected a date and time like 2026-12-03 20:00.")
        return None
    return value.replace(tzinfo=request.app[CONFIG].site.timezone) if value.tzinfo is None else value


def _common(request: web.Request, form: MultiDictProxy[Any], errors: dict[str, str]
            ) -> tuple[str, datetime | None, datetime | None, str]:
    rota = request.app[ROTA]
    name = _field(form, "rota")
    if name not in rota.rotations:
        errors["rota"] = text(request, "Choose a rota.")
    start = _when(request, _field(form, "starts"), errors, "starts")
    end = _when(request, _field(form, "ends"), errors, "ends")
    if start is not None and end is not None:
        if end <= start:
            errors["ends"] = text(request, "The end must be after the start.")
        elif end <= request.app[CLOCK]():
            errors["ends"] = text(request, "This time is already past.")
    reason = _field(form, "reason")
    if not reason:
        errors["reason"] = text(request, "Say why (it is shown to everyone with the rota).")
    elif len(reason) > MAX_REASON:
        errors["reason"] = text(request, "At most %(n)s characters.", n=MAX_REASON)
    return name, start, end, reason


@requires(*ROLES)
async def add_override(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    kept = {k: _field(form, k) for k in ("rota", "person", "level", "replaces", "starts", "ends", "reason")}
    errors: dict[str, str] = {}
    name, start, end, reason = _common(request, form, errors)
    person, replaces, level = kept["person"], kept["replaces"] or None, kept["level"] or "primary"
    rota = request.app[ROTA]
    if not person:
        errors["person"] = text(request, "Choose who is on call.")
    elif person not in rota.people:
        errors["person"] = text(request, "%(person)s is not active staff.", person=person)
    if replaces is not None and replaces not in rota.people:
        errors["replaces"] = text(request, "%(person)s is not active staff.", person=replaces)
    elif replaces is not None and replaces == person:
        errors["replaces"] = text(request, "A person cannot replace themselves.")
    if level not in LEVEL_LABELS:
        errors["level"] = text(request, "Choose primary or secondary.")
    if errors or start is None or end is None:
        return await _rota_page(request, errors={"override": errors}, kept={"override": kept}, status=400)
    user, now = request[USER], request.app[CLOCK]()
    override = Override(rota=name, start=start, end=end, person=person, replaces=replaces, level=Level(level),
                        made_by=user.id, reason=reason, made_at=now)
    change = RotaChange(name, "override", start, end, person, replaces, user.id, reason, now, level)
    return await _store(request, change, lambda r: r.check_override(override), "override", kept)


@requires(*ROLES)
async def add_swap(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    kept = {k: _field(form, k) for k in ("rota", "a", "b", "starts", "ends", "reason")}
    errors: dict[str, str] = {}
    name, start, end, reason = _common(request, form, errors)
    a, b = kept["a"], kept["b"]
    members = request.app[ROTA].rotations[name].members if name in request.app[ROTA].rotations else ()
    for key in ("a", "b"):
        if kept[key] not in members:
            errors[key] = text(request, "Choose a member of the rota.")
    if "a" not in errors and a == b:
        errors["b"] = text(request, "Choose two different people.")
    if errors or start is None or end is None:
        return await _rota_page(request, errors={"swap": errors}, kept={"swap": kept}, status=400)
    user, now = request[USER], request.app[CLOCK]()
    swap = Swap(rota=name, a=a, b=b, start=start, end=end, made_by=user.id, reason=reason, made_at=now)
    change = RotaChange(name, "swap", start, end, a, b, user.id, reason, now)
    return await _store(request, change, lambda r: r.check_swap(swap), "swap", kept)


async def _store(request: web.Request, change: RotaChange, check: Any, form: str,
                 kept: dict[str, str]) -> web.StreamResponse:
    # Imported here: the app factory imports the console, which imports this module.
    from hotline.app import reload_rota

    app = request.app
    try:
        check(app[ROTA])
    except RotaError as exc:
        return await _rota_page(request, errors={form: {"_": "; ".join(exc.problems)}}, kept={form: kept},
                                status=400)
    store = app[STORE]
    change_id = await store.rota.add(change)
    what = _describe(change, change_id, app[CONFIG].site.timezone)
    await store.accounts.audit(AuditEntry(change.made_at, change.made_by, f"rota_{change.kind}",
                                          f"{what}: {change.reason}", request.remote or ""))
    await reload_rota(app)
    raise web.HTTPSeeOther(f"/admin/rota?made={change.kind}")


def _describe(change: RotaChange, change_id: int, tz: Any) -> str:
    """The audit log's words for a change: which, where, who, when."""
    span = f"{change.starts_at.astimezone(tz):%Y-%m-%d %H:%M}..{change.ends_at.astimezone(tz):%Y-%m-%d %H:%M}"
    if change.kind == "swap":
        return f"swap #{change_id} in {change.rota}: {change.person} <-> {change.other} {span}"
    instead = f" instead of {change.other}" if change.other else ""
    return f"override #{change_id} in {change.rota}: {change.person} {change.level}{instead} {span}"


@requires(*ROLES)
async def withdraw_change(request: web.Request) -> web.StreamResponse:
    # Imported here: the app factory imports the console, which imports this module.
    from hotline.app import reload_rota

    app = request.app
    store, user, now = app[STORE], request[USER], app[CLOCK]()
    change_id = int(request.match_info["id"])
    form = await request.post()
    reason = _field(form, "reason")
    form_name = f"withdraw-{change_id}"
    change = await store.rota.in_force(change_id)
    if change is None or change.ends_at <= now:
        refusal = (text(request, "That override or swap is over already: it stays as history.")
                   if change is not None else
                   text(request, "That override or swap is not in force (withdrawn already, or never made)."))
        return await _rota_page(request, errors={"withdraw": {"_": refusal}}, status=409)
    if not reason or len(reason) > MAX_REASON:
        error = (text(request, "Say why it is withdrawn (it goes to the audit log).") if not reason
                 else text(request, "At most %(n)s characters.", n=MAX_REASON))
        return await _rota_page(request, errors={form_name: {"reason": error}},
                                kept={form_name: {"reason": reason}}, status=400)
    if await store.rota.withdraw(change_id, by=user.id, reason=reason, at=now) is None:
        # Someone else withdrew it between the read above and now.
        return await _rota_page(request, errors={"withdraw": {"_": text(
            request, "That override or swap is not in force (withdrawn already, or never made).")}},
            status=409)
    what = _describe(change, change_id, app[CONFIG].site.timezone)
    await store.accounts.audit(AuditEntry(now, user.id, "rota_withdraw", f"{what} withdrawn: {reason}",
                                          request.remote or ""))
    await reload_rota(app)
    raise web.HTTPSeeOther("/admin/rota?made=withdrawn")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/rota", rota_view)
    router.add_post("/admin/rota/override", add_override)
    router.add_post("/admin/rota/swap", add_swap)
    router.add_post(r"/admin/rota/changes/{id:\d{1,18}}/withdraw", withdraw_change)
