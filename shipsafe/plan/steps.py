"""Steps, in the one-key form of Argo Rollouts: `- setWeight: 5`, `- pause: {duration: 30s}`.

To add a step kind: a spec model, a one-key wrapper model, an entry in STEP_KINDS and in the
`Step` union below, and one case in shipsafe/engine/steps.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, GetJsonSchemaHandler, Tag, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shipsafe.plan.base import Duration, Name, PlanModel, Weight


class SetWeight(PlanModel):
    weight: Weight
    reason: str | None = Field(None, description="required when the weight goes down")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"weight": value}
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The schema accepts what the loader accepts: `setWeight: 5` as well as the map."""
        full = handler.resolve_ref_schema(handler(core_schema))
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 100, "description": "percent"},
                full,
            ]
        }


class Pause(PlanModel):
    duration: Duration | None = Field(None, description="omit to wait until promoted")


class AnalysisStepSpec(PlanModel):
    """Measure templates at the current weight. A failure rolls back; with `onFailure: hold`
    the weight is held and the analysis measured afresh until it passes, for at most
    `holdFor`, then it rolls back (Flagger's behaviour, with a bound)."""

    templates: list[str] = Field(min_length=1)
    on_failure: Literal["rollback", "hold"] = "rollback"
    hold_for: Duration | None = Field(
        None, description="with onFailure: hold, the longest the weight is held"
    )

    @model_validator(mode="after")
    def _bounded_hold(self) -> AnalysisStepSpec:
        if self.on_failure == "hold" and (self.hold_for is None or self.hold_for <= 0):
            raise ValueError("onFailure: hold needs a bound: holdFor: 5m (then it rolls back)")
        if self.on_failure == "rollback" and self.hold_for is not None:
            raise ValueError("holdFor belongs to onFailure: hold")
        return self


class ApprovalSpec(PlanModel):
    name: str | None = Field(None, description="the gate's name; default gate-<step number>")
    count: int = Field(1, ge=1, description="approvals needed (from different people)")
    group: str | None = Field(
        None, description="approvers must belong to this group of the trust file"
    )


class PromoteSpec(PlanModel):
    pass


class DataSnapshotSpec(PlanModel):
    """Take and verify data snapshots (names from `dataSnapshots`) before what follows."""

    data: list[str] = Field(min_length=1, description="keys of dataSnapshots")


class CutoverSpec(PlanModel):
    """Blue/green: check the snapshot and blue, then send all traffic to green at once."""

    blue_health: list[str] = Field(
        default_factory=list,
        description="analysis templates measured once against blue (the stable target); "
        "each must succeed before cutover",
    )


class MigrateSpec(PlanModel):
    """A schema or data migration: argument lists, run without a shell, with a timeout.

    `expand` keeps the previous release working (add a column); `contract` removes what it
    needs (drop a column) and is refused while the previous release's rollback window is open.
    Rollback runs `down`. A migration without a way back says `irreversible: true`.
    """

    name: Name
    up: list[str] = Field(min_length=1, description="the command, as an argument list")
    down: list[str] | None = Field(None, min_length=1, description="undoes `up`")
    compatibility: Literal["expand", "contract"]
    irreversible: bool = Field(False, description="no `down`; needs an approval before it")
    timeout: Duration = Field(300.0, description="longest run of up or down")

    @model_validator(mode="after")
    def _a_way_back(self) -> MigrateSpec:
        if self.irreversible and self.down is not None:
            raise ValueError("an irreversible migration has no down; remove one of them")
        if not self.irreversible and self.down is None:
            raise ValueError(
                "give `down` (the command that undoes up), or mark the migration "
                "`irreversible: true` (it then needs an approval step before it)"
            )
        if self.timeout <= 0:
            raise ValueError("timeout must be above 0")
        return self


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


class SnapshotStep(PlanModel):
    snapshot: DataSnapshotSpec


class CutoverStep(PlanModel):
    cutover: CutoverSpec


class MigrateStep(PlanModel):
    migrate: MigrateSpec


STEP_KINDS: dict[str, type[PlanModel]] = {
    "setWeight": SetWeightStep,
    "pause": PauseStep,
    "analysis": AnalysisStep,
    "approval": ApprovalStep,
    "promote": PromoteStep,
    "snapshot": SnapshotStep,
    "cutover": CutoverStep,
    "migrate": MigrateStep,
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
    | Annotated[PromoteStep, Tag("promote")]
    | Annotated[SnapshotStep, Tag("snapshot")]
    | Annotated[CutoverStep, Tag("cutover")]
    | Annotated[MigrateStep, Tag("migrate")],
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
        hold = f" (hold up to {spec.hold_for:g}s on failure)" if spec.hold_for else ""
        return "analysis " + ", ".join(spec.templates) + hold
    if isinstance(spec, ApprovalSpec):
        return f"approval {spec.name}" if spec.name else "approval"
    if isinstance(spec, DataSnapshotSpec):
        return "snapshot " + ", ".join(spec.data)
    if isinstance(spec, CutoverSpec):
        return "cutover to green" + (
            f" (blue health: {', '.join(spec.blue_health)})" if spec.blue_health else ""
        )
    if isinstance(spec, MigrateSpec):
        way_back = "irreversible" if spec.irreversible else "down on rollback"
        return f"migrate {spec.name} ({spec.compatibility}, {way_back})"
    return kind


def gate_name(step: BaseModel, index: int) -> str:
    spec = step_spec(step)
    name = getattr(spec, "name", None)
    return str(name) if name else f"gate-{index + 1}"


__all__ = ["Duration", "Step"]
