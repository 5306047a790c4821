#!/usr/bin/env bash
# Debian splits venv (and ensurepip) out of python3: install it when missing.
set -euo pipefail
py=${1:-python3}
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    ver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "python${ver}-venv" || \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
fi
