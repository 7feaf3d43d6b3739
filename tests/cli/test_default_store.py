"""The default store is one per user (XDG state directory), never the working directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shipsafe.store import default_state_dir
from tests.fakes import FakeProviders
from tests.test_cli import json_lines, run, write_plan

PAUSED = "steps:\n  - setWeight: 10\n  - pause: {}\n  - setWeight: 50\n"


def test_the_default_state_directory_follows_xdg_state_home() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/srv/state", "HOME": "/home/a"}) == Path(
        "/srv/state/shipsafe"
    )


def test_an_unset_or_relative_xdg_state_home_means_the_home_directorys_local_state() -> None:
    expected = Path("/home/a/.local/state/shipsafe")
    assert default_state_dir({"HOME": "/home/a"}) == expected
    assert default_state_dir({"XDG_STATE_HOME": "rel/state", "HOME": "/home/a"}) == expected
    assert default_state_dir({"XDG_STATE_HOME": "", "HOME": "/home/a"}) == expected


def test_a_deploy_keeps_its_store_and_audit_in_a_private_state_directory_not_the_cwd(
    env: Path, fakes: FakeProviders, private_state_home: Path
) -> None:
    work = env / "checkout-a"
    work.mkdir()
    result = run("deploy", write_plan(work, "steps:\n  - setWeight: 10\n"))
    assert result.exit_code == 0, result.output
    where = private_state_home / "shipsafe"
    assert (where / "state.db").exists() and (where / "audit.jsonl").exists()
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert not list(work.rglob(".shipsafe"))


def test_two_working_directories_share_one_store_so_the_second_deploy_is_locked_out(
    env: Path, fakes: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = env / "ci-checkout-1", env / "ci-checkout-2"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    held = run("deploy", write_plan(first, PAUSED), "--detach", "-o", "json")
    assert held.exit_code == 4, held.output
    rollout_id = json_lines(held.output)[0]["rollout_id"]
    monkeypatch.chdir(second)
    refused = run("deploy", write_plan(second, PAUSED), "-o", "json")
    assert refused.exit_code == 6, refused.output
    assert rollout_id in refused.output
    assert fakes.router_instance.weights["canary"] == 10
    assert rollout_id in run("list").output


def test_an_explicit_state_path_still_wins_over_the_default(
    env: Path, fakes: FakeProviders, private_state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPSAFE_STATE", str(env / "team" / "state.db"))
    result = run("deploy", write_plan(env, "steps:\n  - setWeight: 10\n"))
    assert result.exit_code == 0, result.output
    assert (env / "team" / "state.db").exists() and (env / "team" / "audit.jsonl").exists()
    assert not (private_state_home / "shipsafe").exists()
