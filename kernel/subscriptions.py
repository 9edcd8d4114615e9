"""Durable JetStream subscriptions whose effects happen exactly once.

Each message is handled in one database transaction together with its inbox row, so a
redelivered message finds the row and is only acknowledged. Failures are retried with
backoff up to `max_deliver`; then the message is parked on the dead-letter subject
`deadletter.v1.<service>.<subscription>` with the reason, and terminated.

A `batched` subscription (a projection keeping up with a whole network's commands) handles
each fetched batch in one transaction instead: the inbox rows claimed in one statement, the
effects in delivery order, the read-model rows its handlers deferred
(`uow.upsert_at_end`) written once, then the commit, and only then each message's ack. A
message whose inbox row is there already is skipped (and acknowledged). When a handler
raises, nothing of the batch is kept and the batch is handled again one message at a time,
as an unbatched subscription does: the others take effect, the failing one is retried and
parked as above.

The ack wait is short, so that a consumer restarted after a crash gets the messages its
dead predecessor had fetched within seconds; while a batch is in hand the runner tells
JetStream it is still working on it (in-progress acks), however long the handlers take.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from kernel.application import Application, UnitOfWork
from kernel.command_writes import DeferredUpserts, write
from kernel.db import driver_execute
from kernel.errors import ConcurrencyConflict, Unavailable
from kernel.eventstore import inbox
from kernel.messaging import (
    InboundEvent,
    NatsConnection,
    StreamSpec,
    covering_subject,
    subject_matches,
)
from kernel.metrics import recording
from kernel.telemetry import context_from
from kernel.telemetry import span as span_of

log = structlog.get_logger("storemesh.kernel.subscriptions")
tracer = trace.get_tracer("storemesh.kernel.subscriptions")

DEAD_LETTER_STREAM = StreamSpec(
    name="DEADLETTER",
    subjects=["deadletter.v1.>"],
    description="Messages a StoreMesh consumer gave up on, with the reason",
)


_CLAIM_INBOX = text(
    "INSERT INTO inbox (subscription, event_id, processed_at) "
    "VALUES (:subscription, :event_id, :processed_at) "
    "ON CONFLICT (subscription, event_id) DO NOTHING RETURNING event_id"
).bindparams(bindparam("processed_at", type_=inbox.c.processed_at.type))

# A batch's inbox rows in one statement (PostgreSQL): the ids not seen before come back.
_CLAIM_INBOX_MANY = (
    "INSERT INTO inbox (subscription, event_id, processed_at) "
    "SELECT %(subscription)s, e, %(processed_at)s FROM unnest(%(event_ids)s::text[]) AS e "
    "ON CONFLICT (subscription, event_id) DO NOTHING RETURNING event_id"
)


class PoisonMessage(Exception):
    """The message can never be handled (undecodable, unknown type): park it at once."""


Handler = Callable[[UnitOfWork, InboundEvent], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    name: str
    stream: str
    subjects: tuple[str, ...]
    handler: Handler
    max_deliver: int = 5
    backoff_seconds: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)
    # The time a crashed consumer's messages wait before another one gets them.
    ack_wait_seconds: float = 4.0
    batch: int = 64
    conflict_attempts: int = 8
    # One transaction per fetched batch rather than per message (see the module's doc).
    batched: bool = False


class SubscriptionRunner:
    def __init__(
        self,
        app: Application,
        nats: NatsConnection,
        subscription: Subscription,
        *,
        service: str,
        fetch_timeout: float = 1.0,
    ) -> None:
        self.app = app
        self.nats = nats
        self.sub = subscription
        self.service = service
        self.fetch_timeout = fetch_timeout
        self.handled = 0
        self.parked = 0
        self.skipped = 0
        self._subjects = [nats.subject(s) for s in subscription.subjects]
        nats.declare(DEAD_LETTER_STREAM)

    @property
    def dead_letter_subject(self) -> str:
        return self.nats.subject(f"deadletter.v1.{self.service}.{self.sub.name}")

    async def _bind(self) -> Any:
        js = await self.nats.jetstream()
        config = ConsumerConfig(
            name=self.sub.name,
            durable_name=self.sub.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.sub.ack_wait_seconds,
            max_deliver=self.sub.max_deliver,
            **_filter(self._subjects, await self.nats.takes_filter_subjects()),
            max_ack_pending=1000,
        )
        stream = self.nats.stream(self.sub.stream)
        await js.add_consumer(stream, config=config)
        return await js.pull_subscribe_bind(durable=self.sub.name, stream=stream)

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.2
        psub: Any = None
        told_missing = False
        while not stop.is_set():
            try:
                if psub is None:
                    psub = await self._bind()
                    delay = 0.2
                try:
                    messages = await psub.fetch(self.sub.batch, timeout=self.fetch_timeout)
                except TimeoutError:
                    # Nothing to fetch: nats-py raises its own TimeoutError or asyncio's.
                    continue
                await self._process_batch(messages)
            except NotFoundError:
                # The stream's owner has not created it yet (or it is being re-created):
                # an expected wait at start-up, said once.
                if not told_missing:
                    log.info("subscription.waiting_for_stream", subscription=self.sub.name)
                    told_missing = True
                await self._drop(psub)
                psub = None
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 2.0)
            except Unavailable as exc:
                log.warning("subscription.waiting", subscription=self.sub.name, reason=str(exc))
                await self._drop(psub)
                psub = None
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # nats-py pull subscriptions do not recover from a server restart on their
                # own (nats.py #504, #643): drop the subscription and bind it again.
                log.warning("subscription.rebinding", subscription=self.sub.name, error=repr(exc))
                await self._drop(psub)
                psub = None
                await _sleep_or_stop(stop, delay)
                delay = min(delay * 2, 5.0)
        await self._drop(psub)

    async def _drop(self, psub: Any) -> None:
        if psub is not None:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _process_batch(self, messages: Sequence[Any]) -> None:
        in_hand: list[Any] = []
        for msg in messages:
            if self._wanted(msg):
                in_hand.append(msg)
            else:
                await self._skip(msg)
        keeper = asyncio.create_task(self._keep_in_progress(in_hand))
        try:
            if self.sub.batched:
                await self._process_together(in_hand)
            for msg in list(in_hand):
                await self.process(msg)
                in_hand.remove(msg)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _process_together(self, in_hand: list[Any]) -> None:
        """The messages in one transaction, then their acks; on a failure nothing is kept
        and `in_hand` still holds them all, for the caller to handle one at a time."""
        events = [InboundEvent.from_message(msg) for msg in in_hand]
        if not all(e.event_id for e in events):
            return  # one of them is parked: the one-at-a-time path does it
        with span_of(
            tracer,
            f"consume batch {self.sub.name}",
            kind=trace.SpanKind.CONSUMER,
            links=_links(events),
            attributes={
                "messaging.system": "nats",
                "messaging.consumer": self.sub.name,
                "messaging.batch.message_count": len(events),
            },
        ):
            try:
                await self._handle_together(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "subscription.batch_failed",
                    subscription=self.sub.name,
                    messages=len(events),
                    error=repr(exc),
                )
                return
            await self._acknowledge(in_hand)
            in_hand.clear()

    async def _handle_together(self, events: Sequence[InboundEvent]) -> None:
        for attempt in range(1, self.sub.conflict_attempts + 1):
            try:
                async with self.app.db.transaction(f"handle batch {self.sub.name}") as conn:
                    handled, uow = await handle_batch(
                        self.app, conn, self.sub.name, self.sub.handler, events, commit=True
                    )
                self.handled += handled
                if uow.recorded:
                    self.app.notify_committed()
                return
            except ConcurrencyConflict:
                if attempt == self.sub.conflict_attempts:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))

    def _wanted(self, msg: Any) -> bool:
        return any(subject_matches(pattern, msg.subject) for pattern in self._subjects)

    async def _skip(self, msg: Any) -> None:
        """A subject this subscription does not follow (a server before 2.10 filters its
        several subjects with one wider one): nothing to do, and nothing wrong."""
        await msg.ack()
        self.skipped += 1
        self._counted("skipped")
        log.debug("subscription.skipped", subscription=self.sub.name, subject=msg.subject)

    async def _acknowledge(self, messages: Sequence[Any]) -> None:
        """After the commit: a message whose ack is lost (a crash here) comes again and
        finds its inbox row. Each is counted handled as its ack goes out (one that fails
        leaves those after it to come again, and be counted then)."""
        for msg in messages:
            await msg.ack()
            if recording() is not None:
                self._counted("handled", InboundEvent.from_message(msg))

    async def _keep_in_progress(self, in_hand: list[Any]) -> None:
        """Reset the ack wait of the fetched messages not handled yet, while we live."""
        while True:
            await asyncio.sleep(self.sub.ack_wait_seconds / 3)
            for msg in list(in_hand):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def process(self, msg: Any) -> None:
        event = InboundEvent.from_message(msg)
        with span_of(
            tracer,
            f"consume {event.subject}",
            context=context_from(event.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.consumer": self.sub.name,
                "messaging.message.id": event.event_id,
            },
        ):
            if not event.event_id:
                await self._park(msg, event, "message has no ce-id / Nats-Msg-Id header")
                return
            try:
                await self.handle_once(event)
            except PoisonMessage as exc:
                await self._park(msg, event, f"poison: {exc}")
                return
            except Exception as exc:
                if event.delivered >= self.sub.max_deliver:
                    await self._park(msg, event, f"failed {event.delivered} times: {exc!r}")
                else:
                    backoff = self.sub.backoff_seconds
                    delay = backoff[min(event.delivered - 1, len(backoff) - 1)]
                    log.warning(
                        "subscription.retry",
                        subscription=self.sub.name,
                        event_id=event.event_id,
                        delivered=event.delivered,
                        error=repr(exc),
                    )
                    await msg.nak(delay=delay)
                    self._counted("retried")
                return
            await msg.ack()
            self._counted("handled", event)

    def _counted(self, outcome: str, event: InboundEvent | None = None) -> None:
        """Metrics: the event's outcome, and for one handled how long after its time."""
        meters = recording()
        if meters is None:
            return
        attributes = {"subscription": self.sub.name}
        meters.consumer_events.add(1, {**attributes, "outcome": outcome})
        time = event.headers.get("ce-time") if event is not None else None
        if time:
            # The publisher's header: not a time (ValueError), or one without an offset
            # (TypeError against our aware clock), is not measured, and breaks nothing.
            with contextlib.suppress(ValueError, TypeError):
                lag = (self.app.clock.now() - datetime.fromisoformat(time)).total_seconds()
                meters.consumer_lag.record(max(lag, 0.0), attributes)

    async def handle_once(self, event: InboundEvent) -> None:
        """Handle the event in its own transaction with the inbox row (a replay uses it)."""
        for attempt in range(1, self.sub.conflict_attempts + 1):
            try:
                await self._handle_in_transaction(event)
                return
            except ConcurrencyConflict:
                # Another writer (or a lock cycle PostgreSQL broke) got there first: not a
                # failed delivery, so it is retried here rather than counted to max_deliver.
                if attempt == self.sub.conflict_attempts:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))

    async def _handle_in_transaction(self, event: InboundEvent) -> None:
        async with self.app.db.transaction(f"handle {self.sub.name}") as conn:
            fresh = await conn.execute(
                _CLAIM_INBOX,
                {
                    "subscription": self.sub.name,
                    "event_id": event.event_id,
                    "processed_at": self.app.clock.now(),
                },
            )
            if fresh.first() is None:
                return  # seen before: the effect is already committed
            uow = self.app.unit_of_work(conn)
            await self.sub.handler(uow, event)
        self.handled += 1
        if uow.recorded:
            self.app.notify_committed()

    async def _park(self, msg: Any, event: InboundEvent, reason: str) -> None:
        js = await self.nats.jetstream()
        headers = {k: v for k, v in event.headers.items() if k != "Nats-Msg-Id"}
        headers.update(
            {
                "x-dead-letter-reason": reason[:1000],
                "x-original-subject": event.subject,
                "x-deliveries": str(event.delivered),
                "x-subscription": self.sub.name,
            }
        )
        if event.event_id:
            headers["Nats-Msg-Id"] = f"dlq-{self.sub.name}-{event.event_id}"
        await js.publish(self.dead_letter_subject, event.payload, headers=headers)
        await msg.term()
        self.parked += 1
        self._counted("parked")
        log.error(
            "subscription.parked",
            subscription=self.sub.name,
            reason=reason,
            event_id=event.event_id,
        )


async def handle_batch(
    app: Application,
    conn: AsyncConnection,
    subscription: str,
    handler: Handler,
    events: Sequence[InboundEvent],
    *,
    commit: bool = False,
) -> tuple[int, UnitOfWork]:
    """In the caller's transaction: claim the events' inbox rows in one statement, run
    `handler` on each event claimed, in order (one seen before, or twice in `events`,
    runs once), then write the rows the handlers deferred with `uow.upsert_at_end`. With
    `commit` (PostgreSQL) the commit goes with that last write. Returns how many events
    were handled, and the unit of work."""
    now = app.clock.now()
    ids = list(dict.fromkeys(e.event_id for e in events))
    if conn.dialect.name == "postgresql":
        cursor = await driver_execute(
            conn,
            _CLAIM_INBOX_MANY,
            {"subscription": subscription, "event_ids": ids, "processed_at": now},
        )
        fresh = {row[0] for row in await cursor.fetchall()}
    else:
        fresh = set()
        for event_id in ids:
            params = {"subscription": subscription, "event_id": event_id, "processed_at": now}
            if (await conn.execute(_CLAIM_INBOX, params)).first() is not None:
                fresh.add(event_id)
    uow = app.unit_of_work(conn)
    uow.deferred = DeferredUpserts()
    handled = 0
    for event in events:
        if event.event_id in fresh:
            fresh.discard(event.event_id)
            await handler(uow, event)
            handled += 1
    await write(conn, [], None, uow.deferred, commit=commit)
    return handled, uow


def _links(events: Sequence[InboundEvent]) -> list[trace.Link]:
    """The batch's span points at each message's producer span."""
    links = []
    for event in events:
        found = trace.get_current_span(context_from(event.headers)).get_span_context()
        if found.is_valid:
            links.append(trace.Link(found))
    return links


_STREAM_NOT_FOUND = 10059  # JetStream's error code; a missing consumer is 10014


@dataclass(frozen=True)
class ConsumerState:
    """What JetStream holds for one durable consumer: events not yet delivered to it, and
    delivered but not yet acknowledged."""

    pending: int
    ack_pending: int

    @property
    def unconsumed(self) -> int:
        return self.pending + self.ack_pending


async def consumer_states(
    nats: NatsConnection, consumers: Sequence[tuple[str, str]]
) -> dict[str, ConsumerState | None]:
    """Each durable consumer's state, by name, from (stream, name) pairs (the stream's name
    as NATS knows it, namespace included); None for one not bound yet. NATS away or not
    answering: Unavailable."""
    found: dict[str, ConsumerState | None] = {}
    if not consumers:
        return found
    js = await nats.jetstream()
    for stream, name in consumers:
        try:
            info = await js.consumer_info(stream, name, timeout=5.0)
        except NotFoundError as missing:
            # No stream yet (its owner has published nothing): nothing to take. A stream
            # without the consumer: its runner has not bound it yet.
            no_stream = missing.err_code == _STREAM_NOT_FOUND
            found[name] = ConsumerState(0, 0) if no_stream else None
            continue
        except (TimeoutError, NatsError) as exc:
            raise Unavailable(f"NATS did not say how far {name} is: {exc!r}") from exc
        found[name] = ConsumerState(info.num_pending or 0, info.num_ack_pending or 0)
    return found


def consumers_of(runners: Sequence[SubscriptionRunner]) -> list[tuple[str, str]]:
    """The (stream, name) pairs of these runners' durable consumers."""
    return [(r.nats.stream(r.sub.stream), r.sub.name) for r in runners]


async def unconsumed(
    nats: NatsConnection, consumers: Sequence[tuple[str, str]]
) -> dict[str, int | None]:
    """Events each consumer has not yet had acknowledged (None: not bound yet): what
    `Application.unconsumed` answers for a service's subscriptions."""
    states = await consumer_states(nats, consumers)
    return {name: None if s is None else s.unconsumed for name, s in states.items()}


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _filter(subjects: Sequence[str], takes_many: bool) -> dict[str, Any]:
    """One subject as `filter_subject`, several as `filter_subjects` where the server takes
    that list (2.10+). Older servers ignore the list without an error and deliver the whole
    stream, so they get the one subject covering all of them (`covering_subject`), and the
    runner acknowledges what falls outside (`_skip`)."""
    if len(subjects) == 1:
        return {"filter_subject": subjects[0]}
    if takes_many:
        return {"filter_subjects": list(subjects)}
    return {"filter_subject": covering_subject(subjects)}
