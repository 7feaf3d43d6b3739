"""`shipsafe audit repair` on a team store's chain (DynamoDB on the moto server), each command
in its own process: a record left past the head (a writer killed between its record and the
head) fails `audit verify` until the repair accepts it as an event the table holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integration.aws.awscli import AwsCli
from integration.aws.rollouts import Shipsafe, render_plan
from integration.aws.test_aws_rollouts import TABLE, route53_world

pytestmark = pytest.mark.integration


def test_a_record_left_past_the_team_head_is_repaired_from_the_tables_events(
    boto: Any, aws: AwsCli, aws_env: dict[str, str], tmp_path: Path
) -> None:
    from shipsafe.audit.chain import chain
    from shipsafe.audit.event_record import event_record
    from shipsafe.audit.store_log import HEAD
    from shipsafe.records import Event, EventType, canonical_json
    from shipsafe.store import open_store

    shipsafe = Shipsafe(aws_env, TABLE, tmp_path / "unused.jsonl")
    del shipsafe.env["SHIPSAFE_AUDIT_LOG"]  # the chain lives in the table
    assert shipsafe.init_store().code == 0
    plan = render_plan("aws-route53-weighted", route53_world(boto), tmp_path)
    deployed = shipsafe.run("deploy", str(plan))
    assert deployed.code == 0, deployed.transcript()
    assert shipsafe.run("audit", "verify").code == 0

    store = open_store(f"dynamodb://{TABLE}", create=False)  # boto: the moto server
    try:
        event = store.append_event(Event(rollout_id=deployed.rollout_id, type=EventType.NOTICE,
                                         time=datetime.now(UTC), message="killed"))
        seq, _, digest = (store.get_meta(HEAD) or "").partition(":")
        record = chain(event_record(event), int(seq), digest)
        store.set_meta(f"audit:record:{record['seq']:012d}", canonical_json(record), None)
    finally:
        store.close()

    broken = shipsafe.run("audit", "verify")
    assert broken.code == 5, broken.transcript()
    assert "shipsafe audit repair" in broken.transcript()
    repaired = shipsafe.run("audit", "repair", actor="oncall")
    assert repaired.code == 0, repaired.transcript()
    done = repaired.result
    assert done["repaired"] is True and done["ok"] is True
    assert done["record"]["data"]["accepted"] == [record["seq"]]
    assert done["record"]["actor"].startswith("oncall")
    assert shipsafe.run("audit", "verify").code == 0
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing in anyone's working directory
