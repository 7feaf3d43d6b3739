"""`store init` and `audit verify --source` through typer's runner, on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from shipsafe.audit.file import FileAuditLog
from shipsafe.audit.s3 import S3AuditMirror
from shipsafe.cli.aws_commands import aws_app

runner = CliRunner()


def test_store_init_creates_the_table_then_says_it_exists(aws: Any) -> None:
    first = runner.invoke(aws_app, ["store", "init", "--state", "dynamodb://team-state"])
    assert first.exit_code == 0, first.output
    assert "created DynamoDB table team-state" in first.output
    again = runner.invoke(
        aws_app, ["store", "init", "--state", "dynamodb://team-state", "--output", "json"]
    )
    assert again.exit_code == 0
    assert json.loads(again.output)["message"].endswith("is a shipsafe store already")


def test_store_init_makes_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.db"
    result = runner.invoke(aws_app, ["store", "init", "--state", str(path)])
    assert result.exit_code == 0 and path.exists()


def test_audit_verify_source_exit_codes(aws: Any, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="audit")
    s3.put_bucket_versioning(Bucket="audit", VersioningConfiguration={"Status": "Enabled"})
    log = FileAuditLog(tmp_path / "a.jsonl", mirrors=[S3AuditMirror.from_url("s3://audit/p")])
    for i in range(2):
        log.append({"type": "notice", "message": str(i)})
    good = runner.invoke(aws_app, ["audit", "verify", "--source", "s3://audit/p"])
    assert good.exit_code == 0, good.output
    assert "2 records, chain intact" in good.output
    s3.delete_object(Bucket="audit", Key="p/000000000001.json")
    bad = runner.invoke(aws_app, ["audit", "verify", "--source", "s3://audit/p", "-o", "json"])
    assert bad.exit_code == 5
    assert json.loads(bad.output.splitlines()[0])["ok"] is False
    wrong = runner.invoke(aws_app, ["audit", "verify", "--source", "/tmp/x"])
    assert wrong.exit_code == 2
