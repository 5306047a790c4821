"""Allow-lists, token buckets, scanner fingerprints and the gatekeeper, on a fake clock."""

from __future__ import annotations

import ipaddress

import pytest

from hotline.sip.protection import (
    GateAction,
    Gatekeeper,
    Mode,
    PeerAllowList,
    RateLimit,
    RateLimiter,
    TokenBucket,
    is_scanner,
    method_class,
)

# --------------------------------------------------------------------------- allow-list


def test_allow_list_ipv4_addresses_and_networks() -> None:
    peers = PeerAllowList(["192.0.2.7", "10.0.0.0/8", " 198.51.100.0/24 "])
    assert peers.allows("192.0.2.7")
    assert not peers.allows("192.0.2.8")
    assert peers.allows("10.255.1.2")
    assert not peers.allows("11.0.0.1")
    assert peers.allows("198.51.100.200")
    assert peers.allows(ipaddress.ip_address("10.0.0.1"))
    assert len(peers) == 3


def test_allow_list_ipv6_and_v4_mapped() -> None:
    peers = PeerAllowList(["2001:db8:10::/48", "::ffff:203.0.113.0/120", "192.0.2.7"])
    assert peers.allows("2001:db8:10:ffff::1")
    assert peers.allows("[2001:db8:10::5]")
    assert not peers.allows("2001:db8:11::1")
    # A dual-stack socket reports IPv4 peers as v4-mapped IPv6, both directions work.
    assert peers.allows("::ffff:192.0.2.7")
    assert peers.allows("203.0.113.99")
    assert peers.allows("::ffff:203.0.113.99")
    assert not peers.allows("::ffff:203.0.114.1")
    assert not peers.allows("::192.0.2.7")  # IPv4-compatible is not IPv4-mapped


def test_allow_list_rejects_garbage_entries_and_never_matches_garbage() -> None:
    with pytest.raises(ValueError, match=r"pbx\.example\.com"):
        PeerAllowList(["pbx.example.com"])
    peers = PeerAllowList.everyone()
    assert peers.allows("203.0.113.1") and peers.allows("2001:db8::1")
    assert not peers.allows("not-an-ip")
    assert not PeerAllowList().allows("127.0.0.1")
    assert "192.0.2.7" in PeerAllowList(["192.0.2.0/24"])


def test_allow_list_address_with_port() -> None:
    peers = PeerAllowList(["192.0.2.10:5060", "[::1]:5082", "[2001:db8::7]", "::1:5082"])
    assert peers.allows("192.0.2.10", 5060)
    assert not peers.allows("192.0.2.10", 5061)
    assert not peers.allows("192.0.2.11", 5060)
    assert peers.allows("::ffff:192.0.2.10", 5060)  # dual-stack socket
    assert peers.allows("::1", 5082) and peers.allows("[::1]", 5082)
    assert not peers.allows("::1", 5060)
    assert peers.allows("2001:db8::7", 4000)  # bracketed without port: any port
    assert peers.allows("::1:5082", 1)  # unbracketed: an IPv6 address, not address:port
    # Without a source port (TCP), an address:port entry matches on the address.
    assert peers.allows("192.0.2.10") and peers.allows("::1")
    assert not peers.allows("192.0.2.11")
    assert len(peers) == 4
    assert "192.0.2.10:5060" in repr(peers) and "[::1]:5082" in repr(peers)


@pytest.mark.parametrize("entry", ["192.0.2.10:0", "192.0.2.10:65536", "192.0.2.10:50x",
                                   "[::1", "[::1]5060", "[::1]:", "pbx.example.com:5060"])  # fmt: skip
def test_allow_list_rejects_bad_address_port_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        PeerAllowList([entry])


# --------------------------------------------------------------------------- token bucket


def test_bucket_burst_then_refill_math() -> None:
    bucket = TokenBucket.full(RateLimit(rate=2.0, burst=3), now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    # 0.25 s at 2 tokens/s = 0.5 token: not enough, and the refused request costs a token.
    bucket = TokenBucket.full(RateLimit(rate=2.0, burst=3), now=0.0)
    for _ in range(3):
        assert bucket.take(0.0)
    assert not bucket.take(0.25)  # 0 + 0.5 -> 0.5, refused -> floored at 0 (no debt allowed)
    assert bucket.tokens == 0.0
    assert bucket.take(0.75)  # + 1.0 token
    assert bucket.tokens == pytest.approx(0.0)
    # Long idle refills to burst, never beyond.
    bucket.refill(1000.0)
    assert bucket.tokens == 3.0
    assert bucket.wait_time() == 0.0


def test_bucket_debt_and_clock_going_back() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, tokens=0.0, updated=10.0, max_debt=3)
    assert [bucket.take(10.0) for _ in range(5)] == [False] * 5
    assert bucket.tokens == -3.0  # floored at max_debt
    assert bucket.wait_time() == pytest.approx(4.0)
    assert not bucket.take(5.0)  # clock went back: no tokens earned
    assert bucket.take(14.0)  # 4 s at 1/s pays back the debt and one token


# --------------------------------------------------------------------------- rate limiter


def test_limiter_per_source_and_method_class() -> None:
    limiter = RateLimiter({"INVITE": RateLimit(rate=1.0, burst=2)})
    now = 0.0
    assert limiter.check("192.0.2.1", "INVITE", now).allowed
    assert limiter.check("192.0.2.1", "INVITE", now).allowed
    third = limiter.check("192.0.2.1", "INVITE", now)
    assert (third.action, third.retry_after) == (GateAction.REJECT, 2)
    # Other classes and other sources have their own buckets.
    assert limiter.check("192.0.2.1", "OPTIONS", now).allowed
    assert limiter.check("192.0.2.2", "INVITE", now).allowed
    assert method_class("BYE") == method_class("invite") == "other"


def test_limiter_drops_a_source_that_keeps_going_then_forgives() -> None:
    limiter = RateLimiter({"REGISTER": RateLimit(rate=1.0, burst=5)}, drop_after=10)
    actions = [limiter.check("203.0.113.9", "REGISTER", 0.0).action for _ in range(30)]
    assert actions[:5] == [GateAction.ACCEPT] * 5
    assert actions[5:14] == [GateAction.REJECT] * 9
    assert set(actions[14:]) == {GateAction.DROP}
    # Debt is capped at 2 * drop_after = 20 tokens, paid back at 1 token/s.
    # Tokens: -20 at t=0; -20+9 = -11, refused -> -12 (still >= 10 in debt: dropped).
    assert limiter.check("203.0.113.9", "REGISTER", 9.0).action is GateAction.DROP
    # -12+10 = -2, refused -> -3: below the drop line again, so told when to come back.
    verdict = limiter.check("203.0.113.9", "REGISTER", 19.0)
    assert (verdict.action, verdict.retry_after) == (GateAction.REJECT, 4)
    assert limiter.check("203.0.113.9", "REGISTER", 19.0 + 4).allowed


def test_limiter_aggregates_ipv6_per_64_and_unmaps_v4() -> None:
    limiter = RateLimiter({"INVITE": RateLimit(rate=0.1, burst=1)})
    assert limiter.check("2001:db8:1:2::1", "INVITE", 0.0).allowed
    assert not limiter.check("2001:db8:1:2:ffff::9", "INVITE", 0.0).allowed
    assert limiter.check("2001:db8:1:3::1", "INVITE", 0.0).allowed
    assert limiter.check("192.0.2.5", "INVITE", 0.0).allowed
    assert not limiter.check("::ffff:192.0.2.5", "INVITE", 0.0).allowed


def test_limiter_memory_is_bounded_under_100k_sources() -> None:
    limiter = RateLimiter(max_entries=1000)
    for n in range(100_000):
        limiter.check(str(ipaddress.IPv4Address(0x0A000000 + n)), "INVITE", n * 0.001)
        assert len(limiter) <= 1000
    assert len(limiter) == 1000
    assert limiter.evictions == 99_000
    # The survivors are the most recent sources (LRU), so a live flooder is kept.
    assert limiter.check("10.1.134.159", "INVITE", 100.0).allowed  # 10.0.0.0 + 99999


def test_limiter_lru_keeps_an_active_source() -> None:
    limiter = RateLimiter({"INVITE": RateLimit(rate=0.01, burst=1)}, max_entries=3)
    assert limiter.check("192.0.2.1", "INVITE", 0.0).allowed
    for n in range(2, 30):
        limiter.check(f"192.0.2.{n}", "INVITE", 0.0)
        # The busy source touches its bucket each round, so it is never the LRU one.
        assert not limiter.check("192.0.2.1", "INVITE", 0.0).allowed


def test_limiter_sweep_forgets_only_full_buckets() -> None:
    limiter = RateLimiter({"OPTIONS": RateLimit(rate=1.0, burst=2)})
    limiter.check("192.0.2.1", "OPTIONS", 0.0)
    limiter.check("192.0.2.2", "OPTIONS", 9.0)
    assert limiter.sweep(9.5) == 1
    assert len(limiter) == 1


def test_limiter_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="SUBSCRIBE"):
        RateLimiter({"SUBSCRIBE": RateLimit(1.0, 1)})
    with pytest.raises(ValueError):
        RateLimit(rate=0.0, burst=1)


# --------------------------------------------------------------------------- scanners


@pytest.mark.parametrize(
    "user_agent",
    [
        "friendly-scanner",
        "sipvicious",
        "SIPVicious/0.3.4",
        "sipcli/v1.8",
        "sip-scan",
        "SIPScan",
        "VaxSIPUserAgent/3.1",
        "iWar",
        "sundayddr",
        "smap 0.6.0",
        "pplsip",
        "PortSIP VoIP SDK 11.2",
    ],
)
def test_known_scanner_user_agents(user_agent: str) -> None:
    assert is_scanner(user_agent)


@pytest.mark.parametrize(
    "user_agent",
    [
        None,
        "",
        "FPBX-16.0.40.9(18.24.2)",
        "Yealink SIP-T27G 69.86.0.15",
        "Cisco-CP7861/12.1.1",
        "baresip v3.11.0 (x86_64/linux)",
        "Grandstream GXP2170 1.0.11.3",
        "FRITZ!OS",
        "Bismap Softphone",  # "smap" inside a word is not smap
        "MicroSIP/3.21.3",
    ],
)
def test_real_equipment_is_not_a_scanner(user_agent: str | None) -> None:
    assert not is_scanner(user_agent)


def test_scanner_name_in_from_display_or_to_user() -> None:
    assert is_scanner("Asterisk PBX", from_display="sipvicious")
    assert is_scanner(None, to_user="friendly-scanner")
    assert not is_scanner(None, from_display="Service Desk", to_user="8000")


# --------------------------------------------------------------------------- gatekeeper

PBX = "192.0.2.50"
STRANGER = "203.0.113.66"


def trunk_gate() -> Gatekeeper:
    return Gatekeeper(
        Mode.TRUNK,
        PeerAllowList([PBX, "2001:db8:50::/64"]),
        RateLimiter({"INVITE": RateLimit(rate=1.0, burst=3)}, drop_after=4),
    )


def test_trunk_mode_peer_accepted_even_in_bursts_and_with_odd_ua() -> None:
    gate = trunk_gate()
    for _ in range(50):
        assert gate.inspect(PBX, "INVITE", "PortSIP VoIP SDK 11.2", 0.0).accepted
    assert gate.inspect("2001:db8:50::7", "OPTIONS", None, 0.0).accepted


def test_trunk_mode_unknown_peer_gets_403_then_503_then_silence() -> None:
    gate = trunk_gate()
    decisions = [gate.inspect(STRANGER, "INVITE", "Zoiper rv2.10", 0.0) for _ in range(10)]
    assert [(d.action, d.code) for d in decisions[:3]] == [(GateAction.REJECT, 403)] * 3
    assert decisions[0].reason == "Forbidden"
    assert [(d.code, d.retry_after) for d in decisions[3:6]] == [(503, 2), (503, 3), (503, 4)]
    assert {d.action for d in decisions[6:]} == {GateAction.DROP}


def test_trunk_mode_scanner_dropped_silently() -> None:
    gate = trunk_gate()
    decision = gate.inspect(STRANGER, "OPTIONS", "friendly-scanner", 0.0)
    assert (decision.action, decision.code, decision.why) == (GateAction.DROP, None, "scanner")


def test_ack_is_never_answered() -> None:
    gate = trunk_gate()
    assert gate.inspect(STRANGER, "ACK", None, 0.0).action is GateAction.DROP
    assert gate.inspect(PBX, "ACK", None, 0.0).accepted


def test_register_mode_only_registrar_may_call() -> None:
    gate = Gatekeeper(Mode.REGISTER, PeerAllowList(["198.51.100.10", "198.51.100.11"]))
    assert gate.inspect("198.51.100.10", "INVITE", "Asterisk PBX 20.5.0", 0.0).accepted
    assert gate.inspect("198.51.100.11", "BYE", None, 0.0).accepted
    ghost = gate.inspect("203.0.113.5", "INVITE", "Asterisk PBX 20.5.0", 0.0)
    assert (ghost.action, ghost.code, ghost.why) == (GateAction.REJECT, 403, "not-registrar")


def test_register_mode_registrar_port_tells_it_from_its_neighbours() -> None:
    # On loopback (or a PBX host running other SIP software) the registrar shares its address.
    gate = Gatekeeper(Mode.REGISTER, PeerAllowList(["127.0.0.1:5070", "198.51.100.0/24"]))
    assert gate.inspect("127.0.0.1", "INVITE", None, 0.0, source_port=5070).accepted
    direct = gate.inspect("127.0.0.1", "INVITE", None, 0.0, source_port=40000)
    assert (direct.action, direct.code, direct.why) == (GateAction.REJECT, 403, "not-registrar")
    assert gate.inspect("198.51.100.9", "INVITE", None, 0.0, source_port=40000).accepted  # configured peer


def test_limit_peers_option() -> None:
    gate = Gatekeeper(
        Mode.TRUNK,
        PeerAllowList([PBX]),
        RateLimiter({"INVITE": RateLimit(rate=1.0, burst=1)}),
        limit_peers=True,
    )
    assert gate.inspect(PBX, "INVITE", None, 0.0).accepted
    busy = gate.inspect(PBX, "INVITE", None, 0.0)
    assert (busy.code, busy.retry_after) == (503, 2)
    # A peer that honours Retry-After gets in.
    assert gate.inspect(PBX, "INVITE", None, 2.0).accepted


def test_counters_per_method() -> None:
    gate = trunk_gate()
    gate.inspect(PBX, "INVITE", None, 0.0)
    gate.inspect(PBX, "BYE", None, 0.0)
    gate.inspect(STRANGER, "INVITE", None, 0.0)
    gate.inspect(STRANGER, "REGISTER", "sipvicious", 0.0)
    gate.inspect(STRANGER, "REGISTER", "sipvicious", 0.0)
    stats = gate.stats()
    assert stats["INVITE"] == {"accept": 1, "reject": 1}
    assert stats["REGISTER"] == {"drop": 2}
    assert stats["other"] == {"accept": 1}
    assert stats["OPTIONS"] == {}
    assert gate.counters[("REGISTER", "drop", "scanner")] == 2


# --------------------------------------------------------------------------- digest challenge


@pytest.mark.parametrize("mode", [Mode.TRUNK, Mode.REGISTER])
def test_gatekeeper_hands_strangers_invites_to_digest_when_configured(mode: Mode) -> None:
    gate = Gatekeeper(mode, PeerAllowList(["192.0.2.1"]), challenge=frozenset({"INVITE"}))
    # A stranger's INVITE goes to authentication; its other requests are still refused.
    invite = gate.inspect("198.51.100.7", "INVITE", "Zoiper rv2.10", 0.0)
    assert (invite.action, invite.why) == (GateAction.ACCEPT, "digest")
    options = gate.inspect("198.51.100.7", "OPTIONS", "Zoiper rv2.10", 0.0)
    assert (options.action, options.code) == (GateAction.REJECT, 403)
    # An allowed peer is accepted as a peer, never challenged.
    assert gate.inspect("192.0.2.1", "INVITE", None, 0.0).why == "peer"
    # Scanners are still dropped before any challenge, and floods still limited.
    assert gate.inspect("198.51.100.8", "INVITE", "friendly-scanner", 0.0).action is GateAction.DROP
    verdicts = [gate.inspect("203.0.113.9", "INVITE", None, 0.0).action for _ in range(200)]
    assert GateAction.REJECT in verdicts or GateAction.DROP in verdicts


def test_gatekeeper_without_challenge_refuses_strangers() -> None:
    gate = Gatekeeper(Mode.TRUNK, PeerAllowList(["192.0.2.1"]))
    decision = gate.inspect("198.51.100.7", "INVITE", None, 0.0)
    assert (decision.action, decision.code, decision.why) == (GateAction.REJECT, 403, "unknown-peer")
