"""Console accounts and security against the running ``hotline serve``: login, sessions, CSRF, roles.

A real server process, real HTTP from aiohttp's client, accounts made with ``hotline add-user``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.interop.peers import PortAllocator
from tests.interop.serve_helpers import HotlineServer

PASSWORD = "operator-pass-123"
MANAGER_PASSWORD = "manager-pass-456"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotlineServer]:
    tmp = tmp_path_factory.mktemp("console")
    s = HotlineServer(tmp / "hotline", PortAllocator())
    s.init_db()
    for user, password, role in (("chenjing", PASSWORD, "operator"), ("wangjun", MANAGER_PASSWORD, "manager")):
        (tmp / f"{user}.pw").write_text(password + "\n", encoding="utf-8")
        result = s.hotline("add-user", "--config", str(s.config_path), user, "--role", role,
                           "--password-file", str(tmp / f"{user}.pw"))
        assert result.returncode == 0, result.stderr
        assert f"{user}: account created; roles {role}" in result.stdout
    s.start()
    try:
        yield s
    finally:
        assert s.stop() == 0, s.log()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def base(server: HotlineServer) -> str:
    return f"http://127.0.0.1:{server.web_port}"


async def login(client: aiohttp.ClientSession, server: HotlineServer, user: str, password: str,
                **extra: str) -> aiohttp.ClientResponse:
    async with client.get(base(server) + "/login") as r:
        page = await r.text()
    token = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert token is not None
    return await client.post(base(server) + "/login", allow_redirects=False,
                             data={"_csrf": token.group(1), "user": user, "password": password, **extra})


def csrf_of(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_add_user_refuses_weak_passwords_and_never_takes_them_on_the_command_line(
        server: HotlineServer, tmp_path: Path) -> None:
    (tmp_path / "weak").write_text("short\n")
    result = server.hotline("add-user", "--config", str(server.config_path), "sunli", "--password-file",
                            str(tmp_path / "weak"))
    assert result.returncode == 2 and "at least 10 characters" in result.stderr
    result = server.hotline("add-user", "--config", str(server.config_path), "sunli", "--password", "x")
    assert result.returncode == 2  # argparse: there is no such option


async def test_login_sets_a_fresh_strict_http_only_session(server: HotlineServer,
                                                          client: aiohttp.ClientSession) -> None:
    # A session cookie planted before the login (fixation) must not survive it.
    client.cookie_jar.update_cookies({"hotline_session": "planted.deadbeef"})
    response = await login(client, server, "chenjing", PASSWORD)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("hotline_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "planted" not in cookie
    async with client.get(base(server) + "/") as r:
        page = await r.text()
        assert r.status == 200
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
    assert '<span id="user-name">陈静</span>' in page and "待录入工单" in page
    rows = server.query("SELECT action, actor FROM console_audit WHERE actor = 'chenjing'")
    assert {"action": "login", "actor": "chenjing"} in rows


async def test_state_changes_need_the_csrf_token(server: HotlineServer, client: aiohttp.ClientSession) -> None:
    assert (await login(client, server, "chenjing", PASSWORD)).status == 303
    async with client.get(base(server) + "/") as r:
        token = csrf_of(await r.text())
    for data in ({"language": "en"}, {"language": "en", "_csrf": "forged"}):
        async with client.post(base(server) + "/language", data=data, allow_redirects=False) as r:
            assert r.status == 403
    async with client.post(base(server) + "/language", data={"language": "en", "_csrf": token},
                           allow_redirects=False) as r:
        assert r.status == 303
    async with client.get(base(server) + "/") as r:
        page = await r.text()
    assert "Records to complete" in page and "<html lang=\"en\">" in page
    async with client.post(base(server) + "/language", data={"language": "zh", "_csrf": token},
                           allow_redirects=False) as r:
        assert r.status == 303
    # The login form itself: no double-submit token, no login.
    async with client.post(base(server) + "/login", data={"user": "chenjing", "password": PASSWORD},
                           allow_redirects=False) as r:
        assert r.status == 403


async def test_roles_are_checked_by_the_server(server: HotlineServer, client: aiohttp.ClientSession) -> None:
    async with client.get(base(server) + "/audit", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/login?next=/audit"
    assert (await login(client, server, "chenjing", PASSWORD)).status == 303
    async with client.get(base(server) + "/audit") as r:
        assert r.status == 403  # an operator, whatever the menu shows
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as manager:
        assert (await login(manager, server, "wangjun", MANAGER_PASSWORD)).status == 303
        async with manager.get(base(server) + "/audit") as r:
            assert r.status == 200 and 'id="audit"' in await r.text()


async def test_logout_ends_the_session_on_the_server(server: HotlineServer) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        assert (await login(client, server, "chenjing", PASSWORD)).status == 303
        stolen = {c.key: c.value for c in client.cookie_jar}["hotline_session"]
        async with client.get(base(server) + "/") as r:
            token = csrf_of(await r.text())
        async with client.post(base(server) + "/logout", data={"_csrf": token}, allow_redirects=False) as r:
            assert r.status == 303
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as thief:
        thief.cookie_jar.update_cookies({"hotline_session": stolen})
        async with thief.get(base(server) + "/audit", allow_redirects=False) as r:
            assert r.status == 302  # the copied cookie names a session that no longer exists


async def test_password_guessing_is_slowed_and_audited(server: HotlineServer) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        statuses = [(await login(client, server, "zhouting", f"guess-{i:04d}xx")).status for i in range(7)]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429], statuses
        async with client.get(base(server) + "/login") as r:
            token = csrf_of(await r.text())
        async with client.post(base(server) + "/login", data={"_csrf": token, "user": "zhouting",
                                                              "password": "x"}) as r:
            assert r.status == 429 and "秒后再试" in (await r.text())
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as db:
        actions = [a for (a,) in db.execute("SELECT action FROM console_audit WHERE actor = 'zhouting'")]
    assert actions.count("login_failed") == 5 and actions.count("login_refused") >= 2


def test_open_redirects_are_refused(server: HotlineServer) -> None:
    from hotline.console.views.auth import _safe_next

    for target in ("//evil.example/", "https://evil.example/", "/\\evil", "", None):
        assert _safe_next(target) == "/"
    assert _safe_next("/issues?page=2") == "/issues?page=2"


def _resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_password_checks_leave_no_memory_behind(tmp_path: Path) -> None:
    # scrypt takes 16 MiB per check; glibc's dynamic mmap threshold would keep it resident in
    # the heap of each worker thread that ever checked one (hotline.allocator).
    s = HotlineServer(tmp_path / "hotline", PortAllocator())
    s.init_db()
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    assert s.hotline("add-user", "--config", str(s.config_path), "chenjing", "--role", "operator",
                     "--password-file", str(tmp_path / "pw")).returncode == 0
    s.start()
    try:
        assert s.process is not None
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            async with client.get(base(s) + "/login") as r:  # the login page rendered once
                assert r.status == 200
            before = _resident_mib(s.process.pid)
            for user, password in (("chenjing", PASSWORD), ("nobody", "wrong-password-1"),
                                   ("chenjing", "wrong-password-2"), ("chenjing", PASSWORD)):
                async with await login(client, s, user, password) as r:
                    assert r.status in (303, 401)
            after = _resident_mib(s.process.pid)
        assert after - before < 8, f"{before:.1f} MiB -> {after:.1f} MiB after four password checks"
    finally:
        assert s.stop() == 0, s.log()
