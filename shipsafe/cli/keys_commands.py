"""`shipsafe keys generate`: an ed25519 key pair for signing approvals."""

from __future__ import annotations

from typing import Annotated

import typer

from shipsafe.cli.common import exits

keys_app = typer.Typer(help="Approvers' signing keys (ed25519).", no_args_is_help=True)


@keys_app.command("generate")
@exits
def generate(
    identity: Annotated[
        str, typer.Option("--identity", help="Who the key belongs to (for the trust root).")
    ],
    out: Annotated[
        str, typer.Option("--out", help="Path prefix: writes PREFIX.key and PREFIX.pub.")
    ],
    kind: Annotated[
        str, typer.Option("--kind", help="human, ci or agent (only human keys approve).")
    ] = "human",
    group: Annotated[
        list[str] | None, typer.Option("--group", help="Trust-file group (repeatable).")
    ] = None,
) -> None:
    """Write a key pair and print the command an admin runs to add it to the trust root.

    The private key (PREFIX.key, mode 600) stays with its owner, who uses it as SHIPSAFE_KEY;
    only the public key goes into the trust root, which admins sign.
    """
    from pathlib import Path

    import yaml

    from shipsafe.approvals import generate_keys
    from shipsafe.errors import UsageError

    if kind not in ("human", "ci", "agent"):
        raise UsageError("--kind is human, ci or agent")
    private, public, encoded = generate_keys(Path(out))
    typer.echo(f"wrote {private} (private: keep it to yourself) and {public}", err=True)
    groups = "".join(f" --group {g}" for g in group or [])
    typer.echo(
        f"# an admin adds it: shipsafe trust add-key --identity {identity} --kind {kind}"
        f"{groups} --public-key {public} --sign-with ADMIN.key",
        err=True,
    )
    entry = {"identity": identity, "kind": kind, "groups": list(group or []),
             "publicKey": encoded}
    typer.echo(yaml.safe_dump([entry], sort_keys=False).rstrip())
