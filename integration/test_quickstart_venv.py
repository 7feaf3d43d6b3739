"""The quick start never touches the system Python: with a `python3` that has yaml and sees
this checkout (the Debian case that failed), shipsafe still goes into its own venv and the
system python3 is never asked to pip install anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# stands in for the system python3 (logs every call, then runs the real one) - except that
# `-m venv DIR` makes a venv whose python only logs, whose pip "installs" a shipsafe script
# and whose import check passes once it has: the test is about who is asked to install
# what, not about pip itself
SYSTEM_PYTHON = """#!/usr/bin/env bash
echo "system python3 $*" >> "$CALLS"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin"
    cat > "$3/bin/python" <<'VENV'
#!/usr/bin/env bash
echo "venv python $*" >> "$CALLS"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
    printf '#!/bin/sh\\necho shipsafe 0\\n' > "$(dirname "$0")/shipsafe"
    chmod +x "$(dirname "$0")/shipsafe"
    exit 0
fi
if [ "$1" = "-c" ]; then  # "is shipsafe installed here": only once pip has run
    [ -x "$(dirname "$0")/shipsafe" ]
    exit
fi
exec "$REAL_PYTHON" "$@"
VENV
    chmod +x "$3/bin/python"
    exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.mark.integration
def test_the_quick_start_installs_into_its_own_venv_never_the_system_python(
    tmp_path: Path,
) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").write_text(SYSTEM_PYTHON)
    (shims / "python3").chmod(0o755)
    calls = tmp_path / "calls.log"
    real = subprocess.run(["bash", "-c", "command -v python3"], capture_output=True,
                          text=True, check=True).stdout.strip()
    venv = tmp_path / "venv"
    env = dict(os.environ) | {
        "PATH": f"{shims}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "REAL_PYTHON": real,
        "SHIPSAFE_QUICKSTART_VENV": str(venv),
    }
    done = subprocess.run(
        ["bash", str(REPO / "integration" / "quickstart.sh"), "--prepare-only"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    log = calls.read_text().splitlines()
    system = [line for line in log if line.startswith("system python3")]
    assert f"system python3 -m venv {venv}" in system
    assert not [line for line in system if "pip" in line], system
    assert "venv python -m pip install --quiet -e .[report]" in log  # the report step draws
    assert (venv / "bin" / "shipsafe").exists()
    assert f"ready: {venv}/bin/shipsafe" in done.stdout
    # a second run finds the venv ready and installs nothing
    calls.unlink()
    again = subprocess.run(
        ["bash", str(REPO / "integration" / "quickstart.sh"), "--prepare-only"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [line for line in calls.read_text().splitlines() if "pip" in line]
