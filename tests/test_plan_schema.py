"""`shipsafe schema` accepts what the loader accepts: every plan in plans/ and every plan in
the README validates against it (editors point their YAML language server at it), and it
still refuses what the loader refuses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from shipsafe.cli.app import app
from shipsafe.plan.loader import load_plan_text

ROOT = Path(__file__).resolve().parents[1]
PLAN_FILES = sorted(
    p for p in (ROOT / "plans").glob("*.yaml") if "kind: Plan" in p.read_text()
)
README_PLANS = [
    block
    for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    if "kind: Plan" in block
]


@pytest.fixture(scope="module")
def validator() -> Any:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_there_are_plans_to_check() -> None:
    assert len(PLAN_FILES) >= 5 and README_PLANS


def filled(path: Path) -> str:
    """The plan with its ${...} placeholders filled in (the AWS plans' ARNs must look like
    ARNs; the rig's placeholders are plain strings either way)."""
    from tests.aws.test_plans import VALUES

    return re.sub(
        r"\$\{([A-Z0-9_]+)\}", lambda m: VALUES.get(m.group(1), m.group(0)), path.read_text()
    )


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_every_plan_file_validates_against_the_schema(validator: Any, path: Path) -> None:
    text = filled(path)
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(yaml.safe_load(text))
    ]
    assert errors == []
    load_plan_text(text, path.name)  # and the loader accepts it too


@pytest.mark.parametrize("index", range(len(README_PLANS)))
def test_every_plan_in_the_readme_validates_against_the_schema(
    validator: Any, index: int
) -> None:
    text = README_PLANS[index]
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(
        yaml.safe_load(text))]
    assert errors == []
    load_plan_text(text, "README.md")


def test_the_short_and_the_long_set_weight_forms_are_both_in_the_schema(validator: Any) -> None:
    plan = yaml.safe_load((ROOT / "plans" / "local-canary.yaml").read_text())
    plan["steps"] = [{"setWeight": 5}, {"setWeight": {"weight": 4, "reason": "hold"}}]
    assert list(validator.iter_errors(plan)) == []


@pytest.mark.parametrize(
    "step", [{"setWeight": 500}, {"setWeight": {"weight": 5, "typo": 1}}, {"setWeight": "5"}]
)
def test_the_schema_still_refuses_what_the_loader_refuses(validator: Any, step: Any) -> None:
    plan = yaml.safe_load((ROOT / "plans" / "local-canary.yaml").read_text())
    plan["steps"] = [step]
    assert list(validator.iter_errors(plan)) != []
