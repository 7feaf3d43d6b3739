"""The S3 Object Lock audit witness on moto: refused unless COMPLIANCE, every checkpoint a new
locked object, attempts to rewrite it refused by S3 (as far as moto enforces Object Lock:
see integration/README.md, "moto and Object Lock") and visible to `audit verify`, which
compares every witnessed log with the witness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from shipsafe.audit.s3_witness import S3Witness, checkpoint_key, parse_key
from shipsafe.cli.app import app
from shipsafe.clock import FakeClock
from shipsafe.errors import ConfigurationError
from tests.aws.test_s3_witness_contract import locked_bucket
from tests.contract.witness_contract import records
from tests.fakes import FakeMetrics, FakeProviders, FakeRouter
from tests.support.trust_root import permissive_trust_root
from tests.test_cli import FAST, write_plan

runner = CliRunner()
BUCKET = "audit-witness"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def s3(aws: Any) -> Any:
    client = aws.client("s3")
    locked_bucket(client, BUCKET)
    return client


def test_a_bucket_without_object_lock_is_refused(aws: Any) -> None:
    aws.client("s3").create_bucket(Bucket="plain-bucket")
    with pytest.raises(ConfigurationError, match="has no Object Lock"):
        S3Witness.from_url("s3://plain-bucket/p").check()


def test_object_lock_without_a_compliance_default_is_refused(aws: Any) -> None:
    locked_bucket(aws.client("s3"), "no-default", mode=None)
    with pytest.raises(ConfigurationError, match="retention is not set, not COMPLIANCE"):
        S3Witness.from_url("s3://no-default/p").check()


def test_a_missing_bucket_is_refused_with_one_line(aws: Any) -> None:
    with pytest.raises(ConfigurationError) as refused:
        S3Witness.from_url("s3://no-such-bucket/p").check()
    assert "no-such-bucket" in refused.value.message and "\n" not in refused.value.message


def test_each_checkpoint_is_a_new_object_locked_in_compliance_mode(s3: Any) -> None:
    witness = S3Witness("audit-witness", "prod/", now=lambda: NOW)
    rec = records("r-1")[0]
    witness.put("/srv/audit.jsonl", rec)
    (obj,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    head = s3.head_object(Bucket=BUCKET, Key=obj["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == NOW + timedelta(days=30)
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    assert body["hash"] == rec["hash"] and body["rollout_id"] == "r-1"
    assert parse_key("prod/", obj["Key"]) == {k: body[k] for k in parse_key("prod/", obj["Key"])
                                             or {}}


def test_a_checkpoint_name_round_trips_any_log_and_field() -> None:
    entry = {"log": "dynamodb://team-state#audit", "seq": 7, "hash": "ab" * 32,
             "rollout_id": "r/1&x=y", "type": "rollout_created", "time": "2026-12-01T12:00Z",
             "environment": "prod eu"}
    assert parse_key("p/", checkpoint_key("p/", entry)) == entry
    assert parse_key("p/", "p/readme.txt") is None


def test_deleting_or_overwriting_a_checkpoint_is_refused_or_seen(s3: Any) -> None:
    witness = S3Witness.from_url(f"s3://{BUCKET}/prod")
    rec = records("r-1")[0]
    witness.put("/srv/audit.jsonl", rec)
    (version,) = s3.list_object_versions(Bucket=BUCKET)["Versions"]
    key = version["Key"]
    # the deploying user's credentials may put objects: deleting the locked version is refused
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"])
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"],
                         BypassGovernanceRetention=True)
    assert witness.problems() == []
    # what S3 allows: another version under the name, and a delete marker over it
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"rollout_id": "other"}')
    s3.delete_object(Bucket=BUCKET, Key=key)
    assert [(e["seq"], e["hash"], e["rollout_id"]) for e in witness.entries()] == [
        (1, rec["hash"], "r-1")]  # the name says what was witnessed; the locked version stays
    problems = witness.problems()
    assert any("written 2 times" in p for p in problems)
    assert any("was deleted" in p and "r-1" in p for p in problems)


@pytest.fixture
def site(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPSAFE_ACTOR", "ci-bot")
    for var in ("SHIPSAFE_STATE", "SHIPSAFE_AUDIT_LOG", "SHIPSAFE_AUDIT_S3", "CI"):
        monkeypatch.delenv(var, raising=False)
    providers = FakeProviders(FakeRouter(), FakeMetrics(0.001))
    monkeypatch.setattr("shipsafe.providers.registry.Registry", lambda: providers)
    clock = FakeClock(datetime.now(UTC))  # breaker intervals pass in no time
    monkeypatch.setattr("shipsafe.cli.session.SystemClock", lambda: clock)
    return providers


def _verify(*args: str) -> Any:
    return runner.invoke(app, ["audit", "verify", "--state", "state.db", *args])


def test_audit_verify_compares_the_log_with_the_s3_witness(
    site: FakeProviders, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    permissive_trust_root(tmp_path / "etc", monkeypatch, witness=f"s3://{BUCKET}/prod")
    plan = write_plan(tmp_path, FAST)
    deployed = runner.invoke(app, ["deploy", plan, "--state", "state.db"])
    assert deployed.exit_code == 0, deployed.output
    site.router_instance.weights = {"stable": 100, "canary": 0}
    hidden = runner.invoke(app, ["deploy", plan, "--state", "state.db", "-o", "json",
                                 "--audit-log", "elsewhere.jsonl"])
    assert hidden.exit_code == 0, hidden.output
    hidden_id = json.loads(hidden.output.splitlines()[-1])["rollout_id"]
    seen = _verify("-o", "human")
    assert seen.exit_code == 0, seen.output
    assert "elsewhere.jsonl: 1 rollout(s)" in seen.output
    (tmp_path / "elsewhere.jsonl").unlink()
    verified = _verify("-o", "json")
    assert verified.exit_code == 5, verified.output
    (result,) = [json.loads(x) for x in verified.output.splitlines() if '"problems"' in x]
    assert any(hidden_id in p and "elsewhere.jsonl" in p for p in result["problems"])


def test_a_re_chained_log_fails_verify_against_the_s3_witness(
    site: FakeProviders, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipsafe.audit.anchor import Anchor
    from shipsafe.audit.chain import GENESIS, chain
    from shipsafe.store import open_store

    permissive_trust_root(tmp_path / "etc", monkeypatch, witness=f"s3://{BUCKET}/prod")
    plan = write_plan(tmp_path, FAST)
    for _ in range(2):
        site.router_instance.weights = {"stable": 100, "canary": 0}
        assert runner.invoke(app, ["deploy", plan, "--state", "state.db"]).exit_code == 0
    log = tmp_path / "audit.jsonl"
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    dropped = lines[0]["rollout_id"]
    seq, prev, out = 0, GENESIS, []
    for rec in (r for r in lines if r["rollout_id"] != dropped):
        rec = chain({k: v for k, v in rec.items() if k not in ("seq", "prev", "hash")}, seq, prev)
        seq, prev = rec["seq"], rec["hash"]
        out.append(json.dumps(rec, sort_keys=True, separators=(",", ":")))
    log.write_text("\n".join(out) + "\n")
    store = open_store("state.db", create=False)
    key = f"audit_head:{log.resolve()}"
    store.set_meta(key, Anchor(seq, prev, len(out)).dump(), store.get_meta(key))
    store.close()
    verified = _verify("-o", "json")
    assert verified.exit_code == 5, verified.output
    (result,) = [json.loads(x) for x in verified.output.splitlines() if '"problems"' in x]
    assert any("differs from the witness" in p for p in result["problems"])


def test_a_deploy_refuses_a_governance_bucket_before_changing_anything(
    site: FakeProviders, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_bucket(aws.client("s3"), "governance-only", "GOVERNANCE")
    permissive_trust_root(tmp_path / "etc", monkeypatch, witness="s3://governance-only/prod")
    result = runner.invoke(app, ["deploy", write_plan(tmp_path, FAST), "--state", "state.db"])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert "GOVERNANCE, not COMPLIANCE" in line
    assert [c for c in site.router_instance.calls if c[0] == "set"] == []  # no traffic moved
    assert not (tmp_path / "audit.jsonl").exists() or "rollout_created" not in (
        tmp_path / "audit.jsonl").read_text()


def test_a_log_whose_records_went_to_another_endpoint_fails_verify(
    site: FakeProviders, s3: Any, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploying process chooses its AWS endpoint and credentials: pointed at a bucket
    (or a fake S3) of its own that answers COMPLIANCE, its checkpoints never reach the
    witness the trust root names. verify, run with the real endpoint, sees the log has
    records since the root and none in the witness."""
    permissive_trust_root(tmp_path / "etc", monkeypatch, witness=f"s3://{BUCKET}/prod")
    locked_bucket(aws.client("s3"), "agents-own")
    with monkeypatch.context() as elsewhere:
        elsewhere.setattr("shipsafe.cli.session.witness_of",
                          lambda root: S3Witness.from_url("s3://agents-own/prod"))
        deployed = runner.invoke(app, ["deploy", write_plan(tmp_path, FAST), "--state",
                                       "state.db"])
    assert deployed.exit_code == 0, deployed.output
    verified = _verify("-o", "json")
    assert verified.exit_code == 5, verified.output
    (result,) = [json.loads(x) for x in verified.output.splitlines() if '"problems"' in x]
    assert any("audit.jsonl" in p and "none of them in the witness" in p
               for p in result["problems"])
