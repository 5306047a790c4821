"""The ``hotline`` command: builds the configuration and hands it to the app or a task.

Exit codes: 0 success, 1 the task failed, 2 the configuration or the input is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from hotline import __version__
from hotline.config import Config, ConfigError, load_config

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

    p = sub.add_parser("check-config", help="validate a configuration file and its calendar")
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG)

    p = sub.add_parser("init-db", help="create or migrate the database")
    _config_arg(p)
    p.add_argument("--demo", action="store_true",
                   help="also load demo staff, posts, rota and a generated employee directory "
                        "(only into an empty database)")

    p = sub.add_parser("import-directory", help="import the employee directory from CSV")
    _config_arg(p)
    p.add_argument("file", type=Path, nargs="?", help="CSV file (UTF-8 or GBK/GB18030)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        print(f"{path}: OK")
        return 0
    if args.command == "init-db":
        return asyncio.run(_init_db(config, demo=args.demo))
    if args.command == "import-directory":
        return asyncio.run(_import_directory(config, args.file))
    if args.command == "serve":
        return _serve(config)
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


def _serve(config: Config) -> int:
    from aiohttp import web

    from hotline.app import init_app

    app = init_app(config, tune_gc=True)
    log.info("console on http://%s:%d/", config.web.bind, config.web.port)
    web.run_app(app, host=config.web.bind, port=config.web.port, print=None,
                handle_signals=True)
    return 0
