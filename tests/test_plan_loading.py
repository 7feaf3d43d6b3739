"""Invalid plans are errors that name the file, the line and the field; valid ones load."""

from __future__ import annotations

import pytest

from shipsafe.errors import PlanError
from shipsafe.plan.loader import load_plan, load_plan_text
from tests.conftest import PLAN_HEAD, make_plan

STEPS = "steps:\n  - setWeight: 5\n  - pause: {duration: 30s}\n  - setWeight: 50\n"


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as err:
        load_plan_text(text, "plan.yaml")
    return err.value.problems


def test_a_valid_plan_loads_with_an_implicit_promote_at_the_end() -> None:
    plan = make_plan(STEPS)
    kinds = [type(s).__name__ for s in plan.effective_steps()]
    assert kinds == ["SetWeightStep", "PauseStep", "SetWeightStep", "PromoteStep"]
    assert plan.steps[1].pause.duration == 30.0


def test_durations_accept_units_and_same_meaning_gives_same_digest() -> None:
    a = make_plan("steps:\n  - pause: {duration: 90s}\n")
    b = make_plan("steps:\n  - pause: {duration: 1m30s}\n")
    c = make_plan("steps:\n  - pause: {duration: 2m}\n")
    assert a.digest() == b.digest() != c.digest()


def test_an_unknown_key_names_file_line_field_and_the_allowed_keys() -> None:
    text = PLAN_HEAD.replace("release: {version", "release: {colour: red, version") + STEPS
    (line,) = problems(text)
    assert line.startswith("plan.yaml:4: release.colour: unknown key 'colour'; allowed:")
    assert "version" in line


def test_a_misspelt_step_key_names_the_allowed_steps() -> None:
    (line,) = problems(PLAN_HEAD + "steps:\n  - setWeight: 5\n  - paus: {duration: 1s}\n")
    assert line.startswith("plan.yaml:")
    assert "steps[1]" in line and "found: paus" in line and "setWeight, pause" in line


def test_a_wrong_type_is_an_error() -> None:
    (line,) = problems(PLAN_HEAD + "steps:\n  - setWeight: lots\n")
    assert "steps[0].setWeight" in line


def test_weights_outside_0_to_100_are_errors() -> None:
    (line,) = problems(PLAN_HEAD + "steps:\n  - setWeight: 101\n")
    assert "steps[0].setWeight.weight" in line and "100" in line
    (line,) = problems(PLAN_HEAD + "steps:\n  - setWeight: -1\n")
    assert "steps[0].setWeight.weight" in line


def test_a_weight_going_down_needs_a_reason() -> None:
    (line,) = problems(PLAN_HEAD + "steps:\n  - setWeight: 50\n  - setWeight: 20\n")
    assert "steps[1].setWeight: weight goes down from 50 to 20" in line
    line_no = int(line.split(":")[1])
    assert line_no == PLAN_HEAD.count("\n") + 3
    ok = make_plan("steps:\n  - setWeight: 50\n  - setWeight: {weight: 20, reason: warm cache}\n")
    assert ok.steps[1].set_weight.reason == "warm cache"


def test_an_unknown_router_is_rejected_not_defaulted() -> None:
    text = PLAN_HEAD.replace("router: haproxy", "router: nginx") + STEPS
    (line,) = problems(text)
    assert "target.router" in line and "'nginx'" in line


def test_an_unknown_metric_provider_is_rejected() -> None:
    text = PLAN_HEAD.replace("provider: prometheus", "provider: datadog") + STEPS
    (line,) = problems(text)
    assert "metricSources.prom.provider" in line and "'datadog'" in line


def test_references_to_undefined_templates_and_sources_are_errors() -> None:
    text = PLAN_HEAD.replace("source: prom\n    query: errors", "source: nope\n    query: errors")
    text += "breakers:\n  - analysis: missing\nsteps:\n  - analysis: {templates: [ghost]}\n"
    found = problems(text)
    assert any("analysis.error-rate.source: unknown metric source 'nope'" in p for p in found)
    assert any("breakers[0].analysis: unknown analysis template 'missing'" in p for p in found)
    assert any(
        "steps[0].analysis.templates[0]: unknown analysis template 'ghost'" in p for p in found
    )
    assert all(p.startswith("plan.yaml:") for p in found)


def test_an_unsafe_or_broken_condition_is_refused_at_load_time() -> None:
    for condition, expected in [
        ("result <", "syntax error"),
        ("__import__('os').system('true')", "cannot evaluate"),
        ("bogus < 1", "unknown name 'bogus'"),
        ("result + 1.0", "must be true or false"),
        ("result + 1 > 2", "cannot evaluate"),
    ]:
        text = PLAN_HEAD.replace(
            "successCondition: result < 0.01", f'successCondition: "{condition}"'
        )
        (line,) = problems(text + STEPS)
        assert "analysis.error-rate.successCondition" in line and expected in line, line


def test_unknown_query_variables_are_errors() -> None:
    text = PLAN_HEAD.replace(
        '{{canary}}"}\n    successCondition: result < 0.01',
        '{{canray}}"}\n    successCondition: result < 0.01',
    )
    (line,) = problems(text + STEPS)
    assert "unknown variable {{canray}}" in line


def test_duplicate_keys_and_bad_yaml_are_errors_with_lines() -> None:
    (line, *_) = problems(PLAN_HEAD + "steps:\n  - setWeight: 5\nsteps:\n  - setWeight: 6\n")
    assert "key appears twice" in line
    (line,) = problems("apiVersion: shipsafe/v1\nkind: [unclosed\n")
    assert line.startswith("plan.yaml:") and "not valid YAML" in line


def test_yaml_tags_cannot_construct_python_objects() -> None:
    text = PLAN_HEAD.replace('version: "2.4.0"', "version: !!python/object/apply:os.system [true]")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_plan_text(text + STEPS, "plan.yaml")


def test_haproxy_target_needs_exactly_one_endpoint_and_two_servers() -> None:
    text = PLAN_HEAD.replace("socket: /tmp/none.sock, ", "") + STEPS
    (line,) = problems(text)
    assert "target.haproxy" in line and "exactly one of socket" in line
    text = PLAN_HEAD.replace("canary: v2", "canary: v1") + STEPS
    (line,) = problems(text)
    assert "stable and canary must be different" in line


def test_a_missing_plan_file_is_one_clear_line(tmp_path: object) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan("/nonexistent/plan.yaml")


def test_promote_must_be_last() -> None:
    (line,) = problems(PLAN_HEAD + "steps:\n  - promote: {}\n  - setWeight: 5\n")
    assert "steps[0].promote: promote must be the last step" in line


def test_unknown_variables_in_provider_args_are_errors() -> None:
    text = PLAN_HEAD.replace("    count: 3\n", "    count: 3\n    args: {dim: '{{canry}}'}\n", 1)
    (line,) = problems(text + STEPS)
    assert "analysis.error-rate.query: unknown variable {{canry}}" in line
