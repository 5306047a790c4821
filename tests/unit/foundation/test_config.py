"""Configuration loading: the example loads; every mistake is reported with file:line: key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline.config import ConfigError, load_config
from tests.conftest import EXAMPLE_CONFIG, ROOT


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE_CONFIG)
    assert config.site.timezone.key == "Asia/Shanghai"
    assert config.sip.mode == "trunk"
    assert [(a.transport, a.port) for a in config.sip.listen] == [("udp", 5060), ("tcp", 5060)]
    assert config.calendar.weekly_hours[5] == ()
    assert config.rotas[0].members[0] == "xuming"
    assert config.database.path == (ROOT / "var" / "hotline.sqlite3").resolve()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """\
[site]
name = "IT"

[sip]
allowed_peers = ["10.0.0.0/8"]

[web]
secret = "0123456789abcdef0123456789abcdef"
"""


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.site.region == "CN"
    assert config.media.codecs == ("PCMU", "PCMA")
    assert config.calendar.weekly_hours[0][1][0].hour == 13


def test_bad_port_names_file_line_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[media]\nrtp_port_min = "50600a"\n')
    assert errors_of(path) == [
        f'{path}:11: media.rtp_port_min: expected an integer 1024–65534, got "50600a"'
    ]


def test_several_errors_reported_together(tmp_path: Path) -> None:
    text = """\
[site]
name = "IT"
timezone = "Asia/Shanghia"

[sip]
mode = "trunk"
listen = ["udp:0.0.0.0:5060", "sctp:1.2.3.4:5060"]
ring_secs = 2

[web]
port = 80800
secret = "short"

[[rota]]
name = "it-oncall"
members = []
handover = "25:00"
anchor = 2026-01-05
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f'{path}:3: site.timezone: expected an IANA time zone like Asia/Shanghai, got "Asia/Shanghia"',
        f'{path}:7: sip.listen: expected entries like "udp:0.0.0.0:5060" or "tcp:[::1]:5060", got "sctp:1.2.3.4:5060"',
        f"{path}:5: sip.allowed_peers: trunk mode needs at least one allowed peer address or network",
        f"{path}:8: sip.ring_secs: unknown key",
        f"{path}:11: web.port: expected an integer 1–65535, got 80800",
        f"{path}:12: web.secret: must be at least 32 characters, got 5",
        f"{path}:16: rota[0].members: expected at least one entry, got an array",
        f'{path}:17: rota[0].handover: expected a time of day like "08:30", got "25:00"',
    ]


def test_register_mode_requires_registrar(tmp_path: Path) -> None:
    text = MINIMAL.replace("[sip]\n", '[sip]\nmode = "register"\n') + "\n[sip.register]\nusername = \"8000\"\n"
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:11: sip.register.registrar: is required",
        f"{path}:11: sip.register.password: is required",
    ]


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[media\n")
    (message,) = errors_of(path)
    assert message.startswith(f"{path}:10: -: not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope.toml") == [f"{tmp_path / 'nope.toml'}: -: file not found"]


def test_working_hours_validation(tmp_path: Path) -> None:
    text = MINIMAL + '\n[calendar.hours]\nmonday = ["12:00-08:00", "08:00-12:00"]\ntuesday = ["08:00-12:00", "11:00-13:00"]\n'
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f'{path}:11: calendar.hours.monday: expected spans like "08:00-12:00" with start before end, got "12:00-08:00"',
        f"{path}:12: calendar.hours.tuesday: working-hour spans overlap",
    ]


def test_check_config_command_exit_codes(tmp_path: Path) -> None:
    good = subprocess.run([sys.executable, "-m", "hotline", "check-config", str(EXAMPLE_CONFIG)],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout
    bad_path = write(tmp_path, MINIMAL + "\n[web]\n")
    bad = subprocess.run([sys.executable, "-m", "hotline", "check-config", str(bad_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert f"{bad_path}:10: -: not valid TOML" in bad.stderr


def test_desk_section(tmp_path: Path) -> None:
    text = MINIMAL + """
[desk.sla.P2]
response_minutes = 30
resolution_minutes = 960
resolution_clock = "business"

[[desk.channel]]
name = "wecom"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
template = "wecom.json.j2"
events = ["dispatched"]
"""
    desk = load_config(write(tmp_path, text)).desk
    assert desk.sla["P2"].response.minutes == 30 and not desk.sla["P2"].response.business
    assert desk.sla["P2"].resolution.business
    assert desk.sla["P3"].resolution.minutes == 3 * 480  # untouched default
    assert desk.channels[0].template == "wecom.json.j2"


def test_desk_section_errors(tmp_path: Path) -> None:
    text = MINIMAL + """
[desk.sla.P1]
response_minutes = 300
resolution_minutes = 60
response_clock = "always"

[[desk.channel]]
name = "sms"
kind = "webhook"
url = "ftp://gateway"
template = "pager.json.j2"
events = ["dispatched", "lunch"]
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f'{path}:13: desk.sla.P1.response_clock: expected one of "business", "24x7", got "always"',
        f"{path}:12: desk.sla.P1.resolution_minutes: the resolution target is shorter than the response target",
        f'{path}:20: desk.channel[0].events: expected events among dispatched, at_risk, breached, escalated, reopened, poor_callback, stale_digest, unassigned, voicemail, missed_call, got "lunch"',
        f'{path}:18: desk.channel[0].url: expected a string matching https?://\\S+, got "ftp://gateway"',
        f'{path}:19: desk.channel[0].template: expected one of dingtalk.json.j2, feishu.json.j2, generic_sms.json.j2, wecom.json.j2, got "pager.json.j2"',
    ]


def test_urgent_priorities(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[desk]\nurgent_priorities = ["P1", "P9"]\n')
    assert errors_of(path) == [f'{path}:11: desk.urgent_priorities: expected priorities among P1, P2, P3, P4, got "P9"']
    assert load_config(EXAMPLE_CONFIG).desk.urgent_priorities == ("P1", "P2")


def test_allowed_peers_with_ports(tmp_path: Path) -> None:
    text = MINIMAL.replace('allowed_peers = ["10.0.0.0/8"]',
                           'allowed_peers = ["10.0.0.0/8", "192.0.2.10:5060", "[::1]:5082", "pbx.local"]')
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f'{path}:5: sip.allowed_peers: expected addresses, networks or address:port entries like 192.0.2.10, 10.1.0.0/16 or [::1]:5082, got "pbx.local"'
    ]
    config = load_config(write(tmp_path, text.replace(', "pbx.local"', "")))
    assert config.sip.allowed_peers == ("10.0.0.0/8", "192.0.2.10:5060", "[::1]:5082")
