#!/usr/bin/env bash
# The quick start, on a fresh Debian/Ubuntu machine or this one:
#   bash integration/quickstart.sh
# installs what is missing (HAProxy, Prometheus, Python 3.11+ with venv; shipsafe into .venv
# when the current python3 does not have it), then runs integration/quickstart.py: a good
# release promoted, a bad one rolled back by a breaker. A few minutes; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

bash integration/install.sh --with-python

if [ -x .venv/bin/python ]; then
    python=.venv/bin/python
elif python3 -c 'import shipsafe, yaml' 2>/dev/null; then
    python=python3
else
    echo "quickstart: installing shipsafe into .venv"
    python3 -m venv .venv
    python=.venv/bin/python
fi
if ! "$python" -c 'import shipsafe.cli.app, yaml' 2>/dev/null; then
    "$python" -m pip install --quiet --upgrade pip
    "$python" -m pip install --quiet -e .
fi

exec "$python" -m integration.quickstart
