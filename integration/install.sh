#!/usr/bin/env bash
# Install what the integration rig needs, only what is missing (idempotent):
#   haproxy, prometheus    Debian packages (bookworm: HAProxy 2.6, Prometheus 2.42)
#   setpriv                util-linux, for the rig's parent-death signal (Essential in Debian)
#   tmux                   a real terminal for the human-output test (capture-pane)
#   chromium               headless, to open `shipsafe report`'s HTML in a real browser
#   useradd, chattr        passwd and e2fsprogs: the attack tests create the unprivileged
#                          agent user and an append-only witness (both in Debian's base image)
#   --with-python          also python3 >= 3.11 with venv and pip (for the quick start on a
#                          bare machine; CI's Python comes with its image)
# Python packages are not installed here: `pip install -e '.[test]'` brings them.
# Services are installed, never started: the rig starts its own copies on loopback.
set -euo pipefail

with_python=false
for arg in "$@"; do
    case "$arg" in
        --with-python) with_python=true ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

python_ok() {
    have python3 && python3 - <<'PY' 2>/dev/null
import sys, venv, ensurepip  # noqa: F401  (venv needs ensurepip to bootstrap pip)
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

missing=()
have haproxy || missing+=(haproxy)
have prometheus || missing+=(prometheus)
have setpriv || missing+=(util-linux)
have tmux || missing+=(tmux)
have chromium || missing+=(chromium)
have useradd || missing+=(passwd)
have chattr || missing+=(e2fsprogs)
if $with_python && ! python_ok; then
    missing+=(python3 python3-venv python3-pip)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: haproxy, prometheus, setpriv, tmux, chromium, useradd and chattr are installed; nothing to do"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install.sh: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi

# Keep Debian's maintainer scripts from starting the packaged services (a system-wide
# HAProxy or Prometheus would keep running after the rig is gone).
policy=/usr/sbin/policy-rc.d
added_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    added_policy=true
fi
cleanup() { if $added_policy; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install.sh: done: $(haproxy -v 2>/dev/null | head -1 || /usr/sbin/haproxy -v | head -1)"
