"""Run the rig from a shell:

    python -m integration.rig up [--rate 100]

starts everything (and green's preview traffic, for the blue/green plan), writes the concrete
local-canary and local-blue-green plans into the rig's directory, prints where things are and
how to switch faults, and runs until Ctrl-C or SIGTERM, then stops everything and removes the
directory.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from integration.rig import Rig
from integration.rig.plans import LOCAL_BLUE_GREEN


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    return stop


def up(rate: float) -> int:
    stop = _stop_on_sigterm()
    print("starting the rig (HAProxy, Prometheus, stable and canary, load) ...", flush=True)
    with Rig(load_rate=rate) as rig:
        plan = rig.write_plan(name="local-canary.yaml")
        blue_green = rig.write_plan(name="local-blue-green.yaml", template=LOCAL_BLUE_GREEN)
        rig.start_preview()
        for what, where in rig.describe().items():
            print(f"  {what:26} {where}")
        print(f"  {'plan':26} {plan}")
        print(f"  {'blue/green plan':26} {blue_green}")
        print()
        print(f"deploy:      shipsafe deploy {plan}")
        print(f"blue/green:  shipsafe deploy {blue_green}   (then shipsafe approve ID elsewhere)")
        print(
            f"fault:       curl -s -XPOST {rig.canary.url}/admin/faults "
            """-d '{"errorShare": 0.3, "latencyMs": 0}'"""
        )
        # no socat or netcat on a fresh machine: python's own socket module asks HAProxy
        ask = (
            "import socket; s = socket.socket(socket.AF_UNIX); "
            f"s.connect('{rig.haproxy.socket}'); s.sendall(b'get weight demo/canary\\n'); "
            "print(s.recv(200).decode().strip())"
        )
        print(f'weights:     python3 -c "{ask}"   (or: shipsafe status ID)')
        print("Ctrl-C stops everything.", flush=True)
        try:
            while not stop.wait(5):
                tally = rig.load.tally(since=rig.load.now() - 5)
                print(f"last 5 s: {tally}", flush=True)
        except KeyboardInterrupt:
            pass
        print("stopping the rig ...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration.rig", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the rig and run until Ctrl-C")
    start.add_argument("--rate", type=float, default=100.0, help="requests per second")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.rate)
    return 2


if __name__ == "__main__":
    sys.exit(main())
