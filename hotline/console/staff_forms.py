"""Checking the staff forms of the administration: a person, their weekly shifts, a leave.

Each check takes the submitted fields and returns the values to store or the errors by field
(a message id and its values, translated where shown), never raising on bad input. Pure: the
numbering plan is given, the store is the view's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from hotline.callerid import CallerKind, NumberingPlan
from hotline.console.render import N_
from hotline.store.desk.dispatch import Leave, WeeklyShift
from hotline.store.records import Person

__all__ = ["ROLES", "WEEKDAYS", "Checked", "check_leave", "check_person", "check_shifts",
           "shifts_text"]

ROLES = (N_("operator"), N_("engineer"), N_("manager"), N_("admin"))
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))
MAX_NAME = 60
MAX_REASON = 200

REQUIRED = N_("Required.")
TOO_LONG = N_("Too long: at most %(max)s characters.")
BAD_ID = N_("Letters, digits, dot, dash or underscore, starting with a letter or digit (at most 64).")
TAKEN = N_("%(id)s is already on the staff list.")
NOT_MOBILE = N_("Not a mobile number: %(value)s.")
NOT_EXTENSION = N_("Not an extension at this site: %(value)s.")
NOT_EMAIL = N_("Not an e-mail address.")
ADMIN_ONLY = N_("Only an administrator may give or take the admin role.")
OWN_ROLES = N_("You cannot take away your own manager or admin role.")
OWN_ACTIVE = N_("You cannot mark yourself inactive.")
UNKNOWN_ROLE = N_("Choose roles from the list.")
BAD_WINDOWS = N_("Write times as 08:00-12:00, several separated by commas; %(value)s is not.")
OVERLAP = N_("The times %(first)s and %(second)s overlap.")
BAD_DATE = N_("A date as YYYY-MM-DD.")
ENDS_BEFORE = N_("The last day is before the first.")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\s*[-–~至到]\s*(([01]\d|2[0-3]):([0-5]\d)|24:00)")


@dataclass
class Checked:
    """A form's values once checked, and the errors by field (message id, values)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def check_person(form: Mapping[str, str], roles: list[str], existing: Person | None, *,
                 plan: NumberingPlan, actor: Person | None, actor_is_admin: bool,
                 taken: bool = False) -> Checked:
    """A person's record from the form. ``existing`` None: a new person (``id`` comes from the
    form; ``taken``: that id exists already). ``roles`` are the ticked role boxes."""
    out = Checked()
    if existing is None:
        person_id = form.get("id", "").strip()
        if not person_id:
            out.errors["id"] = (REQUIRED, {})
        elif not _ID.fullmatch(person_id):
            out.errors["id"] = (BAD_ID, {})
        elif taken:
            out.errors["id"] = (TAKEN, {"id": person_id})
    else:
        person_id = existing.id
    name = " ".join(form.get("name", "").split())
    if not name:
        out.errors["name"] = (REQUIRED, {})
    elif len(name) > MAX_NAME:
        out.errors["name"] = (TOO_LONG, {"max": MAX_NAME})

    mobile: str | None = None
    mobile_text = form.get("mobile", "").strip()
    if mobile_text:
        cid = plan.normalise(mobile_text)
        # Forwarding dials staff mobiles: only a number phonenumbers knows as a mobile.
        if cid.kind is CallerKind.E164 and cid.e164 and cid.number_type in ("mobile", "fixed_line_or_mobile"):
            mobile = cid.e164
        else:
            out.errors["mobile"] = (NOT_MOBILE, {"value": mobile_text[:40]})
    extension: str | None = None
    extension_text = re.sub(r"[\s\-.]", "", form.get("extension", ""))
    if extension_text:
        if plan.is_extension(extension_text):
            extension = extension_text
        else:
            out.errors["extension"] = (NOT_EXTENSION, {"value": extension_text[:20]})
    email = form.get("email", "").strip() or None
    if email is not None and (len(email) > 200 or not _EMAIL.fullmatch(email)):
        out.errors["email"] = (NOT_EMAIL, {})

    chosen = tuple(r for r in ROLES if r in roles)
    before = set(existing.roles) if existing else set()
    if any(r not in ROLES for r in roles):
        out.errors["roles"] = (UNKNOWN_ROLE, {})
    elif ("admin" in before) != ("admin" in chosen) and not actor_is_admin:
        out.errors["roles"] = (ADMIN_ONLY, {})
    elif actor is not None and actor.id == person_id and (
            {"manager", "admin"} & before) - set(chosen):
        out.errors["roles"] = (OWN_ROLES, {})
    active = form.get("active") == "1"
    if actor is not None and actor.id == person_id and not active and existing is not None:
        out.errors["active"] = (OWN_ACTIVE, {})
    out.values["person"] = Person(person_id, name, mobile, extension, email, chosen, active)
    return out


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def check_shifts(form: Mapping[str, str], person_id: str) -> Checked:
    """Weekly shifts from the fields ``day0`` … ``day6`` ("08:00-12:00, 13:30-17:30")."""
    out = Checked(values={"shifts": []})
    for weekday in range(7):
        name = f"day{weekday}"
        text = form.get(name, "").strip()
        out.values[name] = text
        windows: list[tuple[str, str]] = []
        for part in (p.strip() for p in re.split(r"[,，;；]", text)):
            if not part:
                continue
            match = _WINDOW.fullmatch(part)
            if match is None or _minutes(match.group(3)) <= _minutes(part[:5]):
                out.errors[name] = (BAD_WINDOWS, {"value": part[:30]})
                break
            windows.append((part[:5], match.group(3)))
        else:
            windows.sort()
            for (s1, e1), (s2, e2) in pairwise(windows):
                if _minutes(s2) < _minutes(e1):
                    out.errors[name] = (OVERLAP, {"first": f"{s1}-{e1}", "second": f"{s2}-{e2}"})
                    break
            out.values["shifts"] += [WeeklyShift(person_id, weekday, s, e) for s, e in windows]
    return out


def shifts_text(shifts: list[WeeklyShift]) -> dict[int, str]:
    """Weekday → "08:00-12:00, 13:30-17:30", the form's way of writing them."""
    days: dict[int, list[str]] = {}
    for s in sorted(shifts, key=lambda s: (s.weekday, s.starts)):
        days.setdefault(s.weekday, []).append(f"{s.starts}-{s.ends}")
    return {day: ", ".join(windows) for day, windows in days.items()}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def check_leave(form: Mapping[str, str], person_id: str) -> Checked:
    """A leave from ``starts_on``, ``ends_on`` (inclusive) and ``reason``."""
    out = Checked()
    first, last = _day(form.get("starts_on", "")), _day(form.get("ends_on", ""))
    for name, value in (("starts_on", first), ("ends_on", last)):
        if value is None:
            out.errors[name] = (REQUIRED if not form.get(name, "").strip() else BAD_DATE, {})
    if first is not None and last is not None and last < first:
        out.errors["ends_on"] = (ENDS_BEFORE, {})
    reason = " ".join(form.get("reason", "").split())
    if len(reason) > MAX_REASON:
        out.errors["reason"] = (TOO_LONG, {"max": MAX_REASON})
    if not out.errors:
        assert first is not None and last is not None
        out.values["leave"] = Leave(person_id, first, last, reason)
    return out
