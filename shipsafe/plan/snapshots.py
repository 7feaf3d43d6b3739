"""Data snapshot providers a plan may name under `dataSnapshots`, chosen by `provider`.

Models only (no I/O); the providers live in shipsafe/providers/snapshots/.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shipsafe.plan.base import PlanModel


class FileSnapshot(PlanModel):
    """A local file (an SQLite database, a data directory's file): copied and checksummed.

    SQLite files are copied with SQLite's online backup, so a live database copies
    consistently.
    """

    provider: Literal["file"]
    path: str = Field(min_length=1, description="the file to snapshot")
    dir: str | None = Field(
        None, description="where copies go (default: <path>.snapshots beside the file)"
    )


# Add a provider: a model with `provider: Literal[...]`, then add it to this union.
DataSnapshotConfig = Annotated[FileSnapshot, Field(discriminator="provider")]
