"""The `shipsafe` command: parse arguments, call the engine, render. No logic here."""

from __future__ import annotations

import os
import sys

import typer

from shipsafe.cli import (
    audit_commands,
    aws_commands,
    aws_group,
    control_commands,
    deploy_command,
    examples,
    inspect_commands,
    keys_commands,
    plan_commands,
    policy_commands,
    replay_command,
    report_command,
    trust_commands,
)
from shipsafe.errors import ExitCode, UsageError

app = typer.Typer(
    name="shipsafe",
    help="Progressive delivery with circuit breakers, verified snapshots and automatic rollback.",
    no_args_is_help=True,
    add_completion=True,  # shipsafe --install-completion: ids and services complete
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"shipsafe {version('shipsafe')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("shipsafe (not installed)")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_version
    ),
) -> None:
    """Progressive delivery with circuit breakers, verified snapshots and automatic rollback."""


app.command()(plan_commands.validate)
app.command()(deploy_command.deploy)
app.command()(inspect_commands.status)
app.command("list")(inspect_commands.list_rollouts)
app.command()(control_commands.promote)
app.command()(control_commands.pause)
app.command()(control_commands.resume)
app.command()(control_commands.abort)
app.command()(control_commands.rollback)
app.command()(control_commands.approve)
app.add_typer(audit_commands.audit_app, name="audit")
app.add_typer(keys_commands.keys_app, name="keys")
app.add_typer(aws_commands.store_app, name="store")
app.add_typer(policy_commands.policy_app, name="policy")
app.add_typer(aws_group.aws_group, name="aws")
app.command()(report_command.report)
app.add_typer(trust_commands.trust_app, name="trust")
app.command()(plan_commands.schema)
app.command()(replay_command.replay)
examples.attach(app)


def _json_requested(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and i + 1 < len(argv):
            return argv[i + 1] == "json"
        if arg in ("-ojson", "--output=json"):
            return True
    return os.environ.get("SHIPSAFE_OUTPUT") == "json"


def _main_json(argv: list[str]) -> int:
    """With -o json, bad arguments too end in an error line and the one result line."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="shipsafe", standalone_mode=False)
    except Exception as exc:
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise  # not the argument parser's: nothing of ours gets here (exits() maps those)
        from shipsafe.render.json_lines import JsonLinesRenderer

        message = str(exc.format_message())
        renderer = JsonLinesRenderer()
        renderer.error(message, ExitCode.INVALID, code=UsageError.code)
        renderer.result(None, None, ExitCode.INVALID, message, error=UsageError.code)
        return ExitCode.INVALID
    return code if isinstance(code, int) else 0


def main() -> None:
    try:
        if _json_requested(sys.argv[1:]):
            sys.exit(_main_json(sys.argv[1:]))
        app()
    except KeyboardInterrupt:
        typer.echo("shipsafe: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
