"""Is a file out of the invoking user's reach? (ssh's StrictModes, for the trust root.)

A trust root is used only when it and every directory above it are owned by root and not
writable by group or others, and the invoking user cannot write it (ACLs included). A
world-writable parent is accepted only with the sticky bit (like /tmp): there nobody but
the owner may rename or remove the root-owned entry below it. Root itself may use any file
that passes the ownership checks: shipsafe does not protect against root.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

TRUSTED_OWNERS: frozenset[int] = frozenset({0})


def unsafe_reason(path: Path, uid: int | None = None) -> str | None:
    """Why PATH must not be trusted by user `uid` (default: the effective uid), or None."""
    uid = os.geteuid() if uid is None else uid
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    current = resolved
    first = True
    while True:
        try:
            info = current.stat()
        except OSError as exc:
            return f"{current}: {exc.strerror or exc}"
        if first and not stat.S_ISREG(info.st_mode):
            return f"{current} is not a regular file"
        if info.st_uid not in TRUSTED_OWNERS:
            return f"{current} is owned by uid {info.st_uid}, not root"
        writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if writable_by_others and (first or not sticky_dir):
            return f"{current} is writable by group or others (mode {info.st_mode & 0o7777:o})"
        if uid != 0 and (first or not sticky_dir) and os.access(current, os.W_OK):
            return f"{current} is writable by the invoking user"
        if current.parent == current:
            return None
        first = False
        current = current.parent
