"""Bypass 7 of issue 10: two stores, one target. Each deploy's store has its own locks, so
only the target can tell: before every traffic change the router is read and must show what
this rollout last verified."""

from __future__ import annotations

from tests.attacks.conftest import Site, rollout_id

HELD = "steps:\n  - setWeight: {w}\n  - pause: {{}}\n  - setWeight: 100\n"


def test_two_stores_on_one_target_cannot_both_promote(site: Site) -> None:
    first = site.agent("deploy", site.plan(HELD.format(w=10), environment="staging"),
                       "--detach", "--state", "a/state.db")
    assert first.returncode == 4, first.stdout + first.stderr
    assert site.weight() == 10
    # a second checkout with its own store: the router is not where a rollout starts
    second = site.agent("deploy", site.plan(HELD.format(w=20), environment="staging",
                                            name="b.yaml"), "--detach", "--state", "b/state.db")
    assert second.returncode == 2, second.stdout + second.stderr
    assert "already receives 10%" in second.stdout
    assert site.weight() == 10
    assert site.audit("preflight_failed", log=site.work / "b" / "audit.jsonl")
    # another tool puts the router back to 0 and the second store's deploy goes ahead
    site.agent_python(f"open({str(site.weight_file)!r}, 'w').write('0')")
    again = site.agent("deploy", site.plan(HELD.format(w=20), environment="staging",
                                           name="b.yaml"), "--detach", "--state", "b/state.db")
    assert again.returncode == 4, again.stdout + again.stderr
    assert site.weight() == 20
    # the first rollout, promoted, finds the target changed: it stops without writing
    promoted = site.agent("promote", "checkout", "--state", "a/state.db")
    assert promoted.returncode == 6, promoted.stdout + promoted.stderr
    assert "another writer changed the target" in promoted.stdout
    assert site.weight() == 20  # untouched by the first rollout
    (fenced,) = site.audit("target_fenced", log=site.work / "a" / "audit.jsonl")
    assert fenced["data"]["read"] == 20 and fenced["data"]["expected"] == 10


def test_a_second_plan_for_the_same_target_under_another_service_name_is_locked_out(
    site: Site,
) -> None:
    """Bypass 6b/7 of issue 10 with one store: the lock is the target's (its identity), so
    renaming `metadata.service` does not make a second rollout on it possible."""
    first = site.agent("deploy", site.plan(HELD.format(w=10), environment="staging"),
                       "--detach")
    assert first.returncode == 4, first.stdout + first.stderr
    held_by = rollout_id(first)
    renamed = site.plan(HELD.format(w=50), environment="staging", service="checkout-next",
                        name="renamed.yaml")
    second = site.agent("deploy", renamed, "--detach")
    assert second.returncode == 6, second.stdout + second.stderr
    assert f"is locked by rollout {held_by}" in second.stdout
    assert site.weight() == 10  # the second plan never wrote
    (refused,) = site.audit("deploy_refused")
    assert refused["rollout_id"] == rollout_id(second) and refused["reason"] == "locked"
    assert not site.audit("weight_intent") or all(
        r["rollout_id"] == held_by for r in site.audit("weight_intent")
    )
