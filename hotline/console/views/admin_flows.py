"""What callers hear: the IVR flows with their problems and prompts, and major incidents.

* ``GET /admin/flows``: each flow file of ``ivr.flows_dir`` as it is on disk now — valid or its
  problems as ``file:line: message`` (:func:`hotline.calls.registry.check_flow_folder`, the same
  check a reload makes) —, whether the running server uses it, and the problems of the last
  reload if it was refused (:attr:`FlowRegistry.refused`: calls keep the flows loaded before).
  Each loaded flow lists its prompts per language with a player.
* ``GET /admin/flows/prompt/<flow>/<prompt>/<lang>.wav``: a prompt of a loaded flow, by id. The
  file is what :class:`~hotline.calls.speech.PromptLibrary` resolves for that id and language;
  nothing from the request becomes a path, and only prompts a loaded flow plays are served.
* ``POST /admin/flows/reload``: the reload SIGHUP makes (:meth:`FlowRegistry.reload`).
* ``GET /admin/incidents``, ``POST /admin/incidents`` (declare), ``POST
  /admin/incidents/<id>/clear``: major incidents through :class:`~hotline.incidents.IncidentService`
  (the parent issue's audit trail records them); the forms keep what was typed on an error.

Managers and admins only; every reload, declaration and clearance is in the console's audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from hotline.calls.flowcheck import FlowProblem
from hotline.calls.flows import Flow
from hotline.calls.registry import check_flow_folder
from hotline.console.render import N_, page, text
from hotline.console.security import USER, requires
from hotline.incidents import MAX_ANNOUNCEMENT, MAX_TITLE, IncidentError
from hotline.keys import CLOCK, CONFIG, FLOWS, INCIDENTS, STORE
from hotline.store.accounts import AuditEntry

__all__ = ["FlowStatus", "add_routes", "flow_statuses"]

MANAGERS = ("manager", "admin")
RELOAD_NOTICES = {"ok": N_("The flows were reloaded: new calls use them."),
                  "refused": N_("The reload was refused: calls keep the flows loaded before. "
                                "The problems are listed below.")}


@dataclass
class FlowStatus:
    """One flow file as the page shows it."""

    file: str
    """The file's name in the flows folder."""
    problems: list[FlowProblem] = field(default_factory=list)
    loaded: Flow | None = None
    """The flow the server uses from this file (None: not loaded)."""
    prompts: list[tuple[str, str, bool]] = field(default_factory=list)
    """(prompt id, language, a file exists) of the loaded flow."""

    @property
    def valid(self) -> bool:
        return not self.problems


def flow_statuses(folder: Path, problems: list[FlowProblem], loaded: dict[str, Flow],
                  exists: dict[tuple[str, str], bool]) -> tuple[list[FlowStatus], list[FlowProblem]]:
    """Per file: its problems and its loaded flow; and the problems of the folder as a whole."""
    files = (sorted(p.name for p in folder.glob("*.toml") if not p.name.startswith("."))
             if folder.is_dir() else [])
    statuses = {name: FlowStatus(name) for name in files}
    by_path = {flow.path.name: flow for flow in loaded.values() if flow.path.parent == folder}
    whole = []
    for problem in problems:
        name = Path(problem.file).name
        if name in statuses and Path(problem.file).parent == folder:
            statuses[name].problems.append(problem)
        else:
            whole.append(problem)
    for name, status in statuses.items():
        flow = by_path.get(name)
        if flow is not None:
            status.loaded = flow
            status.prompts = [(p, lang, exists.get((p, lang), False))
                              for p in sorted(flow.prompt_ids()) for lang in flow.languages]
    return list(statuses.values()), whole


def _where(problem: FlowProblem, folder: Path) -> str:
    """``file:line`` relative to the flows folder (the folder's own path is the admin's business)."""
    path = Path(problem.file)
    name = path.name if path.parent == folder else problem.file
    return f"{name}:{problem.line}" if problem.line else name


def _audit(request: web.Request, action: str, detail: str) -> AuditEntry:
    return AuditEntry(request.app[CLOCK](), request[USER].id, action, detail[:500], request.remote or "")


@requires(*MANAGERS)
async def flows_page(request: web.Request) -> web.Response:
    app = request.app
    config = app[CONFIG]
    folder = config.ivr.flows_dir
    registry = app.get(FLOWS)
    problems = await check_flow_folder(config, store=app[STORE])
    loaded = dict(registry.flows.flows) if registry is not None else {}
    exists = {}
    if registry is not None:
        for flow in loaded.values():
            for prompt in flow.prompt_ids():
                for lang in flow.languages:
                    exists[(prompt, lang)] = registry.library.exists(prompt, lang)
    statuses, whole = flow_statuses(folder, problems, loaded, exists)
    notice = RELOAD_NOTICES.get(request.query.get("reload", ""))
    return page(request, "admin_flows.html", {
        "statuses": statuses, "whole": whole, "folder": str(folder), "running": registry is not None,
        "refused": registry.refused if registry is not None else [],
        "reloads": registry.reloads if registry is not None else 0,
        "where": lambda p: _where(p, folder), "notice": notice,
        "refused_notice": request.query.get("reload") == "refused",
    })


@requires(*MANAGERS)
async def reload_flows(request: web.Request) -> web.Response:
    app = request.app
    if FLOWS not in app:
        raise web.HTTPConflict(text="no IVR is running in this server")
    problems = await app[FLOWS].reload()
    detail = "reloaded" if not problems else f"refused: {len(problems)} problem(s); " + "; ".join(
        str(p) for p in problems[:5])
    await app[STORE].accounts.audit(_audit(request, "flows_reload", detail))
    raise web.HTTPSeeOther(f"/admin/flows?reload={'refused' if problems else 'ok'}")


@requires(*MANAGERS)
async def prompt_audio(request: web.Request) -> web.StreamResponse:
    app = request.app
    if FLOWS not in app:
        raise web.HTTPNotFound(text="no IVR is running in this server")
    registry = app[FLOWS]
    flow = registry.flows.flows.get(request.match_info["flow"])
    prompt, lang = request.match_info["prompt"], request.match_info["lang"]
    if flow is None or prompt not in flow.prompt_ids() or lang not in flow.languages:
        raise web.HTTPNotFound(text="no such prompt in the flows in use")
    path = registry.library.resolve(prompt, lang)
    if path is None:
        raise web.HTTPNotFound(text=f"prompt {prompt!r} ({lang}) has no WAV file")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, max-age=60"})


# -- major incidents ----------------------------------------------------------------------------


async def _incidents_page(request: web.Request, *, values: dict[str, object] | None = None,
                          errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    app = request.app
    service = app[INCIDENTS]
    categories = await app[STORE].people.categories()
    return page(request, "admin_incidents.html", {
        "active": await service.active(), "recent": [i for i in await service.recent(20) if not i.active],
        "categories": categories, "values": values or {"categories": []}, "errors": errors or {},
        "max_title": MAX_TITLE, "max_announcement": MAX_ANNOUNCEMENT,
        "notice": {"declared": N_("The incident is declared: callers hear the announcement before the menu."),
                   "cleared": N_("The incident is cleared.")}.get(request.query.get("done", "")),
    }, status=status)


@requires(*MANAGERS)
async def incidents_page(request: web.Request) -> web.Response:
    return await _incidents_page(request)


@requires(*MANAGERS)
async def declare(request: web.Request) -> web.Response:
    form = await request.post()
    title = str(form.get("title", ""))
    say = str(form.get("announcement", ""))
    chosen = [str(c) for c in form.getall("categories", [])]
    values: dict[str, object] = {"title": title, "announcement": say, "categories": chosen}
    errors = {}
    if not title.strip():
        errors["title"] = text(request, "Give the incident a title.")
    elif len(title.strip()) > MAX_TITLE:
        errors["title"] = text(request, "At most %(n)s characters.", n=MAX_TITLE)
    if not " ".join(say.split()):
        errors["announcement"] = text(request, "Write what callers will hear.")
    elif len(" ".join(say.split())) > MAX_ANNOUNCEMENT:
        errors["announcement"] = text(request, "At most %(n)s characters: callers hear it before the menu.",
                                      n=MAX_ANNOUNCEMENT)
    known = {c.id for c in await request.app[STORE].people.categories()}
    if any(c not in known for c in chosen):
        errors["categories"] = text(request, "Choose categories from the list.")
    if errors:
        return await _incidents_page(request, values=values, errors=errors, status=400)
    try:
        incident = await request.app[INCIDENTS].declare(title, categories=chosen, announcement=say,
                                                        by=request[USER].id)
    except IncidentError as exc:
        return await _incidents_page(request, values=values, errors={"form": str(exc)}, status=400)
    await request.app[STORE].accounts.audit(_audit(
        request, "incident_declared", f"#{incident.id} {incident.title} ({incident.issue_number})"))
    raise web.HTTPSeeOther("/admin/incidents?done=declared")


@requires(*MANAGERS)
async def clear(request: web.Request) -> web.Response:
    form = await request.post()
    incident_id = int(request.match_info["id"])
    notify = form.get("notify") == "yes"
    try:
        cleared = await request.app[INCIDENTS].clear(incident_id, by=request[USER].id, notify=notify)
    except IncidentError as exc:
        return await _incidents_page(request, errors={"clearing": str(exc)}, status=400)
    await request.app[STORE].accounts.audit(_audit(
        request, "incident_cleared",
        f"#{incident_id} {cleared.incident.title}; {len(cleared.notified)} caller(s) told"))
    raise web.HTTPSeeOther("/admin/incidents?done=cleared")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/flows", flows_page)
    router.add_post("/admin/flows/reload", reload_flows)
    router.add_get(r"/admin/flows/prompt/{flow}/{prompt:[A-Za-z0-9_-]{1,64}}/"
                   r"{lang:[a-z]{2}}.wav", prompt_audio)
    router.add_get("/admin/incidents", incidents_page)
    router.add_post("/admin/incidents", declare)
    router.add_post(r"/admin/incidents/{id:\d+}/clear", clear)
