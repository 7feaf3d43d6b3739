"""Hostile plan files: `shipsafe validate FILE` on each, as users run it (a subprocess), with
its wall time and peak memory (the child's max RSS), and the loader's own time in-process.

    python -m integration.bench.hostile_inputs [--runs 5]

Target (issue 9): every input ends in exit 0 or 2 naming file:line, within 1 s and 200 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from integration.bench.common import machine
from integration.bench.startup import shipsafe_command

MB = 1024 * 1024
LIMIT = 1024 * 1024  # shipsafe.plan.bounded_yaml.MAX_BYTES

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)

# made one at a time (the benchmark's own memory must stay below what it measures: a forked
# child starts with the parent's pages, and its max RSS counts them)
def big_scalar(path: Path) -> None:
    with path.open("wb") as out:  # in 1 MB chunks: never 50 MB in this process
        out.write(b"a: ")
        for _ in range(50):
            out.write(b"x" * MB)
        out.write(b"\n")


INPUTS: dict[str, Callable[[], bytes] | Callable[[Path], None]] = {
    "billion laughs (9 levels of 9 aliases)": lambda: LAUGHS.encode(),
    "recursive alias": lambda: b"a: &a [1, *a]\n",
    "list as a key": lambda: b"? [1, 2]\n: x\n",
    "nesting 100,000 deep": lambda: b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "not UTF-8": lambda: b"a: 1\nb: caf\xe9\n",
    "50 MB scalar (over the limit)": big_scalar,
    "1 MiB of blank lines": lambda: b"\n" * (LIMIT - 1),
    "1 MiB comment": lambda: b"#" + b"x" * (LIMIT - 2) + b"\n",
    "1 MiB quoted scalar with escapes": lambda: b'a: "' + b"\\u00e9" * ((LIMIT - 8) // 6) + b'"\n',
    "1 MiB flow list (20,000+ items)": lambda: b"a: [" + b"1," * ((LIMIT - 10) // 2) + b"1]\n",
    "1,000 duplicate 1 kB keys": lambda: (b"k" * 1000 + b": 1\n") * 1000,
    "5,000-digit integer": lambda: b"a: " + b"9" * 5000 + b"\n",
}


def run_once(argv: list[str]) -> tuple[int, float, float, str, float]:
    """(exit code, wall seconds, max RSS in MB, first line of stderr, CPU seconds)"""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stderr is not None
    first = proc.stderr.read().decode(errors="replace").splitlines()[:1]
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, wall, usage.ru_maxrss / 1024, first[0] if first else "", cpu


def in_process(path: Path) -> float:
    from shipsafe.errors import ShipsafeError
    from shipsafe.plan.loader import load_plan

    started = time.process_time()
    with contextlib.suppress(ShipsafeError):
        load_plan(path)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    command = shipsafe_command()
    bare = [run_once([*command, "--version"])[1] for _ in range(args.runs)]
    print(f"`shipsafe --version` for reference: max {max(bare):.3f} s\n")
    print("| input | exit | located | wall p50 / max | CPU max | max RSS | loader CPU | message |")
    print("|---|---|---|---|---|---|---|---|")
    worst_wall = worst_cpu = worst_rss = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.yaml"
        for name, make in INPUTS.items():
            if make is big_scalar:
                big_scalar(path)
            else:
                path.write_bytes(make())  # type: ignore[call-arg]
            runs = [run_once([*command, "validate", str(path)]) for _ in range(args.runs)]
            codes = {r[0] for r in runs}
            walls = sorted(r[1] for r in runs)
            cpu = max(r[4] for r in runs)
            rss = max(r[2] for r in runs)
            message = runs[0][3]
            located = message.startswith(f"{path}:") and message[len(str(path)) + 1].isdigit()
            loader = in_process(path)
            worst_wall, worst_cpu = max(worst_wall, walls[-1]), max(worst_cpu, cpu)
            worst_rss = max(worst_rss, rss)
            shown = message.replace(str(path), "plan.yaml")[:60]
            print(f"| {name} | {','.join(map(str, sorted(codes)))} | {'yes' if located else 'NO'}"
                  f" | {walls[len(walls) // 2]:.2f} / {walls[-1]:.2f} s | {cpu:.2f} s"
                  f" | {rss:.0f} MB | {loader:.3f} s | {shown} |")
    print(f"\nworst: wall {worst_wall:.2f} s, CPU {worst_cpu:.2f} s (whole process, start-up "
          f"included), {worst_rss:.0f} MB; target ≤ 1 s, ≤ 200 MB: "
          f"CPU {'met' if worst_cpu <= 1 else 'MISSED'}, "
          f"wall {'met' if worst_wall <= 1 else 'MISSED'}, "
          f"memory {'met' if worst_rss <= 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
