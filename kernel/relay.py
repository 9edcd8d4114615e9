"""The relay: publishes the outbox's events to JetStream in position order, deleting them
only once JetStream acknowledged them.

On PostgreSQL, replicas share one lease per relay name (`relay_leases`): a row naming
its holder and an expiry, taken or renewed by the very statement that reads the batch.
No transaction is open while a batch is published: a relay that hangs (a paused process,
a partition) keeps the others out only until its lease expires (`lease_seconds`, on the
injectable clock), and then another replica takes over; a relay that stops hands its
lease back. Each pass is two statements, each atomic on its own and sent without a
transaction around it (`Database.autocommit`): lease and read,
then (after every ack) delete the batch's outbox rows and move the checkpoint. A running
relay with no backlog leaves that delete to its next pass's read (one statement), which
comes with the next commit or after `idle_interval`.

Order and exactly-once hold even when two relays publish at once (a holder waking after
its lease ran out, clocks far apart): each sends a prefix of the outbox in position
order, which is every stream's version order (see kernel.eventstore), pipelined on one
connection, so JetStream stores the first copy of each message in that order and drops
the repeats by Nats-Msg-Id inside its 15 minute window. A crash after publishing and
before the delete republishes the batch the same way. SQLite (one process) has no lease:
it reads, publishes and deletes in the same three steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import structlog
from nats.errors import Error as NatsError
from opentelemetry import trace
from sqlalchemy import Column, Connection, MetaData, String, Table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.clock import Clock, SystemClock
from kernel.config import RELAY_BATCH_SIZE
from kernel.db import Database, Migration, UtcDateTime
from kernel.errors import ConcurrencyConflict, Unavailable
from kernel.events import EventRegistry
from kernel.eventstore import EventStore, RecordedEvent, checkpoints
from kernel.messaging import NatsConnection, StreamSpec, event_headers
from kernel.metrics import recording
from kernel.telemetry import context_from, spans_exported, traceparent_of

log = structlog.get_logger("storemesh.kernel.relay")
tracer = trace.get_tracer("storemesh.kernel.relay")

COMPONENT = "relay"
LEASE_SECONDS = 15.0
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)

lease_metadata = MetaData()

relay_leases = Table(
    "relay_leases",
    lease_metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UtcDateTime(timezone=True), nullable=False),
)


def _create(conn: Connection) -> None:
    lease_metadata.create_all(conn)


MIGRATIONS = (Migration(1, "relay lease with an expiry", _create),)

# One outgoing message as read: position, tx_id, event id, type, store, stream id, stream
# version, payload, ce-time (RFC 3339), traceparent, tracestate, request id, actor, and the
# metadata as JSON text (parsed only for `after_publish`).
Row = tuple[Any, ...]

# Take or renew the lease and, if this relay holds it, read the batch: one statement.
# A rival updating the same expired lease waits for the row and then finds it taken.
_LEASE_AND_READ = (
    "WITH lease AS ("
    " UPDATE relay_leases SET holder = %(holder)s, expires_at = %(until)s"
    " WHERE name = %(name)s AND (holder = %(holder)s OR expires_at <= %(now)s)"
    " RETURNING name) "
    "SELECT e.position, e.tx_id, e.event_id::text, e.event_type, e.store_id, e.stream_id,"
    " e.stream_version, e.payload,"
    # Python's isoformat of the UTC time, so both dialects stamp the same ce-time.
    " to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    " || CASE WHEN date_part('microseconds', e.recorded_at)::bigint %% 1000000 = 0"
    " THEN '' ELSE to_char(e.recorded_at AT TIME ZONE 'UTC', '.US') END || '+00:00',"
    " e.metadata->>'traceparent', e.metadata->>'tracestate', e.metadata->>'request_id',"
    " e.metadata->>'actor', e.metadata::text "
    # The batch's positions first, then one index probe each: a join of outbox and events
    # may be planned as a merge join walking events from position 1, every batch.
    "FROM events e WHERE e.position = ANY(ARRAY("
    " SELECT o.position FROM outbox o"
    " WHERE EXISTS (SELECT 1 FROM lease) AND o.position <> ALL(%(in_flight)s::bigint[])"
    " ORDER BY o.position LIMIT %(limit)s)) "
    "ORDER BY e.position"
)

# The batch is in JetStream: out of the outbox, and the checkpoint notes how far and when.
_MARK = (
    "WITH gone AS (DELETE FROM outbox WHERE position = ANY(%(positions)s)) "
    "UPDATE checkpoints SET tx_id = %(tx_id)s, position = %(position)s, updated_at = %(now)s"
    " WHERE name = %(name)s AND position < %(position)s"
)

# The batch acknowledged last, deleted by the next pass's read (a running relay with no
# backlog): one statement per pass instead of two.
_MARK_LEASE_AND_READ = (
    "WITH gone AS (DELETE FROM outbox WHERE position = ANY(%(positions)s)), "
    "moved AS (UPDATE checkpoints SET tx_id = %(tx_id)s, position = %(position)s,"
    " updated_at = %(now)s WHERE name = %(name)s AND position < %(position)s), "
    + _LEASE_AND_READ.removeprefix("WITH ")
)

_RELEASE = (
    "UPDATE relay_leases SET expires_at = %(now)s WHERE name = %(name)s AND holder = %(holder)s"
)


class Relay:
    def __init__(
        self,
        db: Database,
        nats: NatsConnection,
        registry: EventRegistry,
        *,
        name: str = "relay",
        batch_size: int = RELAY_BATCH_SIZE,
        ack_timeout: float = 5.0,
        idle_interval: float = 0.5,
        gather_delay: float = 0.005,
        lease_seconds: float = LEASE_SECONDS,
        clock: Clock | None = None,
        after_publish: Callable[[list[RecordedEvent]], Awaitable[None]] | None = None,
    ) -> None:
        if lease_seconds <= ack_timeout:
            raise ValueError("lease_seconds must exceed ack_timeout: the holder renews per batch")
        self.db = db
        self.nats = nats
        self.registry = registry
        self.name = name
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.idle_interval = idle_interval
        self.gather_delay = gather_delay
        self.lease_seconds = lease_seconds
        self.clock: Clock = clock or SystemClock()
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self.source = f"/storemesh/{registry.context}"
        self._store = EventStore()
        self._wake = asyncio.Event()
        self._committed = False  # the last wake-up came from a commit
        self._after_publish = after_publish
        self._subjects: dict[tuple[str, str], str] = {}
        self._ahead: tuple[datetime, list[Row]] | None = None
        # An acknowledged batch still in the outbox: `run` leaves a short batch's delete to
        # the next pass's read (at most `idle_interval` later), so a command at low load
        # costs the relay one statement, not two. A crash before it republishes the
        # batch, which JetStream drops by Nats-Msg-Id as after any crash between publish
        # and delete, within its duplicate window (15 min): a replica down longer
        # republishes it as a repeat, which subscribers drop by event id (their inbox).
        self._unmarked: dict[str, Any] | None = None
        self.published = 0
        nats.declare(
            StreamSpec(
                name=registry.stream_name,
                subjects=registry.subjects,
                description=f"StoreMesh {registry.context} domain events (v1)",
            )
        )

    def wake(self) -> None:
        """New events are committed."""
        self._committed = True
        self._wake.set()

    async def ensure_checkpoint(self) -> None:
        """The checkpoint row (the last position published and when: relay lag) and, on
        PostgreSQL, the lease row (its table is the relay's own migration)."""
        if self.db.is_postgres:
            await self.db.migrate(COMPONENT, MIGRATIONS)
        async with self.db.transaction("relay.ensure_checkpoint") as conn:
            insert = pg_insert if self.db.is_postgres else sqlite_insert
            await conn.execute(
                insert(checkpoints)
                .values(name=self.name, tx_id=0, position=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            if self.db.is_postgres:
                await conn.execute(
                    pg_insert(relay_leases)
                    .values(name=self.name, holder="", expires_at=_NEVER)
                    .on_conflict_do_nothing(index_elements=["name"])
                )

    async def relay_once(self, *, defer_mark: bool = False) -> int:
        """Publish one batch; returns how many events went out (0: nothing to do, or
        another replica holds the lease). `defer_mark` (what `run` passes): a short batch
        stays in the outbox, acknowledged, until the next pass's read deletes it.

        While a full batch's acks are awaited the next batch is read already (its lease
        renewed), leaving out the positions in flight; the next pass publishes it if it
        is still fresh. That read sees, per stream, the continuation of what is in flight
        (see the module's doc), so it goes out in order after it."""
        if not self.db.is_postgres:
            return await self._relay_once_sqlite()
        try:
            js = await self.nats.jetstream()
        except BaseException:
            # NATS away: what JetStream acknowledged still leaves the outbox now, not after
            # the outage (by then its duplicate window may be over).
            with contextlib.suppress(Exception):
                await self._mark_unmarked()
            raise
        rows = self._take_ahead()
        if rows is None:
            rows = await self._lease_and_read(())
        else:
            # Read ahead only after a full batch, which is deleted at once: nothing waits.
            assert self._unmarked is None
        if not rows:
            return 0
        positions = [r[0] for r in rows]
        ahead: asyncio.Future[tuple[datetime, list[Row]]] | None = None
        try:
            futures = await self._send(js, rows)
            if len(rows) >= self.batch_size:
                ahead = asyncio.ensure_future(self._read_ahead(positions))
            await self._acknowledged(futures)
            if self._after_publish is not None:
                await self._after_publish([_recorded(r) for r in rows])
            last = rows[-1]
            marked = {
                "positions": positions,
                "name": self.name,
                "tx_id": last[1],
                "position": last[0],
                "now": self.clock.now(),
            }
            if defer_mark and ahead is None and self._unmarked is None:
                self._unmarked = marked
            else:
                await self._mark(marked)
        except BaseException:
            if ahead is not None:  # let it finish (its connection goes back clean), unused
                with contextlib.suppress(Exception):
                    await ahead
            raise
        if ahead is not None:
            try:
                self._ahead = await ahead
            except Exception as exc:  # the next pass reads again
                log.debug("relay.read_ahead_failed", error=repr(exc))
        self._published([r[3] for r in rows], rows[0][8])
        return len(rows)

    def _published(self, event_types: Sequence[str], oldest: datetime | str) -> None:
        """`oldest`: the batch's first event's time (as the row carries it: ce-time)."""
        self.published += len(event_types)
        if (meters := recording()) is not None:
            for event_type, count in Counter(event_types).items():
                meters.relay_published.add(count, {"relay": self.name, "event_type": event_type})
            since = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(oldest)
            lag = (self.clock.now() - since).total_seconds()
            meters.relay_lag.record(max(lag, 0.0), {"relay": self.name})

    async def _mark(self, marked: dict[str, Any]) -> None:
        await self.db.autocommit(_MARK, marked, "relay.mark")

    async def _mark_unmarked(self) -> None:
        unmarked = self._unmarked
        if unmarked is not None:
            await self._mark(unmarked)
            self._unmarked = None

    async def _lease_and_read(self, in_flight: Sequence[int]) -> list[Row]:
        now = self.clock.now()
        params: dict[str, Any] = {
            "name": self.name,
            "holder": self.holder,
            "now": now,
            "until": now + timedelta(seconds=self.lease_seconds),
            "limit": self.batch_size,
            "in_flight": list(in_flight),
        }
        statement = _LEASE_AND_READ
        unmarked = self._unmarked
        if unmarked is not None:
            # Deleted by this very statement, yet still visible to its read (one snapshot).
            statement = _MARK_LEASE_AND_READ
            params.update(unmarked, now=now)
            params["in_flight"] = [*in_flight, *unmarked["positions"]]
        rows = await self.db.autocommit(statement, params, "relay.read")
        if unmarked is not None and self._unmarked is unmarked:
            self._unmarked = None
        return rows

    async def _read_ahead(self, in_flight: Sequence[int]) -> tuple[datetime, list[Row]]:
        read_at = self.clock.now()
        return read_at, await self._lease_and_read(in_flight)

    def _take_ahead(self) -> list[Row] | None:
        """The batch read during the last pass, unless the lease it renewed may have run
        out since (another replica may be publishing it; a fresh read is cheaper than the
        repeats)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        read_at, rows = ahead
        if not rows or self.clock.now() - read_at > timedelta(seconds=self.lease_seconds / 2):
            return None
        return rows

    async def release(self) -> None:
        """Hand the lease back (on stop), so another replica need not wait for its expiry."""
        if not self.db.is_postgres:
            return
        params = {"name": self.name, "holder": self.holder, "now": self.clock.now()}
        try:
            await self._mark_unmarked()
        finally:  # the lease goes back even if that delete failed (the batch is republished)
            await self.db.autocommit(_RELEASE, params, "relay.release")

    async def _relay_once_sqlite(self) -> int:
        """SQLite has one write lock for the whole file, and BEGIN IMMEDIATE takes it: held
        across JetStream's acknowledgements it would starve every command past its busy
        timeout. So the batch is read in one short transaction, published with no lock
        held, and deleted in another (as on PostgreSQL, without a lease)."""
        js = await self.nats.jetstream()
        async with self.db.transaction("relay.read") as conn:
            batch = await self._store.read_unpublished(conn, self.batch_size)
        if not batch:
            return 0
        await self._publish(js, [_row_of(e) for e in batch])
        if self._after_publish is not None:
            await self._after_publish(batch)
        last = batch[-1]
        async with self.db.transaction("relay.mark") as conn:
            await self._store.mark_published(conn, [e.position for e in batch])
            await conn.execute(
                update(checkpoints)
                .where(checkpoints.c.name == self.name, checkpoints.c.position < last.position)
                .values(tx_id=last.tx_id, position=last.position, updated_at=self.clock.now())
            )
        self._published([e.event_type for e in batch], batch[0].recorded_at)
        return len(batch)

    async def _publish(self, js: Any, rows: Sequence[Row]) -> None:
        """Every message pipelined on the one connection, in order; then every ack."""
        await self._acknowledged(await self._send(js, rows))

    async def _send(self, js: Any, rows: Sequence[Row]) -> list[asyncio.Future[Any]]:
        """Every message pipelined on the one connection, in order: their ack futures."""
        spans = spans_exported()
        source = self.source
        subjects = self._subjects
        payload_of = self.registry.published_payload
        futures: list[asyncio.Future[Any]] = []
        try:
            for (
                _position,
                _tx_id,
                event_id,
                event_type,
                store_id,
                stream_id,
                version,
                payload,
                time,
                traceparent,
                tracestate,
                request_id,
                actor,
                _metadata,
            ) in rows:
                subject = subjects.get((store_id, event_type)) or self._subject(
                    store_id, event_type
                )
                headers = event_headers(
                    event_id,
                    event_type,
                    time,
                    stream_id,
                    store_id,
                    version,
                    source,
                    traceparent,
                    tracestate,
                    request_id,
                    actor,
                )
                if spans:
                    # A producer span per message, child of the command that recorded the
                    # event, so the consumers' spans join that command's trace. Without a
                    # span processor nobody would see it: the stored traceparent (the
                    # command's) then goes on as it is.
                    span = tracer.start_span(
                        f"publish {subject}",
                        context=context_from(_trace_carrier(traceparent, tracestate)),
                        kind=trace.SpanKind.PRODUCER,
                        attributes={"messaging.system": "nats", "messaging.destination": subject},
                    )
                    headers["traceparent"] = traceparent_of(span)
                    span.end()
                futures.append(
                    await js.publish_async(
                        subject, payload_of(event_type, payload), headers=headers
                    )
                )
        except BaseException as exc:
            _give_up(futures, exc)
        return futures

    async def _acknowledged(self, futures: list[asyncio.Future[Any]]) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout)
        except BaseException as exc:
            _give_up(futures, exc)

    def _subject(self, store_id: str, event_type: str) -> str:
        if len(self._subjects) > 10_000:
            self._subjects.clear()
        subject = self.nats.subject(self.registry.subject(store_id, event_type))
        self._subjects[(store_id, event_type)] = subject
        return subject

    async def _run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
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
                self._committed = False
                sent = await self.relay_once(defer_mark=True)
                delay = 0.1
                if sent >= self.batch_size:
                    continue  # a backlog: keep draining
            except ConcurrencyConflict:
                # PostgreSQL broke a lock cycle: the batch is still in the outbox.
                await _sleep_or_stop(stop, 0.05)
                continue
            except Unavailable as exc:
                log.warning("relay.waiting", reason=str(exc), retry_in=delay)
                self._failed("unavailable")
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                log.exception("relay.failed", retry_in=delay)
                self._failed("error")
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
                continue
            if not self._wake.is_set() and not stop.is_set():
                # Rung by a commit, the idle timer or stop: no task per wait.
                timer = loop.call_later(self.idle_interval, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    timer.cancel()
            if self._committed and not stop.is_set():
                # Let the commits of a burst gather into one batch.
                await asyncio.sleep(self.gather_delay)
        if leased:
            try:
                await self.release()
            except Exception as exc:  # the lease then simply runs out
                log.warning("relay.release_failed", reason=str(exc))

    def _failed(self, kind: str) -> None:
        if (meters := recording()) is not None:
            meters.relay_failures.add(1, {"relay": self.name, "kind": kind})

    async def run(self, stop: asyncio.Event) -> None:
        watch = asyncio.ensure_future(stop.wait())
        watch.add_done_callback(lambda _: self._wake.set())
        try:
            await self._run(stop)
        finally:
            watch.cancel()


def _give_up(futures: list[asyncio.Future[Any]], exc: BaseException) -> NoReturn:
    for f in futures:
        f.cancel()
    if isinstance(exc, TimeoutError | NatsError):
        raise Unavailable(f"JetStream did not acknowledge the batch: {exc!r}") from exc
    raise exc


def _trace_carrier(traceparent: str | None, tracestate: str | None) -> dict[str, str]:
    carrier = {}
    if traceparent:
        carrier["traceparent"] = traceparent
    if tracestate:
        carrier["tracestate"] = tracestate
    return carrier


def _row_of(event: RecordedEvent) -> Row:
    meta = event.metadata

    def text(key: str) -> str | None:
        value = meta.get(key)
        return str(value) if value else None

    return (
        event.position,
        event.tx_id,
        str(event.event_id),
        event.event_type,
        event.store_id,
        event.stream_id,
        event.stream_version,
        event.payload,
        event.recorded_at.isoformat(),
        text("traceparent"),
        text("tracestate"),
        text("request_id"),
        text("actor"),
        "",
    )


def _recorded(row: Row) -> RecordedEvent:
    return RecordedEvent(
        position=row[0],
        tx_id=row[1],
        stream_id=row[5],
        stream_version=row[6],
        event_id=uuid.UUID(row[2]),
        event_type=row[3],
        store_id=row[4],
        payload=row[7],
        metadata=json.loads(row[13]),
        recorded_at=datetime.fromisoformat(row[8]),
    )


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
