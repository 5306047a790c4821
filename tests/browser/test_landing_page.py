"""The landing page as a browser renders it: real headless Chromium against `hotline serve`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.gate import require
from tests.system.test_serve import free_port, hotline, make_config

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_dump_dom(url: str, profile: Path) -> str:
    require(CHROMIUM is not None, "chromium is not installed (make test installs it)")
    # The flags keep Chromium off the network: this machine has none but loopback.
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_landing_page_in_chromium(tmp_path: Path) -> None:
    web_port = free_port()
    config = make_config(tmp_path, web_port, free_port())
    assert hotline("init-db", "--config", str(config), "--demo").returncode == 0
    server = subprocess.Popen([sys.executable, "-m", "hotline", "serve", "--config", str(config)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("server did not come up")
                time.sleep(0.2)
        dom = chromium_dump_dom(f"http://127.0.0.1:{web_port}/", tmp_path / "profile")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert '<dd id="employees">3000</dd>' in dom
    assert "<title>示例石化 信息中心 IT 服务热线 · hotline</title>" in dom
