"""The gauges of a service's backlogs, sampled while metrics are recorded: what an operator
alerts on when work piles up rather than fails (kernel.metrics lists them).

- the outbox: events committed and not yet published (NATS away, the relay stuck) and how
  long the oldest has waited;
- durable timers come due and not yet fired, by kind, and the longest wait;
- each subscription's JetStream consumer: events not yet delivered, delivered and not
  yet acknowledged, and parked in the dead-letter stream (until replayed);
- the database pools' connections in use and idle.

The counters and histograms of kernel.metrics record as work happens; these are states,
read every `interval` seconds by one loop of the service's (its queries are on the event
loop, the SDK's export thread only reads the last sample). A part that cannot be read (the
database or NATS away) reports nothing until it can: the relay's and consumers' failure
counters say why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, func, select

from kernel.clock import Clock
from kernel.db import Database
from kernel.db_reads import ReadQuery
from kernel.event_tables import events, outbox, timers
from kernel.messaging import NatsConnection
from kernel.metrics import Reading, recording
from kernel.subscriptions import (
    DEAD_LETTER_STREAM,
    SubscriptionRunner,
    consumer_states,
    consumers_of,
)

log = structlog.get_logger("storemesh.kernel.gauges")

_OUTBOX = ReadQuery(
    select(func.count(), func.min(events.c.recorded_at)).select_from(
        outbox.join(events, events.c.position == outbox.c.position)
    )
)
_DUE = ReadQuery(
    select(timers.c.kind, func.count(), func.min(timers.c.due_at))
    .where(timers.c.due_at <= bindparam("now", type_=timers.c.due_at.type))
    .group_by(timers.c.kind)
)


Sample = dict[str, list[Reading]]

_OUTBOX_GAUGES = ("storemesh.outbox.backlog", "storemesh.outbox.oldest_age")
_TIMER_GAUGES = ("storemesh.timers.due", "storemesh.timers.oldest_due_age")
_CONSUMER_GAUGES = (
    "storemesh.consumer.pending",
    "storemesh.consumer.ack_pending",
    "storemesh.consumer.parked",
)


class GaugeSampler:
    def __init__(
        self,
        db: Database,
        nats: NatsConnection,
        clock: Clock,
        *,
        service: str,
        followed: Sequence[SubscriptionRunner] = (),
        interval: float = 15.0,
    ) -> None:
        self.db = db
        self.nats = nats
        self.clock = clock
        self.service = service
        self.followed = tuple(followed)
        self.interval = interval

    async def sample(self) -> None:
        """Read every gauge once (a no-op while metrics are not recorded)."""
        meters = recording()
        if meters is None:
            return
        latest = meters.readings.latest
        now = self.clock.now()
        parts: tuple[tuple[tuple[str, ...], Callable[[], Awaitable[Sample]]], ...] = (
            (_OUTBOX_GAUGES, lambda: self._outbox(now)),
            (_TIMER_GAUGES, lambda: self._timers(now)),
            (_CONSUMER_GAUGES, self._consumers),
        )
        for names, read in parts:
            try:
                found = await read()
            except Exception as exc:  # unknown, so unreported (see the module's doc)
                log.debug("gauges.unread", gauges=names[0], reason=repr(exc))
                found = {name: [] for name in names}
            latest.update(found)
        latest["storemesh.db.connections"] = [
            (count, {"pool": pool, "state": state})
            for (pool, state), count in self.db.connections().items()
        ]

    def wake(self) -> None:
        """A commit: nothing to do (the gauges are read on their interval)."""

    async def run(self, stop: asyncio.Event) -> None:
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                if recording() is not None:
                    sampling = asyncio.ensure_future(self.sample())
                    await asyncio.wait({sampling, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not sampling.done():
                        # Stopping while a read waits (a lock, NATS away): the stop does
                        # not wait for a gauge.
                        sampling.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await sampling
                        return
                await asyncio.wait({stopped}, timeout=self.interval)
        finally:
            stopped.cancel()

    async def _outbox(self, now: datetime) -> Sample:
        ((count, oldest),) = await self.db.read(_OUTBOX, {}, "gauges.outbox")
        return {
            "storemesh.outbox.backlog": [(count, {})],
            "storemesh.outbox.oldest_age": [(_age(now, oldest), {})],
        }

    async def _timers(self, now: datetime) -> Sample:
        rows = await self.db.read(_DUE, {"now": now}, "gauges.timers")
        oldest = min((due for _, _, due in rows), default=None)
        return {
            "storemesh.timers.due": [(count, {"kind": kind}) for kind, count, _ in rows],
            "storemesh.timers.oldest_due_age": [(_age(now, oldest), {})],
        }

    async def _consumers(self) -> Sample:
        pending: list[Reading] = []
        ack_pending: list[Reading] = []
        parked: list[Reading] = []
        if self.followed:
            states = await consumer_states(self.nats, consumers_of(self.followed))
            for name, state in states.items():
                if state is not None:  # not bound yet: none
                    pending.append((state.pending, {"subscription": name}))
                    ack_pending.append((state.ack_pending, {"subscription": name}))
            js = await self.nats.jetstream()
            subjects = await _dead_letters(js, self.nats, self.service)
            parked = [
                (subjects.get(f.dead_letter_subject, 0), {"subscription": f.sub.name})
                for f in self.followed
            ]
        return {
            "storemesh.consumer.pending": pending,
            "storemesh.consumer.ack_pending": ack_pending,
            "storemesh.consumer.parked": parked,
        }


async def _dead_letters(js: Any, nats: NatsConnection, service: str) -> dict[str, int]:
    """Messages in the dead-letter stream per subject of this service's subscriptions."""
    stream = nats.stream(DEAD_LETTER_STREAM.name)
    info = await js.stream_info(stream, subjects_filter=nats.subject(f"deadletter.v1.{service}.>"))
    return dict(info.state.subjects or {})


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max((now - since).total_seconds(), 0.0)
