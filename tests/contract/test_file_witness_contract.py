"""The append-only file witness passes the witness contract (root, ext4: chattr +a)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipsafe.audit.witness import FileWitness
from tests.contract.witness_contract import WitnessContract


class TestFileWitnessContract(WitnessContract):
    @pytest.fixture
    def witness(self, tmp_path: Path) -> Iterator[FileWitness]:
        if os.geteuid() != 0:
            pytest.fail("the file witness needs root to set chattr +a (CI runs as root)",
                        pytrace=False)
        path = tmp_path / "witness.log"
        path.touch(mode=0o666)
        subprocess.run(["chattr", "+a", str(path)], check=True, capture_output=True)
        yield FileWitness(path)
        subprocess.run(["chattr", "-a", str(path)], check=False, capture_output=True)

    @pytest.fixture
    def not_a_witness(self, tmp_path: Path) -> FileWitness:
        path = tmp_path / "plain.log"
        path.write_text("")
        return FileWitness(path)

    @pytest.fixture
    def rewrite(self, witness: FileWitness) -> Callable[[], None]:
        def truncate() -> None:
            witness.path.write_text("")

        return truncate
