"""The sequential judges cost nothing to import: numpy loads only when a reading is judged."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_sequential_judges_does_not_import_numpy():
    code = (
        "import sys\n"
        "import shipsafe.judge.sequential_counts, shipsafe.judge.sequential_latency\n"
        "print('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
