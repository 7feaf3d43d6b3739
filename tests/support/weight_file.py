"""A stand-in router for the exec router's tests: keeps the canary percent in a file.

    python weight_file.py FILE get
    python weight_file.py FILE set N
"""

import sys
from pathlib import Path

path = Path(sys.argv[1])
if sys.argv[2] == "get":
    print(path.read_text().strip() if path.exists() else "0")
elif sys.argv[2] == "set":
    if not sys.argv[3].isdigit():
        sys.exit(f"bad weight {sys.argv[3]!r}")
    path.write_text(sys.argv[3])
else:
    sys.exit("usage: weight_file.py FILE get|set N")
