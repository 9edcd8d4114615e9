"""The relay from PostgreSQL to JetStream: subjects and CloudEvents headers, the outbox
emptied only after the ack, NATS outages, a crash between publish and commit, and two
relay replicas sharing one database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import Unavailable
from kernel.eventstore import EventStore, NewEvent, RecordedEvent, outbox
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from kernel.testing.servers import Endpoints, NatsServerProcess
from tests.integration.kernel_fixtures import (
    REGISTRY,
    all_messages,
    app,
    db,
    drain,
    eventually,
    migrated,
    private_nats,
    receive,
    stock_event,
    stream_messages,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _append(db: Database, stream_id: str, *new: NewEvent) -> list[RecordedEvent]:
    async with db.transaction() as conn:
        store = EventStore()
        version = await store.stream_version(conn, stream_id)
        return await store.append(conn, stream_id, version, list(new), ManualClock().now())


async def _unpublished(db: Database) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(outbox)) or 0)


@pytest.fixture
async def private_connection(
    private_nats: NatsServerProcess, namespace: str
) -> AsyncIterator[NatsConnection]:
    connection = NatsConnection(private_nats.url, name="relay-test", namespace=namespace)
    yield connection
    await connection.close()


async def test_relay_publishes_subject_and_cloudevents_headers(
    db: Database, nats_client: NatsConnection, namespace: str
) -> None:
    new = stock_event("SZ07", "P-9", 4)
    new = NewEvent(
        new.event_type,
        new.payload,
        new.store_id,
        metadata={"traceparent": TRACEPARENT, "request_id": "req-7"},
    )
    (event,) = await _append(db, "stock/SZ07/P-9", new)
    relay = Relay(db, nats_client, REGISTRY)
    await relay.ensure_checkpoint()

    assert await drain(relay, 1) == 1

    js = await nats_client.jetstream()
    (message,) = await all_messages(js, nats_client.stream("INVENTORY"))
    assert message.subject == f"{namespace}.inventory.v1.SZ07.StockReceived"
    assert message.data == new.payload
    headers = message.headers or {}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == str(new.event_id)
    assert headers["Nats-Msg-Id"] == str(new.event_id)
    assert headers["ce-source"] == "/storemesh/inventory"
    assert headers["ce-type"] == "storemesh.inventory.events.v1.StockReceived"
    assert headers["ce-subject"] == "stock/SZ07/P-9"
    assert headers["content-type"] == "application/protobuf"
    # The trace goes on: same trace id (the parent may be the relay's publish span).
    version, trace_id, parent_id, _flags = headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACEPARENT.split("-")[1])
    assert len(parent_id) == 16
    ce_time = datetime.fromisoformat(headers["ce-time"])
    assert ce_time.tzinfo is not None, "ce-time must be RFC 3339 with an offset"
    assert ce_time == event.recorded_at
    decoded = REGISTRY.decode(headers["ce-type"], message.data)
    assert (decoded.store_id, decoded.part_number, decoded.quantity) == ("SZ07", "P-9", 4)
    assert await _unpublished(db) == 0
    assert await relay.relay_once() == 0


async def test_relay_empties_the_outbox_only_after_the_ack(
    db: Database, nats_client: NatsConnection
) -> None:
    await _append(db, "s/1", stock_event(), stock_event(), stock_event())
    observed: list[tuple[int, int]] = []

    async def look(batch: list[RecordedEvent]) -> None:
        js = await nats_client.jetstream()
        observed.append(
            (await _unpublished(db), await stream_messages(js, nats_client.stream("INVENTORY")))
        )

    relay = Relay(db, nats_client, REGISTRY, after_publish=look)
    await relay.ensure_checkpoint()
    assert await drain(relay, 3) == 3
    # When the acks were in, the stream held the batch and the outbox still did too.
    assert observed == [(3, 3)]
    assert await _unpublished(db) == 0


class _BusyAtStart(Relay):
    """A relay whose database is busy the first time it asks for its lease."""

    attempts = 0

    async def ensure_checkpoint(self) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise Unavailable("database unavailable: OperationalError")
        await super().ensure_checkpoint()


async def test_relay_outlives_a_database_busy_at_its_start(
    db: Database, nats_client: NatsConnection
) -> None:
    await _append(db, "s/1", stock_event(), stock_event())
    relay = _BusyAtStart(db, nats_client, REGISTRY)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:

        async def emptied() -> bool:
            return await _unpublished(db) == 0

        await eventually(emptied, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert relay.attempts == 2
    js = await nats_client.jetstream()
    assert await stream_messages(js, nats_client.stream("INVENTORY")) == 2


async def test_nats_outage_loses_no_event(
    app: Application,
    db: Database,
    private_nats: NatsServerProcess,
    private_connection: NatsConnection,
) -> None:
    relay = Relay(db, private_connection, REGISTRY, ack_timeout=2.0)
    await relay.ensure_checkpoint()
    stream = private_connection.stream("INVENTORY")
    for _ in range(3):
        await receive(app, "SZ01", "P-1")
    assert await drain(relay, 3) == 3
    assert await _unpublished(db) == 0

    private_nats.stop()

    async def disconnected() -> bool:
        return not private_connection.connected

    await eventually(disconnected, within=10)
    for n in range(5):  # commands still commit while NATS is down
        assert await receive(app, "SZ01", "P-1") == 4 + n
    with pytest.raises(Unavailable):
        await asyncio.wait_for(relay.relay_once(), 10)
    assert await _unpublished(db) == 5

    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.3)
        assert not running.done(), "the relay must keep waiting for NATS, not give up"
        assert await _unpublished(db) == 5

        private_nats.start()  # same port, same store directory

        async def all_in() -> bool:
            with contextlib.suppress(Exception):
                js = await private_connection.jetstream()
                return await stream_messages(js, stream) == 8
            return False

        await eventually(all_in, within=30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    async with db.connect() as conn:
        stored = await EventStore().read_stream(conn, "stock/SZ01/P-1")
    assert len(stored) == 8
    js = await private_connection.jetstream()
    ids = [m.headers["Nats-Msg-Id"] for m in await all_messages(js, stream)]
    assert ids == [str(e.event_id) for e in stored]
    assert await _unpublished(db) == 0


async def test_relay_reports_unavailable_when_nats_was_never_up(
    app: Application, db: Database, namespace: str
) -> None:
    """A service starting while NATS is down commits commands; the relay waits, not hangs."""
    server = NatsServerProcess()  # its port is free: nothing listens there yet
    connection = NatsConnection(server.url, name="relay-test", namespace=namespace)
    try:
        relay = Relay(db, connection, REGISTRY)
        await relay.ensure_checkpoint()
        await receive(app, "SZ01", "P-1")
        with pytest.raises(Unavailable):
            await asyncio.wait_for(relay.relay_once(), 10)

        server.start()
        sent = await eventually(lambda: _relay_quietly(relay), within=15, interval=0.2)
        assert sent == 1
    finally:
        await connection.close()
        server.cleanup()


async def _relay_quietly(relay: Relay) -> int:
    with contextlib.suppress(Unavailable):
        return await relay.relay_once()
    return 0


async def test_crash_between_publish_and_commit_publishes_no_duplicate(
    db: Database, nats_client: NatsConnection
) -> None:
    appended = await _append(db, "s/1", stock_event(), stock_event(), stock_event())
    crashes = 0

    async def crash_once(batch: list[RecordedEvent]) -> None:
        nonlocal crashes
        if crashes == 0:
            crashes += 1
            raise RuntimeError("process died after publishing, before the commit")

    relay = Relay(db, nats_client, REGISTRY, after_publish=crash_once)
    await relay.ensure_checkpoint()
    with pytest.raises(RuntimeError):
        await drain(relay, 3)
    assert crashes == 1
    assert await _unpublished(db) == 3

    assert await drain(relay, 3) == 3  # the batch goes out again...
    assert await relay.relay_once() == 0
    js = await nats_client.jetstream()
    stream = nats_client.stream("INVENTORY")
    assert await stream_messages(js, stream) == 3  # ...and JetStream drops the repeats

    # What a subscriber sees: each event once.
    subscription = await js.pull_subscribe(
        nats_client.subject("inventory.v1.>"), durable=None, stream=stream
    )
    seen: list[str] = []
    with contextlib.suppress(Exception):
        while len(seen) < 10:
            for msg in await subscription.fetch(10, timeout=0.5):
                seen.append(msg.headers["ce-id"])
                await msg.ack()
    await subscription.unsubscribe()
    assert sorted(seen) == sorted(str(e.event_id) for e in appended)


async def test_two_relays_on_one_database_publish_each_event_once(
    db: Database, pg_url: str, endpoints: Endpoints, nats_client: NatsConnection, namespace: str
) -> None:
    other_db = Database(pg_url)
    other_nats = NatsConnection(endpoints.nats_url, name="relay-2", namespace=namespace)
    relays = [
        Relay(db, nats_client, REGISTRY, batch_size=25),
        Relay(other_db, other_nats, REGISTRY, batch_size=25),
    ]
    try:
        await asyncio.gather(*(r.ensure_checkpoint() for r in relays))
        written: list[RecordedEvent] = []
        for n in range(10):
            written += await _append(db, f"s/{n}", *(stock_event() for _ in range(10)))
        writing_done = asyncio.Event()

        async def writer() -> None:
            for n in range(50):
                written.extend(await _append(db, f"late/{n % 5}", stock_event(), stock_event()))
            writing_done.set()

        async def relaying() -> None:
            for _ in range(5000):
                drained = writing_done.is_set() and sum(r.published for r in relays) >= 200
                sent = await asyncio.gather(*(r.relay_once() for r in relays))
                if drained and sum(sent) == 0:
                    return
                if sum(sent) == 0:
                    await asyncio.sleep(0.005)
            raise AssertionError("relays did not drain the store")

        await asyncio.wait_for(asyncio.gather(writer(), relaying()), 60)

        total = len(written)
        assert total == 200
        assert sum(r.published for r in relays) == total, "an event was published twice"
        js = await nats_client.jetstream()
        stream = nats_client.stream("INVENTORY")
        assert await stream_messages(js, stream) == total
        ids: list[Any] = [m.headers["Nats-Msg-Id"] for m in await all_messages(js, stream)]
        assert sorted(ids) == sorted(str(e.event_id) for e in written)
    finally:
        await other_nats.close()
        await other_db.dispose()


async def test_relay_on_sqlite_stamps_ce_time_with_an_offset(
    tmp_path: Path, nats_client: NatsConnection
) -> None:
    """The embedded default publishes the same RFC 3339 times as PostgreSQL."""
    sqlite_db = await migrated(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    try:
        shanghai = timezone(timedelta(hours=8))
        async with sqlite_db.transaction() as conn:
            (event,) = await EventStore().append(
                conn,
                "stock/SZ01/P-1",
                0,
                [stock_event()],
                datetime(2026, 11, 2, 16, 0, tzinfo=shanghai),
            )
        assert event.recorded_at.utcoffset() is not None
        relay = Relay(sqlite_db, nats_client, REGISTRY)
        await relay.ensure_checkpoint()
        assert await drain(relay, 1) == 1
        async with sqlite_db.connect() as conn:
            (stored,) = await EventStore().read_stream(conn, "stock/SZ01/P-1")
        assert stored.recorded_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

        js = await nats_client.jetstream()
        (message,) = await all_messages(js, nats_client.stream("INVENTORY"))
        ce_time = datetime.fromisoformat((message.headers or {})["ce-time"])
        assert ce_time.utcoffset() is not None, "ce-time must carry an offset (RFC 3339)"
        assert ce_time == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        assert await _unpublished(sqlite_db) == 0
    finally:
        await sqlite_db.dispose()
