"""Which trust root is in force: the file root (/etc/shipsafe/trust.yaml or the path
SHIPSAFE_TRUST_ROOT names) or the team store's (SHIPSAFE_TRUST_ROOT=dynamodb://TABLE). Apart
from trust/root.py so that the store root, which verifies with root.py, is not imported by it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from shipsafe.trust.root import ROOT_ENV, TrustRoot, read_root, root_path


def load_root(environ: Mapping[str, str] | None = None) -> TrustRoot | None:
    """The verified trust root; None when none is configured (no SHIPSAFE_TRUST_ROOT and no
    /etc/shipsafe/trust.yaml). A root that is named but missing, unsafe, invalid or not
    signed by its admins is refused (PolicyViolation, exit 2): never silently ignored.
    SHIPSAFE_TRUST_ROOT=dynamodb://TABLE reads it from the team table's reserved item
    (shipsafe.trust.store_root), refused unless the caller provably cannot write it."""
    named = (os.environ if environ is None else environ).get(ROOT_ENV) or ""
    if named.startswith("dynamodb://"):
        from shipsafe.trust.store_root import read_store_root  # boto3 only for this root

        return read_store_root(named)
    path, explicit = root_path(environ)
    if not explicit and not path.exists():
        return None
    return read_root(path)
