"""Every stream's events reach JetStream in stream-version order: behind a timer blocked on
a locked stream, under timers and transfers with concurrent commands on one and on two
replicas, and without waiting for transactions that have nothing to do with the events."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import LogCapture

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.errors import ConcurrencyConflict
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from kernel.testing.servers import Endpoints, create_database, drop_database
from kernel.timers import TimerRunner
from services.inventory.domain.stock import ExpireReservation, ReserveStock
from tests.integration.kernel_fixtures import (
    POSITIONS,
    REGISTRY,
    all_messages,
    app,
    count_events,
    db,
    effects,
    eventually,
    kernel_logs,
    migrated,
    receive,
    stream_messages,
    touch,
    waiting_on_a_lock,
)

EXPIRE = "expire"


async def assert_every_stream_in_version_order(nats: NatsConnection, db: Database) -> int:
    """Read the whole JetStream stream: each stream's versions must come as 1, 2, 3, ..."""
    js = await nats.jetstream()
    published: dict[str, list[int]] = defaultdict(list)
    for message in await all_messages(js, nats.stream("INVENTORY")):
        headers = message.headers or {}
        published[headers["ce-subject"]].append(int(headers["ce-streamversion"]))
    out_of_order = {
        stream: versions
        for stream, versions in published.items()
        if versions != list(range(1, len(versions) + 1))
    }
    assert out_of_order == {}, f"streams published out of version order: {out_of_order}"
    total = sum(len(v) for v in published.values())
    assert total == await count_events(db)
    return total


async def expire(uow: UnitOfWork, payload: Any) -> None:
    stream_id = POSITIONS.stream_id(payload["store_id"], payload["part_number"])
    command = ExpireReservation(
        payload["store_id"], payload["part_number"], payload["reservation_id"], uow.clock.now()
    )
    await uow.execute(POSITIONS, stream_id, command)


async def reserve(app: Application, store_id: str, ttl: timedelta) -> None:
    command = ReserveStock(store_id, "P-1", f"res-{store_id}", 1, ttl, "ref", app.clock.now())

    async def handler(uow: UnitOfWork) -> None:
        await uow.execute(POSITIONS, POSITIONS.stream_id(store_id, "P-1"), command)
        payload = {"store_id": store_id, "part_number": "P-1", "reservation_id": f"res-{store_id}"}
        await uow.schedule(f"expire/{store_id}", EXPIRE, command.expires_at, payload)

    await app.handle(command, handler)


async def test_timer_blocked_on_one_stream_does_not_invert_another_streams_versions(
    app: Application, db: Database, clock: ManualClock, nats_client: NatsConnection
) -> None:
    """The issue's reproduction: S2's expiry must not be published before S2's receipt."""
    runner = TimerRunner(app, {EXPIRE: expire})
    for store_id in ("S1", "S2"):
        await receive(app, store_id, "P-1", 10)
    await reserve(app, "S1", timedelta(seconds=3))
    clock.advance(timedelta(seconds=1))
    await reserve(app, "S2", timedelta(seconds=3))
    clock.advance(timedelta(seconds=10))

    async with db.engine.connect() as operator:
        held = await operator.begin()
        await operator.execute(
            text("SELECT version FROM streams WHERE stream_id = 'stock/S1/P-1' FOR UPDATE")
        )
        firing = asyncio.create_task(runner.run_due())
        await eventually(lambda: waiting_on_a_lock(db), within=10)
        assert await asyncio.wait_for(receive(app, "S2", "P-1", 5), 10) == 15
        await held.commit()
    assert await asyncio.wait_for(firing, 10) == 2

    relay = Relay(db, nats_client, REGISTRY)
    await relay.ensure_checkpoint()
    await publish_everything(relay, db, nats_client)
    assert await assert_every_stream_in_version_order(nats_client, db) == 7


async def publish_everything(relay: Relay, db: Database, nats: NatsConnection) -> None:
    js = await nats.jetstream()
    stream = nats.stream("INVENTORY")
    total = await count_events(db)
    deadline = time.monotonic() + 30
    while await stream_messages(js, stream) < total:
        assert time.monotonic() < deadline, "the relay did not publish every event in 30 s"
        if await relay.relay_once() == 0:
            await asyncio.sleep(0.02)


# Timers, transfers and commands at once


@dataclass
class Replica:
    db: Database
    app: Application
    nats: NatsConnection
    relay: Relay
    timers: TimerRunner


STORES = [f"S{n}" for n in range(6)]


async def touch_later(uow: UnitOfWork, payload: Any) -> None:
    await touch(uow, payload["store_id"])


@contextlib.asynccontextmanager
async def replicas(
    count: int, pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock
) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    stop = asyncio.Event()
    tasks = []
    try:
        for n in range(count):
            database = await migrated(pg_url)
            app = Application(database, REGISTRY, clock)
            nats = NatsConnection(endpoints.nats_url, name=f"replica-{n}", namespace=namespace)
            relay = Relay(database, nats, REGISTRY, batch_size=20)
            app.notify_on_commit(relay.wake)
            timers = TimerRunner(app, {EXPIRE: touch_later}, batch=10)
            started.append(Replica(database, app, nats, relay, timers))
            tasks.append(asyncio.create_task(relay.run(stop)))
        yield started
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
        for replica in started:
            await replica.nats.close()
            await replica.db.dispose()


def operation(
    kind: str, source: str, destination: str, timer_id: str, due_in: timedelta
) -> Callable[[UnitOfWork], Awaitable[None]]:
    async def handler(uow: UnitOfWork) -> None:
        await touch(uow, source)
        if kind == "transfer":
            await asyncio.sleep(0.003)  # e.g. a reference check before the destination
            await touch(uow, destination)
        elif kind == "timer":
            due = uow.clock.now() + due_in
            await uow.schedule(timer_id, EXPIRE, due, {"store_id": destination})

    return handler


async def load(replica: Replica, seed: int, operations: int) -> None:
    """Commands, multi-stream transfers and new timers on a few hot streams."""
    rng = random.Random(seed)
    for n in range(operations):
        source, destination = rng.sample(STORES, 2)
        kind = rng.choice(("command", "transfer", "timer"))
        due_in = timedelta(milliseconds=rng.randint(0, 50))
        handler = operation(kind, source, destination, f"t/{seed}/{n}", due_in)
        # A client told ABORTED after the retries may give up: that loses nothing.
        with contextlib.suppress(ConcurrencyConflict):
            await replica.app.handle((kind, seed, n), handler)


async def fire_timers(replica: Replica, clock: ManualClock, until: asyncio.Event) -> None:
    for _ in range(2000):
        if until.is_set():
            return
        clock.advance(timedelta(milliseconds=10))
        if await replica.timers.run_due() == 0:
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("count", [1, 2], ids=["one_replica", "two_replicas"])
async def test_timers_and_transfers_under_load_keep_every_streams_order(
    count: int,
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    nats_client: NatsConnection,
    kernel_logs: LogCapture,
) -> None:
    async with replicas(count, pg_url, endpoints, namespace, clock) as running:
        done = asyncio.Event()
        firing = [asyncio.create_task(fire_timers(r, clock, done)) for r in running]
        writers = [
            load(replica, seed=10 * n + w, operations=40)
            for n, replica in enumerate(running)
            for w in range(4)
        ]
        await asyncio.wait_for(asyncio.gather(*writers), 90)
        done.set()
        await asyncio.wait_for(asyncio.gather(*firing), 30)
        clock.advance(timedelta(minutes=1))
        for _ in range(100):
            fired = await asyncio.gather(*(r.timers.run_due() for r in running))
            if sum(fired) == 0:
                break
        total = await count_events(running[0].db)
        assert total >= 100 * count, "most operations went through"
        js = await nats_client.jetstream()
        stream = nats_client.stream("INVENTORY")

        async def all_published() -> bool:
            relayed = sum(r.relay.published for r in running)
            return relayed >= total and await stream_messages(js, stream) >= total

        await eventually(all_published, within=60, interval=0.1)
        assert sum(r.relay.published for r in running) == total, "published twice"
        assert await assert_every_stream_in_version_order(nats_client, running[0].db) == total
    # Lock cycles between transfers, timers and replicas are conflicts retried, not errors.
    troubles = [
        e
        for e in kernel_logs.entries
        if e["log_level"] in ("error", "critical") or "Deadlock" in repr(e)
    ]
    assert troubles == []


# Transactions that have nothing to do with the events

HOLD_SECONDS = 6.0  # the 60 s, shortened: the relay takes no snapshot horizon at all
PUBLISHED_WITHIN = 1.0


@contextlib.asynccontextmanager
async def transaction_left_open(
    where: str, db: Database, endpoints: Endpoints
) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
    """An operator's psql session with a write in progress (so it has a transaction id and
    holds back the cluster's oldest running xid): in another database of the same server,
    or in this one on a table that is not the event store's. Yields a probe that tells
    whether that transaction is still open with its id."""
    other_url = ""
    holder_db = db
    if where == "another_database":
        other_url = create_database(endpoints.postgres_url, prefix="storemesh_foreign")
        holder_db = Database(other_url)
    try:
        async with holder_db.connect() as holder:
            await holder.begin()
            if where == "another_database":
                await holder.execute(text("CREATE TABLE rebuild (n int)"))
            else:
                await holder.execute(effects.insert().values(key="psql", note="left open"))
            pid = await holder.scalar(text("SELECT pg_backend_pid()"))

            async def still_open() -> bool:
                async with db.connect() as conn:
                    xid = await conn.scalar(
                        text("SELECT backend_xid FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid},
                    )
                return xid is not None

            assert await still_open()
            yield still_open
            await holder.rollback()
    finally:
        if other_url:
            await holder_db.dispose()
            drop_database(other_url, endpoints.postgres_url)


@pytest.mark.parametrize("where", ["another_database", "this_database_other_table"])
async def test_open_transactions_elsewhere_do_not_hold_back_publication(
    where: str, app: Application, db: Database, endpoints: Endpoints, nats_client: NatsConnection
) -> None:
    """A transaction left open in another database of the cluster, or in this one outside
    the event tables, stays open for seconds: each event recorded meanwhile is on
    JetStream within a second all the same, whether the relay was busy or idle."""
    relay = Relay(db, nats_client, REGISTRY)
    app.notify_on_commit(relay.wake)
    js = await nats_client.jetstream()
    stream = nats_client.stream("INVENTORY")
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await receive(app, "SZ01", "P-1")
        await eventually(lambda: published(js, stream, 1), within=30)
        latencies: list[float] = []
        async with transaction_left_open(where, db, endpoints) as still_open:
            opened = time.monotonic()
            for n in range(2, 200):
                if time.monotonic() - opened > HOLD_SECONDS:
                    break
                started = time.monotonic()
                await receive(app, "SZ01", "P-1")
                await eventually(
                    lambda n=n: published(js, stream, n), within=PUBLISHED_WITHIN, interval=0.01
                )
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.2 * (n % 4))  # sometimes at once, sometimes idle
            assert await still_open(), "the transaction stayed open throughout"
        assert time.monotonic() - opened >= HOLD_SECONDS
        assert len(latencies) >= 5
        assert max(latencies) < PUBLISHED_WITHIN, latencies
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)


async def published(js: Any, stream: str, count: int) -> bool:
    return await stream_messages(js, stream) >= count
