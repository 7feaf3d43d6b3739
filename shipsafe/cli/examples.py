"""The examples that end every command's help (`shipsafe VERB -h`), in one place.

Keyed by the command's path under `shipsafe`; app.py attaches them as epilogs, and a test
checks that every command has some.
"""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, list[str]] = {
    "validate": [
        "shipsafe validate plans/local-canary.yaml --set release.version=1.1.0",
        "shipsafe validate plan.yaml --set release.version=2.4.1 -o json",
    ],
    "deploy": [
        "shipsafe deploy plans/local-canary.yaml",
        "shipsafe deploy plan.yaml --set release.version=$GITHUB_SHA --timeout 30m "
        "--summary summary.md --junit junit.xml",
        "shipsafe deploy plan.yaml --detach -o json      # exit 4 at the first human gate",
    ],
    "status": [
        "shipsafe status                       # the rollouts active now",
        "shipsafe status checkout --env production --tail 20",
        "shipsafe status demo-2026 --watch --timeout 15m   # exits with the rollout's code",
    ],
    "list": ["shipsafe list", "shipsafe list --service checkout --env production -n 5"],
    "promote": ["shipsafe promote checkout --env production", "shipsafe promote demo-2026 --full"],
    "pause": ["shipsafe pause checkout --env production"],
    "resume": ["shipsafe resume checkout", "shipsafe resume demo-20261201-152858 --detach"],
    "abort": ['shipsafe abort checkout --env staging --reason "wrong build"'],
    "rollback": [
        'shipsafe rollback checkout --env production --reason "p99 up"',
        "shipsafe rollback demo-20261201-152858-ead6 -o json",
    ],
    "approve": [
        "shipsafe approve checkout --env production --key ~/.shipsafe/alice.pem",
        "shipsafe approve demo-2026 --gate prod-gate --key k.pem --sign-only > approval.json",
        "shipsafe approve demo-2026 --signed approval.json",
    ],
    "report": [
        "shipsafe report checkout --env production      # writes ROLLOUT-ID.html",
        "shipsafe report demo-2026 --out rollback.html --png rollback.png",
    ],
    "schema": ["shipsafe schema > shipsafe-plan.schema.json"],
    "replay": [
        "shipsafe replay plan.yaml --from 2026-11-30T14:00:00Z --to 2026-11-30T15:00:00Z",
        "shipsafe replay plan.yaml --from 1764511200 --to 1764514800 --save incident.json",
        "shipsafe replay plan.yaml --from 2026-11-30T14:00Z --to 2026-11-30T15:00Z "
        "--capture incident.json -o json",
    ],
    "audit verify": ["shipsafe audit verify", "shipsafe audit verify --audit-log team/audit.jsonl"],
    "audit repair": [
        "shipsafe audit repair",
        "shipsafe audit repair --accept-current-log --reason 'restored from backup, INC-42'",
    ],
    "audit pending": ["shipsafe audit pending"],
    "keys generate": ["shipsafe keys generate --out ~/.shipsafe/alice.pem"],
    "store init": ["shipsafe store init dynamodb://shipsafe-state"],
    "policy pin": ["shipsafe policy pin --state dynamodb://shipsafe-state"],
    "policy show": ["shipsafe policy show"],
    "trust init": ["shipsafe trust init --admin ops=/root/keys/ops.pub "
                   "--sign-with /root/keys/ops.key --policy org-policy.yaml"],
    "trust add-key": ["shipsafe trust add-key --identity bob --kind human --group release "
                      "--public-key bob.pub --sign-with /root/keys/ops.key"],
    "trust remove-key": ["shipsafe trust remove-key --identity bob "
                         "--sign-with /root/keys/ops.key"],
    "trust sign-policy": ["shipsafe trust sign-policy org-policy.yaml "
                          "--sign-with /root/keys/ops.key"],
    "trust set-witness": ["shipsafe trust set-witness /var/lib/shipsafe/witness.log "
                          "--sign-with /root/keys/ops.key",
                          "shipsafe trust set-witness s3://acme-shipsafe-witness/prod "
                          "--region eu-west-1 --sign-with /root/keys/ops.key"],
    "trust publish": ["shipsafe trust publish dynamodb://shipsafe-state "
                      "--root /root/shipsafe/trust.yaml"],
    "trust show": ["shipsafe trust show", "shipsafe trust show --root ./trust.yaml",
                   "shipsafe trust show --root /etc/shipsafe/trust-location.yaml"],
    "aws permissions": [
        "shipsafe aws permissions plans/aws-alb-canary.yaml",
        "shipsafe aws permissions plan.yaml --state dynamodb://shipsafe-state > policy.json",
    ],
}


def epilog(path: str) -> str | None:
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    # \b: click keeps the paragraph as written (no re-wrapping of the command lines)
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def attach(app: Any, prefix: str = "") -> None:
    """Give every command registered on `app` (and its sub-apps) its examples as epilog."""
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        if info.epilog is None:
            info.epilog = epilog(f"{prefix}{name}")
    for group in app.registered_groups:
        attach(group.typer_instance, f"{prefix}{group.name} ")
