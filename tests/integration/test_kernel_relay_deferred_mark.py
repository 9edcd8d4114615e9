"""A running relay with no backlog deletes an acknowledged batch with its next pass's read
(one transaction per pass, not two): the batch stays in the outbox until then, the next
read does not hand it out again, a stopping relay deletes it before handing the lease
back, and a relay that dies with it undeleted only republishes it, which JetStream drops."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import Unavailable
from kernel.eventstore import checkpoints
from kernel.messaging import NatsConnection
from kernel.relay import LEASE_SECONDS, Relay
from tests.integration.kernel_fixtures import REGISTRY, db, eventually, stock_event, stream_messages
from tests.integration.test_kernel_relay import _append, _unpublished
from tests.integration.test_kernel_relay_lease import rival

__all__ = ["db", "rival"]

# Long enough that no idle pass runs during a test: only a wake starts a pass.
QUIET = 60.0


async def _checkpoint(db: Database, name: str) -> int:
    async with db.connect() as conn:
        position = await conn.scalar(
            select(checkpoints.c.position).where(checkpoints.c.name == name)
        )
    return int(position or 0)


async def _in_stream(nats_client: NatsConnection) -> int:
    js = await nats_client.jetstream()
    return await stream_messages(js, nats_client.stream("INVENTORY"))


async def test_the_next_pass_deletes_the_batch_and_stop_deletes_the_last(
    db: Database, nats_client: NatsConnection
) -> None:
    relay = Relay(db, nats_client, REGISTRY, idle_interval=QUIET, gather_delay=0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        (first,) = await _append(db, "s/1", stock_event())
        relay.wake()

        async def published(count: int) -> bool:
            return relay.published == count and await _in_stream(nats_client) == count

        await eventually(lambda: published(1))
        assert await _unpublished(db) == 1, "acknowledged, its delete waits for the next pass"
        assert await _checkpoint(db, relay.name) == 0

        (second,) = await _append(db, "s/1", stock_event())
        relay.wake()
        await eventually(lambda: published(2))
        # The second pass deleted the first batch and did not hand it out again.
        assert await _unpublished(db) == 1
        assert await _checkpoint(db, relay.name) == first.position
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert await _unpublished(db) == 0, "a stopping relay deletes what it published"
    assert await _checkpoint(db, relay.name) == second.position
    assert await _in_stream(nats_client) == 2


async def test_a_relay_that_dies_before_the_delete_only_republishes_the_batch(
    db: Database, rival: tuple[Database, NatsConnection], nats_client: NatsConnection
) -> None:
    clock = ManualClock()
    first = Relay(db, nats_client, REGISTRY, clock=clock, idle_interval=QUIET, gather_delay=0)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    try:
        await _append(db, "s/1", stock_event(), stock_event())
        first.wake()

        async def published() -> bool:
            return first.published == 2

        await eventually(published)
    finally:
        running.cancel()  # dies: no stop, no delete, no lease handed back
        await asyncio.gather(running, return_exceptions=True)
    assert await _unpublished(db) == 2

    second = Relay(rival[0], rival[1], REGISTRY, clock=clock)
    await second.ensure_checkpoint()
    assert await second.relay_once() == 0, "the dead relay's lease has not run out yet"
    clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    assert await second.relay_once() == 2
    assert await _unpublished(db) == 0
    assert await _in_stream(nats_client) == 2, "JetStream dropped the repeats by Nats-Msg-Id"


async def test_stop_during_the_first_checkpoint_ends_the_relay_at_once(
    db: Database, nats_client: NatsConnection
) -> None:
    relay = Relay(db, nats_client, REGISTRY, idle_interval=QUIET, gather_delay=0)
    stop = asyncio.Event()
    original = relay.ensure_checkpoint

    async def ensure_then_stop() -> None:
        await original()
        stop.set()
        for _ in range(3):
            await asyncio.sleep(0)  # the stop watcher rings the relay's wake-up

    relay.ensure_checkpoint = ensure_then_stop  # type: ignore[method-assign]
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(asyncio.shield(running), 5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_nats_outage_still_deletes_the_acknowledged_batch(
    db: Database, nats_client: NatsConnection
) -> None:
    """NATS away: the pass fails before its read, so the deferred delete runs on its own
    (after the outage JetStream's duplicate window may be over)."""
    relay = Relay(db, nats_client, REGISTRY)
    await relay.ensure_checkpoint()
    await _append(db, "s/1", stock_event(), stock_event())
    assert await relay.relay_once(defer_mark=True) == 2
    assert await _unpublished(db) == 2

    async def away() -> None:
        raise Unavailable("NATS not connected")

    real = nats_client.jetstream
    nats_client.jetstream = away  # type: ignore[method-assign,assignment]
    try:
        with pytest.raises(Unavailable):
            await relay.relay_once(defer_mark=True)
    finally:
        nats_client.jetstream = real  # type: ignore[method-assign]
    assert await _unpublished(db) == 0


async def test_a_deferred_delete_after_the_lease_moved_on_deletes_without_reading(
    db: Database, rival: tuple[Database, NatsConnection], nats_client: NatsConnection
) -> None:
    clock = ManualClock()
    first = Relay(db, nats_client, REGISTRY, clock=clock)
    await first.ensure_checkpoint()
    await _append(db, "s/1", stock_event(), stock_event())
    assert await first.relay_once(defer_mark=True) == 2
    clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    second = Relay(rival[0], rival[1], REGISTRY, clock=clock)
    await second.ensure_checkpoint()
    await _append(db, "s/1", stock_event())
    assert await second.relay_once() == 3, "the batch again (dropped as a repeat), then the new"
    assert await first.relay_once(defer_mark=True) == 0, "the lease is the other's"
    assert await _unpublished(db) == 0
    assert await _in_stream(nats_client) == 3


async def test_a_full_batch_read_ahead_then_a_short_one_deferred(
    db: Database, nats_client: NatsConnection
) -> None:
    relay = Relay(db, nats_client, REGISTRY, batch_size=2)
    await relay.ensure_checkpoint()
    await _append(db, "s/1", *(stock_event() for _ in range(3)))
    assert await relay.relay_once(defer_mark=True) == 2, "full: deleted at once, next read"
    assert await _unpublished(db) == 1
    assert await relay.relay_once(defer_mark=True) == 1, "short: its delete deferred"
    await _append(db, "s/1", stock_event())
    assert await relay.relay_once(defer_mark=True) == 1
    assert await _unpublished(db) == 1
    await relay.release()
    assert await _unpublished(db) == 0
    assert await _in_stream(nats_client) == 4
