#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to, each only when missing.
# Real peers, not mocks: sipp, baresip, kamailio, Chromium (with a CJK font, so screenshots show
# Chinese), espeak-ng/sox for prompts.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in sip-tester baresip-core kamailio kamailio-sqlite-modules kamailio-utils-modules \
           chromium fonts-wqy-microhei espeak-ng sox libsox-fmt-all sqlite3; do
    have "$pkg" || need+=("$pkg")
done
if ((${#need[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages: ${need[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "installing Debian packages: ${need[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
# The IPv6 tests bind ::1; some containers start with IPv6 off on the loopback. As root, turn it on.
if ! ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 ::1/128"; then
    if [ "$(id -u)" = 0 ]; then
        sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 || true
        ip -6 addr add ::1/128 dev lo 2>/dev/null || true
    fi
    ip -6 addr show dev lo 2>/dev/null | grep -q "inet6 ::1/128" \
        || echo "warning: no IPv6 loopback ::1: the IPv6 tests will fail in CI" >&2
fi
