"""The relay: publishes the outbox's events to JetStream in position order, deleting them
only once JetStream acknowledged them.

One replica relays at a time (it holds its lease row, `FOR UPDATE SKIP LOCKED`, for the
batch); the others skip the locked row and wait. Messages of one batch go out pipelined on
one connection, so JetStream stores them in the order sent: position order, which is every
stream's version order (see kernel.eventstore). A crash after publishing and before the
commit republishes the batch with the same Nats-Msg-Id, which JetStream deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from opentelemetry import trace
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.db import Database
from kernel.errors import ConcurrencyConflict, Unavailable
from kernel.events import EventRegistry
from kernel.eventstore import EventStore, RecordedEvent, checkpoints
from kernel.messaging import NatsConnection, StreamSpec, cloudevent_headers
from kernel.telemetry import context_from, traceparent_of

log = structlog.get_logger("storemesh.kernel.relay")
tracer = trace.get_tracer("storemesh.kernel.relay")


class Relay:
    def __init__(
        self,
        db: Database,
        nats: NatsConnection,
        registry: EventRegistry,
        *,
        name: str = "relay",
        batch_size: int = 500,
        ack_timeout: float = 5.0,
        idle_interval: float = 0.5,
        gather_delay: float = 0.005,
        after_publish: Callable[[list[RecordedEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.nats = nats
        self.registry = registry
        self.name = name
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.idle_interval = idle_interval
        self.gather_delay = gather_delay
        self.source = f"/storemesh/{registry.context}"
        self._store = EventStore()
        self._wake = asyncio.Event()
        self._after_publish = after_publish
        self.published = 0
        nats.declare(
            StreamSpec(
                name=registry.stream_name,
                subjects=registry.subjects,
                description=f"StoreMesh {registry.context} domain events (v1)",
            )
        )

    def wake(self) -> None:
        self._wake.set()

    async def ensure_checkpoint(self) -> None:
        """The lease row; it also notes the last position published and when (relay lag)."""
        async with self.db.transaction("relay.ensure_checkpoint") as conn:
            insert = pg_insert if self.db.is_postgres else sqlite_insert
            await conn.execute(
                insert(checkpoints)
                .values(name=self.name, tx_id=0, position=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events went out (0: nothing to do)."""
        if not self.db.is_postgres:
            return await self._relay_once_unlocked()
        js = await self.nats.jetstream()
        async with self.db.transaction("relay.batch") as conn:
            if not await self._hold_lease(conn):
                return 0  # another replica is relaying right now
            batch = await self._store.read_unpublished(conn, self.batch_size)
            if not batch:
                return 0
            await self._publish(js, batch)
            await self._mark(conn, batch)
        self.published += len(batch)
        return len(batch)

    async def _relay_once_unlocked(self) -> int:
        """SQLite has one write lock for the whole file, and BEGIN IMMEDIATE takes it: held
        across JetStream's acknowledgements it starves every command past its busy timeout.
        So the batch is read in one short transaction, published with no lock held, and
        deleted in another. Still ordered and exactly once: each relay sends a prefix of the
        outbox in position order, and JetStream drops a second relay's repeats by
        Nats-Msg-Id, so what it stores stays in position order."""
        js = await self.nats.jetstream()
        async with self.db.transaction("relay.read") as conn:
            batch = await self._store.read_unpublished(conn, self.batch_size)
        if not batch:
            return 0
        await self._publish(js, batch)
        async with self.db.transaction("relay.mark") as conn:
            await self._mark(conn, batch)
        self.published += len(batch)
        return len(batch)

    async def _publish(self, js: Any, batch: list[RecordedEvent]) -> None:
        futures = []
        for event in batch:
            subject = self.nats.subject(self.registry.subject(event.store_id, event.event_type))
            headers = cloudevent_headers(event, source=self.source)
            # A producer span per message, child of the command that recorded the event,
            # so the consumers' spans join that command's trace.
            span = tracer.start_span(
                f"publish {subject}",
                context=context_from(event.metadata),
                kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "nats", "messaging.destination": subject},
            )
            headers["traceparent"] = traceparent_of(span)
            payload = self.registry.published_payload(event.event_type, event.payload)
            futures.append(await js.publish_async(subject, payload, headers=headers))
            span.end()
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout)
        except (TimeoutError, Exception) as exc:
            for f in futures:
                f.cancel()
            raise Unavailable(f"JetStream did not acknowledge the batch: {exc!r}") from exc
        if self._after_publish is not None:
            await self._after_publish(batch)

    async def _mark(self, conn: AsyncConnection, batch: list[RecordedEvent]) -> None:
        await self._store.mark_published(conn, [e.position for e in batch])
        last = batch[-1]
        await conn.execute(
            update(checkpoints)
            .where(checkpoints.c.name == self.name, checkpoints.c.position < last.position)
            .values(tx_id=last.tx_id, position=last.position, updated_at=datetime.now(UTC))
        )

    async def _hold_lease(self, conn: AsyncConnection) -> bool:
        row = (
            await conn.execute(
                select(checkpoints.c.name)
                .where(checkpoints.c.name == self.name)
                .with_for_update(skip_locked=True)
            )
        ).first()
        return row is not None

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.1
        leased = False
        while not stop.is_set():
            try:
                if not leased:
                    # Inside the retries: a database busy or away at start-up must not end
                    # the relay for the life of the process.
                    await self.ensure_checkpoint()
                    leased = True
                self._wake.clear()
                sent = await self.relay_once()
                delay = 0.1
                if sent >= self.batch_size:
                    continue  # a backlog: keep draining
            except ConcurrencyConflict:
                # PostgreSQL broke a lock cycle: the batch is still in the outbox.
                await _sleep_or_stop(stop, 0.05)
                continue
            except Unavailable as exc:
                log.warning("relay.waiting", reason=str(exc), retry_in=delay)
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                log.exception("relay.failed", retry_in=delay)
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
                continue
            if not self._wake.is_set():
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.idle_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
            if self._wake.is_set():
                # Let the commits of a burst gather into one batch.
                await asyncio.sleep(self.gather_delay)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
