"""Consumers that lose their process, work slowly, or start before their stream exists:
a restarted consumer resumes within seconds, a slow handler keeps its messages, and a
missing stream is waited for quietly."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from structlog.testing import LogCapture

from kernel.application import Application, UnitOfWork
from kernel.db import Database
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import Subscription, SubscriptionRunner
from kernel.testing.servers import Endpoints
from tests.integration.kernel_fixtures import (
    app,
    count_effects,
    db,
    eventually,
    kernel_logs,
)
from tests.integration.test_kernel_subscriptions import (
    SERVICE,
    TEST_STREAM,
    Handler,
    consuming,
    publish,
    record_effect,
    settled,
)


def consumer(app: Application, nats: NatsConnection, handler: Handler, **kw: float) -> Any:
    """The subscription with the kernel's default timings unless a test names one."""
    sub = Subscription(
        name="kt-sub", stream="KTEST", subjects=("ktest.v1.>",), handler=handler, **kw
    )
    return SubscriptionRunner(app, nats, sub, service=SERVICE, fetch_timeout=0.2)


async def test_consumer_restarted_after_a_crash_resumes_within_seconds(
    app: Application,
    db: Database,
    endpoints: Endpoints,
    namespace: str,
    nats_client: NatsConnection,
) -> None:
    nats_client.declare(TEST_STREAM)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for event_id in ids:
        await publish(nats_client, event_id)

    entered = asyncio.Event()

    async def dies_inside(uow: UnitOfWork, event: InboundEvent) -> None:
        entered.set()
        await asyncio.Event().wait()  # the process is killed here

    first_nats = NatsConnection(endpoints.nats_url, name="consumer-1", namespace=namespace)
    first = consumer(app, first_nats, dies_inside)
    stop = asyncio.Event()
    crashed = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(entered.wait(), 15)
    crashed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    await first_nats.close()  # its fetched messages were never acknowledged

    second_nats = NatsConnection(endpoints.nats_url, name="consumer-2", namespace=namespace)
    try:
        restarted = time.monotonic()
        async with consuming(consumer(app, second_nats, record_effect)):

            async def all_handled() -> bool:
                return await count_effects(db) == len(ids)

            await eventually(all_handled, within=30)
            resumed_in = time.monotonic() - restarted
        assert resumed_in < 6.0, f"the restarted consumer waited {resumed_in:.1f} s"
        for event_id in ids:
            assert await count_effects(db, event_id) == 1
    finally:
        await second_nats.close()


async def test_slow_handler_keeps_its_messages_with_in_progress_acks(
    app: Application,
    db: Database,
    endpoints: Endpoints,
    namespace: str,
    nats_client: NatsConnection,
) -> None:
    """A second replica is fetching all along: a message whose ack wait ran out would go
    to it again while the first replica still works on it."""
    nats_client.declare(TEST_STREAM)

    async def slow(uow: UnitOfWork, event: InboundEvent) -> None:
        await asyncio.sleep(1.2)  # more than twice the ack wait
        await record_effect(uow, event)

    for _ in range(2):
        await publish(nats_client, str(uuid.uuid4()))
    other_nats = NatsConnection(endpoints.nats_url, name="consumer-2", namespace=namespace)
    try:
        async with (
            consuming(consumer(app, nats_client, slow, ack_wait_seconds=0.5)),
            consuming(consumer(app, other_nats, slow, ack_wait_seconds=0.5)),
        ):
            await eventually(lambda: settled(nats_client, 2), within=30)
    finally:
        await other_nats.close()
    js = await nats_client.jetstream()
    info = await js.consumer_info(nats_client.stream("KTEST"), "kt-sub")
    assert info.delivered.consumer_seq == 2, "a message was delivered again while in hand"
    assert await count_effects(db) == 2


async def test_subscriber_of_a_stream_not_created_yet_waits_quietly(
    app: Application, db: Database, nats_client: NatsConnection, kernel_logs: LogCapture
) -> None:
    """The owner of the stream starts later: no warning while waiting, then it consumes."""
    async with consuming(consumer(app, nats_client, record_effect)):
        await asyncio.sleep(1.5)  # time for several attempts to bind
        noisy = [e for e in kernel_logs.entries if e["log_level"] != "debug"]
        assert [e for e in noisy if e["log_level"] not in ("info",)] == []
        assert len(noisy) <= 1, f"waiting for the stream is logged once at most: {noisy}"

        nats_client.declare(TEST_STREAM)
        event_id = str(uuid.uuid4())
        await publish(nats_client, event_id)

        async def handled() -> bool:
            return await count_effects(db, event_id) == 1

        await eventually(handled, within=15)
