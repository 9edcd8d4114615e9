"""Rebuild every analytics read model from the event history:
`python -m services.analytics.rebuild` (configured by the service's environment).

1. Its own facts (reports, targets, warnings, published rankings) are replayed from its own
   event store, in position order, through the same inline projector.
2. The network's read models are emptied together with the inboxes of analytics'
   subscriptions, in one transaction, then each context's JetStream stream is replayed from
   its first message through the same projection handlers, each message claiming its inbox
   row as the live subscription does, in the same batched transactions (kernel.subscriptions
   `handle_batch`): a message the running service handles meanwhile is counted by
   whichever gets there first, once.

The service may keep running; its closes (daily, weekly, monthly) wait until the rebuild
ends (`scheduled.rebuilding`), so nothing is assessed or published from half-rebuilt
tables. Work goes in short transactions of `--batch` events, so nothing waits long on the
rebuild; and it touches analytics' database only, so no other service's relay is held
back. Progress goes to stdout, a bar per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from sqlalchemy import delete, select

from kernel.application import Application
from kernel.config import Settings
from kernel.db import Database
from kernel.eventstore import KERNEL_MIGRATIONS, events, inbox
from kernel.messaging import InboundEvent, NatsConnection
from kernel.subscriptions import handle_batch
from services.analytics import network_model, read_model
from services.analytics.bootstrap import DEFINITION, PORT
from services.analytics.projections import Projections
from services.analytics.scheduled import rebuilding

DEFAULT_BATCH = 500
IDLE_SECONDS = 2.0

Say = Callable[[str], None]


async def rebuild(
    settings: Settings, *, batch: int = DEFAULT_BATCH, say: Say = print, clock: Any = None
) -> dict[str, int]:
    """Rebuild everything; returns how many events each part replayed."""
    db = Database(settings.database_url, pool_size=2)
    await db.migrate("kernel", KERNEL_MIGRATIONS)
    await db.migrate(DEFINITION.name, DEFINITION.migrations)
    app = DEFINITION.command_side(db, clock, settings)
    nats = NatsConnection(
        settings.nats_url, name="analytics-rebuild", namespace=settings.nats_namespace
    )
    try:
        async with rebuilding(db):
            counts = {"analytics": await _own(app, batch, say)}
            counts.update(await _network(app, nats, batch, say))
    finally:
        await nats.close()
        await db.dispose()
    return counts


async def _own(app: Application, batch: int, say: Say) -> int:
    async with app.db.transaction("rebuild.own.clear") as conn:
        for table in (
            read_model.reports,
            read_model.targets,
            read_model.target_history,
            read_model.warnings,
            read_model.warning_history,
            read_model.published,
            read_model.pilot,
        ):
            await conn.execute(delete(table))
    after, done = 0, 0
    while True:
        async with app.db.transaction("rebuild.own.batch") as conn:
            rows = (
                await conn.execute(
                    select(events)
                    .where(events.c.position > after)
                    .order_by(events.c.position)
                    .limit(batch)
                )
            ).all()
            uow = app.unit_of_work(conn)
            for row in rows:
                event = app.registry.decode(row.event_type, row.payload)
                # The projector reads the recorded event's position only: the row has it.
                await read_model.project(uow, event, row, None)
        if not rows:
            break
        after, done = rows[-1].position, done + len(rows)
        say(f"analytics: {done} own events replayed")
    return done


async def _network(app: Application, nats: NatsConnection, batch: int, say: Say) -> dict[str, int]:
    projections = Projections(app.clock)
    subscriptions = projections.subscriptions()
    async with app.db.transaction("rebuild.network.clear") as conn:
        for table in reversed(network_model.metadata.sorted_tables):
            await conn.execute(delete(table))
        await conn.execute(
            delete(inbox).where(inbox.c.subscription.in_([s.name for s in subscriptions]))
        )
    counts = {}
    js = await nats.jetstream()
    for sub in subscriptions:
        stream = nats.stream(sub.stream)
        try:
            last = (await js.stream_info(stream)).state.last_seq
        except Exception:  # the context has no stream yet: nothing happened there
            say(f"{sub.stream.lower()}: no stream, nothing to replay")
            counts[sub.stream.lower()] = 0
            continue
        counts[sub.stream.lower()] = await _replay(
            app, js, nats, sub.name, sub.stream, stream, last, projections, batch, say
        )
    return counts


async def _replay(
    app: Application,
    js: Any,
    nats: NatsConnection,
    name: str,
    context: str,
    stream: str,
    last: int,
    projections: Projections,
    batch: int,
    say: Say,
) -> int:
    subject = nats.subject(f"{context.lower()}.v1.>")
    follower = await js.subscribe(
        subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    # The next batch is read from the stream while the database writes this one.
    batches: asyncio.Queue[tuple[int, list[InboundEvent]]] = asyncio.Queue(maxsize=2)

    async def read() -> None:
        sequence = 0
        while sequence < last:
            messages: list[InboundEvent] = []
            while len(messages) < batch and sequence < last:
                try:
                    msg = await follower.next_msg(timeout=IDLE_SECONDS)
                except NatsTimeout:
                    break
                sequence = msg.metadata.sequence.stream
                messages.append(InboundEvent.from_message(msg))
            if not messages:
                break  # the stream's end moved back (messages aged out): done
            await batches.put((sequence, messages))
        await batches.put((sequence, []))

    reader = asyncio.create_task(read())
    handled = 0
    try:
        while True:
            sequence, messages = await batches.get()
            if not messages:
                break
            handled += await _apply(app, name, messages, projections)
            say(
                f"{context.lower()}: {progress_bar(sequence, last)} "
                f"{sequence}/{last} messages, {handled} projected"
            )
        await reader
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await follower.unsubscribe()
    return handled


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """`[#######-------------]  35%`: how far through its stream a replay is."""
    share = min(done, total) / total if total > 0 else 1.0
    filled = int(share * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {int(share * 100):3d}%"


async def _apply(
    app: Application, name: str, messages: list[InboundEvent], projections: Projections
) -> int:
    """One transaction, as the live subscription handles a batch (kernel.subscriptions
    `handle_batch`): the inbox rows claimed together, each counter row written once."""
    wanted = [e for e in messages if e.event_type in projections.handlers and e.event_id]
    if not wanted:
        return 0
    async with app.db.transaction("rebuild.network.batch") as conn:
        handled, _ = await handle_batch(app, conn, name, projections.handle, wanted, commit=True)
    return handled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.analytics.rebuild", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="events per transaction")
    args = parser.parse_args(argv)
    settings = Settings.from_env("analytics", PORT)
    counts = asyncio.run(rebuild(settings, batch=max(1, args.batch)))
    print("rebuilt: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
