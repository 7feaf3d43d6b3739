"""Findings: what a policy check says, each naming the threat (DESIGN.md) it guards against."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Threat(StrEnum):
    """The eight threats of DESIGN.md, by the names findings and the audit log use."""

    BLAST_RADIUS = "blast-radius"
    ROLLBACK_IMPOSSIBLE = "rollback-impossibility"
    UNAPPROVED = "deployment-without-approval"
    BLUE_GREEN_CORRUPTION = "blue-green-corruption"
    MIGRATION_LOCK_IN = "state-migration-lock-in"
    CASCADE = "cascading-failure"
    MONITORING = "insufficient-monitoring"
    HOTFIX_BYPASS = "hotfix-bypass"


class Severity(StrEnum):
    ERROR = "error"  # the plan or the deploy breaks the policy: exit 2, nothing changed
    REFUSED = "refused"  # not now (freeze, window, limit): exit 6, nothing changed
    GATE = "gate"  # allowed after a human approves a gate the policy puts first
    WARNING = "warning"  # worth knowing; does not stop anything


@dataclass(frozen=True)
class Finding:
    rule: str  # the policy key (or built-in rule) that speaks, e.g. maxFirstWeight
    threat: Threat
    severity: Severity
    message: str
    where: str = ""  # the place in the plan, e.g. steps[0].setWeight

    def line(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.severity.value}: [{self.threat.value}] {where}{self.message} ({self.rule})"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "threat": self.threat.value,
            "severity": self.severity.value,
            "message": self.message,
            "where": self.where,
        }
