"""Recordings are served only behind a signed, unexpired link, and only from the recordings folder."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import aiohttp
from aiohttp import web

from hotline.app import STORE, init_app
from hotline.config import load_config
from hotline.console.recordings import sign, signed_recording_url
from hotline.store.records import NewCall
from tests.system.test_serve import free_port, make_config


def write_wav(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x02" * 800)
    return path.read_bytes()


async def test_signed_links(tmp_path: Path) -> None:
    web_port = free_port()
    config = load_config(make_config(tmp_path, web_port, free_port()))
    app = init_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", web_port)
    await site.start()
    try:
        store = app[STORE]
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        with_rec, _ = await store.issues.create_for_call(NewCall("a", now), employee_id=None,
                                                         caller_name=None, local_year=2026, status="new")
        without, _ = await store.issues.create_for_call(NewCall("b", now), employee_id=None,
                                                        caller_name=None, local_year=2026, status="new")
        outside, _ = await store.issues.create_for_call(NewCall("c", now), employee_id=None,
                                                        caller_name=None, local_year=2026, status="new")
        audio = write_wav(config.media.recordings_dir / "voicemail-a.wav")
        write_wav(tmp_path / "elsewhere.wav")
        await store.calls.update(with_rec.id, recording=str(config.media.recordings_dir / "voicemail-a.wav"))
        await store.calls.update(outside.id, recording=str(tmp_path / "elsewhere.wav"))
        secret = config.web.secret
        base = f"http://127.0.0.1:{web_port}"
        async with aiohttp.ClientSession() as http:
            async def get(path: str) -> tuple[int, bytes, str]:
                async with http.get(base + path) as r:
                    return r.status, await r.read(), r.headers.get("Content-Type", "")

            status, body, kind = await get(signed_recording_url(secret, with_rec.id))
            assert (status, body, kind) == (200, audio, "audio/wav")
            # Another call's signature, a forged one, an expired one, none at all: refused.
            other = signed_recording_url(secret, without.id).split("?")[1]
            assert (await get(f"/recordings/{with_rec.id}.wav?{other}"))[0] == 403
            assert (await get(signed_recording_url("x" * 40, with_rec.id)))[0] == 403
            expired = int(time.time()) - 1
            assert (await get(f"/recordings/{with_rec.id}.wav?expires={expired}"
                              f"&sig={sign(secret, with_rec.id, expired)}"))[0] == 403
            assert (await get(f"/recordings/{with_rec.id}.wav"))[0] == 403
            # A call without a recording, and a stored path outside the recordings folder.
            assert (await get(signed_recording_url(secret, without.id)))[0] == 404
            assert (await get(signed_recording_url(secret, outside.id)))[0] == 404
            assert (await get("/recordings/..%2F..%2Fetc%2Fpasswd.wav?expires=1&sig=x"))[0] == 404
    finally:
        await runner.cleanup()
