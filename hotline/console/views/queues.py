"""Work queues per role: what waits on the operator, the engineer and the manager now.

* Operator: records to complete within 30 minutes of the call's end (the deadline is rendered by
  the server, so the page reads without script; ``web/static/countdown.js`` keeps the minutes
  running), missed and refused calls to call back, and resolved issues whose callback (回访) is
  due — the desk's callback queue.
* Engineer: their own issues being worked, grouped by SLA state (breached, at risk, on track,
  paused while the caller is awaited) with the response and resolution due times.
* Manager: SLA breaches and issues at risk among all open issues, stale issues (no activity
  during the last closed working day, as the desk's digest counts them), issues dispatch left
  without anyone, and records not completed in time.

The SLA states are the desk's stored projection, which its sweep refreshes every minute. Each
queue is one indexed read (:mod:`hotline.store.queues`). The home page shows the queues of every
role the user holds; ``/queues/<role>`` shows one role's and refuses (403) anyone without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from hotline.console.render import N_, page
from hotline.console.security import USER, Handler, requires
from hotline.console.sessions import User
from hotline.console.views.issue_rules import DISPOSITION_LABELS, STATUS_LABELS
from hotline.desk.progress import STALE_STATES, last_closed_working_day
from hotline.desk.service import Desk
from hotline.desk.sla import SlaState
from hotline.desk.timeline import OPEN_STATES
from hotline.desk.workflow import SWEPT_STATES
from hotline.issues import RECORDING_DEADLINE
from hotline.keys import CLOCK, DESK, STORE
from hotline.store import Store
from hotline.store.queues import QueueRow, QueueStore
from hotline.store.records import IssueRecord

__all__ = [
    "ROLE_PAGES", "Entry", "QueueView", "RoleQueues", "add_routes", "engineer_queues", "manager_queues",
    "operator_queues", "queues_for", "render_queues", "role_page", "roles_of",
]

LIMIT = 50
"""Entries shown per queue (the heading counts them all)."""
UNASSIGNED_STATES = ("recorded", "reopened")
"""Where an issue waits when dispatch found nobody (see :mod:`hotline.desk.dispatch`)."""

ROLE_PAGES = {
    "operator": ("operator", "manager", "admin"),
    "engineer": ("engineer", "manager", "admin"),
    "manager": ("manager", "admin"),
}
"""``/queues/<role>``: the roles that may open each page (managers oversee every queue)."""
ROLE_TITLES = {"operator": N_("Duty desk"), "engineer": N_("My issues"), "manager": N_("Oversight")}
NEVER = datetime.max.replace(tzinfo=UTC)
ENGINEER_GROUPS = (SlaState.BREACHED, SlaState.AT_RISK, SlaState.ON_TRACK, SlaState.PAUSED)


@dataclass(frozen=True)
class Entry:
    """One issue in a queue, with what that queue shows of it."""

    id: int
    number: str
    caller: str | None = None
    owner: str | None = None
    priority: str | None = None
    status: str | None = None
    description: str = ""
    deadline: datetime | None = None
    """The record's deadline: the call's end + 30 minutes (None while the call goes on)."""
    minutes_left: int | None = None
    """Whole minutes to the deadline when the page was made (the script counts on from there)."""
    overdue: bool = False
    disposition: str | None = None
    called_at: datetime | None = None
    """When the issue's call came in (None: the issue did not come from a call)."""
    respond_by: datetime | None = None
    """The response clock's due instant while no response was given."""
    resolve_by: datetime | None = None
    """The resolution clock's due instant while it runs."""
    since: datetime | None = None
    """When the issue started waiting here (resolved; last activity of a stale issue)."""


@dataclass(frozen=True)
class QueueView:
    """A queue as a page section: ``key`` names it in the page (``id="queue-<key>"``)."""

    key: str
    title: str
    hint: str
    empty: str
    columns: tuple[str, ...]
    entries: tuple[Entry, ...]
    total: int
    link: str = ""
    """Where the full list is (an issue-list filter), if the queue shows only the first entries."""


@dataclass
class RoleQueues:
    role: str
    title: str
    queues: list[QueueView] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(q.total for q in self.queues)


def _caller(issue: IssueRecord) -> str | None:
    return issue.caller_name or issue.caller_key


def _entry(row: QueueRow, *, deadline: datetime | None = None, now: datetime | None = None,
           respond_by: datetime | None = None, resolve_by: datetime | None = None) -> Entry:
    i = row.issue
    overdue, minutes_left = False, None
    if now is not None:  # the record's 30 minutes matter in this queue
        overdue = i.recording_overdue
        if deadline is not None:
            left = (deadline - now).total_seconds()
            overdue, minutes_left = overdue or left <= 0, max(0, int(left // 60))
    return Entry(i.id, i.number, _caller(i), i.owner, i.priority, i.status, i.description,
                 deadline=deadline, minutes_left=minutes_left, overdue=overdue, disposition=row.disposition,
                 called_at=i.created_at if i.call_id is not None else None, respond_by=respond_by,
                 resolve_by=resolve_by)


def _deadline_of(issue: IssueRecord) -> datetime | None:
    """The 30-minute recording deadline, counted from the end of the issue's call."""
    return issue.call_ended_at + RECORDING_DEADLINE if issue.call_ended_at is not None else None


def _to_complete(row: QueueRow, now: datetime) -> Entry:
    return _entry(row, deadline=_deadline_of(row.issue), now=now)


def _sla_entry(row: QueueRow) -> Entry:
    respond_by = row.response_due if row.first_response_at is None else None
    return _entry(row, respond_by=respond_by, resolve_by=row.resolution_due)


def _next_due(e: Entry) -> tuple[datetime, int]:
    """Soonest due first; issues with no running clock last."""
    dues = [d for d in (e.respond_by, e.resolve_by) if d is not None]
    return (min(dues) if dues else NEVER, e.id)


async def operator_queues(store: Store, desk: Desk, now: datetime) -> list[QueueView]:
    queues = QueueStore(store.db)
    complete = await queues.to_complete(LIMIT)
    call_back = await queues.to_call_back(LIMIT)
    due = await desk.callback_queue(LIMIT)
    due_total = len(due) if len(due) < LIMIT else await store.issues.count("resolved")
    return [
        QueueView("to-complete", N_("Records to complete"),
                  N_("Every call must be recorded within 30 minutes of its end."),
                  N_("Nothing to complete."), ("caller", "call", "deadline"),
                  tuple(_to_complete(r, now) for r in complete.rows), complete.total, "/issues?status=new"),
        QueueView("call-back", N_("Callers to call back"),
                  N_("Missed and refused calls: the caller is waiting to hear from us."),
                  N_("Nobody is waiting for a call back."), ("caller", "call", "status"),
                  tuple(_entry(r) for r in call_back.rows), call_back.total,
                  "/issues?call_back=yes"),
        QueueView("callbacks-due", N_("Callbacks due"),
                  N_("Resolved issues: ask the caller for their scores, longest waiting first."),
                  N_("No callback is due."), ("caller", "owner", "since"),
                  tuple(Entry(i.id, i.number, _caller(i), i.owner, i.priority, i.status, i.description,
                              since=i.updated_at) for i in due), due_total, "/issues?status=resolved"),
    ]


async def engineer_queues(store: Store, person_id: str) -> list[QueueView]:
    mine = await QueueStore(store.db).owned(person_id, OPEN_STATES)
    groups: dict[str, list[Entry]] = {s.value: [] for s in ENGINEER_GROUPS}
    for row in mine.rows:
        state = row.sla_state if row.sla_state in groups else SlaState.ON_TRACK.value
        groups[state].append(_sla_entry(row))
    titles = {SlaState.BREACHED: N_("My issues: SLA breached"), SlaState.AT_RISK: N_("My issues: at risk"),
              SlaState.ON_TRACK: N_("My issues: on track"),
              SlaState.PAUSED: N_("My issues: waiting for the caller")}
    hint = N_("Due times are when each SLA clock reaches its target.")
    return [QueueView(f"mine-{state.value.replace('_', '-')}", titles[state], hint, N_("None."),
                      ("priority", "status", "respond_by", "resolve_by"),
                      tuple(sorted(groups[state.value], key=_next_due)), len(groups[state.value]))
            for state in ENGINEER_GROUPS]


async def manager_queues(store: Store, desk: Desk, now: datetime) -> list[QueueView]:
    queues = QueueStore(store.db)
    breached = await queues.in_sla_state(SlaState.BREACHED.value, SWEPT_STATES, LIMIT)
    at_risk = await queues.in_sla_state(SlaState.AT_RISK.value, SWEPT_STATES, LIMIT)
    _, opened, _ = last_closed_working_day(desk.ctx, now)
    stale_rows = await desk.ctx.desk.progress.stale(STALE_STATES, opened)
    unassigned = await queues.unassigned(UNASSIGNED_STATES, LIMIT)
    overdue = await queues.overdue_recordings(LIMIT)
    sla_columns = ("owner", "priority", "status", "respond_by", "resolve_by")
    stale = tuple(Entry(r["id"], r["number"], owner=r["owner"], priority=r["priority"],
                        description=r["description"], since=datetime.fromisoformat(r["last_activity"]))
                  for r in stale_rows[:LIMIT])
    return [
        QueueView("breached", N_("SLA breached"), N_("Open issues past an SLA target."), N_("None."),
                  sla_columns, tuple(_sla_entry(r) for r in breached.rows), breached.total,
                  "/issues?sla=breached"),
        QueueView("at-risk", N_("SLA at risk"), N_("Open issues that have used most of an SLA target."),
                  N_("None."), sla_columns, tuple(_sla_entry(r) for r in at_risk.rows), at_risk.total,
                  "/issues?sla=at_risk"),
        QueueView("stale", N_("Stale issues"),
                  N_("Issues being worked with no progress note or dispatch during the last working day."),
                  N_("None."), ("owner", "priority", "since"), stale, len(stale_rows)),
        QueueView("unassigned", N_("Unassigned"), N_("Dispatch found nobody available for these issues."),
                  N_("None."), ("caller", "priority", "status"), tuple(_entry(r) for r in unassigned.rows),
                  unassigned.total),
        QueueView("overdue-recordings", N_("Overdue records"),
                  N_("Calls whose record was not completed within 30 minutes."), N_("None."),
                  ("caller", "call", "deadline"), tuple(_to_complete(r, now) for r in overdue.rows),
                  overdue.total, "/issues?status=new&overdue=yes"),
    ]


async def queues_for(store: Store, desk: Desk, person_id: str, roles: tuple[str, ...],
                     now: datetime) -> list[RoleQueues]:
    """The queues of ``roles`` (in that order) for the person ``person_id``, at ``now``."""
    out = []
    for role in roles:
        if role == "operator":
            views = await operator_queues(store, desk, now)
        elif role == "engineer":
            views = await engineer_queues(store, person_id)
        else:
            views = await manager_queues(store, desk, now)
        out.append(RoleQueues(role, ROLE_TITLES[role], views))
    return out


def roles_of(user: User) -> tuple[str, ...]:
    """The queue pages of the roles ``user`` holds (an admin oversees like a manager)."""
    held = {"operator": user.has("operator"), "engineer": user.has("engineer"),
            "manager": user.has("manager", "admin")}
    return tuple(role for role, has in held.items() if has)


async def render_queues(request: web.Request, template: str, roles: tuple[str, ...], *,
                        single: bool) -> web.Response:
    """``template`` (the home page or a role's page) with the queues of ``roles``."""
    user = request[USER]
    assert user is not None
    app = request.app
    now = app[CLOCK]()
    groups = await queues_for(app[STORE], app[DESK], user.id, roles, now)
    return page(request, template, {
        "groups": groups, "single": single, "server_now": now,
        "links": [(role, ROLE_TITLES[role]) for role in roles_of(user)],
        "people_names": {p.id: p.name for p in await app[STORE].people.all()},
        "statuses": STATUS_LABELS, "dispositions": DISPOSITION_LABELS,
    })


def role_page(role: str) -> Handler:
    """``GET /queues/<role>``: that role's queues, for the roles of :data:`ROLE_PAGES`."""

    async def view(request: web.Request) -> web.StreamResponse:
        return await render_queues(request, "queues.html", (role,), single=True)

    view.__name__ = f"{role}_queues"
    return requires(*ROLE_PAGES[role])(view)


def add_routes(router: web.UrlDispatcher) -> None:
    for role in ROLE_PAGES:
        router.add_get(f"/queues/{role}", role_page(role))
