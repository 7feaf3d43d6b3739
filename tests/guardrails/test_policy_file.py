"""The policy file: the example parses; mistakes are errors with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipsafe.errors import PolicyViolation
from shipsafe.policy import _read_policy, load_policy
from shipsafe.policy.default import BUILTIN_POLICY

EXAMPLE = Path(__file__).parents[2] / "plans" / "policy-example.yaml"


def test_the_example_policy_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPSAFE_TRUST_ROOT", raising=False)
    monkeypatch.setattr("shipsafe.trust.root.DEFAULT_ROOT", str(tmp_path / "no-root"))
    (tmp_path / "policy.yaml").write_text(EXAMPLE.read_text())
    policy = _read_policy(tmp_path / "policy.yaml")
    assert policy.rules_for("production").max_first_weight == 10
    assert policy.rules_for("staging-eu").max_chain_depth == 3  # glob
    assert policy.rules_for("dev").rollback_window == 3600
    # given on the command line it only adds rules to the built-in policy (no root here):
    loaded = load_policy(tmp_path / "policy.yaml")
    assert loaded.rules_for("staging-eu").max_chain_depth == 2  # the built-in "*" is stricter
    assert loaded.rules_for("production").max_first_weight == 10
    assert loaded.trusted_keys is None  # no trust root: no key is trusted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    maxFirstWeigth: 10\n", "policy.yaml:5: environments.production.maxFirstWeigth"),
        ("    freezeWindows: [{name: x, days: [sat], timezone: Mars/Base}]\n", "Mars/Base"),
        ("    freezeWindows: [{name: x, days: [fri], startTime: '22:00', endTime: '02:00'}]\n",
         "split a window over midnight"),
    ],
)
def test_policy_mistakes_name_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: shipsafe/v1\nkind: Policy\nenvironments:\n  production:\n" + text)
    with pytest.raises(PolicyViolation) as info:
        load_policy(path)
    assert any(expected in line for line in info.value.problems), info.value.problems


def test_the_builtin_policy_requires_approval_and_breakers_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHIPSAFE_POLICY", raising=False)
    monkeypatch.delenv("SHIPSAFE_TRUST", raising=False)
    assert "production" in BUILTIN_POLICY
    loaded = load_policy(None)
    rules = loaded.rules_for("production")
    assert rules.require_approval is not None and rules.require_breakers
    assert loaded.source == "builtin"
