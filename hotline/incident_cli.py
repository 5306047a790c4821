"""``hotline incident declare | list | clear``: major incidents from the command line.

The same :class:`~hotline.incidents.IncidentService` as the console's endpoint and the IVR, on
the configured database; a running server sees a declared incident at its next call.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from hotline.config import Config

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser,
                  config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``incident`` sub-commands; ``config_arg`` adds ``--config`` to a parser."""
    sub = parser.add_subparsers(dest="incident_command", required=True)
    d = sub.add_parser("declare", help="declare a major incident: callers hear its announcement first")
    d.add_argument("title", help='what is down, e.g. "邮件系统故障"')
    d.add_argument("--category", action="append", default=[], metavar="ID",
                   help="a category it affects (repeat for several), e.g. email")
    d.add_argument("--say", required=True, metavar="TEXT",
                   help="the announcement callers hear before the menu")
    d.add_argument("--by", default=f"cli:{getpass.getuser()}", help="who declares it (default: %(default)s)")
    ls = sub.add_parser("list", help="incidents, newest first, with their parent issue and callers")
    ls.add_argument("--all", action="store_true", help="cleared ones too")
    c = sub.add_parser("clear", help="the incident is over")
    c.add_argument("id", type=int)
    c.add_argument("--notify", action="store_true",
                   help="queue a notification to every caller linked to it (through the desk's outbox)")
    c.add_argument("--by", default=f"cli:{getpass.getuser()}", help="who clears it (default: %(default)s)")
    for p in (d, ls, c):
        config_arg(p)


async def _prepare_announcement(config: Config, text: str) -> None:
    """Synthesise the announcement into the speech cache now, so the first caller does not wait."""
    from hotline.calls.speech import DEFAULT_LANG, PromptLibrary, Speech, SpeechError, Synthesizer

    try:
        speech = Speech(PromptLibrary(config.media.prompts_dir), Synthesizer(), timeout=15.0)
        await speech.say(text, DEFAULT_LANG)
    except (SpeechError, OSError, ValueError) as exc:
        print(f"incident: the announcement is synthesised at the first call instead ({exc})", file=sys.stderr)


async def run(config: Config, args: argparse.Namespace) -> int:
    from hotline.desk.service import Desk
    from hotline.incidents import IncidentError, IncidentService
    from hotline.issues import IssueService
    from hotline.services import build_calendar
    from hotline.store import Store
    from hotline.working_hours import apply_stored as apply_stored_hours

    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        issues = IssueService(store, config.site.timezone)
        calendar = build_calendar(config)
        await apply_stored_hours(calendar, store.settings)  # as the server has them
        desk = Desk(store, calendar, config.desk)
        service = IncidentService(store, issues, config.site.timezone, desk=desk)
        try:
            if args.incident_command == "declare":
                incident = await service.declare(args.title, categories=args.category,
                                                 announcement=args.say, by=args.by)
                print(f"incident {incident.id} declared: {incident.title} (parent issue "
                      f"{incident.issue_number})")
                await _prepare_announcement(config, incident.announcement)
                return 0
            if args.incident_command == "clear":
                cleared = await service.clear(args.id, by=args.by, notify=args.notify)
                told = f"; {len(cleared.notified)} caller(s) to be notified" if args.notify else ""
                print(f"incident {args.id} cleared after {cleared.incident.callers} linked call(s){told}")
                return 0
        except IncidentError as exc:
            print(f"incident: {exc}", file=sys.stderr)
            return 2
        incidents = await (service.recent() if args.all else service.active())
        if not incidents:
            print("no active incident" if not args.all else "no incident")
        for n in incidents:
            state = "active" if n.active else f"cleared {n.cleared_at:%Y-%m-%d %H:%M}"
            print(f"{n.id}\t{state}\t{n.issue_number}\t{n.callers} caller(s)\t"
                  f"{','.join(n.categories) or '-'}\t{n.title}\t{n.announcement}")
        return 0
