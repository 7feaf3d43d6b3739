"""The trust root kept in a team store: a reserved item of the DynamoDB table
(pk `trust-root`, sk `root`) holding the same document as /etc/shipsafe/trust.yaml, named by
a root-owned location file (kind TrustRootLocation: the table, the admin keys that must
vouch for it, and optionally the endpoint and region it is reached at), never by the
environment. The table's client is pinned to that endpoint (default AWS's regional one):
the environment's AWS_ENDPOINT_URL*, CA bundle and proxies do not apply; its credentials do.

It is verified exactly as the file root (admin keys - here, the ones the location pins; the
policy and actors' keys signed by them). What makes it a root is that the deploying
identity cannot write it - IAM denies writes to that partition (README, Trust model). The
equivalent of ssh's StrictModes is a proof, on every read: a conditional UpdateItem of that
item whose condition can never hold (`attribute_exists(pk) AND attribute_not_exists(pk)`),
so it never writes. DynamoDB checks IAM before the condition:

    AccessDenied (or HTTP 403)   the caller cannot write the root: used
    ConditionalCheckFailed       the caller could have written it: refused (exit 2)
    anything else                nothing proven: refused (exit 2)

Admins publish the root with `shipsafe trust publish dynamodb://TABLE` (from the file they
keep), each publish conditional on a higher serial.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from shipsafe.errors import PolicyViolation, ShipsafeError
from shipsafe.plan.base import PlanModel, first_error
from shipsafe.providers import aws_common
from shipsafe.trust.root import TrustRoot, TrustRootFile, verify_root

PK, SK = "trust-root", "root"
NEVER = "attribute_exists(#pk) AND attribute_not_exists(#pk)"
DENIED = {"AccessDeniedException", "AccessDenied"}


def is_store_root(named: str) -> bool:
    return named.startswith("dynamodb://")


def _table(url: str) -> tuple[str, str | None]:
    from shipsafe.store.dynamodb_items import parse_url

    try:
        return parse_url(url)
    except ShipsafeError as exc:
        raise PolicyViolation(f"trust root {url}: {exc.message}") from None


def _client(url: str, client: Any) -> tuple[str, Any]:
    table, region = _table(url)
    return table, client or aws_common.client("dynamodb", region)


def _pinned_client(url: str, client: Any, endpoint: str | None,
                   region: str | None, proxy: str | None = None) -> tuple[str, Any]:
    """The table and a client for the endpoint and region the location file pins (default
    AWS's regional endpoint): the environment's endpoint variables, CA bundle and proxies do
    not apply (aws_common.pinned_client)."""
    table, url_region = _table(url)
    if client is not None:
        return table, client
    try:
        return table, aws_common.pinned_client("dynamodb", endpoint, region or url_region,
                                               proxy)
    except ShipsafeError as exc:
        raise PolicyViolation(f"trust root {url}: {exc.message}") from None


def _key() -> dict[str, dict[str, str]]:
    return {"pk": {"S": PK}, "sk": {"S": SK}}


def read_store_root(url: str, admins: list[str], client: Any = None,
                    endpoint: str | None = None, region: str | None = None,
                    account: str | None = None, check_writable: bool = True,
                    proxy: str | None = None) -> TrustRoot:
    """The verified trust root in TABLE's reserved item, read at the endpoint and region the
    location file pins; PolicyViolation (exit 2) when it is missing, unreadable, not signed
    by its admins, vouched for by other admins than the location file pins (`admins`: public
    keys), writable by the caller (unless not `check_writable`: only described, never used),
    or (`account` pinned) in a table of another account."""
    import yaml

    table, db = _pinned_client(url, client, endpoint, region, proxy)
    source = f"{url} (item pk={PK})"
    if account is not None:
        _check_account(table, db, account, source)
    try:
        with aws_common.aws_errors(f"trust root {source}", checking=True):
            item = db.get_item(TableName=table, Key=_key(), ConsistentRead=True).get("Item")
    except ShipsafeError as exc:
        raise PolicyViolation(f"cannot read the trust root: {_one_line(exc.message)}") from None
    text = ((item or {}).get("document") or {}).get("S")
    if not text:
        raise PolicyViolation(f"{source}: no trust root there (an admin publishes it with "
                              f"shipsafe trust publish {url})")
    try:
        data = yaml.safe_load(text)
        parsed = TrustRootFile.model_validate(data if isinstance(data, dict) else {})
    except (yaml.YAMLError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise PolicyViolation(f"{source}: not a trust root: {first}") from None
    root = verify_root(parsed, source)
    if _key_ids([a.public_key for a in parsed.admins]) != _key_ids(admins):
        raise PolicyViolation(
            f"trust root refused: {source} is vouched for by other admin keys than the "
            "location file names (another table, account or endpoint answered?)")
    why = writable_reason(table, db) if check_writable else None
    if why is not None:
        raise PolicyViolation(
            f"trust root refused: {source} {why}; deny the deploying identities "
            "dynamodb:PutItem/UpdateItem/DeleteItem on it (README, Trust model)")
    return root


def _check_account(table: str, db: Any, account: str, source: str) -> None:
    """The table the credentials reach is the one in the pinned account: a table of the same
    name in an account of the deploying process's own (its credentials choose the account)
    could answer with an older document the same admins signed."""
    try:
        with aws_common.aws_errors(f"trust root {source}", checking=True):
            arn = db.describe_table(TableName=table)["Table"]["TableArn"]
    except ShipsafeError as exc:
        raise PolicyViolation(
            f"cannot check the trust root's account: {_one_line(exc.message)}"
        ) from None
    parts = str(arn).split(":")
    found = parts[4] if len(parts) > 5 else "?"
    if found != account:
        raise PolicyViolation(
            f"trust root refused: {source} answered from account {found}; the location file "
            f"pins account {account} (the credentials reach another account's table)")


def _key_ids(public_keys: list[str]) -> set[str]:
    from shipsafe.trust import keys

    out: set[str] = set()
    for text in public_keys:
        try:
            out.add(keys.key_id(keys.decode_public(text)))
        except ValueError:
            out.add(f"invalid:{text}")
    return out


class TrustRootLocation(PlanModel):
    """A root-owned file (checked as the file root is) naming where the root lives and
    which admin keys must vouch for it: the deploying process chooses its own AWS endpoint
    and credentials, so a table it names itself proves nothing."""

    api_version: Literal["shipsafe/v1"] = "shipsafe/v1"
    kind: Literal["TrustRootLocation"]
    table: str = Field(pattern=r"^dynamodb://")
    admins: list[str] = Field(min_length=1)
    # where the table is reached, whatever the deploying process's environment names
    # (default AWS's https://dynamodb.REGION.amazonaws.com; region: the table URL's, else the
    # environment's)
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^/?#@\s]+/?$")
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$")
    # the AWS account that owns the table: the credentials' account must hold it (the
    # deploying process chooses its credentials, so their account proves nothing)
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    # the proxy the table is reached through (http://HOST:PORT); none: direct, whatever
    # HTTPS_PROXY says
    proxy: str | None = Field(default=None, pattern=r"^https?://[^/?#@\s]+/?$")


def location_of(data: Any) -> TrustRootLocation | None:
    """The location a root-owned file holds, or None when it holds a trust root itself."""
    if not isinstance(data, dict) or data.get("kind") != "TrustRootLocation":
        return None
    try:
        return TrustRootLocation.model_validate(data)
    except ValidationError as exc:
        raise PolicyViolation(f"trust root location: {first_error(exc)}") from None


def writable_reason(table: str, db: Any) -> str | None:
    """None when DynamoDB refuses this caller a write to the root's item (proven by a
    conditional no-op UpdateItem); otherwise why the root cannot be trusted."""
    try:
        db.update_item(
            TableName=table,
            Key=_key(),
            UpdateExpression="SET #probe = :probe",
            ConditionExpression=NEVER,
            ExpressionAttributeNames={"#probe": "shipsafe_write_probe", "#pk": "pk"},
            ExpressionAttributeValues={":probe": {"S": "never written"}},
        )
    except Exception as exc:
        if not aws_common.from_aws_sdk(exc):
            raise
        code = aws_common.error_code(exc)
        status = int((getattr(exc, "response", None) or {}).get(
            "ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in DENIED or status == 403:
            return None
        if code == "ConditionalCheckFailedException":
            return "is writable by the invoking identity (a no-op conditional write was allowed)"
        return f"could not be proven unwritable ({code or type(exc).__name__})"
    return "is writable by the invoking identity (a write that can never succeed succeeded?)"


def publish(url: str, parsed: TrustRootFile, client: Any = None) -> str:
    """Write the (signed, verified) root into TABLE's reserved item, only over a lower serial.
    Run by an admin whose identity may write that item."""
    import yaml

    table, db = _client(url, client)
    verify_root(parsed, url)
    text = yaml.safe_dump(parsed.model_dump(mode="json", by_alias=True), sort_keys=False)
    serial = parsed.document.serial
    try:
        with aws_common.aws_errors(f"publish the trust root to {url}", checking=True):
            try:
                db.put_item(
                    TableName=table,
                    Item={**_key(), "document": {"S": text}, "serial": {"N": str(serial)}},
                    ConditionExpression="attribute_not_exists(#pk) OR #serial < :serial",
                    ExpressionAttributeNames={"#pk": "pk", "#serial": "serial"},
                    ExpressionAttributeValues={":serial": {"N": str(serial)}},
                )
            except Exception as exc:
                if aws_common.error_code(exc) != "ConditionalCheckFailedException":
                    raise
                raise PolicyViolation(
                    f"{url} holds a trust root with serial {serial} or higher: change the "
                    "root (its serial grows with every change) before publishing") from None
    except PolicyViolation:
        raise
    except ShipsafeError as exc:
        raise PolicyViolation(_one_line(exc.message)) from None
    return f"{url}: trust root serial {serial} published (item pk={PK}, sk={SK})"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # moto answers DynamoDB's 403 with an XML page
