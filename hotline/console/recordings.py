"""Voicemail and call recordings served to the console, behind signed, expiring links.

A recording is personal data. The console (which authenticates its users) hands out links made
by :func:`signed_recording_url`; the route serves a call's recording only for a link whose HMAC
(keyed with ``[web] secret``) matches the call id and an expiry still in the future. The file
served is the one the call record names, and only if it lies inside ``[media] recordings_dir``:
nothing in the URL is ever used as a path.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

__all__ = ["LINK_LIFETIME", "recording_handler", "sign", "signed_recording_url"]

LINK_LIFETIME = 15 * 60
"""Seconds a link stays valid: long enough to listen, short enough not to circulate."""


def sign(secret: str, call_id: int, expires: int) -> str:
    message = f"recording:{call_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_recording_url(secret: str, call_id: int, *, now: float | None = None,
                         lifetime: int = LINK_LIFETIME) -> str:
    """The path (with query) under which call ``call_id``'s recording can be fetched."""
    expires = int((time.time() if now is None else now) + lifetime)
    return f"/recordings/{call_id}.wav?expires={expires}&sig={sign(secret, call_id, expires)}"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def recording_handler(
    secret: str, recordings_dir: Path, lookup: Callable[[int], Awaitable[str | None]]
) -> Handler:
    """The route handler; ``lookup(call_id)`` returns the stored recording path or None."""
    root = recordings_dir.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            call_id = int(request.match_info["call_id"])
            expires = int(request.query["expires"])
            signature = request.query["sig"]
        except (KeyError, ValueError):
            raise web.HTTPForbidden(text="missing or malformed link") from None
        if not hmac.compare_digest(signature, sign(secret, call_id, expires)):
            raise web.HTTPForbidden(text="this link is not valid")
        if expires < time.time():
            raise web.HTTPForbidden(text="this link has expired; open the call again in the console")
        stored = await lookup(call_id)
        if not stored:
            raise web.HTTPNotFound(text="this call has no recording")
        path = Path(stored).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound(text="the recording file is missing")
        return web.FileResponse(path, headers={
            "Content-Type": "audio/wav",
            "Content-Disposition": f'inline; filename="call-{call_id}.wav"',
            "Cache-Control": "private, no-store",
        })

    return handle
