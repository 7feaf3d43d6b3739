"""plans/local-*.yaml (the rig's examples) pass `shipsafe validate` as they are, with their
${RIG_...} placeholders, under the built-in policy: what a user sees before the rig fills
them in. release.version is `${RIG_RELEASE}`, which shipsafe itself expands from the
environment (or takes from --set), so that one is given."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipsafe.cli.app import app

PLANS = Path(__file__).resolve().parents[1] / "plans"


@pytest.mark.parametrize("name", ["local-canary", "local-blue-green"])
def test_the_local_example_plans_validate_as_they_are(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("SHIPSAFE_POLICY", "SHIPSAFE_TRUST", "CI", "SHIPSAFE_PARENT_ROLLOUT"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(
        app, ["validate", str(PLANS / f"{name}.yaml"), "--set", "release.version=1.1.0"]
    )
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "no errors" in result.output
    assert "with release.version=1.1.0 (--set)" in result.output


def test_the_blue_green_example_has_every_guard_of_a_cutover() -> None:
    from shipsafe.plan.loader import load_plan_text
    from shipsafe.plan.steps import step_kind

    plan = load_plan_text((PLANS / "local-blue-green.yaml").read_text(), "local-blue-green.yaml")
    assert plan.blue_green and plan.strategy.blue_green is not None
    assert plan.strategy.blue_green.blue_identity
    kinds = " ".join(step_kind(s) for s in plan.steps)
    assert kinds == "analysis snapshot approval cutover analysis"
    assert plan.breakers and plan.data_snapshots


def test_the_plan_shown_in_the_readme_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    for var in ("SHIPSAFE_POLICY", "SHIPSAFE_TRUST", "CI", "SHIPSAFE_STATE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    readme = (PLANS.parent / "README.md").read_text()
    (plan,) = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if block.startswith("apiVersion: shipsafe/v1\nkind: Plan")
    ]
    (tmp_path / "plan.yaml").write_text(plan)
    result = CliRunner().invoke(app, ["validate", "plan.yaml"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("name", "field", "placeholder"),
    [
        ("aws-alb-canary", "target.awsAlb.listenerArn", "${ALB_LISTENER_ARN}"),
        ("aws-lambda-canary", "target.awsLambda.stable", "${STABLE_VERSION}"),
    ],
)
def test_an_unfilled_placeholder_in_an_aws_example_says_fill_it_in(
    name: str, field: str, placeholder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("SHIPSAFE_POLICY", "SHIPSAFE_TRUST", "CI", "SHIPSAFE_PARENT_ROLLOUT"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(
        app, ["validate", str(PLANS / f"{name}.yaml"), "--set", "release.version=2"]
    )
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if field in x)
    assert f"'{placeholder}' is a placeholder: fill it in" in line
    assert "should match pattern" not in result.output
