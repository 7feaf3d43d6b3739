"""What every command shares: options, the context it builds, one error handler, exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from shipsafe.errors import ExitCode, ShipsafeError
from shipsafe.interrupts import LeaveNow

F = TypeVar("F", bound=Callable[..., Any])


class Output(StrEnum):
    human = "human"
    json = "json"


StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        envvar="SHIPSAFE_STATE",
        help="State store: a SQLite path (default: one per user, "
        "$XDG_STATE_HOME/shipsafe/state.db, else ~/.local/state/shipsafe/state.db) or "
        "dynamodb://TABLE (a team's shared store).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Output,
    typer.Option("--output", "-o", envvar="SHIPSAFE_OUTPUT", help="human, or json (one per line)."),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor", envvar="SHIPSAFE_ACTOR", help="Who is acting (default user@host).",
        show_default=False,
    ),
]
AgentOpt = Annotated[
    bool,
    typer.Option("--agent", help="Declare that an AI agent is acting (or SHIPSAFE_AGENT=1)."),
]
AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit-log",
        envvar="SHIPSAFE_AUDIT_LOG",
        help="Audit log file (default: audit.jsonl beside the state file).",
        show_default=False,
    ),
]

PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        envvar="SHIPSAFE_POLICY",
        help="Organisation policy file (default: the built-in policy).",
        show_default=False,
    ),
]
TrustOpt = Annotated[
    str | None,
    typer.Option(
        "--trust",
        envvar="SHIPSAFE_TRUST",
        help="Trust file of approvers' public keys (if the policy names none).",
        show_default=False,
    ),
]
UtcOpt = Annotated[
    bool,
    typer.Option(
        "--utc",
        envvar="SHIPSAFE_UTC",
        help="Print times in UTC (default: local time with its offset).",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="KEY=VALUE for a field a pipeline may set: release.version, release.artifact, "
        "metadata.labels.KEY (never queries or commands); ${VAR} in those fields expands from "
        "the environment. Both are in the plan's digest.",
        show_default=False,
    ),
]


@dataclass
class Settings:
    state: str | None = None
    output: Output = Output.human
    actor: str | None = None
    agent: bool = False
    audit_log: str | None = None
    utc: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def json(self) -> bool:
        return self.output == Output.json


def open_audit(
    settings: Settings,
    store: Any,
    mirrors: list[Any] | None = None,
    witness: Any = None,
    signer: Any = None,
) -> Any:
    """The audit log: the file given (--audit-log), or - with a team store (dynamodb://) -
    the chain inside that store, so no record stays in one machine's working directory;
    else audit.jsonl beside the SQLite state file (by default in the user's XDG state
    directory, never the working directory). `signer`: the acting key's proofs, which sign
    every record when the trust root lists the key."""
    from shipsafe.audit.file import FileAuditLog

    if settings.audit_log is None and store is not None and "://" in store.url:
        from shipsafe.audit.store_log import StoreAuditLog

        return StoreAuditLog(store, mirrors, signer=signer, witness=witness)
    return FileAuditLog(audit_path(settings), store, mirrors=mirrors, witness=witness,
                        signer=signer)


def audit_path(settings: Settings) -> Path:
    if settings.audit_log:
        return Path(settings.audit_log)
    from shipsafe.store import default_state_dir, state_url

    url = state_url(settings.state)
    if "://" in url:
        return default_state_dir() / "audit.jsonl"
    return Path(url).parent / "audit.jsonl"


def witness_of(root: Any) -> Any:
    """The audit witness the trust root names, or None: an S3 bucket with Object Lock
    (s3://BUCKET/PREFIX, a team's witness: every machine's records go there) or an
    append-only file (one machine)."""
    named = root.document.audit_witness if root is not None else None
    if not named:
        return None
    if named.startswith("s3://"):
        from shipsafe.audit.s3_witness import S3Witness  # boto3 only when one is named

        return S3Witness.of_root(root.document)
    from shipsafe.audit.witness import FileWitness

    return FileWitness(named)


def fail(message: str, code: int = ExitCode.INVALID) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"shipsafe: {message}", err=True)
    return typer.Exit(code)


def exits(fn: F) -> F:
    """Map shipsafe errors to one line on stderr and their exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        output = kwargs.get("output")
        try:
            return fn(*args, **kwargs)
        except ShipsafeError as exc:
            _report_unless_gone(exc, output)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BrokenPipeError:  # `shipsafe ... | head`: the reader has what it wanted
            from shipsafe.render.human import silence_stdout

            silence_stdout()
            raise typer.Exit(ExitCode.OK) from None
        except KeyboardInterrupt:
            typer.echo("shipsafe: interrupted", err=True)
            raise typer.Exit(130) from None
        except LeaveNow as exc:  # a second signal outside a drive: whatever began is left
            from shipsafe.errors import RollbackFailed

            _report(
                RollbackFailed(
                    f"{exc.signal_name} again: stopped; a rollout this command began is left "
                    "for `shipsafe rollback ID` (`shipsafe list` names it)"
                ),
                output,
            )
            raise typer.Exit(ExitCode.ROLLBACK_FAILED) from None
        except Exception as exc:  # an internal error: say so in one line
            if os.environ.get("SHIPSAFE_DEBUG"):
                raise
            _report_unless_gone(
                ShipsafeError(
                    f"internal error: {type(exc).__name__}: {exc} (SHIPSAFE_DEBUG=1 shows more)"
                ),
                output,
            )
            raise typer.Exit(ExitCode.INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def _report_unless_gone(exc: ShipsafeError, output: Any) -> None:
    """Report, unless the reader of our output went away (`shipsafe validate x 2>&1 | head
    -1`): the exit code must still be the error's, not 1 from a BrokenPipeError."""
    import sys

    try:
        _report(exc, output)
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        from shipsafe.render.human import silence_stdout

        silence_stdout()
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stderr.fileno())
        except (OSError, ValueError):
            pass


def _report(exc: ShipsafeError, output: Any) -> None:
    """Human: one line per problem on stderr. JSON: one `error` line per problem (its stable
    code, and the file, line and field where a plan names them), then the one `result` line
    every run ends with, refusals included."""
    problems: list[str] | None = getattr(exc, "problems", None)
    lines = problems if problems else [exc.message]
    if output == Output.json:
        from shipsafe.errors import PlanError, PolicyViolation, location
        from shipsafe.render.json_lines import JsonLinesRenderer

        renderer = JsonLinesRenderer()
        located = isinstance(exc, PlanError | PolicyViolation)
        for line in lines:
            where = location(line) if located else {}
            renderer.error(line, exc.exit_code, exc.rollout_id, code=exc.code, **where)
        renderer.result(exc.rollout_id, None, exc.exit_code, exc.message, error=exc.code)
        return
    for line in lines:
        typer.echo(f"shipsafe: {line}" if not problems else line, err=True)


def is_tty() -> bool:
    return sys.stdout.isatty()
