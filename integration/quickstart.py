"""The quick start: a real canary on this machine, good release then bad release.

    bash integration/quickstart.sh       # installs what is missing, then runs this

Starts the rig (HAProxy, Prometheus, a stable and a canary demo service, steady load), then
runs `shipsafe deploy` on plans/local-canary.yaml twice:
  1. release 1.1.0, healthy: 5% -> 25% -> 50% -> 100%, promoted (exit 0);
  2. release 1.2.0, whose canary answers 30% of requests with 5xx: the built-in error-rate
     check (HAProxy's own counters, as a breaker or in the analysis) fails at the first
     weight and shipsafe restores the snapshot by itself (exit 3);
then writes `shipsafe report` of that rollback to quickstart-rollback.html (and .png).
Exits 0 when both end as they should; everything is stopped and removed on the way out.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from integration.rig import Rig

BAD_ERROR_SHARE = 0.3
REPORT = Path("quickstart-rollback.html").resolve()


def say(text: str) -> None:
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    print(f"\n{bold}== {text}{plain}", flush=True)


def deploy(plan: Path, state: Path) -> int:
    """`shipsafe deploy`, its live output straight to the terminal."""
    argv = [sys.executable, "-m", "shipsafe", "deploy", str(plan), "--state", str(state)]
    print("$ shipsafe deploy", plan.name, flush=True)
    process = subprocess.Popen(argv)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # shipsafe got the same Ctrl-C and rolls back to its snapshot: let it finish that
        process.wait(timeout=60)
        raise


def report(state: Path) -> bool:
    """`shipsafe report` of the last rollout of the demo, written where the quick start ran
    (the rig's directory goes away with it)."""
    argv = [sys.executable, "-m", "shipsafe", "report", "demo", "--state", str(state),
            "--out", str(REPORT), "--png", str(REPORT.with_suffix(".png"))]
    print("$ shipsafe report demo --out", REPORT.name, "--png", REPORT.with_suffix(".png").name,
          flush=True)
    return subprocess.run(argv).returncode == 0


def main() -> int:
    started = time.monotonic()
    say("starting the rig: HAProxy, Prometheus, stable + canary demo service, 100 req/s")
    with Rig() as rig:
        state = rig.workdir / "state.db"
        print(f"   HAProxy weights now: {rig.haproxy.weights()}", flush=True)

        say("release 1.1.0 (healthy) on the canary: expect promoted")
        mark = rig.load.now()
        good = deploy(rig.write_plan(name="good.yaml", RIG_RELEASE="1.1.0"), state)
        good_weights = rig.haproxy.weights()
        print(f"   exit {good}; HAProxy weights: {good_weights}")
        print(f"   what users got: {rig.load.tally(since=mark)}", flush=True)

        say(f"release 1.2.0 (bad: {BAD_ERROR_SHARE:.0%} 5xx) on the canary: expect rollback")
        rig.haproxy.reset()  # the canary server now runs the new release, at weight 0
        rig.wait_canary_idle()  # so the breaker sees only 1.2.0's answers
        rig.canary.set_faults(error_share=BAD_ERROR_SHARE)
        mark = rig.load.now()
        bad = deploy(rig.write_plan(name="bad.yaml", RIG_RELEASE="1.2.0"), state)
        bad_weights = rig.haproxy.weights()
        print(f"   exit {bad}; HAProxy weights: {bad_weights}")
        print(f"   what users got: {rig.load.tally(since=mark)}", flush=True)
        say("the report of that rollback: one HTML file (and a PNG)")
        reported = report(state)
        say("stopping the rig")

    ok = (
        reported
        and good == 0
        and good_weights == {"stable": 0, "canary": 100}
        and bad == 3
        and bad_weights == {"stable": 100, "canary": 0}
    )
    elapsed = time.monotonic() - started
    if ok:
        say(f"done in {elapsed:.0f}s: 1.1.0 promoted, 1.2.0 rolled back by its error-rate check")
        print(f"   open {REPORT} in a browser: the rollback on one time axis (works offline)")
        return 0
    say(f"unexpected outcome after {elapsed:.0f}s: good exit {good}, bad exit {bad}")
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
