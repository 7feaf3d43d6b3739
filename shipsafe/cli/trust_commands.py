"""`shipsafe trust init|add-key|remove-key|sign-policy|show`: the trust root, for admins.

Run by root (or whoever owns the trust root's directory) with an admin's private key:
every change raises the document's serial and re-signs it. Deploying users only read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipsafe.cli.common import exits

if TYPE_CHECKING:
    from shipsafe.trust.root import TrustRootFile

trust_app = typer.Typer(
    help="The trust root: admin keys, and the policy and actors' keys they sign.",
    no_args_is_help=True,
)

RootOpt = Annotated[
    str | None,
    typer.Option("--root", help="The trust root file (default: SHIPSAFE_TRUST_ROOT or "
                 "/etc/shipsafe/trust.yaml).", show_default=False),
]
SignOpt = Annotated[
    list[str],
    typer.Option("--sign-with", help="An admin's private key (repeat up to the threshold)."),
]


def _path(root: str | None) -> Path:
    from shipsafe.trust.root import root_path

    return Path(root) if root else root_path()[0]


def _save(path: Path, parsed: TrustRootFile, sign_with: list[str]) -> None:
    from shipsafe.trust.keys import load_private
    from shipsafe.trust.root import sign_root, verify_root, write_root

    signed = sign_root(parsed, [load_private(Path(k)) for k in sign_with])
    verify_root(signed, str(path))  # enough signatures, valid keys: or nothing is written
    write_root(path, signed)
    typer.echo(f"{path}: serial {signed.document.serial}, {len(signed.document.actors)} "
               f"actor key(s), signed by {len(signed.signatures)} admin(s)")


def _policy_mapping(policy: str | None) -> dict[str, Any]:
    from shipsafe.policy import _read_policy, builtin_policy

    chosen = _read_policy(Path(policy)) if policy else builtin_policy().policy
    return chosen.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _next(parsed: TrustRootFile, **changes: Any) -> TrustRootFile:
    from shipsafe.clock import SystemClock

    document = parsed.document.model_copy(
        update={"serial": parsed.document.serial + 1,
                "issued_at": SystemClock().now().isoformat(), **changes}
    )
    return parsed.model_copy(update={"document": document, "signatures": []})


@trust_app.command("init")
@exits
def init(
    admin: Annotated[
        list[str], typer.Option("--admin", help="IDENTITY=PUBLIC-KEY-FILE of an admin (repeat).")
    ],
    sign_with: SignOpt,
    root: RootOpt = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="Policy file (default: the built-in one).")
    ] = None,
    threshold: Annotated[int, typer.Option("--threshold", help="Admin signatures needed.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing root.")] = False,
) -> None:
    """Create the trust root: its admins, a policy, no actors yet."""
    from shipsafe.clock import SystemClock
    from shipsafe.errors import UsageError
    from shipsafe.trust.root import AdminKey, TrustDocument, TrustRootFile

    path = _path(root)
    if path.exists() and not force:
        raise UsageError(f"{path} exists; change it with add-key / sign-policy (or --force)")
    admins = []
    for entry in admin:
        identity, _, pub = entry.partition("=")
        if not identity or not pub:
            raise UsageError(f"--admin {entry!r}: give IDENTITY=PUBLIC-KEY-FILE")
        try:
            admins.append(AdminKey(identity=identity, public_key=Path(pub).read_text().strip()))
        except OSError as exc:
            raise UsageError(f"--admin {entry!r}: {exc.strerror}") from None
    if threshold > len(admins):
        raise UsageError(f"--threshold {threshold} is more than the {len(admins)} admin(s)")
    document = TrustDocument(serial=1, issued_at=SystemClock().now().isoformat(),
                             policy=_policy_mapping(policy), actors=[])
    parsed = TrustRootFile(admins=admins, threshold=threshold, document=document)
    _save(path, parsed, sign_with)


@trust_app.command("add-key")
@exits
def add_key(
    identity: Annotated[str, typer.Option("--identity", help="Who the key belongs to.")],
    kind: Annotated[str, typer.Option("--kind", help="human, ci or agent.")],
    public_key: Annotated[str, typer.Option("--public-key", help="The .pub file.")],
    sign_with: SignOpt,
    group: Annotated[list[str] | None, typer.Option("--group", help="Group (repeat).")] = None,
    root: RootOpt = None,
) -> None:
    """Add (or replace, by identity) an actor's key and kind."""
    from shipsafe.errors import UsageError
    from shipsafe.trust.keys import decode_public
    from shipsafe.trust.root import ActorKey, parse_root_file

    if kind not in ("human", "ci", "agent"):
        raise UsageError("--kind is human, ci or agent")
    path = _path(root)
    parsed = parse_root_file(path)
    try:
        text = Path(public_key).read_text().strip()
        decode_public(text)
    except OSError as exc:
        raise UsageError(f"{public_key}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{public_key}: {exc}") from None
    actor = ActorKey(identity=identity, kind=kind, groups=list(group or []),  # type: ignore[arg-type]
                     public_key=text)
    actors = [a for a in parsed.document.actors
              if a.identity != identity and a.public_key != text]
    _save(path, _next(parsed, actors=[*actors, actor]), sign_with)


@trust_app.command("remove-key")
@exits
def remove_key(
    identity: Annotated[str, typer.Option("--identity", help="Whose key to remove.")],
    sign_with: SignOpt,
    root: RootOpt = None,
) -> None:
    """Remove an actor's key."""
    from shipsafe.errors import UsageError
    from shipsafe.trust.root import parse_root_file

    path = _path(root)
    parsed = parse_root_file(path)
    actors = [a for a in parsed.document.actors if a.identity != identity]
    if len(actors) == len(parsed.document.actors):
        raise UsageError(f"{identity} has no key in {path}")
    _save(path, _next(parsed, actors=actors), sign_with)


@trust_app.command("sign-policy")
@exits
def sign_policy(
    policy: Annotated[str, typer.Argument(help="The policy file.")],
    sign_with: SignOpt,
    root: RootOpt = None,
) -> None:
    """Make POLICY the policy every deploy obeys."""
    from shipsafe.trust.root import parse_root_file

    path = _path(root)
    parsed = parse_root_file(path)
    _save(path, _next(parsed, policy=_policy_mapping(policy)), sign_with)


@trust_app.command("set-witness")
@exits
def set_witness(
    path: Annotated[str, typer.Argument(
        help="The append-only witness file, or s3://BUCKET/PREFIX of a bucket with Object "
        "Lock in COMPLIANCE mode ('' for none).")],
    sign_with: SignOpt,
    root: RootOpt = None,
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", help="s3:// only: the S3 endpoint URL every deploy reaches the witness "
        "at, whatever its environment says (default AWS's https://s3.REGION.amazonaws.com).")
    ] = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="s3:// only: the bucket's region (default: this shell's AWS region).")
    ] = None,
    proxy: Annotated[str | None, typer.Option(
        "--proxy", help="s3:// only: the proxy (http://HOST:PORT) every deploy reaches the "
        "witness through, for machines that reach S3 only through one (default: direct, "
        "whatever HTTPS_PROXY says).")
    ] = None,
) -> None:
    """Name the audit witness every audit record is also checkpointed to. Prepare it first:
    a file, as root: `install -m 0666 /dev/null PATH && chattr +a PATH` (ext4/xfs/btrfs; not
    tmpfs); a bucket: created with Object Lock and a COMPLIANCE default retention. An S3
    witness's endpoint and region are recorded in the root: deploys ignore AWS_ENDPOINT_URL*,
    AWS_CA_BUNDLE and proxies for it."""
    from shipsafe.audit.witness import unprotected
    from shipsafe.errors import UsageError
    from shipsafe.trust.root import parse_root_file

    pinned: dict[str, str | None] = {"audit_witness_endpoint": None,
                                     "audit_witness_region": None, "audit_witness_proxy": None}
    if path.startswith("s3://"):
        from shipsafe.audit.s3_witness import S3Witness
        from shipsafe.providers import aws_common

        region = region or aws_common.chain_region()
        if not region:
            raise UsageError("trust set-witness s3://...: no region: pass --region (the "
                             "bucket's region, recorded in the trust root)")
        endpoint = _endpoint_url(endpoint) if endpoint else aws_common.default_endpoint(
            "s3", region)
        proxy = _endpoint_url(proxy, "--proxy") if proxy else None
        S3Witness.from_url(path, endpoint=endpoint, region=region,  # exit 2 unless locked
                           proxy=proxy).check()
        pinned = {"audit_witness_endpoint": endpoint, "audit_witness_region": region,
                  "audit_witness_proxy": proxy}
    else:
        if endpoint or region or proxy:
            raise UsageError("--endpoint, --region and --proxy name where an s3:// witness is "
                             "reached")
        if path:
            why = unprotected(Path(path))
            if why is not None:
                raise UsageError(why)
    target = _path(root)
    parsed = parse_root_file(target)
    _save(target, _next(parsed, audit_witness=path or None, **pinned), sign_with)


def _endpoint_url(text: str, option: str = "--endpoint") -> str:
    """http(s)://HOST[:PORT] (an endpoint may add a path; a proxy may not), no query and no
    credentials (the root is readable by everyone); UsageError otherwise."""
    from urllib.parse import urlparse

    from shipsafe.errors import UsageError

    parsed = urlparse(text)
    pathless = option != "--proxy" or parsed.path in ("", "/")
    if (parsed.scheme not in ("http", "https") or not parsed.hostname or not pathless
            or parsed.query or parsed.fragment or parsed.params
            or parsed.username or parsed.password):
        shown = text if parsed.password is None else text.replace(parsed.password, "***")
        raise UsageError(f"{option} {shown}: must be http(s)://HOST[:PORT]"
                         f"{'' if option == '--proxy' else '[/PATH]'} with no query, user or "
                         "password")
    return text.rstrip("/")


@trust_app.command("publish")
@exits
def publish(
    table: Annotated[str, typer.Argument(help="dynamodb://TABLE: the team table to hold it.")],
    root: RootOpt = None,
) -> None:
    """Publish the trust root file into a team table's reserved item (pk trust-root), for
    SHIPSAFE_TRUST_ROOT=dynamodb://TABLE. Run as an admin identity IAM lets write that item;
    deploying identities must be denied it (README, Trust model)."""
    from shipsafe.errors import UsageError
    from shipsafe.trust.root import parse_root_file, read_root
    from shipsafe.trust.store_root import is_store_root, publish

    if not is_store_root(table):
        raise UsageError(f"{table}: publish to dynamodb://TABLE")
    path = _path(root)
    read_root(path)  # safe and signed, as a deploy would check it
    typer.echo(publish(table, parse_root_file(path)))


@trust_app.command("show")
@exits
def show(root: RootOpt = None) -> None:
    """Check the trust root as a deploy would (file modes; for a location file, the table's
    root signed by the admins it pins and unwritable by this identity) and summarise it."""
    from shipsafe.trust.loading import load_root, read_root_or_location
    from shipsafe.trust.root import ROOT_ENV

    if root:
        loaded = read_root_or_location(Path(root))
    else:
        found = load_root()
        if found is None:
            from shipsafe.errors import PolicyViolation

            raise PolicyViolation(f"no trust root ({ROOT_ENV} or /etc/shipsafe/trust.yaml)")
        loaded = found
    where = loaded.source
    typer.echo(
        f"{where}: safe and signed; serial {loaded.serial}, {len(loaded.admins)} admin(s), "
        f"threshold {loaded.threshold}, sha256:{loaded.digest[:12]}"
    )
    for key in loaded.actors:
        groups = f" [{', '.join(key.groups)}]" if key.groups else ""
        typer.echo(f"  {key.identity}: {key.kind.value}{groups} {key.key_id}")
