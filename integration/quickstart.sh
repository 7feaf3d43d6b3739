#!/usr/bin/env bash
# The quick start, on a fresh Debian/Ubuntu machine or this one:
#   bash integration/quickstart.sh                  # the whole demo
#   bash integration/quickstart.sh --prepare-only   # install only, run nothing
# installs what is missing (HAProxy, Prometheus, Python 3.11+ with venv), puts shipsafe into
# its own virtual environment (.venv, or $SHIPSAFE_QUICKSTART_VENV) - never into the system
# Python, whatever it already has - then runs integration/quickstart.py: a good release
# promoted, a bad one rolled back by a breaker. A few minutes; leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

prepare_only=false
for arg in "$@"; do
    case "$arg" in
        --prepare-only) prepare_only=true ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "quickstart: unknown argument $arg" >&2; exit 2 ;;
    esac
done

bash integration/install.sh --with-python

venv="${SHIPSAFE_QUICKSTART_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "quickstart: creating $venv (shipsafe goes there, never into the system Python)"
    python3 -m venv "$venv"
fi
python="$venv/bin/python"
# installed, not merely importable: from this checkout `import shipsafe` works without an
# install, so the venv's own `shipsafe` script is what tells. The `report` extra (matplotlib)
# is what the quick start's last step, `shipsafe report` of the rollback, draws with.
if [ ! -x "$venv/bin/shipsafe" ] || ! "$python" -c 'import shipsafe.cli.app, yaml, matplotlib' 2>/dev/null; then
    echo "quickstart: installing shipsafe (with its report extra) into $venv"
    "$python" -m pip install --quiet --upgrade pip
    "$python" -m pip install --quiet -e '.[report]'
fi

if $prepare_only; then
    echo "quickstart: ready: $venv/bin/shipsafe"
    exit 0
fi
exec "$python" -m integration.quickstart
