"""Bypass 6a of issue 10: a production target labelled `environment: staging`. The policy
maps targets to environments (`targets:`); the label may only name the same environment or
a stricter one."""

from __future__ import annotations

from tests.attacks.conftest import Site

UNGATED = "steps:\n  - setWeight: 100\n"


def test_a_production_target_labelled_staging_obeys_production(site: Site) -> None:
    plan = site.plan(UNGATED, environment="staging", router_id="checkout-router")
    done = site.agent("deploy", plan)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "belongs to production" in done.stdout
    assert site.untouched()
    (refused,) = site.audit("deploy_refused")
    assert [f["rule"] for f in refused["data"]["findings"]] == ["targetEnvironment"]
    # the same label on a target nobody claims is staging indeed (the control)
    other = site.agent("deploy", site.plan(UNGATED, environment="staging",
                                           router_id="sandbox-router", name="sandbox.yaml"))
    assert other.returncode == 0, other.stdout + other.stderr
    assert site.weight() == 100
