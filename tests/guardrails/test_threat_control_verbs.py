"""Threat: deployment without approval, through the control verbs. promote may skip a step
(and waive its analysis), so in an environment whose approvals need a human key it needs one
too; the driver verifies every command's signature where it applies it, so a command row
written into the store by hand is an unverified agent's. pause, abort and rollback reduce
risk and need no key."""

from __future__ import annotations

from shipsafe.errors import StoreError
from shipsafe.records import Actor, ActorKind, Command, CommandKind
from shipsafe.store import default_state_dir
from shipsafe.store.sqlite import SQLiteStore
from tests.guardrails.conftest import World, rollout_id_of

HELD = """\
steps:
  - approval: {}
  - setWeight: 20
  - pause: {}
  - setWeight: 70
"""


TWO_PAUSES = """\
steps:
  - approval: {}
  - setWeight: 20
  - pause: {}
  - setWeight: 40
  - pause: {}
  - setWeight: 70
"""


def _held_at_the_pause(world: World, steps: str = HELD) -> str:
    result = world.deploy(world.plan(steps), "--detach")
    assert result.exit_code == 4, result.output
    rid = rollout_id_of(result)
    approved = world.approve(rid, "bob", "--detach")
    assert approved.exit_code == 4, approved.output
    assert world.router.weights["canary"] == 20
    return rid


def _applied(world: World, rid: str, command: str) -> list[dict[str, object]]:
    return [r["data"] for r in world.audit("command_applied", rid)
            if r["data"]["command"] == command]


def test_promote_with_an_agent_key_is_refused_where_approvals_need_a_human(world: World) -> None:
    rid = _held_at_the_pause(world)
    result = world.run("promote", rid, "--detach", actor="robot")
    assert result.exit_code == 2, result.output
    assert world.router.weights["canary"] == 20
    (refused,) = _applied(world, rid, "promote")
    assert str(refused["result"]).startswith("refused") and "robot's key is a agent" in str(
        refused["result"]
    )
    assert refused["identity"] == "robot" and refused["kind"] == "agent"
    received = [r["data"] for r in world.audit("command_received", rid)
                if r["data"]["command"] == "promote"]
    assert received[-1]["signed"] is True and received[-1]["identity"] == "robot"


def test_promote_signed_by_a_key_the_trust_root_does_not_list_is_refused(world: World) -> None:
    rid = _held_at_the_pause(world)
    result = world.run("promote", rid, "--detach", actor="bob",
                       env={"SHIPSAFE_KEY": world.key("mallory")})
    assert result.exit_code == 2, result.output
    assert world.router.weights["canary"] == 20
    (refused,) = _applied(world, rid, "promote")
    assert "not signed by a key the trust root lists" in str(refused["result"])
    assert refused["identity"] is None and refused["kind"] == "agent"


def test_a_promote_row_written_into_the_store_does_not_promote(world: World) -> None:
    rid = _held_at_the_pause(world)
    store = SQLiteStore.open(default_state_dir() / "state.db")
    try:  # a human's name and kind on the row, and no signature
        store.add_command(Command(
            rollout_id=rid, kind=CommandKind.PROMOTE, created_at=world.clock.now(),
            actor=Actor(id="bob", kind=ActorKind.HUMAN, host="laptop", identity="bob",
                        key_id="k"),
        ))
    finally:
        store.close()
    world.run("resume", rid, "--detach", actor="alice")  # any driver applies the row
    assert world.router.weights["canary"] == 20
    (refused,) = _applied(world, rid, "promote")
    assert str(refused["result"]).startswith("refused") and refused["kind"] == "agent"


def test_a_signed_promote_replayed_later_is_refused(world: World) -> None:
    rid = _held_at_the_pause(world, TWO_PAUSES)
    assert world.run("promote", rid, "--detach", actor="bob").exit_code == 4
    assert world.router.weights["canary"] == 40
    store = SQLiteStore.open(default_state_dir() / "state.db")
    try:  # bob's signed promote, copied into a new row once it is 16 minutes old
        (promote,) = [c for c in _all_commands(store, rid) if c.kind == CommandKind.PROMOTE]
        assert promote.proof
        world.clock.advance(16 * 60)
        store.add_command(promote.model_copy(update={"id": None, "applied_at": None,
                                                     "result": None}))
    finally:
        store.close()
    world.run("resume", rid, "--detach", actor="alice")
    assert world.router.weights["canary"] == 40
    replayed = _applied(world, rid, "promote")[-1]
    assert str(replayed["result"]).startswith("refused") and replayed["identity"] is None


def _all_commands(store: SQLiteStore, rid: str) -> list[Command]:
    out = []
    for n in range(1, 50):
        try:
            command = store.get_command(n)
        except StoreError:  # past the last id
            break
        if command.rollout_id == rid:
            out.append(command)
    return out


def test_a_human_key_promotes(world: World) -> None:
    rid = _held_at_the_pause(world)
    result = world.run("promote", rid, "--detach", actor="bob")
    assert result.exit_code in (0, 4), result.output
    (applied,) = _applied(world, rid, "promote")
    assert applied["result"] == "promoted past the current step"
    assert applied["identity"] == "bob" and applied["kind"] == "human"


def test_abort_needs_no_key_and_is_recorded_as_an_unverified_agent(world: World) -> None:
    rid = _held_at_the_pause(world)
    result = world.run("abort", rid, actor="oncall-bot")  # no key file for this name
    assert result.exit_code == 0, result.output
    assert world.on_stable()
    (applied,) = _applied(world, rid, "abort")
    assert applied["result"] == "abort started"
    assert applied["identity"] is None and applied["kind"] == "agent"
