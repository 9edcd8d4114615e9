"""The relay's lease: no transaction open while a batch is published, a hung holder loses
the lease when it expires (on the injectable clock), a live holder keeps it, a stopping
relay hands it back; and what the relay's own read puts on the wire equals the CloudEvents
headers of the stored event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import EventStore, NewEvent, RecordedEvent
from kernel.messaging import NatsConnection, cloudevent_headers
from kernel.relay import LEASE_SECONDS, Relay
from kernel.testing.servers import Endpoints
from tests.integration.kernel_fixtures import (
    REGISTRY,
    all_messages,
    db,
    eventually,
    open_transactions,
    stock_event,
    stream_messages,
)
from tests.integration.test_kernel_relay import _append, _unpublished

__all__ = ["db"]


@pytest.fixture
async def rival(
    pg_url: str, endpoints: Endpoints, namespace: str
) -> AsyncIterator[tuple[Database, NatsConnection]]:
    """A second replica's own database pool and NATS connection."""
    other_db = Database(pg_url)
    other_nats = NatsConnection(endpoints.nats_url, name="relay-2", namespace=namespace)
    yield other_db, other_nats
    await other_nats.close()
    await other_db.dispose()


async def test_a_hung_relay_holds_no_transaction_and_its_lease_runs_out(
    db: Database,
    rival: tuple[Database, NatsConnection],
    nats_client: NatsConnection,
) -> None:
    appended = await _append(db, "s/1", stock_event(), stock_event(), stock_event())
    clock = ManualClock()
    hung, resume = asyncio.Event(), asyncio.Event()

    async def hang(batch: list[RecordedEvent]) -> None:
        hung.set()  # published, acknowledged, not yet deleted: then the process stalls
        await resume.wait()

    first = Relay(db, nats_client, REGISTRY, clock=clock, after_publish=hang)
    second = Relay(rival[0], rival[1], REGISTRY, clock=clock)
    await first.ensure_checkpoint()
    await second.ensure_checkpoint()
    stuck = asyncio.create_task(first.relay_once())
    try:
        await asyncio.wait_for(hung.wait(), 10)
        assert await open_transactions(db) == 0, "a transaction stays open while publishing"

        assert await second.relay_once() == 0, "the lease is the first relay's until it expires"
        clock.advance(timedelta(seconds=LEASE_SECONDS - 1))
        assert await second.relay_once() == 0
        clock.advance(timedelta(seconds=2))
        assert await second.relay_once() == 3, "the lease ran out: the other replica takes over"
        assert await _unpublished(db) == 0
    finally:
        resume.set()
        assert await asyncio.wait_for(stuck, 10) == 3  # it wakes up and finishes its pass

    assert await first.relay_once() == 0, "the lease is the second relay's now"
    js = await nats_client.jetstream()
    stream = nats_client.stream("INVENTORY")
    ids = [m.headers["Nats-Msg-Id"] for m in await all_messages(js, stream)]
    assert ids == [str(e.event_id) for e in appended], "each event once, in order"


async def test_a_live_holder_keeps_its_lease_and_hands_it_back_on_stop(
    db: Database,
    rival: tuple[Database, NatsConnection],
    nats_client: NatsConnection,
) -> None:
    clock = ManualClock()
    first = Relay(db, nats_client, REGISTRY, clock=clock)
    second = Relay(rival[0], rival[1], REGISTRY, clock=clock)
    await first.ensure_checkpoint()
    await second.ensure_checkpoint()
    await _append(db, "s/1", stock_event())
    assert await first.relay_once() == 1
    for n in range(3):  # each pass renews the lease, idle or not
        clock.advance(timedelta(seconds=LEASE_SECONDS * 2 / 3))
        assert await first.relay_once() == 0
        await _append(db, f"s/{n + 2}", stock_event())
        assert await second.relay_once() == 0, "a renewed lease keeps the others out"
        assert await first.relay_once() == 1

    await _append(db, "s/9", stock_event())
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))

    async def relayed() -> bool:
        return await _unpublished(db) == 0

    await eventually(relayed, within=10)
    stop.set()
    await asyncio.wait_for(running, 10)

    await _append(db, "s/10", stock_event())
    assert await second.relay_once() == 1, "a stopped relay's lease is free at once"
    js = await nats_client.jetstream()
    assert await stream_messages(js, nats_client.stream("INVENTORY")) == 6


async def test_what_the_relay_reads_goes_out_as_the_stored_events_headers(
    db: Database, nats_client: NatsConnection
) -> None:
    """The relay reads its batch as text fields (no RecordedEvent); the headers must still
    be exactly `cloudevent_headers` of the stored event, ce-time's form included."""
    traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    base = stock_event()
    variants = [
        ({"traceparent": traced, "request_id": "req-1", "actor": "u-1"}, 0),
        ({"tracestate": "v=1", "actor": ""}, 123456),
        ({}, 7),
    ]
    stored: list[RecordedEvent] = []
    for n, (metadata, micros) in enumerate(variants):
        at = datetime(2026, 11, 2, 8, 0, n, micros, tzinfo=UTC)
        new = NewEvent(base.event_type, base.payload, base.store_id, metadata=metadata)
        async with db.transaction() as conn:
            stored += await EventStore().append(conn, f"s/{n}", 0, [new], at)
    relay = Relay(db, nats_client, REGISTRY)
    await relay.ensure_checkpoint()
    assert await relay.relay_once() == 3

    js = await nats_client.jetstream()
    messages = await all_messages(js, nats_client.stream("INVENTORY"))
    for message, event in zip(messages, stored, strict=True):
        sent, expected = dict(message.headers), cloudevent_headers(event, source=relay.source)
        # The stored trace goes on: as it is, or as the parent of a publish span when a
        # span processor is installed (another test in this process may have done so).
        sent_trace, expected_trace = sent.pop("traceparent", ""), expected.pop("traceparent", "")
        assert sent == expected
        if expected_trace:
            assert sent_trace.split("-")[1] == expected_trace.split("-")[1]
    assert messages[0].headers["ce-time"] == "2026-11-02T08:00:00+00:00"
    assert messages[1].headers["ce-time"] == "2026-11-02T08:00:01.123456+00:00"
