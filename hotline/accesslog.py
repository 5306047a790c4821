"""The HTTP access log: one line per request, without the secrets some URLs carry.

A line reads::

    2026-12-03T14:05:09.123+08:00 127.0.0.1 "GET /issues?status=new" 200 5123B 12.4ms user=zhangwei

(time with the offset of the host, peer address, method and path with the query, status,
body size, duration, the logged-in user or ``-``). Query values that are secrets — the
signature of a recording link, tokens, passwords — are written as ``***`` so a log handed to
someone else does not hand them the links. ``[web] access_log`` turns it off (``false``) or
writes it to a file of its own (a path; reopened when logrotate moves it) instead of the
server's log.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from yarl import URL

from hotline.config import WebConfig
from hotline.console.security import USER

__all__ = ["ACCESS_LOGGER", "SECRET_PARAMS", "AccessLogger", "access_log_options", "loggable_target"]

ACCESS_LOGGER = "hotline.access"

SECRET_PARAMS = frozenset({"sig", "signature", "token", "access_token", "key", "secret", "password",
                           "passwd", "code", "csrf", "_csrf", "session"})
"""Query parameters whose values never reach the log."""

def loggable_target(url: URL) -> str:
    """The path and query of a request's ``url`` with secret values replaced by ``***``."""
    path = quote(url.path, safe="/:@!$&'()*+,;=-._~%")
    query = url.query
    if not query:
        return path
    parts = []
    for name, value in query.items():
        shown = "***" if name.lower() in SECRET_PARAMS else value
        parts.append(f"{quote(name, safe='')}={quote(shown, safe='*')}")
    return f"{path}?{'&'.join(parts)}"


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook writing the line of the module doc."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        user = request.get(USER)
        user_id = getattr(user, "id", None) or "-"
        size = response.body_length
        self.logger.info('%s %s "%s %s" %d %dB %.1fms user=%s',
                         datetime.now().astimezone().isoformat(timespec="milliseconds"),
                         request.remote or "-", request.method, loggable_target(request.rel_url),
                         response.status, size, time * 1000.0, user_id)


def access_log_options(config: WebConfig) -> dict[str, Any]:
    """Keyword arguments for ``web.run_app``/``AppRunner`` that set up the access log."""
    if not config.access_log and config.access_log_file is None:
        return {"access_log": None}
    logger = logging.getLogger(ACCESS_LOGGER)
    handler: logging.Handler
    if config.access_log_file is not None:
        config.access_log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(config.access_log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    # The line carries its own time: the same line in a file of its own or beside the server's log.
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return {"access_log": logger, "access_log_class": AccessLogger}
