"""The one exception tree of shipsafe; each class carries the exit code the CLI returns.

    ShipsafeError                 1  unexpected / internal
    ├── InputError                2  nothing was changed
    │   ├── PlanError                 invalid plan (file, line, field)
    │   ├── PolicyViolation           the plan or the deploy breaks the policy
    │   ├── UsageError                bad arguments, unknown rollout id, wrong phase for a command
    │   │   ├── WrongPhase                the rollout's phase does not allow the command
    │   │   ├── IllegalTransition         a phase change the transition table refuses
    │   │   ├── RolloutNotFound           no rollout by that id, prefix or service
    │   │   └── AmbiguousRollout          a prefix that names several rollouts
    │   ├── PreflightError            a check before traffic moved refused the deploy
    │   │   └── PreflightNoData           an analysis query returned no data
    │   └── ConfigurationError        a provider's target does not exist or is misconfigured
    ├── RefusedError              6  locked by another rollout, frozen environment, freeze window
    │   ├── LockedError
    │   └── PolicyRefusal             the policy says not now (freeze, window, limit)
    ├── StoreError                1  the state store cannot be read or written
    │   ├── NotAShipsafeStore     2  the file is not a shipsafe database
    │   └── ConflictError         1  another writer changed the record first
    ├── ProviderError             1  a router, metric source or snapshot provider failed
    │   └── TransientProviderError    worth retrying (socket refused, throttled, timeout)
    ├── RollbackFailed            5  the restore could not be verified: page a human
    ├── LeaseLost                 5  another process took the rollout's lease: this one stops
    ├── AuditError                5  the audit chain does not verify
    │   caught inside the engine, where the reason becomes an event or a rollback:
    ├── ApprovalRefused           an approval that does not verify (the reason is audited)
    ├── DataSnapshotError         a data snapshot cannot be taken or does not verify
    ├── BlueCheckFailed           blue is not what was snapshotted, or not healthy
    └── EvidenceMissing           a weight increase without evidence: an engine bug

Every error above is a ShipsafeError with a code. Below them, apart, the control-flow
signals (SIGNALS): raised and caught inside shipsafe, never shown to a user as they are, so
they carry no code and no exit code of their own:

    StopDriving                   end the drive between ticks (whoever raised it decides)
    └── TimedOut                      `deploy --timeout` ran out
    TargetFenced                  the router did not read what the rollout last verified
    YamlLimit                     unacceptable YAML at a line: the loader makes it a PlanError
    ConditionError (ValueError)   a bad condition: pydantic makes it a plan error
    LeaveNow (BaseException)      a second signal: stop now, whatever `except Exception` says
    JournalWaiting                an on-call rollback's journal entry waits for its driver

(The judge's ValueErrors stay in judge/: that package mirrors its upstream and is caught
where it is called.)

Every class carries a stable `code` (`plan.invalid`, `lock.held`, `preflight.no_data`, ...):
JSON error lines carry it so agents branch on it, never on the message. A code, once
published, is never renamed; a new case gets a new subclass with a new code.

Library exceptions never cross a provider or store boundary: they are translated there into
the most specific class above (`raise ProviderError(...) from exc`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipsafe.records import Reason


class ExitCode:
    OK = 0
    INTERNAL = 1
    INVALID = 2
    ROLLED_BACK = 3
    WAITING = 4
    ROLLBACK_FAILED = 5
    REFUSED = 6


class ShipsafeError(Exception):
    exit_code: int = ExitCode.INTERNAL
    code: str = "internal"
    # the rollout the error belongs to, when one was recorded (a refused or aborted deploy):
    # JSON output names it so an agent reading only the last line can find the record
    rollout_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ShipsafeError):
    exit_code = ExitCode.INVALID
    code = "input.invalid"


class PlanError(InputError):
    """An invalid plan. `problems` holds one line per problem, each naming file:line: field."""

    code = "plan.invalid"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class PolicyViolation(InputError):
    code = "policy.violation"

    def __init__(self, message: str, findings: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or [message]
        self.problems = self.findings


class UsageError(InputError):
    code = "usage.invalid"


class WrongPhase(UsageError):
    """A command the rollout's phase does not allow (pause a finished rollout)."""

    code = "rollout.wrong_phase"


class IllegalTransition(UsageError):
    """A phase change the transition table does not allow (engine/phases.py)."""

    code = "phase.illegal_transition"


class RolloutNotFound(UsageError):
    code = "rollout.not_found"


class AmbiguousRollout(UsageError):
    """A prefix that matches several rollouts; `candidates` lists their ids."""

    code = "rollout.ambiguous"

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class PreflightError(InputError):
    code = "preflight.failed"


class PreflightNoData(PreflightError):
    code = "preflight.no_data"


class ConfigurationError(InputError):
    code = "config.invalid"


class RefusedError(ShipsafeError):
    exit_code = ExitCode.REFUSED
    code = "refused"


class LockedError(RefusedError):
    code = "lock.held"


class PolicyRefusal(RefusedError):
    code = "policy.refused"

    def __init__(self, message: str, findings: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or [message]
        self.problems = self.findings


class StoreError(ShipsafeError):
    """The state store did not answer or refused (locked database, throttled table, lost
    connection). Exit 5: what the rollout holds cannot be verified until the store answers,
    and a human must know; it is never exit 1, whatever command met it."""

    exit_code = ExitCode.ROLLBACK_FAILED
    code = "store.failed"


class StoreLocked(StoreError):
    """The SQLite store stayed write-locked by another process for the whole busy timeout (a
    driver frozen inside a write transaction, say). It can still be read (WAL)."""

    code = "store.locked"


class StoreUnopenable(StoreError):
    """The state store named by --state / SHIPSAFE_STATE cannot be opened or created (a
    directory that cannot be made, a file that cannot be opened). Nothing was read or
    changed yet, so it is a bad argument (exit 2), not an unverifiable state."""

    exit_code = ExitCode.INVALID
    code = "store.cannot_open"


class NotAShipsafeStore(StoreError):
    exit_code = ExitCode.INVALID
    code = "store.not_shipsafe"


class ConflictError(StoreError):
    code = "store.conflict"


class ProviderError(ShipsafeError):
    code = "provider.failed"


class TransientProviderError(ProviderError):
    code = "provider.transient"


class RollbackFailed(ShipsafeError):
    exit_code = ExitCode.ROLLBACK_FAILED
    code = "rollback.failed"


class LeaseLost(ShipsafeError):
    """This process's lease (its fencing epoch) is stale: another process took the rollout
    over. Nothing more may be written, to the store or to the router; the process stops."""

    exit_code = ExitCode.ROLLBACK_FAILED
    code = "lease.lost"


class AuditError(ShipsafeError):
    exit_code = ExitCode.ROLLBACK_FAILED
    code = "audit.failed"


class ApprovalRefused(ShipsafeError):
    """An approval that does not verify; the reason goes to the audit log."""

    code = "approval.refused"


class DataSnapshotError(ShipsafeError):
    """A data snapshot could not be taken or does not verify (the message says which)."""

    code = "data_snapshot.failed"


class BlueCheckFailed(ShipsafeError):
    """A check of blue failed before cutover or before cutting back; `reason` is the
    records.Reason the rollback or refusal carries."""

    code = "blue.check_failed"

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EvidenceMissing(ShipsafeError):
    """The engine was about to raise a weight, or promote, without evidence at the current
    weight (engine/evidence.py): a bug in the engine, never a plan error."""

    code = "engine.evidence_missing"


# -- control-flow signals: not errors ---------------------------------------------------------
# Raised and caught inside shipsafe; none reaches the CLI's error handler as itself, so none
# is a ShipsafeError and none has a code or an exit code (the code that catches one decides
# what the user sees: a PlanError, a rollback, a pause, exit 5 naming what to do).


class StopDriving(Exception):
    """Raised between ticks (by an injected clock or hook) to end the drive here; whoever
    raised it decides what follows (deploy --timeout: a rollback). Not an internal error."""


class TimedOut(StopDriving):
    """`deploy --timeout` ran out (raised between ticks, never inside one)."""


class TargetFenced(Exception):
    """The router did not read what this rollout last verified (RolloutEngine.fence): the
    rollout is paused and the tick ends without writing."""


class YamlLimit(Exception):
    """The document is not acceptable YAML; `line` is 1-based, or None for the whole file.
    The loader turns it into a PlanError naming the file and line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class ConditionError(ValueError):
    """The expression does not parse, names something other than `result`, or is not bool.
    A ValueError so that pydantic, validating a plan, reports it as a plan error."""


class LeaveNow(BaseException):
    """A second signal within interrupts.SECOND_SIGNAL_SECONDS: stop driving; the rollout is
    left as it is for `shipsafe rollback`. A BaseException so that no `except Exception`
    swallows it."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class JournalWaiting(Exception):
    """A journaled rollback that cannot be recorded yet (its driver is alive): the on-call
    rollback says so and leaves the journal entry for the next command."""


SIGNALS: tuple[type[BaseException], ...] = (
    StopDriving, TimedOut, TargetFenced, YamlLimit, ConditionError, LeaveNow, JournalWaiting,
)


_LOCATED = re.compile(
    r"^(?P<file>[^:\s][^:]*?)(?::(?P<line>\d+))?: (?:(?P<field>[A-Za-z0-9_.\[\]\-]+): )?"
)


def location(problem: str) -> dict[str, str | int]:
    """The file, line and field a problem line names (`plan.yaml:12: steps[0].setWeight: ...`),
    for JSON error lines; empty when the line names none."""
    match = _LOCATED.match(problem)
    if match is None:
        return {}
    found: dict[str, str | int] = {"file": match["file"]}
    if match["line"]:
        found["line"] = int(match["line"])
    if match["field"]:
        found["field"] = match["field"]
    return found
