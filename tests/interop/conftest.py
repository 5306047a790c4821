"""Fixtures for the interop tests: real sipp, kamailio, baresip and pyVoIP on 127.0.0.1.

Everything in tests/interop is marked ``interop``.  A fixture whose program is
missing skips its test with the reason -- unless the environment variable
``CI`` is set: in CI a missing peer is an error, never a silent skip.

Fixtures (details in tests/interop/peers.py and tests/interop/README.md):

* ``free_ports`` -- the session's :class:`PortAllocator` (``.one()``, ``.take(n)``, ``.block(n)``).
* ``sipp`` -- a :class:`Sipp` runner writing under ``tmp_path``; ``sipp.start(...)``
  returns a :class:`SippRun`; every run is stopped at teardown.
* ``kamailio`` -- a started :class:`Kamailio` (``open_port``, ``auth_port``, ``users``).
* ``baresip_callee`` -- a started auto-answering :class:`Baresip` (user ``oncall``, not registered).
* ``baresip_caller`` -- a started :class:`Baresip` that does not auto-answer (user ``+4930111000099``),
  for dialling out with ``.dial(uri)`` / ``.send_dtmf()`` / ``.hangup()``.
* ``pyvoip_phone`` -- a started :class:`PyVoipPhone` registered at ``kamailio``'s open port,
  answering every call and recording what it got.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gate import require
from tests.interop.peers import (
    Baresip,
    Kamailio,
    PortAllocator,
    Sipp,
    start_baresip,
    start_kamailio,
)
from tests.interop.pyvoip_phone import PyVoipPhone
from tests.ports import PORTS

INTEROP_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEROP_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.interop)


def need(binary: str) -> None:
    """Skip (outside CI) or fail (in CI) when ``binary`` is not installed."""
    require(bool(shutil.which(binary) or os.access(f"/usr/sbin/{binary}", os.X_OK)),
            f"{binary} is not installed (scripts/install-test-deps.sh installs the interop peers)")


@pytest.fixture(scope="session")
def free_ports() -> PortAllocator:
    return PORTS


@pytest.fixture
def sipp(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Sipp]:
    need("sipp")
    runner = Sipp(tmp_path / "sipp", free_ports)
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture
def kamailio(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Kamailio]:
    need("kamailio")
    kam = start_kamailio(tmp_path / "kamailio", free_ports)
    try:
        yield kam
    finally:
        kam.stop()


@pytest.fixture
def baresip_callee(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Baresip]:
    need("baresip")
    ua = start_baresip(tmp_path / "baresip-callee", free_ports, user="oncall", display="On Call")
    try:
        yield ua
    finally:
        ua.stop()


@pytest.fixture
def baresip_caller(tmp_path: Path, free_ports: PortAllocator) -> Iterator[Baresip]:
    need("baresip")
    ua = start_baresip(
        tmp_path / "baresip-caller", free_ports, user="+4930111000099", display="Zoe Employee", auto_answer=False
    )
    try:
        yield ua
    finally:
        ua.stop()


@pytest.fixture
def pyvoip_phone(kamailio: Kamailio, free_ports: PortAllocator) -> Iterator[PyVoipPhone]:
    require(importlib.util.find_spec("pyVoIP") is not None,
            "pyVoIP is not installed (pip install -e '.[test]')")
    phone = PyVoipPhone.start(kamailio.open_port, free_ports, username="pyvoip")
    try:
        yield phone
    finally:
        phone.stop()
