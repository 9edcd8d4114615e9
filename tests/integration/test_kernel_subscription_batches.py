"""Batched subscriptions (one transaction per fetched batch) on real JetStream and
PostgreSQL keep the guarantees of one transaction per message: each effect once, in
delivery order; a failing or poison message costs the others nothing; a crash between the
commit and the acks is answered by the inbox; two replicas on one durable share the work."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, select

from kernel.application import Application, UnitOfWork
from kernel.db import Database
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import PoisonMessage, Subscription, SubscriptionRunner
from kernel.testing.servers import Endpoints
from tests.integration.kernel_fixtures import app, count_effects, db, effects, eventually
from tests.integration.test_kernel_subscriptions import (
    SERVICE,
    TEST_STREAM,
    Handler,
    _dead_letters,
    consuming,
    publish,
    record_effect,
    settled,
)

__all__ = ["app", "db"]

counters_metadata = MetaData()
counters = Table(
    "test_batch_counters",
    counters_metadata,
    Column("key", String(64), primary_key=True),
    Column("n", BigInteger, nullable=False),
)


def batched(
    app: Application, nats: NatsConnection, handler: Handler, **overrides: Any
) -> SubscriptionRunner:
    settings: dict[str, Any] = {
        "max_deliver": 3,
        "backoff_seconds": (0.05,),
        "ack_wait_seconds": 10.0,
        "batch": 64,
    }
    settings.update(overrides)
    nats.declare(TEST_STREAM)
    sub = Subscription(
        name="kt-sub",
        stream="KTEST",
        subjects=("ktest.v1.>",),
        handler=handler,
        batched=True,
        **settings,
    )
    return SubscriptionRunner(app, nats, sub, service=SERVICE, fetch_timeout=0.2)


async def effect_keys(db: Database) -> list[str]:
    """The effects in the order they were written."""
    async with db.connect() as conn:
        return list((await conn.execute(select(effects.c.key).order_by(effects.c.id))).scalars())


async def test_a_batch_is_one_transaction_and_each_event_counts_once(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(counters_metadata.create_all)
    units: set[int] = set()

    async def count(uow: UnitOfWork, event: InboundEvent) -> None:
        units.add(id(uow))
        await record_effect(uow, event)
        await uow.upsert_at_end(counters, {"key": "all", "n": 1}, ["key"], increment=["n"])

    runner = batched(app, nats_client, count)
    ids = [str(uuid.uuid4()) for _ in range(10)]
    for event_id in ids:
        await publish(nats_client, event_id)
    # The same event again under another message id: JetStream keeps both, in one batch.
    await publish(nats_client, ids[3], msg_id="again-" + ids[3])
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 11))

    assert await effect_keys(db) == ids, "each effect once, in delivery order"
    assert len(units) == 1, "the fetched batch was handled in one unit of work"
    assert runner.handled == 10
    async with db.connect() as conn:
        assert await conn.scalar(select(counters.c.n).where(counters.c.key == "all")) == 10


async def test_poison_and_failing_messages_in_the_middle_of_a_batch_cost_the_others_nothing(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    good = [str(uuid.uuid4()) for _ in range(4)]
    poison, failing = str(uuid.uuid4()), str(uuid.uuid4())
    failures: list[int] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        await record_effect(uow, event)  # rolled back with the transaction on a failure
        if event.event_id == poison:
            raise PoisonMessage("payload does not decode")
        if event.event_id == failing:
            failures.append(event.delivered)
            raise RuntimeError("this order does not exist")

    runner = batched(app, nats_client, handler)
    for event_id in (good[0], good[1], poison, good[2], failing, good[3]):
        await publish(nats_client, event_id, data=event_id.encode())
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 6))
        letters = await eventually(lambda: _at_least(_dead_letters(nats_client), 2), within=20)

    assert await effect_keys(db) == good, "the others once each, in order"
    assert runner.parked == 2
    parked = {letter.headers["ce-id"]: letter.headers for letter in letters}
    assert parked[poison]["x-dead-letter-reason"] == "poison: payload does not decode"
    assert "failed 3 times" in parked[failing]["x-dead-letter-reason"]
    # The batch attempt and the one-at-a-time attempt of the first delivery raise the same
    # way; each later delivery comes alone (or batched with nothing else left).
    assert failures.count(3) >= 1 and set(failures) <= {1, 2, 3}
    assert await count_effects(db, poison) == 0
    assert await count_effects(db, failing) == 0


async def _at_least(found: Any, n: int) -> Any:
    letters = await found
    return letters if len(letters) >= n else None


class DiesBeforeAcking(SubscriptionRunner):
    """A replica whose process is killed after its batch committed, before any ack."""

    committed = asyncio.Event()

    async def _acknowledge(self, messages: Any) -> None:
        self.committed.set()
        await asyncio.Event().wait()  # killed here


async def test_a_crash_between_commit_and_ack_is_answered_by_the_inbox(
    app: Application,
    db: Database,
    endpoints: Endpoints,
    namespace: str,
    nats_client: NatsConnection,
) -> None:
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        calls.append(event.event_id)
        await record_effect(uow, event)

    nats_client.declare(TEST_STREAM)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    for event_id in ids:
        await publish(nats_client, event_id)
    first_nats = NatsConnection(endpoints.nats_url, name="consumer-1", namespace=namespace)
    sub = batched(app, first_nats, handler, ack_wait_seconds=1.0).sub
    first = DiesBeforeAcking(app, first_nats, sub, service=SERVICE, fetch_timeout=0.2)
    first.committed = asyncio.Event()
    crashed = asyncio.create_task(first.run(asyncio.Event()))
    await asyncio.wait_for(first.committed.wait(), 15)
    crashed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    await first_nats.close()
    assert await effect_keys(db) == ids, "committed before the crash"

    second_nats = NatsConnection(endpoints.nats_url, name="consumer-2", namespace=namespace)
    try:
        restarted = batched(app, second_nats, handler, ack_wait_seconds=1.0)
        async with consuming(restarted):
            await eventually(lambda: settled(nats_client, 8), within=30)
        js = await nats_client.jetstream()
        info = await js.consumer_info(nats_client.stream("KTEST"), "kt-sub")
    finally:
        await second_nats.close()

    assert info.delivered.consumer_seq >= 16, "every message was delivered again"
    assert calls == ids, "the redeliveries found their inbox rows and ran no handler"
    assert restarted.handled == 0
    assert await effect_keys(db) == ids


async def test_two_replicas_on_one_durable_handle_each_event_once(
    app: Application,
    db: Database,
    endpoints: Endpoints,
    namespace: str,
    nats_client: NatsConnection,
) -> None:
    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        await record_effect(uow, event)
        await asyncio.sleep(0)  # let the other replica interleave

    ids = [str(uuid.uuid4()) for _ in range(300)]
    other_nats = NatsConnection(endpoints.nats_url, name="replica-2", namespace=namespace)
    one = batched(app, nats_client, handler, batch=16)
    two = batched(app, other_nats, handler, batch=16)
    try:
        async with consuming(one), consuming(two):
            for event_id in ids:
                await publish(nats_client, event_id)
            await eventually(lambda: settled(nats_client, len(ids)), within=60)
    finally:
        await other_nats.close()

    keys = await effect_keys(db)
    assert sorted(keys) == sorted(ids), "each event's effect exactly once"
    assert one.handled + two.handled == len(ids)
