"""The one exception tree of shipsafe; each class carries the exit code the CLI returns.

    ShipsafeError                 1  unexpected / internal
    ├── InputError                2  nothing was changed
    │   ├── PlanError                 invalid plan (file, line, field)
    │   ├── PolicyViolation           the plan or the deploy breaks the policy
    │   ├── UsageError                bad arguments, unknown rollout id, wrong phase for a command
    │   ├── PreflightError            a check before traffic moved refused the deploy
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
    └── AuditError                5  the audit chain does not verify

Library exceptions never cross a provider or store boundary: they are translated there into
the most specific class above (`raise ProviderError(...) from exc`).
"""

from __future__ import annotations


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


class PlanError(InputError):
    """An invalid plan. `problems` holds one line per problem, each naming file:line: field."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class PolicyViolation(InputError):
    def __init__(self, message: str, findings: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or [message]
        self.problems = self.findings


class UsageError(InputError):
    pass


class PreflightError(InputError):
    pass


class ConfigurationError(InputError):
    pass


class RefusedError(ShipsafeError):
    exit_code = ExitCode.REFUSED


class LockedError(RefusedError):
    pass


class PolicyRefusal(RefusedError):
    def __init__(self, message: str, findings: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = findings or [message]
        self.problems = self.findings


class StoreError(ShipsafeError):
    pass


class NotAShipsafeStore(StoreError):
    exit_code = ExitCode.INVALID


class ConflictError(StoreError):
    pass


class ProviderError(ShipsafeError):
    pass


class TransientProviderError(ProviderError):
    pass


class RollbackFailed(ShipsafeError):
    exit_code = ExitCode.ROLLBACK_FAILED


class AuditError(ShipsafeError):
    exit_code = ExitCode.ROLLBACK_FAILED
