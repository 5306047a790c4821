"""Staff, their shifts and leave, and the posts' A/B matrix, in the administration.

``/admin/people`` lists the staff (roles, mobile, extension, posts held, leave) with a form to
add someone; ``/admin/people/{id}`` edits one person (``POST /admin/people/save``), their
weekly shifts (``/admin/people/shifts``) and leave (``/admin/people/leave``,
``/admin/people/leave/remove``). ``/admin/posts`` is the A/B matrix (:mod:`hotline.console.ab_matrix`);
``POST /admin/posts/assign`` saves one post's row.

Every change goes to the console's audit log with the acting user, in the same transaction
as the change. Dispatch (:class:`hotline.desk.dispatch.DispatchService`) and call routing read
people, leave, shifts and assignments from the store at each decision, so a change applies to
the next issue or call at once: nothing is cached that would need a reload. Bad input brings
the page back (400) with the message next to the field and what was typed; a matrix row
changed by someone else since the page was drawn comes back (409) rather than overwriting.
Managers and admins only; only an admin gives or takes the admin role.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from hotline.console.ab_matrix import build_matrix, describe, mark_choices, read_row, version_of
from hotline.console.render import N_, page, text
from hotline.console.security import USER, requires
from hotline.console.staff_forms import (
    ROLES,
    WEEKDAYS,
    check_leave,
    check_person,
    check_shifts,
    shifts_text,
)
from hotline.keys import CLOCK, CONFIG, STORE
from hotline.services import numbering_plan
from hotline.store.accounts import AuditEntry
from hotline.store.desk.dispatch import Leave
from hotline.store.records import Person

__all__ = ["add_routes"]

ADMINS = ("manager", "admin")
LEAVE_HISTORY = timedelta(days=30)
"""How far back a person's page lists past leave."""
CHANGED_MEANWHILE = N_("Someone changed this post meanwhile (now: %(now)s). Your marks are kept below: "
                       "check them and save again.")
NO_POST = N_("No such post.")
NO_PERSON = N_("No such staff member.")

Errors = dict[str, str]


def _today(request: web.Request) -> date:
    return request.app[CLOCK]().astimezone(request.app[CONFIG].site.timezone).date()


def _audit(request: web.Request, action: str, detail: str) -> AuditEntry:
    return AuditEntry(request.app[CLOCK](), request[USER].id, action, detail, request.remote or "")


def _errors(request: web.Request, errors: Mapping[str, tuple[str, dict[str, Any]]]) -> Errors:
    return {k: text(request, msg, **vals) for k, (msg, vals) in errors.items()}


async def _form(request: web.Request) -> dict[str, str]:
    posted = await request.post()
    return {k: v for k, v in posted.items() if isinstance(v, str) and k != "_csrf"}


async def _person_or_404(request: web.Request, person_id: str) -> Person:
    person = await request.app[STORE].people.get(person_id)
    if person is None:
        raise web.HTTPNotFound(text=text(request, NO_PERSON))
    return person


# -- the staff list ------------------------------------------------------------------------------

async def _people_page(request: web.Request, *, kept: Mapping[str, Any] | None = None,
                       errors: Errors | None = None, status: int = 200) -> web.Response:
    store = request.app[STORE]
    people = await store.people.all()
    matrix = build_matrix(people, await store.people.posts(), await store.people.assignments())
    today = _today(request)
    leaves = await store.desk.dispatch.leaves([p.id for p in people], today, today + timedelta(days=365))
    shifts = await store.desk.dispatch.shifts([p.id for p in people])
    return page(request, "admin_people.html", {
        "people": people, "load": matrix.load, "today": today, "roles": ROLES,
        "leaves": {p.id: [x for x in leaves if x.person_id == p.id] for p in people},
        "with_shifts": {s.person_id for s in shifts},
        "kept": kept or {}, "errors": errors or {},
    }, status=status)


@requires(*ADMINS)
async def people_page(request: web.Request) -> web.Response:
    return await _people_page(request)


# -- one person ----------------------------------------------------------------------------------

async def _person_page(request: web.Request, person: Person, *,
                       kept: Mapping[str, Mapping[str, Any]] | None = None,
                       errors: Mapping[str, Errors] | None = None, status: int = 200) -> web.Response:
    store = request.app[STORE]
    today = _today(request)
    assignments = await store.people.assignments()
    posts = {p.id: p for p in await store.people.posts()}
    held = [(posts.get(a.post_id), a) for a in assignments
            if a.person_id == person.id]
    leaves = await store.desk.dispatch.leaves([person.id], today - LEAVE_HISTORY, date(9999, 12, 31))
    shifts = shifts_text(await store.desk.dispatch.shifts([person.id]))
    return page(request, "admin_person.html", {
        "person": person, "held": held, "today": today, "leaves": leaves, "roles": ROLES,
        "weekdays": WEEKDAYS, "shifts": shifts, "kept": kept or {}, "errors": errors or {},
        "done": request.query.get("done", ""),
    }, status=status)


@requires(*ADMINS)
async def person_page(request: web.Request) -> web.Response:
    return await _person_page(request, await _person_or_404(request, request.match_info["person_id"]))


@requires(*ADMINS)
async def save_person(request: web.Request) -> web.StreamResponse:
    app, user = request.app, request[USER]
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str) and k != "_csrf"}
    roles = [v for v in posted.getall("roles", []) if isinstance(v, str)]
    store = app[STORE]
    new = form.get("new") == "1"
    existing = None if new else await _person_or_404(request, form.get("person", ""))
    taken = new and await store.people.get(form.get("id", "").strip()) is not None
    checked = check_person(form, roles, existing, plan=numbering_plan(app[CONFIG]),
                           actor=await store.people.get(user.id), actor_is_admin=user.has("admin"),
                           taken=taken)
    kept = {**form, "roles": roles}
    if checked.errors:
        errors = _errors(request, checked.errors)
        if existing is None:
            return await _people_page(request, kept=kept, errors=errors, status=400)
        return await _person_page(request, existing, kept={"person": kept}, errors={"person": errors},
                                  status=400)
    person: Person = checked.values["person"]
    if existing == person:
        raise web.HTTPSeeOther(f"/admin/people/{person.id}?done=unchanged")
    detail = (f"{person.id}: {_changes(existing, person)}" if existing is not None
              else f"{person.id} added: {_changes(None, person)}")
    action = "staff_added" if new else "staff_changed"
    await store.people.save_person(person, audit=_audit(request, action, detail))
    raise web.HTTPSeeOther(f"/admin/people/{person.id}?done=saved")


def _changes(before: Person | None, after: Person) -> str:
    fields = ("name", "mobile", "extension", "email", "roles", "active")
    out = []
    for name in fields:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name)
        if old != new:
            show = ",".join(new) if isinstance(new, tuple) else new
            out.append(f"{name}={show}")
    return "; ".join(out) or "no change"


@requires(*ADMINS)
async def save_shifts(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    person = await _person_or_404(request, form.get("person", ""))
    checked = check_shifts(form, person.id)
    if checked.errors:
        return await _person_page(request, person, kept={"shifts": form},
                                  errors={"shifts": _errors(request, checked.errors)}, status=400)
    shifts = checked.values["shifts"]
    summary = "; ".join(f"{WEEKDAYS[d][:3]} {t}" for d, t in shifts_text(shifts).items()) or "business hours"
    await request.app[STORE].desk.dispatch.set_shifts(
        person.id, shifts, audit=_audit(request, "shifts_changed", f"{person.id}: {summary}"))
    raise web.HTTPSeeOther(f"/admin/people/{person.id}?done=shifts#shifts")


def _span(leave: Leave) -> str:
    return f"{leave.starts_on}..{leave.ends_on}" + (f" ({leave.reason})" if leave.reason else "")


@requires(*ADMINS)
async def add_leave(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    person = await _person_or_404(request, form.get("person", ""))
    checked = check_leave(form, person.id)
    if checked.errors:
        return await _person_page(request, person, kept={"leave": form},
                                  errors={"leave": _errors(request, checked.errors)}, status=400)
    leave = checked.values["leave"]
    user = request[USER]
    detail = f"{person.id}: {_span(leave)}"
    await request.app[STORE].desk.dispatch.add_leave(leave, made_by=user.id, at=request.app[CLOCK](),
                                                     audit=_audit(request, "leave_added", detail))
    raise web.HTTPSeeOther(f"/admin/people/{person.id}?done=leave#leave")


@requires(*ADMINS)
async def remove_leave(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    person = await _person_or_404(request, form.get("person", ""))
    store = request.app[STORE]
    raw = form.get("leave", "")
    leave = await store.desk.dispatch.leave(int(raw)) if raw.isdigit() and len(raw) < 19 else None
    if leave is None or leave.person_id != person.id:
        raise web.HTTPNotFound(text=text(request, "No such leave."))
    detail = f"{person.id}: {_span(leave)}"
    assert leave.id is not None
    await store.desk.dispatch.remove_leave(leave.id, audit=_audit(request, "leave_removed", detail))
    raise web.HTTPSeeOther(f"/admin/people/{person.id}?done=leave-removed#leave")


# -- the A/B matrix ------------------------------------------------------------------------------

async def _matrix_page(request: web.Request, *, typed: Mapping[str, Mapping[str, str]] | None = None,
                       errors: Mapping[str, list[str]] | None = None, status: int = 200) -> web.Response:
    store = request.app[STORE]
    people = await store.people.all()
    matrix = build_matrix(people, await store.people.posts(), await store.people.assignments())
    today = _today(request)
    leaves = await store.desk.dispatch.leaves([p.id for p in matrix.people], today, today)
    away = {x.person_id for x in leaves}
    return page(request, "admin_posts.html", {
        "matrix": matrix, "choices": mark_choices(len(matrix.people)), "away": away,
        "typed": typed or {}, "errors": errors or {}, "saved": request.query.get("saved", ""),
    }, status=status)


@requires(*ADMINS)
async def posts_page(request: web.Request) -> web.Response:
    return await _matrix_page(request)


@requires(*ADMINS)
async def assign_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    store = request.app[STORE]
    post_id = form.get("post", "")
    if post_id not in {p.id for p in await store.people.posts()}:
        raise web.HTTPNotFound(text=text(request, NO_POST))
    people = await store.people.all()
    edit = read_row(post_id, form, [p.id for p in people])
    current = await store.people.assignments(post_id)
    if form.get("v", "") != version_of(current):
        message = text(request, CHANGED_MEANWHILE, now=describe(current))
        return await _matrix_page(request, typed={post_id: edit.typed}, errors={post_id: [message]},
                                  status=409)
    if edit.errors:
        messages = [text(request, m, **v) for m, v in edit.errors]
        return await _matrix_page(request, typed={post_id: edit.typed}, errors={post_id: messages},
                                  status=400)
    if version_of(edit.assignments) != version_of(current):
        detail = f"post {post_id}: {describe(current)} → {describe(edit.assignments)}"
        await store.people.set_assignments(post_id, edit.assignments,
                                           audit=_audit(request, "post_roles_changed", detail))
    raise web.HTTPSeeOther(f"/admin/posts?saved={post_id}#post-{post_id}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/people", people_page)
    router.add_post("/admin/people/save", save_person)
    router.add_post("/admin/people/shifts", save_shifts)
    router.add_post("/admin/people/leave", add_leave)
    router.add_post("/admin/people/leave/remove", remove_leave)
    router.add_get(r"/admin/people/{person_id:[A-Za-z0-9][A-Za-z0-9._-]{0,63}}", person_page)
    router.add_get("/admin/posts", posts_page)
    router.add_post("/admin/posts/assign", assign_post)

