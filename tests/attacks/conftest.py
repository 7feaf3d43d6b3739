"""Attacks as the issue describes them: a deploying agent with a shell as an unprivileged
user, using only documented options, environment variables and files it can write.

The session creates that user (`useradd`; CI runs as root, and so must these tests) and a
runtime it can read: an interpreter of the same Python version and a copy of shipsafe and
its dependencies (the repository and its venv may live where the user cannot read, e.g.
under /root). Each test gets a site: a root-owned trust root (etc/trust.yaml) signed by an
admin key the agent cannot read, human keys it cannot read, and a working directory the
agent owns, with an exec router whose weight is a file (`weight`: 0 until a rollout moves
traffic). The agent runs shipsafe there with setpriv; the humans (other people at other
terminals) run it as root with their keys.

Every test asserts the refusal, the untouched target and the audit record.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from shipsafe.approvals import generate_keys
from tests.conftest import memory_temp
from tests.support.trust_root import write_trust_root

# one user per pytest-xdist worker (gw0, gw1, ...): a worker never deletes the user another
# worker's tests are still running as
USER = "shipsafe-attacker" + (f"-{os.environ['PYTEST_XDIST_WORKER']}"
                              if os.environ.get("PYTEST_XDIST_WORKER") else "")
# useradd and userdel lock /etc/passwd and refuse ("cannot lock") instead of waiting: workers
# take turns through this lock
ACCOUNTS_LOCK = Path(tempfile.gettempdir()) / "shipsafe-attacks-accounts.lock"
REPO = Path(__file__).resolve().parents[2]

POLICY = """\
apiVersion: shipsafe/v1
kind: Policy
environments:
  production:
    requireApproval: {count: 1}
    freezeAfterRollback: 30m
    maxChainDepth: 0
    emergency: {allowed: true, maxPause: 1s, approvalAfter: true, allowedKinds: [human]}
  "*": {maxChainDepth: 1}
targets:
  - {environment: production, router: exec, match: {id: checkout-router}}
"""

PEOPLE = {
    "alice": ("human", ["release"]),
    "bob": ("human", ["release"]),
    "robot": ("agent", []),  # the agent's own key: the root says it is an agent
}


@dataclass
class Runtime:
    uid: int
    gid: int
    python: str
    path: Path  # PYTHONPATH: shipsafe and its dependencies, readable by the user
    base: Path
    sites: Path  # where each test's site goes: in memory when there is room (see site)


def distributions(name: str) -> set[str]:
    """NAME and its runtime requirements, recursively (no extras)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        key = todo.pop().lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(key) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def place_distributions(names: set[str], into: Path) -> None:
    """Each installed distribution's files under INTO (a file already there is kept)."""
    for name in names:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if source.is_file() and ".." not in file.parts and not (into / file).exists():
                _place(source, into / file)


def _place(source: Path, target: Path) -> None:
    """A hard link where the file is already readable by everyone and on the same file
    system (no data copied, modes untouched), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = source.stat().st_mode
    if mode & 0o004 and not mode & 0o022:  # the agent may read it and may not change it
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)


def _copy_runtime(into: Path) -> None:
    # byte code included: it is only valid for the source beside it (same mtime and size),
    # and a byte code file another interpreter cannot use is ignored and compiled again
    for source in (REPO / "shipsafe").rglob("*"):
        if source.is_file():
            _place(source, into / source.relative_to(REPO))
    place_distributions(distributions("shipsafe") - {"shipsafe"}, into)
    shutil.copy2(REPO / "tests" / "support" / "weight_file.py", into / "weight_file.py")


def _as_user(uid: int, gid: int, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv],
        capture_output=True, text=True, timeout=120, check=False, **kw,
    )


def _python_for(uid: int, gid: int, path: Path) -> str:
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [f"/usr/bin/python{wanted}", f"/usr/local/bin/python{wanted}",
                  os.path.realpath(sys.executable), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        # it must also start itself again: the exec router and migrations run it
        probe = _as_user(uid, gid, [python, "-c", "import sys, subprocess, shipsafe.cli.app; "
                                    "subprocess.run([sys.executable, '-c', '1'], check=True); "
                                    "print('%d.%d' % sys.version_info[:2])"],
                         env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"}, cwd="/")
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return python
    pytest.fail(f"no Python {wanted} that user {USER} can run shipsafe with "
                f"(tried {', '.join(candidates)})", pytrace=False)


def _accounts(*argv: str, check: bool = True) -> None:
    """useradd/userdel, one process at a time on this machine."""
    with ACCOUNTS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(list(argv), check=check, capture_output=True)


def _readable(path: Path) -> None:
    """Everything under `path` readable (not writable) by every user. A hard-linked file
    (see _place) is readable already and keeps its mode: it is also the venv's file."""
    for directory, _, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            file = os.path.join(directory, name)
            if os.stat(file).st_nlink == 1:
                os.chmod(file, 0o644)


@pytest.fixture(scope="session")
def runtime() -> Iterator[Runtime]:
    if os.geteuid() != 0:
        pytest.fail("tests/attacks create an unprivileged user and act as it: run them as "
                    "root (CI does)", pytrace=False)
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        _accounts("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                  USER)
        created = True
    entry = pwd.getpwnam(USER)
    base = Path(tempfile.mkdtemp(prefix="shipsafe-attacks-"))
    base.chmod(0o755)
    path = base / "runtime"
    _copy_runtime(path)
    _readable(path)
    python = _python_for(entry.pw_uid, entry.pw_gid, path)
    # The user cannot write __pycache__ into the root-owned copy, so without byte code there
    # every shipsafe it starts compiles shipsafe and its dependencies from source again
    # (about a fifth of these tests' CPU time). Root compiles, with the user's interpreter,
    # what the copied byte code leaves out or that interpreter cannot use (py_compile
    # replaces a file, so a hard link's other name is never written); the user can read but
    # not change the byte code, as with any system-installed package.
    subprocess.run([python, "-m", "compileall", "-q", "-x", r"/tests?/", str(path)],
                   check=True, capture_output=True)
    _readable(path)
    # the sites hold the stores and audit logs shipsafe writes and fsyncs at every step:
    # in memory that costs no disk wait (the runtime stays on the venv's file system, for
    # the hard links)
    sites = Path(tempfile.mkdtemp(prefix="shipsafe-attack-sites-", dir=memory_temp()))
    sites.chmod(0o755)
    yield Runtime(entry.pw_uid, entry.pw_gid, python, path, base, sites)
    shutil.rmtree(sites, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    if created:
        _accounts("userdel", USER, check=False)


@dataclass
class Site:
    rt: Runtime
    root: Path  # root-owned, 0755
    work: Path  # the agent's working directory (it owns it)
    keys: Path  # human and admin keys: root only
    trust: Path

    @property
    def state_dir(self) -> Path:
        """The default store's directory: the agent's XDG state directory (HOME is `work`)."""
        return self.work / ".local" / "state" / "shipsafe"

    @property
    def weight_file(self) -> Path:
        return self.work / "weight"

    def weight(self) -> int:
        return int(self.weight_file.read_text().strip() or 0)

    def untouched(self) -> bool:
        return self.weight() == 0

    def plan(self, steps: str, *, name: str = "plan.yaml", environment: str = "production",
             service: str = "checkout", extra: str = "", router_id: str | None = None) -> str:
        router = [self.rt.python, str(self.rt.path / "weight_file.py"), str(self.weight_file)]
        text = (
            "apiVersion: shipsafe/v1\nkind: Plan\n"
            f"metadata: {{name: checkout, service: {service}, environment: {environment}}}\n"
            'release: {version: "2.4.0"}\n'
            "target:\n  router: exec\n"
            f"  exec: {{{f'id: {router_id}, ' if router_id else ''}"
            f"getWeight: {json.dumps([*router, 'get'])}, "
            f"setWeight: {json.dumps([*router, 'set', '{weight}'])}}}\n"
            + extra + steps
        )
        path = self.work / name
        path.write_text(text)
        os.chown(path, self.rt.uid, self.rt.gid)
        return str(path)

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(self.rt.path),
            "HOME": str(self.work),
            "SHIPSAFE_TRUST_ROOT": str(self.trust),
            "SHIPSAFE_OUTPUT": "json",
            **(extra or {}),
        }

    def agent(self, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        """shipsafe as the unprivileged agent, in its working directory."""
        return _as_user(self.rt.uid, self.rt.gid, [self.rt.python, "-m", "shipsafe", *args],
                        env=self._env(env), cwd=self.work)

    def agent_python(self, code: str) -> subprocess.CompletedProcess[str]:
        """Any Python the agent runs itself (to edit the files it owns)."""
        return _as_user(self.rt.uid, self.rt.gid, [self.rt.python, "-c", code],
                        env=self._env(None), cwd=self.work)

    def human(self, who: str, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        """shipsafe as a human at another terminal, with their own key."""
        environ = self._env({"SHIPSAFE_KEY": str(self.keys / f"{who}.key"),
                             "SHIPSAFE_ACTOR": who, **(env or {})})
        done = subprocess.run([self.rt.python, "-m", "shipsafe", *args], env=environ,
                              cwd=self.work, capture_output=True, text=True, timeout=120,
                              check=False)
        # the store in the agent's directory stays the agent's to write (as the issue says)
        for directory, _, files in os.walk(self.work):
            os.chown(directory, self.rt.uid, self.rt.gid)
            for name in files:
                os.chown(os.path.join(directory, name), self.rt.uid, self.rt.gid)
        return done

    def add_witness(self) -> Path:
        """Root prepares an append-only witness the agent may append to, and the trust root
        names it (as an admin would: see README, Trust model)."""
        var = self.root / "var"
        var.mkdir(mode=0o755)
        witness = var / "witness.log"
        witness.touch(mode=0o666)
        witness.chmod(0o666)
        subprocess.run(["chattr", "+a", str(witness)], check=True, capture_output=True)
        write_trust_root(self.root, POLICY, PEOPLE, serial=2, path=self.trust, witness=witness)
        return witness

    def give_agent(self, name: str) -> Path:
        """Copy a key to the agent's directory, owned by it (its own key, or a human's that
        the human put there: the human then acts through the agent's account)."""
        target = self.work / f"{name}.key"
        shutil.copy2(self.keys / f"{name}.key", target)
        os.chown(target, self.rt.uid, self.rt.gid)
        return target

    def audit(self, type_: str | None = None, log: Path | None = None) -> list[dict[str, Any]]:
        path = log or self.state_dir / "audit.jsonl"
        if not path.exists():
            return []
        records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return [r for r in records if type_ is None or r["type"] == type_]


def rollout_id(done: subprocess.CompletedProcess[str]) -> str:
    for line in done.stdout.splitlines():
        if line.startswith("{") and json.loads(line).get("rollout_id"):
            return str(json.loads(line)["rollout_id"])
    raise AssertionError(f"no rollout id in: {done.stdout}{done.stderr}")


@pytest.fixture
def site(runtime: Runtime) -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="site-", dir=runtime.sites))
    root.chmod(0o755)
    keys = root / "keys"
    keys.mkdir(mode=0o700)
    for name in [*PEOPLE, "admin", "mallory"]:
        generate_keys(keys / name)
    etc = root / "etc"
    etc.mkdir(mode=0o755)
    trust = write_trust_root(root, POLICY, PEOPLE, path=etc / "trust.yaml")
    work = root / "work"
    work.mkdir(mode=0o700)
    os.chown(work, runtime.uid, runtime.gid)
    site = Site(runtime, root, work, keys, trust)
    site.weight_file.write_text("0")
    os.chown(site.weight_file, runtime.uid, runtime.gid)
    yield site
    witness = root / "var" / "witness.log"
    if witness.exists():
        subprocess.run(["chattr", "-a", str(witness)], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


__all__ = ["PEOPLE", "POLICY", "Site", "rollout_id"]
