"""Which trust root is in force: the file root (/etc/shipsafe/trust.yaml or the path
SHIPSAFE_TRUST_ROOT names) or the team store's (SHIPSAFE_TRUST_ROOT=dynamodb://TABLE). Apart
from trust/root.py so that the store root, which verifies with root.py, is not imported by it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipsafe.errors import PolicyViolation
from shipsafe.trust.root import ROOT_ENV, TrustRoot, read_root, refuse_unsafe, root_path


def load_root(
    environ: Mapping[str, str] | None = None, *, describe_only: bool = False
) -> TrustRoot | None:
    """The verified trust root; None when none is configured (no SHIPSAFE_TRUST_ROOT and no
    /etc/shipsafe/trust.yaml). A root that is named but missing, unsafe, invalid or not
    signed by its admins is refused (PolicyViolation, exit 2): never silently ignored.
    A root-owned file of kind TrustRootLocation names a team table whose reserved item holds
    the root (shipsafe.trust.store_root): used when the admins the file pins signed it and
    the caller provably cannot write it. SHIPSAFE_TRUST_ROOT=dynamodb://... is refused.

    `describe_only`: the root is only described, never used to decide (`aws permissions`,
    run by the admins who may write it): a table root is read and its signatures verified,
    but the caller's write access to it is not held against it."""
    named = (os.environ if environ is None else environ).get(ROOT_ENV) or ""
    if named.startswith("dynamodb://"):
        raise PolicyViolation(
            f"{ROOT_ENV}={named} refused: a trust root in DynamoDB is named by a root-owned "
            "location file (kind: TrustRootLocation; README, Trust model), never by the "
            "environment, which also chooses the AWS endpoint and credentials")
    path, explicit = root_path(environ)
    if not explicit and not path.exists():
        return None
    return read_root_or_location(path, describe_only=describe_only)


def read_root_or_location(path: Path, *, describe_only: bool = False) -> TrustRoot:
    """A root-owned file holding the trust root, or its location in a team table."""
    import yaml

    refuse_unsafe(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None  # read_root says what is wrong with it
    if isinstance(data, dict) and data.get("kind") == "TrustRootLocation":
        from shipsafe.trust.store_root import location_of, read_store_root  # boto3 here only

        location = location_of(data)
        assert location is not None
        return read_store_root(location.table, location.admins, endpoint=location.endpoint,
                               region=location.region, account=location.account,
                               check_writable=not describe_only, proxy=location.proxy)
    return read_root(path, check_modes=False)
