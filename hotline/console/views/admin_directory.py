"""The employee directory in the administration: import a CSV, search, view one employee.

``GET /admin/directory`` searches (``?q=`` a name, department, location, employee id or any
phone number, read with the site's numbering plan as incoming calls are) and offers the upload;
``POST /admin/directory/import`` reads the uploaded file with the same reader as
``hotline import-directory`` (UTF-8 with or without BOM, UTF-16, GBK/GB18030; rejected rows
with their line number and reason), upserts the good rows by employee id and shows the report.
The import and its counts go to the console's audit log in the same transaction as the rows.
``GET /admin/directory/{employee_id}`` shows one employee with their numbers. Managers and
admins only.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from hotline.callerid import CallerKind, display_key
from hotline.console.render import N_, page, text
from hotline.console.security import USER, requires
from hotline.directory import DirectoryCsvError, DirectoryImport, read_directory_csv
from hotline.keys import CLOCK, CONFIG, STORE
from hotline.seed import to_employee
from hotline.services import numbering_plan
from hotline.store.accounts import AuditEntry
from hotline.store.records import Employee

__all__ = ["add_routes"]

ADMINS = ("manager", "admin")
MAX_RESULTS = 50
NO_FILE = N_("Choose a CSV file to upload.")
EMPTY_FILE = N_("The file %(name)s is empty.")
UNREADABLE = N_("The file cannot be read: %(reason)s")


def _numbers(employee: Employee, region: str) -> list[tuple[str, str]]:
    """(kind, number as people read it) of an employee, mobile first."""
    out = []
    if employee.mobile:
        out.append((N_("Mobile"), display_key(employee.mobile, region)))
    if employee.extension:
        out.append((N_("Extension"), employee.extension))
    ext = f"ext:{employee.extension}" if employee.extension else None
    out += [(N_("Desk phone"), display_key(k, region)) for k in employee.desk_numbers if k != ext]
    return out


async def _search(request: web.Request, q: str) -> list[Employee]:
    config = request.app[CONFIG]
    keys: list[str] = []
    if any(c.isdigit() for c in q):
        cid = numbering_plan(config).normalise(q)
        if cid.key and cid.kind is not CallerKind.WITHHELD:
            keys.append(cid.key)
    return await request.app[STORE].directory.search(q[:100], keys, limit=MAX_RESULTS)


async def _render(request: web.Request, *, q: str = "", report: dict[str, Any] | None = None,
                  error: str | None = None, status: int = 200) -> web.Response:
    store, config = request.app[STORE], request.app[CONFIG]
    results = await _search(request, q) if q.strip() else []
    return page(request, "admin_directory.html", {
        "q": q, "results": results, "more": len(results) >= MAX_RESULTS,
        "total": await store.directory.count(),
        "numbers": lambda e: _numbers(e, config.site.region), "report": report, "file_error": error,
    }, status=status)


@requires(*ADMINS)
async def directory_page(request: web.Request) -> web.Response:
    return await _render(request, q=request.query.get("q", "")[:100])


@requires(*ADMINS)
async def directory_import(request: web.Request) -> web.Response:
    app = request.app
    user = request[USER]
    posted = await request.post()
    upload = posted.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await _render(request, error=text(request, NO_FILE), status=400)
    # Browsers send the name as UTF-8; some clients percent-encode it (RFC 7578 allows both).
    name = unquote(upload.filename)[:200]
    data = upload.file.read()
    if not data.strip():
        return await _render(request, error=text(request, EMPTY_FILE, name=name), status=400)
    plan = numbering_plan(app[CONFIG])
    try:
        # A large file takes a while to read: not on the event loop.
        result: DirectoryImport = await asyncio.get_running_loop().run_in_executor(
            None, lambda: read_directory_csv(data, plan=plan))
    except DirectoryCsvError as exc:
        reason = str(exc).removeprefix("<bytes>: ")
        return await _render(request, error=text(request, UNREADABLE, reason=reason), status=400)
    lines = ", ".join(str(r.line) for r in result.rejected[:20])
    detail = (f"{name} ({result.encoding}): {len(result.rows)} rows read, {len(result.rejected)} rejected"
              + (f" (lines {lines})" if result.rejected else ""))
    audit = AuditEntry(app[CLOCK](), user.id, "directory_import", detail, request.remote or "")
    inserted, updated = await app[STORE].directory.upsert([to_employee(e) for e in result.rows], audit=audit)
    report = {"name": name, "result": result, "inserted": inserted, "updated": updated}
    return await _render(request, report=report)


@requires(*ADMINS)
async def employee_page(request: web.Request) -> web.Response:
    employee = await request.app[STORE].directory.get(request.match_info["employee_id"])
    if employee is None:
        raise web.HTTPNotFound(text=text(request, "No such employee."))
    region = request.app[CONFIG].site.region
    return page(request, "admin_employee.html", {"employee": employee, "numbers": _numbers(employee, region)})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/admin/directory", directory_page)
    router.add_post("/admin/directory/import", directory_import)
    router.add_get(r"/admin/directory/{employee_id:[^/]{1,100}}", employee_page)
