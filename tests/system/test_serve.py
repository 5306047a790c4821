"""`hotline init-db --demo` and `hotline serve` as a user runs them: a real process on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.ports import PORTS


def free_port() -> int:
    return PORTS.one()


def replaced(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced once; fails when the example config no longer has it."""
    assert text.count(old) == 1, f"config/hotline.toml should hold {old!r} exactly once"
    return text.replace(old, new)


def make_config(tmp_path: Path, web_port: int, sip_port: int) -> Path:
    text = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    text = replaced(text, 'path = "../var/hotline.sqlite3"', f'path = "{tmp_path / "h.sqlite3"}"')
    text = replaced(text, "port = 8080", f"port = {web_port}")
    text, n = re.subn(r'listen = \[.*\]', f'listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]', text)
    assert n == 1, "config/hotline.toml should hold one sip listen line"
    text = replaced(text, 'folder = "calendar"', f'folder = "{ROOT / "config" / "calendar"}"')
    text = replaced(text, 'flows_dir = "../ivr_flows"', f'flows_dir = "{ROOT / "ivr_flows"}"')
    text = replaced(text, 'prompts_dir = "../hotline/media/prompts"', f'prompts_dir = "{ROOT / "hotline" / "media" / "prompts"}"')
    text = replaced(text, 'recordings_dir = "../var/recordings"', f'recordings_dir = "{tmp_path / "rec"}"')
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def hotline(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_init_db_demo_then_serve(tmp_path: Path) -> None:
    web_port, sip_port = free_port(), free_port()
    config = make_config(tmp_path, web_port, sip_port)
    init = hotline("init-db", "--config", str(config), "--demo")
    assert init.returncode == 0, init.stderr
    assert "demo data: 19 staff, 20 posts, 3000 employees" in init.stdout
    again = hotline("init-db", "--config", str(config), "--demo")
    assert "already holds data" in again.stdout

    server = subprocess.Popen([sys.executable, "-m", "hotline", "serve", "--config", str(config)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not come up: {server.communicate(timeout=5)[0]}")
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=5) as r:
            page = r.read().decode()
        assert '<dd id="employees">3000</dd>' in page
        assert "示例石化" in page
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert server.returncode == 0, out


def test_serve_refuses_bad_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, free_port(), free_port())
    config.write_text(config.read_text(encoding="utf-8").replace("ptime = 20", "ptime = 25"),
                      encoding="utf-8")
    result = hotline("serve", "--config", str(config), timeout=30)
    assert result.returncode == 2
    assert "media.ptime: expected a multiple of 10 ms between 10 and 60, got 25" in result.stderr
    assert not (tmp_path / "h.sqlite3").exists()  # never half-started


def test_import_directory_reports_rows(tmp_path: Path) -> None:
    config = make_config(tmp_path, free_port(), free_port())
    csv = tmp_path / "dir.csv"
    csv.write_bytes("工号,姓名,部门,手机\nE1,张三,信息中心,13812345678\n,李四,财务部,13900000000\nE3,王五,储运部,12345\n".encode("gb18030"))
    result = hotline("import-directory", "--config", str(config), str(csv))
    assert result.returncode == 0, result.stderr
    assert f"{csv}:3: rejected:" in result.stderr  # no employee id
    assert f"{csv}:4: rejected:" in result.stderr  # 12345 is no mobile
    assert "(gb18030): 1 new, 0 updated" in result.stdout
    assert os.path.exists(tmp_path / "h.sqlite3")
