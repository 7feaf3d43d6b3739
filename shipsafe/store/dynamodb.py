"""A state store a team shares: one DynamoDB table (`--state dynamodb://TABLE[?region=R]`).

Behaves as the SQLite store does (same contract suite): every write that could race is a
conditional write, so two writers never overwrite each other.

    pk                     sk                   what
    meta                   KEY                  value (schema version, audit heads: CAS)
    rollout#ID             rollout              body, revision (save: revision = :read)
    rollout#ID             event#000000000001   body        seq: conditional put of max+1
    rollout#ID             measurement#...      body        (same)
    rollout#ID             approval#...         body        (same)
    rollout#ID             snapshot             body
    rollout#ID             operation#ID         body, open  ID from the counter item
    rollout#ID             command#ID           body, applied
    operation#ID           ref                  rollout_id  (finish_operation has only the ID)
    command#ID             ref                  rollout_id
    counter                operation | command  n (atomic ADD)
    lock#ENV/SERVICE       lock                 rollout_id, holder, lease, version, epoch, ttl
    counter                lock-epoch           n: every acquisition's epoch (fencing token)

Rollouts are listed newest first through the index `by_created` (gsi1pk = "rollouts",
gsi1sk = created_at#id, projecting only the filter attributes); their bodies are then read
with consistent reads. The lock item carries a `ttl` attribute (lease expiry + a day):
`shipsafe store init` enables DynamoDB's TTL on it so dead locks are eventually removed.
A parked lock (waiting for a human) has no lease and no ttl.

Fencing: a store object that took a lock writes every item in a transaction with a
ConditionCheck that the lock's epoch is still its own; after a takeover it writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from shipsafe.errors import (
    ConfigurationError,
    ConflictError,
    LeaseLost,
    LockedError,
    NotAShipsafeStore,
    RolloutNotFound,
    ShipsafeError,
    StoreError,
    UsageError,
)
from shipsafe.providers import aws_common
from shipsafe.records import (
    Approval,
    Command,
    Event,
    LockInfo,
    Measurement,
    Operation,
    OperationOutcome,
    RolloutRecord,
    Snapshot,
)
from shipsafe.store.base import (
    Fence,
    LockOutcome,
    ambiguous,
    lease_lost_message,
    lock_outcome,
    locked_message,
)
from shipsafe.store.dynamodb_items import (
    INDEX,
    SCHEMA_VERSION,
    _av,
    _conditional_failed,
    _ConditionFailed,
    _dump,
    _expressions,
    _item,
    _load,
    _plain,
    _rollout_pk,
    _seq_sk,
    _table_spec,
    parse_url,
)

TTL_ATTRIBUTE = "ttl"
TTL_MARGIN_SECONDS = 86400
APPEND_ATTEMPTS = 50
LOCK_ATTEMPTS = 10


class DynamoDBStore:
    """State in one DynamoDB table. Open with `DynamoDBStore.open(url)`."""

    def __init__(self, url: str, table: str, client: Any) -> None:
        self.url = url
        self.table = table
        self._db = client
        self.fence: Fence | None = None

    # opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, client: Any = None) -> DynamoDBStore:
        table, region = parse_url(url)
        db = client or aws_common.client("dynamodb", region)
        store = cls(url, table, db)
        store._check_table()
        return store

    @classmethod
    def init(cls, url: str, client: Any = None, wait_seconds: float = 300) -> str:
        """Create the table (on-demand, TTL on lock leases) if missing. Idempotent.

        Returns a one-line description of what was done."""
        table, region = parse_url(url)
        db = client or aws_common.client("dynamodb", region)
        store = cls(url, table, db)
        created = False
        if store._describe() is None:
            with aws_common.aws_errors(f"dynamodb: create table {table}", checking=True):
                try:
                    db.create_table(**_table_spec(table))
                    created = True
                except Exception as exc:
                    if aws_common.error_code(exc) != "ResourceInUseException":
                        raise  # someone else creating it at the same moment is fine
                db.get_waiter("table_exists").wait(
                    TableName=table,
                    WaiterConfig={"Delay": 2, "MaxAttempts": max(1, int(wait_seconds / 2))},
                )
        description = store._describe()
        if description is None:  # pragma: no cover - the waiter raised already
            raise StoreError(f"dynamodb table {table} did not appear")
        store._check_keys(description)
        with aws_common.aws_errors(f"dynamodb: TTL on {table}", checking=True):
            ttl = db.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                db.update_time_to_live(
                    TableName=table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                )
        schema = store._get("meta", "schema")
        if schema is None:
            if not created and store._has_items():
                raise NotAShipsafeStore(
                    f"dynamodb table {table} holds items but is not a shipsafe store"
                )
            with suppress(ConflictError):  # another `store init` wrote it first
                store._put(
                    _item(pk="meta", sk="schema", value=SCHEMA_VERSION),
                    "attribute_not_exists(#pk)",
                )
            schema = SCHEMA_VERSION
        if schema != SCHEMA_VERSION:
            raise NotAShipsafeStore(
                f"dynamodb table {table}: shipsafe store schema {schema}, this shipsafe "
                f"reads {SCHEMA_VERSION}"
            )
        where = aws_common.client_region(db)
        if created:
            return f"created DynamoDB table {table} in {where} (on-demand, TTL on lock leases)"
        return f"DynamoDB table {table} in {where} is a shipsafe store already"

    def _describe(self) -> dict[str, Any] | None:
        try:
            with aws_common.aws_errors(f"dynamodb table {self.table}", checking=True):
                return dict(self._db.describe_table(TableName=self.table)["Table"])
        except ConfigurationError as exc:
            if (
                isinstance(exc.__cause__, Exception)
                and aws_common.error_code(exc.__cause__) == "ResourceNotFoundException"
            ):
                return None
            raise

    def _check_keys(self, description: dict[str, Any]) -> None:
        keys = {k["AttributeName"]: k["KeyType"] for k in description.get("KeySchema", [])}
        if keys != {"pk": "HASH", "sk": "RANGE"}:
            raise NotAShipsafeStore(
                f"dynamodb table {self.table} has keys {keys}, not a shipsafe store (pk, sk)"
            )
        indexes = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
        if INDEX not in indexes:
            raise NotAShipsafeStore(f"dynamodb table {self.table} has no index {INDEX}")

    def _check_table(self) -> None:
        description = self._describe()
        if description is None:
            raise UsageError(
                f"dynamodb table {self.table} does not exist in "
                f"{aws_common.client_region(self._db)}: create it with "
                f"`shipsafe store init --state {self.url}`"
            )
        self._check_keys(description)
        schema = self._get("meta", "schema")
        if schema is None:
            raise NotAShipsafeStore(
                f"dynamodb table {self.table} is not initialised: run "
                f"`shipsafe store init --state {self.url}`"
            )
        if schema != SCHEMA_VERSION:
            raise NotAShipsafeStore(
                f"dynamodb table {self.table}: shipsafe store schema {schema}, this shipsafe "
                f"reads {SCHEMA_VERSION}"
            )

    def _has_items(self) -> bool:
        with self._errors("scan"):
            return bool(self._db.scan(TableName=self.table, Limit=1).get("Items"))

    def close(self) -> None:
        pass  # boto3 clients hold a connection pool; nothing to release early

    def __enter__(self) -> DynamoDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # primitives ---------------------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """botocore errors -> StoreError; a failed condition -> _ConditionFailed."""
        try:
            yield
        except ShipsafeError:
            raise
        except Exception as exc:
            if not aws_common.from_aws_sdk(exc):
                raise
            if _conditional_failed(exc):
                raise _ConditionFailed(what) from exc
            mapped = aws_common.translate(exc, f"dynamodb {self.table}: {what}")
            raise StoreError(f"state store {self.url}: {mapped}") from exc

    def _get(self, pk: str, sk: str) -> Any:
        with self._errors(f"read {pk}"):
            item = self._db.get_item(
                TableName=self.table, Key=_item(pk=pk, sk=sk), ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        plain = _plain(item)
        return plain.get("value", plain) if pk == "meta" else plain

    def _put(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        fenced: bool = True,
    ) -> None:
        """Put an item; ConflictError when `condition` (names written #name) fails."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": item}
        kwargs.update(_expressions(condition=condition, values=values))
        try:
            if fenced and self.fence is not None:
                self._fenced_write({"Put": kwargs}, what=f"write {item['pk']['S']}")
                return
            with self._errors(f"write {item['pk']['S']}"):
                self._db.put_item(**kwargs)
        except _ConditionFailed:
            raise ConflictError(f"{item['pk']['S']} {item['sk']['S']} changed") from None

    def _update(
        self,
        pk: str,
        sk: str,
        update: str,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        fenced: bool = True,
    ) -> dict[str, Any]:
        """Update an item; ConflictError when `condition` fails. Returns the new item
        (nothing when fenced: a transaction returns no values)."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Key": _item(pk=pk, sk=sk)}
        kwargs.update(_expressions(update=update, condition=condition, values=values))
        try:
            if fenced and self.fence is not None:
                self._fenced_write({"Update": kwargs}, what=f"update {pk}")
                return {}
            with self._errors(f"update {pk}"):
                return _plain(
                    self._db.update_item(ReturnValues="ALL_NEW", **kwargs).get("Attributes", {})
                )
        except _ConditionFailed:
            raise ConflictError(f"{pk} {sk} changed") from None

    # fencing ------------------------------------------------------------------------------
    def fence_to(self, fence: Fence | None) -> None:
        self.fence = fence

    def check_fence(self) -> None:
        fence = self.fence
        if fence is None:
            return
        current = self._get(f"lock#{fence.key}", "lock")
        info = None if current is None else _lock_info(fence.key, current)
        if info is None or info.epoch != fence.epoch:
            raise LeaseLost(lease_lost_message(fence, info))

    def _fence_check(self) -> dict[str, Any]:
        assert self.fence is not None
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": _item(pk=f"lock#{self.fence.key}", sk="lock"),
                **_expressions(condition="#epoch = :epoch", values={":epoch": self.fence.epoch}),
            }
        }

    def _fenced_write(self, *writes: dict[str, Any], what: str) -> None:
        """The writes, and the lock's epoch still ours, in one transaction: LeaseLost when
        the epoch moved on, _ConditionFailed when a write's own condition failed."""
        fence = self.fence
        assert fence is not None
        try:
            with self._errors(what):
                self._db.transact_write_items(TransactItems=[self._fence_check(), *writes])
        except _ConditionFailed as exc:
            reasons = _cancellation_reasons(exc.__cause__)
            if reasons and reasons[0] != "ConditionalCheckFailed":
                raise  # the fence held; the write's own condition failed
            current = self._get(f"lock#{fence.key}", "lock")
            info = None if current is None else _lock_info(fence.key, current)
            if info is not None and info.epoch == fence.epoch:
                raise  # reasons unknown but the fence holds: the write's condition failed
            raise LeaseLost(lease_lost_message(fence, info)) from None

    def _query(self, pk: str, prefix: str, newest_first: bool = False) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _av(pk), ":prefix": _av(prefix)},
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        while True:
            with self._errors(f"query {pk}"):
                page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield _plain(item)
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _last_seq(self, pk: str, kind: str) -> int:
        with self._errors(f"query {pk}"):
            page = self._db.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _av(pk), ":prefix": _av(kind + "#")},
                ConsistentRead=True,
                ScanIndexForward=False,
                Limit=1,
                ProjectionExpression="sk",
            )
        items = page.get("Items", [])
        return int(items[0]["sk"]["S"].rsplit("#", 1)[1]) if items else 0

    def _append(self, rollout_id: str, kind: str, body_for: Any) -> int:
        """Store the next item of a sequence; two writers never get the same number."""
        pk = _rollout_pk(rollout_id)
        for _ in range(APPEND_ATTEMPTS):
            seq = self._last_seq(pk, kind) + 1
            try:
                self._put(
                    _item(pk=pk, sk=_seq_sk(kind, seq), body=body_for(seq)),
                    "attribute_not_exists(#pk)",
                )
                return seq
            except ConflictError:
                continue  # another writer took this number: read again
        raise StoreError(f"state store {self.url}: could not append a {kind} (contention)")

    def _next_id(self, kind: str) -> int:
        # a counter, not state: numbers taken by a stale writer are simply never used
        attrs = self._update("counter", kind, "ADD #n :one", values={":one": 1}, fenced=False)
        return int(attrs["n"])

    # rollouts -----------------------------------------------------------------------------
    def create_rollout(self, record: RolloutRecord) -> None:
        try:
            self._put(
                _item(
                    pk=_rollout_pk(record.id),
                    sk="rollout",
                    id=record.id,
                    environment=record.environment,
                    service=record.service,
                    phase=record.phase.value,
                    revision=record.revision,
                    body=_dump(record),
                    gsi1pk="rollouts",
                    gsi1sk=f"{record.created_at.isoformat()}#{record.id}",
                ),
                "attribute_not_exists(#pk)",
            )
        except ConflictError:
            raise ConflictError(f"rollout {record.id} exists already") from None

    def get_rollout(self, rollout_id: str) -> RolloutRecord:
        item = self._get(_rollout_pk(rollout_id), "rollout")
        if item is None:
            matches = (
                [
                    key
                    for key in self._index(limit=None)
                    if str(key.get("id", "")).startswith(rollout_id)
                ][:11]
                if rollout_id
                else []
            )
            if not matches:
                raise RolloutNotFound(f"no rollout {rollout_id!r} in {self.url}")
            if len(matches) > 1:
                raise ambiguous(rollout_id, [str(key["id"]) for key in matches])
            item = self._get(matches[0]["pk"], "rollout")
            if item is None:
                raise RolloutNotFound(f"no rollout {rollout_id!r} in {self.url}")
        return _load(RolloutRecord, item["body"])

    def save_rollout(self, record: RolloutRecord) -> RolloutRecord:
        new = record.model_copy(update={"revision": record.revision + 1})
        try:
            self._update(
                _rollout_pk(record.id),
                "rollout",
                "SET #body = :body, #revision = :new, #phase = :phase",
                "attribute_exists(#pk) AND #revision = :old",
                {
                    ":body": _dump(new),
                    ":new": new.revision,
                    ":old": record.revision,
                    ":phase": new.phase.value,
                },
            )
        except ConflictError:
            raise ConflictError(
                f"rollout {record.id} was changed by another process (revision "
                f"{record.revision} is stale)"
            ) from None
        return new

    def _index(
        self,
        limit: int | None,
        environment: str | None = None,
        service: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Keys of rollouts, newest first (by_created index, filtered)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :r",
            "ExpressionAttributeValues": {":r": _av("rollouts")},
            "ScanIndexForward": False,
        }
        filters = []
        if environment:
            filters.append("#environment = :e")
            kwargs["ExpressionAttributeValues"][":e"] = _av(environment)
        if service:
            filters.append("#service = :s")
            kwargs["ExpressionAttributeValues"][":s"] = _av(service)
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
            kwargs["ExpressionAttributeNames"] = {
                f"#{n}": n
                for n in ("environment", "service")
                if f"#{n}" in kwargs["FilterExpression"]
            }
        count = 0
        while True:
            with self._errors("list rollouts"):
                page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield _plain(item)
                count += 1
                if limit is not None and count >= limit:
                    return
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_rollouts(
        self, environment: str | None = None, service: str | None = None, limit: int = 50
    ) -> list[RolloutRecord]:
        keys = list(self._index(limit, environment, service))
        bodies: dict[str, str] = {}
        for i in range(0, len(keys), 100):
            request = {
                self.table: {
                    "Keys": [_item(pk=k["pk"], sk="rollout") for k in keys[i : i + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "pk, #body",
                    "ExpressionAttributeNames": {"#body": "body"},
                }
            }
            while request:
                with self._errors("read rollouts"):
                    answer = self._db.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    plain = _plain(item)
                    bodies[plain["pk"]] = plain["body"]
                request = answer.get("UnprocessedKeys") or {}
        return [_load(RolloutRecord, bodies[k["pk"]]) for k in keys if k["pk"] in bodies]

    # history ------------------------------------------------------------------------------
    def append_event(self, event: Event) -> Event:
        stored: list[Event] = []

        def body(seq: int) -> str:
            stored[:] = [event.model_copy(update={"seq": seq})]
            return _dump(stored[0])

        self._append(event.rollout_id, "event", body)
        return stored[0]

    def events(self, rollout_id: str, after_seq: int = 0) -> list[Event]:
        pk = _rollout_pk(rollout_id)
        out = []
        for item in self._query(pk, "event#"):
            event = _load(Event, item["body"])
            if (event.seq or 0) > after_seq:
                out.append(event)
        return out

    def add_measurement(self, measurement: Measurement) -> None:
        self._append(measurement.rollout_id, "measurement", lambda _seq: _dump(measurement))

    def measurements(self, rollout_id: str) -> list[Measurement]:
        return [
            _load(Measurement, i["body"])
            for i in self._query(_rollout_pk(rollout_id), "measurement#")
        ]

    # snapshot -----------------------------------------------------------------------------
    def save_snapshot(self, snapshot: Snapshot) -> None:
        self._put(_item(pk=_rollout_pk(snapshot.rollout_id), sk="snapshot", body=_dump(snapshot)))

    def get_snapshot(self, rollout_id: str) -> Snapshot | None:
        item = self._get(_rollout_pk(rollout_id), "snapshot")
        return None if item is None else _load(Snapshot, item["body"])

    # operations and commands: global ids, a reference item finds their rollout -------------
    def _insert_numbered(self, kind: str, rollout_id: str, body_for: Any, flag: str) -> int:
        number = self._next_id(kind)
        pk = _rollout_pk(rollout_id)
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _item(pk=f"{kind}#{number}", sk="ref", rollout_id=rollout_id),
                    **_expressions(condition="attribute_not_exists(#pk)"),
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _item(
                        pk=pk, sk=_seq_sk(kind, number), body=body_for(number), **{flag: 1}
                    ),
                    **_expressions(condition="attribute_not_exists(#pk)"),
                }
            },
        ]
        if self.fence is not None:
            self._fenced_write(*items, what=f"write {kind} {number}")
            return number
        with self._errors(f"write {kind} {number}"):
            self._db.transact_write_items(TransactItems=items)
        return number

    def _numbered(self, kind: str, number: int) -> tuple[str, dict[str, Any]]:
        ref = self._get(f"{kind}#{number}", "ref")
        if ref is None:
            raise StoreError(f"no {kind} {number}")
        pk = _rollout_pk(ref["rollout_id"])
        item = self._get(pk, _seq_sk(kind, number))
        if item is None:
            raise StoreError(f"no {kind} {number}")
        return pk, item

    def begin_operation(self, operation: Operation) -> Operation:
        stored: list[Operation] = []

        def body(number: int) -> str:
            stored[:] = [operation.model_copy(update={"id": number})]
            return _dump(stored[0])

        self._insert_numbered("operation", operation.rollout_id, body, "open")
        return stored[0]

    def finish_operation(
        self, operation_id: int, outcome: OperationOutcome, detail: str, at: datetime
    ) -> None:
        pk, item = self._numbered("operation", operation_id)
        op = _load(Operation, item["body"]).model_copy(
            update={"outcome": outcome, "detail": detail, "finished_at": at}
        )
        self._update(
            pk,
            _seq_sk("operation", operation_id),
            "SET #body = :body, #open = :zero",
            values={":body": _dump(op), ":zero": 0},
        )

    def open_operations(self, rollout_id: str) -> list[Operation]:
        return [
            _load(Operation, i["body"])
            for i in self._query(_rollout_pk(rollout_id), "operation#")
            if i.get("open") == 1
        ]

    def operations(self, rollout_id: str) -> list[Operation]:
        return [
            _load(Operation, i["body"]) for i in self._query(_rollout_pk(rollout_id), "operation#")
        ]

    def add_command(self, command: Command) -> Command:
        stored: list[Command] = []

        def body(number: int) -> str:
            stored[:] = [command.model_copy(update={"id": number})]
            return _dump(stored[0])

        self._insert_numbered("command", command.rollout_id, body, "pending")
        return stored[0]

    def pending_commands(self, rollout_id: str) -> list[Command]:
        return [
            _load(Command, i["body"])
            for i in self._query(_rollout_pk(rollout_id), "command#")
            if i.get("pending") == 1
        ]

    def get_command(self, command_id: int) -> Command:
        _, item = self._numbered("command", command_id)
        return _load(Command, item["body"])

    def mark_command_applied(self, command_id: int, result: str, at: datetime) -> None:
        pk, item = self._numbered("command", command_id)
        cmd = _load(Command, item["body"]).model_copy(update={"applied_at": at, "result": result})
        self._update(
            pk,
            _seq_sk("command", command_id),
            "SET #body = :body, #pending = :zero",
            values={":body": _dump(cmd), ":zero": 0},
        )

    # approvals ----------------------------------------------------------------------------
    def add_approval(self, approval: Approval) -> None:
        self._append(approval.rollout_id, "approval", lambda _seq: _dump(approval))

    def approvals(self, rollout_id: str) -> list[Approval]:
        return [
            _load(Approval, i["body"]) for i in self._query(_rollout_pk(rollout_id), "approval#")
        ]

    # locks --------------------------------------------------------------------------------
    def acquire_lock(
        self, key: str, rollout_id: str, holder: str, now: datetime, lease_seconds: float
    ) -> str:
        expires = now.timestamp() + lease_seconds
        for _ in range(LOCK_ATTEMPTS):
            current = self._get(f"lock#{key}", "lock")
            if current is None:
                outcome, condition, values = (
                    LockOutcome.ACQUIRED,
                    "attribute_not_exists(#pk)",
                    {},
                )
                version = 1
            else:
                outcome = lock_outcome(_lock_info(key, current), rollout_id, holder, now)
                version = int(current.get("version", 0)) + 1
                condition, values = "#version = :seen", {":seen": version - 1}
            epoch = self._next_id("lock-epoch")
            try:
                self._put(
                    _item(
                        pk=f"lock#{key}",
                        sk="lock",
                        rollout_id=rollout_id,
                        holder=holder,
                        lease=expires,
                        acquired_at=now.isoformat(),
                        version=version,
                        epoch=epoch,
                        ttl=int(expires) + TTL_MARGIN_SECONDS,
                    ),
                    condition,
                    values,
                    fenced=False,
                )
            except ConflictError:
                continue  # someone else moved first: decide again on what is there now
            self.fence = Fence(key, epoch)
            return outcome
        raise StoreError(f"state store {self.url}: lock {key} is contended; try again")

    def _lock_write(
        self, key: str, condition: str, values: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The lock item's own condition, plus our epoch when it is our lease (a transaction
        cannot check and write one item, so the fence goes into the write's condition)."""
        if self.fence is None or self.fence.key != key:
            return condition, values
        return f"{condition} AND #epoch = :epoch", {**values, ":epoch": self.fence.epoch}

    def _raise_if_stale(self, key: str) -> None:
        fence = self.fence
        if fence is None or fence.key != key:
            return
        current = self._get(f"lock#{key}", "lock")
        info = None if current is None else _lock_info(key, current)
        if info is None or info.epoch != fence.epoch:
            raise LeaseLost(lease_lost_message(fence, info)) from None

    def renew_lock(self, key: str, holder: str, now: datetime, lease_seconds: float) -> None:
        expires = now.timestamp() + lease_seconds
        condition, values = self._lock_write(
            key,
            "#holder = :holder",
            {
                ":lease": expires,
                ":ttl": int(expires) + TTL_MARGIN_SECONDS,
                ":one": 1,
                ":holder": holder,
            },
        )
        try:
            self._update(
                f"lock#{key}",
                "lock",
                "SET #lease = :lease, #ttl = :ttl ADD #version :one",
                condition,
                values,
                fenced=False,
            )
        except ConflictError:
            self._raise_if_stale(key)
            current = self._get(f"lock#{key}", "lock")
            if current is None:
                raise LockedError(
                    f"lost the lock on {key}: it was released by another process"
                ) from None
            raise LockedError(
                f"lost the lock on {key}: {locked_message(_lock_info(key, current), now)}"
            ) from None

    def park_lock(self, key: str, holder: str) -> None:
        condition, values = self._lock_write(
            key, "#holder = :holder", {":one": 1, ":holder": holder}
        )
        try:
            self._update(
                f"lock#{key}",
                "lock",
                "REMOVE #lease, #ttl ADD #version :one",
                condition,
                values,
                fenced=False,
            )
        except ConflictError:
            self._raise_if_stale(key)  # not ours (any more): nothing to park, as in SQLite

    def release_lock(self, key: str, rollout_id: str) -> None:
        condition, values = self._lock_write(key, "#rollout_id = :r", {":r": rollout_id})
        try:
            with self._errors(f"release lock {key}"):
                self._db.delete_item(
                    TableName=self.table,
                    Key=_item(pk=f"lock#{key}", sk="lock"),
                    **_expressions(condition=condition, values=values),
                )
        except _ConditionFailed:
            self._raise_if_stale(key)
            return  # not held by this rollout: nothing to release, as in SQLite
        if self.fence is not None and self.fence.key == key:
            self.fence = None

    def get_lock(self, key: str) -> LockInfo | None:
        current = self._get(f"lock#{key}", "lock")
        return None if current is None else _lock_info(key, current)

    # meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        value = self._get("meta", key)
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str, expected: str | None) -> None:
        if expected is None:
            condition, values = "attribute_not_exists(#pk)", {}
        else:
            condition, values = "#value = :expected", {":expected": expected}
        try:
            self._put(_item(pk="meta", sk=key, value=value), condition, values)
        except ConflictError:
            raise ConflictError(f"{key} changed concurrently") from None


def _lock_info(key: str, item: dict[str, Any]) -> LockInfo:
    lease = item.get("lease")
    return LockInfo(
        key=key,
        rollout_id=item["rollout_id"],
        holder=item["holder"],
        lease_expires_at=None if lease is None else datetime.fromtimestamp(float(lease), UTC),
        acquired_at=datetime.fromisoformat(item["acquired_at"]),
        epoch=int(item.get("epoch", 0)),
    )


def _cancellation_reasons(exc: BaseException | None) -> list[str]:
    """The codes of a cancelled transaction, one per item ("None" when that item was fine)."""
    response = getattr(exc, "response", None) or {}
    return [str(r.get("Code", "None")) for r in response.get("CancellationReasons") or []]
