"""The `shipsafe` command: parse arguments, call the engine, render. No logic here."""

from __future__ import annotations

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
)

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
app.command()(plan_commands.schema)
app.command()(replay_command.replay)
examples.attach(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("shipsafe: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
