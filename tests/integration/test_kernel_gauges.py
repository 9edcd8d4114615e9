"""The backlog gauges (kernel.gauges): what piles up in the outbox, the timers and a
subscription's consumer, and the database pools' connections, read from real PostgreSQL
and NATS; a part that cannot be read reports nothing rather than its last value."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import text

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.gauges import GaugeSampler
from kernel.messaging import InboundEvent, NatsConnection
from kernel.relay import Relay
from kernel.subscriptions import PoisonMessage, SubscriptionRunner, consumers_of, unconsumed
from tests.integration.kernel_fixtures import (
    REGISTRY,
    any_db,
    app,
    db,
    eventually,
    receive,
    waiting_on_a_lock,
)
from tests.integration.test_kernel_metrics import _points, reader
from tests.integration.test_kernel_subscriptions import (
    consuming,
    publish,
    record_effect,
    runner_for,
    settled,
)

__all__ = ["any_db", "app", "db", "reader"]


def _values(reader: InMemoryMetricReader, name: str) -> dict[frozenset[tuple[str, Any]], float]:
    return {attrs: point.value for attrs, point in _points(reader, name).items()}


def _value(reader: InMemoryMetricReader, name: str, **attributes: str) -> float:
    return _values(reader, name)[frozenset(attributes.items())]


async def test_the_outbox_and_due_timers_are_gauged_until_published_and_fired(
    reader: InMemoryMetricReader,
    any_db: Database,
    clock: ManualClock,
    nats_client: NatsConnection,
) -> None:
    app = Application(any_db, REGISTRY, clock)
    sampler = GaugeSampler(app.db, nats_client, clock, service="ktest")
    await receive(app, "SZ01", "P-1")
    await receive(app, "SZ01", "P-2")

    async def arm(uow: UnitOfWork) -> None:
        for n, kind in enumerate(("reservation_expiry", "reservation_expiry", "sla_check")):
            await uow.schedule(f"t-{n}", kind, clock.now() + timedelta(minutes=n), {"n": n})

    await app.handle(None, arm)
    clock.advance(timedelta(seconds=90))  # t-0 and t-1 due, 90 s and 30 s ago; t-2 not yet
    await sampler.sample()

    assert _value(reader, "storemesh.outbox.backlog") == 2
    assert _value(reader, "storemesh.outbox.oldest_age") == 90.0
    assert _values(reader, "storemesh.timers.due") == {
        frozenset({("kind", "reservation_expiry")}): 2
    }
    assert _value(reader, "storemesh.timers.oldest_due_age") == 90.0
    connections = {
        dict(a)["pool"] + "/" + dict(a)["state"]: v
        for a, v in _values(reader, "storemesh.db.connections").items()
    }
    assert connections["engine/in_use"] == 0
    assert connections["engine/idle"] >= 0
    if any_db.is_postgres:
        assert connections["reads/in_use"] == 0
        assert connections["reads/idle"] >= 1  # the sample's own reads, given back

    relay = Relay(app.db, nats_client, REGISTRY, clock=clock)
    await relay.ensure_checkpoint()
    assert await relay.relay_once() == 2
    await sampler.sample()

    assert _value(reader, "storemesh.outbox.backlog") == 0
    assert _value(reader, "storemesh.outbox.oldest_age") == 0.0


async def test_a_subscriptions_undelivered_and_parked_events_are_gauged(
    reader: InMemoryMetricReader, app: Application, nats_client: NatsConnection
) -> None:
    poison = str(uuid.uuid4())

    async def handler(uow: UnitOfWork, event: InboundEvent) -> None:
        if event.event_id == poison:
            raise PoisonMessage("cannot be read")
        await record_effect(uow, event)

    runner = runner_for(app, nats_client, handler, batch=1)
    sampler = GaugeSampler(
        app.db, nats_client, app.clock, service=runner.service, followed=[runner]
    )
    for event_id in (poison, str(uuid.uuid4())):
        await publish(nats_client, event_id)
    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 2), within=30)
    for _ in range(3):  # published while the service is away
        await publish(nats_client, str(uuid.uuid4()))
    await sampler.sample()

    following = frozenset({("subscription", runner.sub.name)})
    assert _values(reader, "storemesh.consumer.pending") == {following: 3}
    assert _values(reader, "storemesh.consumer.ack_pending") == {following: 0}
    assert _values(reader, "storemesh.consumer.parked") == {following: 1}


@pytest.fixture
async def no_database(pg_url: str) -> AsyncIterator[Database]:
    """A database that refuses every connection (its name does not exist)."""
    gone = Database(pg_url.rsplit("/", 1)[0] + f"/gone_{uuid.uuid4().hex[:12]}")
    try:
        yield gone
    finally:
        await gone.dispose()


async def test_what_cannot_be_read_is_reported_as_nothing_not_as_its_last_value(
    reader: InMemoryMetricReader,
    app: Application,
    nats_client: NatsConnection,
    no_database: Database,
) -> None:
    await receive(app, "SZ01", "P-1")
    await GaugeSampler(app.db, nats_client, app.clock, service="ktest").sample()
    assert _value(reader, "storemesh.outbox.backlog") == 1

    await GaugeSampler(no_database, nats_client, app.clock, service="ktest").sample()

    assert _values(reader, "storemesh.outbox.backlog") == {}
    assert _values(reader, "storemesh.timers.due") == {}


async def test_nothing_is_sampled_while_metrics_are_not_recorded(
    app: Application, nats_client: NatsConnection, pg_url: str
) -> None:
    from kernel import metrics

    metrics.shutdown_metrics()
    fresh = Database(pg_url)  # the test's database, on a pool no one has used yet
    try:
        await GaugeSampler(fresh, nats_client, app.clock, service="ktest").sample()
        # A sample would have read the outbox and the timers: a connection left idle.
        assert fresh.connections()["reads", "idle"] == 0
    finally:
        await fresh.dispose()
    assert metrics.recording() is None


async def test_a_stop_does_not_wait_for_a_sample_waiting_on_a_lock(
    reader: InMemoryMetricReader, app: Application, nats_client: NatsConnection
) -> None:
    sampler = GaugeSampler(app.db, nats_client, app.clock, service="ktest", interval=0.05)
    stop = asyncio.Event()
    async with app.db.connect() as holder:
        await holder.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
        running = asyncio.create_task(sampler.run(stop))
        await eventually(lambda: waiting_on_a_lock(app.db), within=30)
        stop.set()
        await asyncio.wait_for(running, 10)  # while the lock is still held
        assert not await waiting_on_a_lock(app.db)
        await holder.rollback()
    assert _values(reader, "storemesh.outbox.backlog") == {}


async def test_unconsumed_counts_what_each_consumer_has_not_had_acknowledged(
    app: Application, nats_client: NatsConnection
) -> None:
    runner = runner_for(app, nats_client, record_effect, batch=1)
    consumers = consumers_of([runner])
    never = [(nats_client.stream("NO_SUCH_STREAM"), "nobody")]
    await publish(nats_client, str(uuid.uuid4()))
    assert await unconsumed(nats_client, consumers) == {runner.sub.name: None}  # not bound
    assert await unconsumed(nats_client, never) == {"nobody": 0}  # nothing ever published

    async with consuming(runner):
        await eventually(lambda: settled(nats_client, 1), within=30)
    assert await unconsumed(nats_client, consumers) == {runner.sub.name: 0}
    for _ in range(3):
        await publish(nats_client, str(uuid.uuid4()))
    assert await unconsumed(nats_client, consumers) == {runner.sub.name: 3}
