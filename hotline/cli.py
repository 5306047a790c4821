"""The ``hotline`` command: builds the configuration and hands it to the app or a task.

Exit codes: 0 success, 1 the task failed, 2 the configuration or the input is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from hotline import __version__
from hotline.config import Config, ConfigError, load_config
from hotline.event_loop import LOOPS, LoopError, default_loop, loop_name, new_event_loop

DEFAULT_CONFIG = Path("config/hotline.toml")

log = logging.getLogger("hotline")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, default=DEFAULT_CONFIG,
                        help="configuration file (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="IT service-desk hotline server")
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server (SIP endpoint, workers, web console)")
    _config_arg(p)
    p.add_argument("--clock", metavar="INSTANT", default=os.environ.get("HOTLINE_CLOCK") or None,
                   help="start the wall clock at this instant and let it run, for rehearsals and "
                        "tests, e.g. 2026-10-01T23:00+08:00 (default: $HOTLINE_CLOCK, else the real time)")
    p.add_argument("--loop", choices=LOOPS, default=None,
                   help="the asyncio event loop (default: uvloop when installed, else asyncio)")

    p = sub.add_parser("check-config", help="validate a configuration file, its calendar and its IVR flows")
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)

    p = sub.add_parser("check-flows", help="validate the IVR flows (default: the configured folder)")
    _config_arg(p)
    p.add_argument("folder", nargs="?", type=Path, help="flows folder (default: ivr.flows_dir)")

    p = sub.add_parser("prompts", help="IVR prompts")
    prompts = p.add_subparsers(dest="prompts_command", required=True)
    b = prompts.add_parser("build", help="render the flows' prompt texts, the category menu and the "
                                         "whisper fragments to 8 kHz WAV with espeak-ng")
    _config_arg(b)
    b.add_argument("--force", action="store_true", help="render everything again")

    p = sub.add_parser("add-user", help="let a staff member log in to the console (password from a "
                                        "prompt or a file, never the command line)")
    _config_arg(p)
    p.add_argument("user", help="the staff id (people.id), e.g. zhangwei")
    p.add_argument("--role", action="append", choices=("operator", "engineer", "manager", "admin"),
                   help="role(s) to give; repeat for several (default: keep the staff record's roles)")
    p.add_argument("--name", help="full name, when the person is not on the staff list yet")
    p.add_argument("--password-file", type=Path,
                   help="read the password from the first line of this file (else: asked twice)")
    p.add_argument("--desk-phone", help='their own phone, rung first for a call back from the console: a '
                   'SIP URI ("sip:8001@10.0.0.5") or an extension dialled through sip.outbound.proxy; '
                   '"" removes it')

    from hotline.api.token_cli import add_revoke_arguments, add_token_arguments

    add_token_arguments(sub.add_parser("add-token", help="a bearer token for the JSON API, acting for a "
                                                         "staff member (printed once)"), _config_arg)
    add_revoke_arguments(sub.add_parser("revoke-token", help="revoke a JSON API token"), _config_arg)

    p = sub.add_parser("calls", help="list the latest calls with their issues (the call records)")
    _config_arg(p)
    p.add_argument("--limit", type=int, default=20, help="how many (default: %(default)s)")

    p = sub.add_parser("call", help="place a test call to the running server and print each step")
    _config_arg(p)
    from hotline.calls.testcall import add_arguments

    add_arguments(p)

    p = sub.add_parser("incident", help="major incidents: declare, list, clear")
    from hotline.incident_cli import add_arguments as incident_arguments

    incident_arguments(p, _config_arg)

    p = sub.add_parser("init-db", help="create or migrate the database")
    _config_arg(p)
    p.add_argument("--demo", action="store_true",
                   help="also load demo staff, posts, rota and a generated employee directory "
                        "(only into an empty database)")

    from hotline.backup_cli import add_backup_arguments, add_restore_arguments

    p = sub.add_parser("backup", help="copy the database to a new file, consistent while the server runs")
    add_backup_arguments(p, _config_arg)
    p = sub.add_parser("restore", help="replace the (stopped) server's database by a checked backup")
    add_restore_arguments(p, _config_arg)

    p = sub.add_parser("import-directory", help="import the employee directory from CSV")
    _config_arg(p)
    p.add_argument("file", type=Path, nargs="?", help="CSV file (UTF-8 or GBK/GB18030)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "call" and args.log_level == "INFO":
        args.log_level = "WARNING"  # the command prints its own steps
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = args.path if args.command == "check-config" else args.config
    try:
        config = load_config(path)
        problems = _check_calendar(config)
    except ConfigError as exc:
        print(f"{path}: configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    for warning in problems:
        log.warning("%s", warning)
    if args.command == "check-config":
        flow_problems = asyncio.run(_flow_problems(config))
        if flow_problems:
            _print_flow_problems(config.ivr.flows_dir, flow_problems)
            return 2
        print(f"{path}: OK")
        return 0
    if args.command == "check-flows":
        folder = args.folder or config.ivr.flows_dir
        flow_problems = asyncio.run(_flow_problems(config, folder))
        if flow_problems:
            _print_flow_problems(folder, flow_problems)
            return 2
        print(f"{folder}: OK")
        return 0
    if args.command == "prompts":
        return asyncio.run(_build_prompts(config, force=args.force))
    if args.command == "calls":
        return asyncio.run(_list_calls(config, args.limit))
    if args.command == "add-user":
        return _add_user(config, args)
    if args.command in ("add-token", "revoke-token"):
        from hotline.api.token_cli import run_add, run_revoke

        return asyncio.run((run_add if args.command == "add-token" else run_revoke)(config, args))
    if args.command == "call":
        from hotline.calls.testcall import run

        return run(config, args)
    if args.command == "incident":
        from hotline.incident_cli import run as incident

        return asyncio.run(incident(config, args))
    if args.command == "init-db":
        return asyncio.run(_init_db(config, demo=args.demo))
    if args.command == "import-directory":
        return asyncio.run(_import_directory(config, args.file))
    if args.command in ("backup", "restore"):
        from hotline.backup_cli import run_backup, run_restore

        return (run_backup if args.command == "backup" else run_restore)(config, args)
    if args.command == "serve":
        return _serve(config, args.clock, args.loop or default_loop())
    return 1  # pragma: no cover - argparse guarantees a command


def _check_calendar(config: Config) -> list[str]:
    """Load the calendar folder (errors are configuration errors); return warnings."""
    from hotline.services import build_calendar, build_rota

    build_rota(config)
    calendar = build_calendar(config)
    return calendar.startup_warnings()


async def _init_db(config: Config, *, demo: bool) -> int:
    from hotline.store import Store

    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        version = await store.db.schema_version()
        print(f"{config.database.path}: schema version {version}")
        if demo:
            from hotline.seed import load_demo

            loaded = await load_demo(store, config)
            print(loaded)
    return 0


async def _import_directory(config: Config, file: Path | None) -> int:
    from hotline.seed import import_directory_file
    from hotline.store import Store

    file = file or config.directory.csv
    if file is None:
        print("import-directory: name a CSV file (or set directory.csv in the configuration)",
              file=sys.stderr)
        return 2
    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        report = await import_directory_file(store, config, file)
    for line in report.rejected_lines():
        print(line, file=sys.stderr)
    print(report.summary())
    return 0 if report.imported or not report.rejected else 1


async def _flow_problems(config: Config, folder: Path | None = None) -> list[str]:
    """The flows' problems, checked against the database when it exists (categories, posts)."""
    from hotline.calls.registry import check_flow_folder
    from hotline.store import Store

    if not config.database.path.exists():
        return [str(p) for p in await check_flow_folder(config, folder)]
    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        return [str(p) for p in await check_flow_folder(config, folder, store=store)]


def _print_flow_problems(folder: Path, problems: list[str]) -> None:
    print(f"{folder}: the IVR flows have {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _add_user(config: Config, args: argparse.Namespace) -> int:
    import getpass

    from hotline.console.passwords import PasswordError, check_strength

    desk_phone: str | None = None
    if args.desk_phone:
        from hotline.calls.callback_plan import check_desk_phone

        try:
            desk_phone = check_desk_phone(args.desk_phone)
        except ValueError as exc:
            print(f"add-user: --desk-phone: {exc}", file=sys.stderr)
            return 2

    if args.password_file is not None:
        try:
            password = args.password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            print(f"{args.password_file}: cannot read a password ({exc})", file=sys.stderr)
            return 2
    else:
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2
    try:
        check_strength(password, user=args.user)
    except PasswordError as exc:
        print(f"add-user: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_store_user(config, args.user, password, args.role, args.name,
                                   desk_phone=desk_phone, set_desk_phone=args.desk_phone is not None))


async def _store_user(config: Config, user: str, password: str, roles: list[str] | None,
                      name: str | None, *, desk_phone: str | None = None,
                      set_desk_phone: bool = False) -> int:
    """``set_desk_phone``: replace the account's desk phone with ``desk_phone`` (None removes it)."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from hotline.console.passwords import hash_password
    from hotline.store import Store
    from hotline.store.accounts import AuditEntry
    from hotline.store.records import Person

    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        person = await store.people.get(user)
        if person is None:
            if not name:
                print(f"add-user: {user!r} is not on the staff list; give --name to add them",
                      file=sys.stderr)
                return 2
            person = Person(user, name, roles=tuple(roles or ()))
        elif roles:
            person = replace(person, roles=tuple(dict.fromkeys(roles)))
        if name:
            person = replace(person, name=name)
        await store.people.upsert_people([person])
        now = datetime.now(UTC)
        hashed = await asyncio.to_thread(hash_password, password)
        created = await store.accounts.set_password(user, hashed, now)
        if not created:
            await store.accounts.close_sessions_of(user)  # a new password ends every session
        if set_desk_phone:
            await store.accounts.set_desk_phone(user, desk_phone)
        detail = f"{user} roles={','.join(person.roles)}"
        if set_desk_phone:
            detail += f" desk_phone={desk_phone or ''}"
        await store.accounts.audit(AuditEntry(now, "cli", "add_user" if created else "password", detail))
    print(f"{user}: {'account created' if created else 'password changed'}; roles "
          f"{', '.join(person.roles) or '(none)'}")
    return 0


async def _list_calls(config: Config, limit: int) -> int:
    from hotline.store import Store

    if not config.database.path.exists():
        print(f"{config.database.path}: no database yet (hotline init-db)", file=sys.stderr)
        return 1
    tz = config.site.timezone
    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        calls = await store.calls.recent(max(1, limit))
        for call in reversed(calls):
            issue = await store.issues.for_call(call.id)
            when = call.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
            who = call.caller_key or "withheld"
            if issue is not None and issue.caller_name:
                who += f" ({issue.caller_name})"
            keys = " ".join(f"{m.get('digit') or '-'}→{m.get('choice')}" for m in call.menu)
            print(f"#{call.id} {when} {who}: {call.disposition or 'in progress'}"
                  + (f", route {call.route}" if call.route else "")
                  + (f", answered by {call.answered_by}" if call.answered_by else "")
                  + (f", keys {keys}" if keys else "")
                  + (f", voicemail {call.voicemail}" if call.voicemail else ""))
            for attempt in call.attempts:
                print(f"    {attempt.get('route')}: {attempt.get('person') or attempt.get('target')}"
                      f" {attempt.get('outcome')}" + (f" ({attempt['note']})" if attempt.get("note") else ""))
            if issue is not None:
                print(f"    issue {issue.number}: {issue.status}, category {issue.category or '-'}"
                      + (", call back" if issue.call_back else ""))
    return 0


async def _build_prompts(config: Config, *, force: bool) -> int:
    from hotline.calls.flowcheck import FlowEnvironment, FlowError, load_flows
    from hotline.calls.prompt_build import build_prompts
    from hotline.store import Store

    try:
        # Prompts are what we are about to make: only the flows' structure is checked here.
        flows = load_flows(config.ivr.flows_dir, FlowEnvironment(targets=tuple(config.routing.targets)))
    except FlowError as exc:
        _print_flow_problems(config.ivr.flows_dir, [str(p) for p in exc.problems])
        return 2
    texts: dict[str, dict[str, str]] = {}
    for flow in flows.flows.values():
        for prompt_id, by_lang in flow.prompt_texts.items():
            texts.setdefault(prompt_id, {}).update(by_lang)
    categories = []
    if config.database.path.exists():
        async with Store(config.database.path, synchronous=config.database.synchronous) as store:
            categories = [(c.id, c.name, c.name_en, c.dtmf) for c in await store.people.categories()]
    report = await build_prompts(config.media.prompts_dir, texts, categories, force=force)
    for name, why in report.failed:
        print(f"{config.media.prompts_dir / 'generated' / name}: {why}", file=sys.stderr)
    print(f"{config.media.prompts_dir}: {report.summary()}")
    return 0 if report.ok else 1


def _serve(config: Config, clock_text: str | None, loop_kind: str) -> int:
    from aiohttp import web

    from hotline.allocator import return_large_blocks
    from hotline.app import init_app
    from hotline.clock import ClockError, WallClock, parse_clock_start

    try:
        clock = WallClock.starting_at(parse_clock_start(clock_text) if clock_text else None)
    except ClockError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if clock.shifted:
        log.warning("%s", clock.warning())
    if not return_large_blocks():
        log.info("not glibc: the allocator's mmap threshold is left as it is")
    problems = asyncio.run(_flow_problems(config))
    if problems:
        _print_flow_problems(config.ivr.flows_dir, problems)
        print("the server does not start with invalid IVR flows (hotline check-flows lists them)",
              file=sys.stderr)
        return 2
    from hotline.accesslog import access_log_options

    try:
        loop = new_event_loop(loop_kind)
    except LoopError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    log.info("event loop: %s", loop_name(loop))
    app = init_app(config, tune_gc=True, clock=clock)
    log.info("console on http://%s:%d/", config.web.bind, config.web.port)
    web.run_app(app, host=config.web.bind, port=config.web.port, print=None,
                handle_signals=True, loop=loop, **access_log_options(config.web))
    return 0
