#!/usr/bin/env bash
# The action's install step: shipsafe in its own virtual environment (never the runner's
# system Python), at $SHIPSAFE_VENV (default $RUNNER_TEMP/shipsafe-venv). Reused when it
# already holds a working shipsafe (a cached venv, or a second use of the action in a job).
set -euo pipefail

venv="${SHIPSAFE_VENV:-${RUNNER_TEMP:-/tmp}/shipsafe-venv}"
if [ -x "$venv/bin/shipsafe" ] && "$venv/bin/shipsafe" --version >/dev/null 2>&1; then
    echo "shipsafe: using $("$venv/bin/shipsafe" --version) in $venv"
    exit 0
fi
spec="${INPUT_SHIPSAFE_SPEC:-}"
if [ -z "$spec" ]; then
    spec="$(cd "$(dirname "$0")/../../.." && pwd)"   # the repository holding this action
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$spec"
echo "shipsafe: installed $("$venv/bin/shipsafe" --version) in $venv"
