"""Steps, in the one-key form of Argo Rollouts: `- setWeight: 5`, `- pause: {duration: 30s}`.

To add a step kind: a spec model, a one-key wrapper model, an entry in STEP_KINDS and in the
`Step` union below, and one case in shipsafe/engine/steps.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from shipsafe.plan.base import Duration, PlanModel, Weight


class SetWeight(PlanModel):
    weight: Weight
    reason: str | None = Field(None, description="required when the weight goes down")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"weight": value}
        return value


class Pause(PlanModel):
    duration: Duration | None = Field(None, description="omit to wait until promoted")


class AnalysisStepSpec(PlanModel):
    templates: list[str] = Field(min_length=1)


class ApprovalSpec(PlanModel):
    name: str | None = Field(None, description="the gate's name; default gate-<step number>")
    count: int = Field(1, ge=1, description="approvals needed")


class PromoteSpec(PlanModel):
    pass


class SetWeightStep(PlanModel):
    set_weight: SetWeight


class PauseStep(PlanModel):
    pause: Pause


class AnalysisStep(PlanModel):
    analysis: AnalysisStepSpec


class ApprovalStep(PlanModel):
    approval: ApprovalSpec


class PromoteStep(PlanModel):
    promote: PromoteSpec


STEP_KINDS: dict[str, type[PlanModel]] = {
    "setWeight": SetWeightStep,
    "pause": PauseStep,
    "analysis": AnalysisStep,
    "approval": ApprovalStep,
    "promote": PromoteStep,
}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    if isinstance(value, BaseModel):
        return step_kind(value)
    return None


Step = Annotated[
    Annotated[SetWeightStep, Tag("setWeight")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[AnalysisStep, Tag("analysis")]
    | Annotated[ApprovalStep, Tag("approval")]
    | Annotated[PromoteStep, Tag("promote")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step has exactly one key, one of: "
        + ", ".join(STEP_KINDS),
    ),
]


def step_kind(step: BaseModel) -> str:
    for kind, model in STEP_KINDS.items():
        if isinstance(step, model):
            return kind
    raise TypeError(f"not a step: {step!r}")


def step_spec(step: BaseModel) -> Any:
    """The inner settings of a one-key step."""
    name = next(iter(type(step).model_fields))
    return getattr(step, name)


def describe_step(step: BaseModel) -> str:
    kind = step_kind(step)
    spec = step_spec(step)
    if isinstance(spec, SetWeight):
        return f"setWeight {spec.weight}%"
    if isinstance(spec, Pause):
        return "pause until promoted" if spec.duration is None else f"pause {spec.duration:g}s"
    if isinstance(spec, AnalysisStepSpec):
        return "analysis " + ", ".join(spec.templates)
    if isinstance(spec, ApprovalSpec):
        return f"approval {spec.name}" if spec.name else "approval"
    return kind


def gate_name(step: BaseModel, index: int) -> str:
    spec = step_spec(step)
    name = getattr(spec, "name", None)
    return str(name) if name else f"gate-{index + 1}"


__all__ = ["Duration", "Step"]
