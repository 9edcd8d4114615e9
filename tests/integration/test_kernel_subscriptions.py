"""Durable subscriptions on real JetStream and PostgreSQL: each effect once despite
redelivery, retries with backoff, dead letters with the reason, recovery after a NATS
server restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import select

from kernel.application import Application, UnitOfWork
from kernel.db import Database
from kernel.messaging import InboundEvent, NatsConnection, StreamSpec
from kernel.subscriptions import PoisonMessage, Subscription, SubscriptionRunner
from kernel.testing.servers import NatsServerProcess
from tests.integration.kernel_fixtures import (
    all_messages,
    app,
    count_effects,
    db,
    effects,
    eventually,
    private_nats,
)

SERVICE = "ktest"
TEST_STREAM = StreamSpec(name="KTEST", subjects=["ktest.v1.>"])

Handler = Callable[[UnitOfWork, InboundEvent], Awaitable[None]]


def subscription(handler: Handler, **overrides: Any) -> Subscription:
    settings: dict[str, Any] = {
        "max_deliver": 5,
        "backoff_seconds": (0.2, 0.4),
        "ack_wait_seconds": 10.0,
        "batch": 16,
    }
    settings.update(overrides)
    settings.setdefault("subjects", ("ktest.v1.>",))
    return Subscription(name="kt-sub", stream="KTEST", handler=handler, **settings)


async def record_effect(uow: UnitOfWork, event: InboundEvent) -> None:
    """The effect: a row in the handler's transaction (no unique key: twice would show)."""
    await uow.conn.execute(effects.insert().values(key=event.event_id, note=event.subject))


async def publish(
    nats: NatsConnection, event_id: str, *, msg_id: str | None = None, data: bytes = b"x"
) -> None:
    js = await nats.jetstream()
    await js.publish(
        nats.subject("ktest.v1.SZ01.Thing"),
        data,
        headers={
            "ce-id": event_id,
            "ce-type": "storemesh.test.v1.Thing",
            "ce-storeid": "SZ01",
            "Nats-Msg-Id": msg_id or event_id,
        },
    )


@asynccontextmanager
async def consuming(runner: SubscriptionRunner) -> AsyncIterator[SubscriptionRunner]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def runner_for(
    app: Application, nats: NatsConnection, handler: Handler, **overrides: Any
) -> SubscriptionRunner:
    nats.declare(TEST_STREAM)
    return SubscriptionRunner(
        app, nats, subscription(handler, **overrides), service=SERVICE, fetch_timeout=0.2
    )


async def settled(nats: NatsConnection, delivered: int) -> bool:
    """The consumer delivered `delivered` messages and none is pending or unacknowledged."""
    js = await nats.jetstream()
    try:
        info = await js.consumer_info(nats.stream("KTEST"), "kt-sub")
    except NotFoundError:
        return False  # the runner has not bound its consumer yet
    return bool(
        info.delivered.stream_seq == delivered
        and info.num_pending == 0
        and info.num_ack_pending == 0
        and info.ack_floor.stream_seq == delivered
    )


async def test_each_effect_once_when_the_same_event_is_delivered_twice(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        calls.append(event.event_id)
        await record_effect(uow, event)

    runner = runner_for(app, nats_client, handler)
    twice, once = str(uuid.uuid4()), str(uuid.uuid4())
    # The same event published twice under different message ids: JetStream keeps both.
    await publish(nats_client, twice, msg_id="first-" + twice)
    await publish(nats_client, twice, msg_id="second-" + twice)
    await publish(nats_client, once)

    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 3))

    assert await count_effects(db, twice) == 1
    assert await count_effects(db, once) == 1
    assert sorted(calls) == sorted([twice, once])
    assert runner.handled == 2


class _AckLost:
    """A delivered message whose ack never reaches the server (it is nak'ed instead)."""

    def __init__(self, msg: Any) -> None:
        self._msg = msg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._msg, name)

    async def ack(self) -> None:
        await self._msg.nak()


class LosesFirstAck(SubscriptionRunner):
    lost = 0

    async def process(self, msg: Any) -> None:
        if self.lost == 0:
            self.lost += 1
            msg = _AckLost(msg)
        await super().process(msg)


async def test_each_effect_once_when_the_ack_is_lost_and_the_message_redelivered(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    deliveries: list[int] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        deliveries.append(event.delivered)
        await record_effect(uow, event)

    nats_client.declare(TEST_STREAM)
    runner = LosesFirstAck(
        app, nats_client, subscription(handler), service=SERVICE, fetch_timeout=0.2
    )
    event_id = str(uuid.uuid4())
    await publish(nats_client, event_id)
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 1))
        js = await nats_client.jetstream()
        info = await js.consumer_info(nats_client.stream("KTEST"), "kt-sub")

    assert runner.lost == 1
    assert info.delivered.consumer_seq == 2, "the message was delivered a second time"
    assert deliveries == [1], "the redelivery found the inbox row and ran no handler"
    assert await count_effects(db, event_id) == 1


async def test_transient_handler_failure_is_retried_with_backoff_then_succeeds(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    attempts: list[tuple[int, float]] = []

    async def flaky(uow: UnitOfWork, event: InboundEvent) -> None:
        attempts.append((event.delivered, time.monotonic()))
        await record_effect(uow, event)  # rolled back whenever the handler fails
        if len(attempts) < 3:
            raise ConnectionError("the downstream is briefly away")

    runner = runner_for(app, nats_client, flaky, backoff_seconds=(0.3, 0.6))
    event_id = str(uuid.uuid4())
    await publish(nats_client, event_id)
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 1))

    # Three attempts, the first two seen as deliveries 1 and 2. The third delivery's own
    # counter is not asserted: once, under a loaded shared server (nats-server 2.9), it
    # came back as 1; the guarantees are the backoff, the single effect and no parking.
    assert len(attempts) == 3, attempts
    assert [d for d, _ in attempts[:2]] == [1, 2]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.3 * 0.9, f"first retry came too soon: {gaps}"
    assert gaps[1] >= 0.6 * 0.9, f"second retry ignored the longer backoff: {gaps}"
    assert await count_effects(db, event_id) == 1
    assert runner.parked == 0


async def _dead_letters(nats: NatsConnection) -> list[Any]:
    js = await nats.jetstream()
    with contextlib.suppress(Exception):
        return await all_messages(js, nats.stream("DEADLETTER"))
    return []


async def test_always_failing_handler_is_parked_after_max_deliver_with_the_reason(
    app: Application, db: Database, nats_client: NatsConnection, namespace: str
) -> None:
    bad, good = str(uuid.uuid4()), str(uuid.uuid4())
    calls: list[int] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        await record_effect(uow, event)
        if event.event_id == bad:
            calls.append(event.delivered)
            raise RuntimeError("this order does not exist")

    runner = runner_for(app, nats_client, handler, max_deliver=3, backoff_seconds=(0.05,))
    await publish(nats_client, bad, data=b"the bad one")
    await publish(nats_client, good)
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 2))
        parked = await eventually(lambda: _dead_letters(nats_client))

    assert calls == [1, 2, 3]
    assert runner.parked == 1
    (letter,) = parked
    assert letter.subject == f"{namespace}.deadletter.v1.{SERVICE}.kt-sub"
    assert letter.data == b"the bad one"
    headers = letter.headers or {}
    assert "failed 3 times" in headers["x-dead-letter-reason"]
    assert "this order does not exist" in headers["x-dead-letter-reason"]
    assert headers["x-deliveries"] == "3"
    assert headers["ce-id"] == bad
    assert headers["x-original-subject"] == f"{namespace}.ktest.v1.SZ01.Thing"
    assert await count_effects(db, bad) == 0
    assert await count_effects(db, good) == 1


async def test_poison_message_is_parked_at_once(
    app: Application, db: Database, nats_client: NatsConnection
) -> None:
    calls: list[int] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        calls.append(event.delivered)
        raise PoisonMessage("payload does not decode")

    runner = runner_for(app, nats_client, handler, max_deliver=5)
    event_id = str(uuid.uuid4())
    await publish(nats_client, event_id)
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 1))
        (letter,) = await eventually(lambda: _dead_letters(nats_client))

    assert calls == [1], "a poison message is not retried"
    headers = letter.headers or {}
    assert headers["x-dead-letter-reason"] == "poison: payload does not decode"
    assert headers["x-deliveries"] == "1"
    assert headers["ce-id"] == event_id
    assert await count_effects(db) == 0


async def test_subscription_recovers_after_a_nats_server_restart(
    app: Application, db: Database, private_nats: NatsServerProcess, namespace: str
) -> None:
    consumer = NatsConnection(private_nats.url, name="consumer", namespace=namespace)
    publisher = NatsConnection(private_nats.url, name="publisher", namespace=namespace)
    publisher.declare(TEST_STREAM)
    runner = runner_for(app, consumer, record_effect)
    before = [str(uuid.uuid4()) for _ in range(3)]
    after = [str(uuid.uuid4()) for _ in range(3)]
    try:
        async with consuming(runner):
            for event_id in before:
                await publish(publisher, event_id)

            async def effects_are(n: int) -> bool:
                return await count_effects(db) == n

            await eventually(lambda: effects_are(3))

            private_nats.stop()

            async def disconnected() -> bool:
                return not consumer.connected

            await eventually(disconnected, within=10)
            private_nats.start()  # same port and store directory: streams and consumer kept

            async def published(event_id: str) -> bool:
                with contextlib.suppress(Exception):
                    await publish(publisher, event_id)
                    return True
                return False

            for event_id in after:
                await eventually(lambda event_id=event_id: published(event_id), within=15)
            await eventually(lambda: effects_are(6), within=30)

        async with db.connect() as conn:
            keys = sorted((await conn.execute(select(effects.c.key))).scalars())
        assert keys == sorted(before + after)
    finally:
        await consumer.close()
        await publisher.close()


async def test_a_subscription_to_one_subject_is_given_only_that_subject(
    app: Application, nats_client: NatsConnection
) -> None:
    """Filtered by the server whatever its version (before 2.10 a `filter_subjects` list
    was ignored, so a one-type subscription was handed the whole stream)."""
    seen: list[str] = []

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        seen.append(event.subject)

    runner = runner_for(app, nats_client, handler, subjects=("ktest.v1.*.Wanted",))
    js = await nats_client.jetstream()
    for kind in ("Other", "Wanted", "Other"):
        event_id = str(uuid.uuid4())
        await js.publish(
            nats_client.subject(f"ktest.v1.SZ01.{kind}"),
            b"x",
            headers={
                "ce-id": event_id,
                "ce-type": f"storemesh.test.v1.{kind}",
                "ce-storeid": "SZ01",
            },
        )

    async with consuming(runner):
        await eventually(lambda: _delivered(nats_client, 1))
        info = await js.consumer_info(nats_client.stream("KTEST"), "kt-sub")

    assert seen == [nats_client.subject("ktest.v1.SZ01.Wanted")]
    assert info.num_pending == 0 and info.delivered.consumer_seq == 1


async def _delivered(nats: NatsConnection, count: int) -> bool:
    js = await nats.jetstream()
    try:
        info = await js.consumer_info(nats.stream("KTEST"), "kt-sub")
    except NotFoundError:
        return False
    return bool(info.delivered.consumer_seq == count and info.num_ack_pending == 0)
