"""2. Event store appends of single-event commands, beside raw INSERT+COMMIT."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Json

from bench.config import Sizes
from bench.context import BenchContext, libpq
from bench.load import LoadResult, closed_loop
from bench.raw import create_raw_table, raw_insert_commit
from bench.report import LOAD_HEADER, SectionReport, Unjudged, load_row, share_target
from bench.samples import REGISTRY, SampleEvent, stock_received
from bench.sections import eventsourcing_peer
from kernel.application import Application, UnitOfWork
from kernel.clock import SystemClock
from kernel.db import Database
from kernel.eventstore import KERNEL_MIGRATIONS, EventStore, NewEvent, command_log

TITLE = "2. Event store appends of single-event commands"
TARGET_SHARE = 0.5


@dataclass(frozen=True)
class AppendOne:
    """The benchmark's command: append one event to a stream."""

    stream_id: str
    seq: int


class Writers:
    """Each writer owns its streams and knows their versions: no conflicts between writers."""

    def __init__(self, writers: int, streams_per_writer: int) -> None:
        tag = uuid.uuid4().hex[:8]
        self.streams = [
            [f"bench/{tag}-{w}/{k}" for k in range(streams_per_writer)] for w in range(writers)
        ]
        self.versions: dict[str, int] = {}

    def next(self, writer: int, seq: int) -> tuple[str, int]:
        mine = self.streams[writer]
        stream = mine[seq % len(mine)]
        return stream, self.versions.get(stream, 0)

    def appended(self, stream: str) -> None:
        self.versions[stream] = self.versions.get(stream, 0) + 1


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = ctx.sizes
    sample = stock_received()
    rows: list[list[str]] = []
    handle_by_writers: dict[int, tuple[float, float]] = {}
    peer_by_writers: dict[int, float] = {}
    with_peer = eventsourcing_peer.available()
    async with ctx.database("appends") as url:
        # Transactions as the services run them; a pool of 10 + 10, as the text says.
        db = Database(url, pipelined_begin=ctx.pipelined_begin, pool_size=10)
        try:
            await db.migrate("kernel", KERNEL_MIGRATIONS)
            await create_raw_table(url)
            app = Application(db, REGISTRY, SystemClock())
            store = EventStore()
            for writers in sizes.append_writers:
                before = await _raw(url, sample, writers, sizes)
                handled = await _through_application(app, sample, writers, sizes)
                direct = await _through_event_store(db, store, sample, writers, sizes)
                same_sql = await _raw_same_statements(url, sample, writers, sizes)
                peer = (
                    await eventsourcing_peer.through_eventsourcing(url, writers, sizes)
                    if with_peer
                    else None
                )
                after = await _raw(url, sample, writers, sizes)
                baseline = (before.rate + after.rate) / 2
                handle_by_writers[writers] = (handled.rate, baseline)
                rows += [
                    load_row(before, "raw psycopg INSERT+COMMIT (one event row), before"),
                    load_row(handled, "**Application.handle**: one-event command", baseline),
                ]
                if peer is not None:
                    peer_by_writers[writers] = peer.rate
                    rows.append(load_row(peer, eventsourcing_peer.ROW_LABEL, baseline))
                rows += [
                    load_row(
                        direct, "EventStore.append + command_log in Database.transaction", baseline
                    ),
                    load_row(
                        same_sql, "raw psycopg, the command's 4 statements + COMMIT", baseline
                    ),
                    load_row(after, "raw psycopg INSERT+COMMIT (one event row), after"),
                ]
        finally:
            await db.dispose()

    report.add(
        "A fresh database with the kernel schema only. The command is what every service"
        " command costs, minus its business logic: `Application.handle` with a `request_id`"
        " (idempotency: the command log's primary key, the fingerprint) and a handler that"
        " calls `UnitOfWork.append` for one event at the expected version, as a service"
        " command's `record` does: on PostgreSQL the append (stream-version claim, event and"
        " outbox rows) goes in the command's closing statement with the command-log row, a"
        " statement of its own that commits (no BEGIN, no COMMIT: one round trip), from a"
        " `Database.transaction` (SQLAlchemy 2 async, psycopg 3, pool of 10 + 10) whose"
        " connection is taken from the pool at its first statement: a command that sends"
        " nothing before its closing statement, as here, sends that on a pooled autocommit"
        " psycopg connection (the read pool's) and never takes one from SQLAlchemy's pool."
        f" Each writer cycles through {sizes.append_streams_per_writer} streams of its own."
        f" The event is a StockReceived ({len(sample.payload)} bytes of protobuf) with"
        " trace and request metadata.",
        "",
        "Baseline (the target's denominator): the mean of two runs, right before and right"
        " after the figures, of bare psycopg, one connection per writer,"
        " `INSERT` of the same event row (same payload and metadata size) into a twin of the"
        " `events` table (same indexes and defaults) and `COMMIT`. Two diagnostic rows"
        " separate the costs: the event store and command log without `Application.handle`"
        " (the append and the command-log insert as statements of their own, in a"
        " transaction), and bare psycopg running the four statements a command sent before"
        " its closing statement took them in (command-log lookup, stream-version update,"
        " event insert returning, command-log insert) and `COMMIT`.",
        "",
        "Peer: the PyPI `eventsourcing` library (pinned in the `bench` extras) on the same"
        " database, its `Application.save` of a new aggregate whose one event is its creation"
        " (one event row per transaction, no idempotency row, no read model), each writer a"
        " thread with a connection of its own."
        + ("" if with_peer else " **Not installed in this run: no peer row.**"),
        "",
    )
    report.add(
        "**Targets (issue 10):** one-event `Application.handle` at"
        f" {' and at '.join(map(str, sizes.append_writers))} writers"
        f" ≥ {100 * TARGET_SHARE:.0f}% of the raw INSERT+COMMIT (the mean of the runs before"
        " and after it), and above the eventsourcing library's peer row of the same step"
        " (its throughput as a share of the peer's: more than 100%).",
        "",
    )
    report.table(LOAD_HEADER, rows)
    _judge(report, handle_by_writers, peer_by_writers)


def _judge(
    report: SectionReport,
    handle_by_writers: dict[int, tuple[float, float]],
    peer_by_writers: dict[int, float],
) -> None:
    """Issue 10's targets: (handle rate, raw baseline) and the peer's rate, per writers."""
    for writers, (handled_rate, baseline) in handle_by_writers.items():
        who = f"{writers} writer{'s' if writers > 1 else ''}"
        report.targets.append(
            share_target(
                f"one-event Application.handle at {who}, share of raw INSERT+COMMIT",
                handled_rate,
                baseline,
                TARGET_SHARE,
            )
        )
        peer_name = (
            f"one-event Application.handle at {who}, share of the eventsourcing library's save"
        )
        if writers in peer_by_writers:
            report.targets.append(
                share_target(peer_name, handled_rate, peer_by_writers[writers], 1.0, strictly=True)
            )
        else:
            report.unjudged.append(
                Unjudged(peer_name, "> 100 %", "the eventsourcing library is not installed")
            )


async def _raw(url: str, sample: SampleEvent, writers: int, sizes: Sizes) -> LoadResult:
    return await raw_insert_commit(
        url,
        "raw",
        writers,
        payload=sample.payload,
        metadata=sample.metadata,
        event_type=sample.event_type,
        store_id=sample.store_id,
        max_rows=sizes.append_step_max_commands,
        max_seconds=sizes.raw_step_seconds,
    )


async def _through_application(
    app: Application, sample: SampleEvent, writers: int, sizes: Sizes
) -> LoadResult:
    plan = Writers(writers, sizes.append_streams_per_writer)

    async def call(writer: int, seq: int) -> None:
        stream, version = plan.next(writer, seq)

        async def handler(uow: UnitOfWork) -> None:
            await uow.append(
                stream,
                version,
                [
                    NewEvent(
                        sample.event_type, sample.payload, sample.store_id, metadata=uow.metadata
                    )
                ],
            )

        await app.handle(AppendOne(stream, seq), handler, request_id=str(uuid.uuid4()))
        plan.appended(stream)

    return await closed_loop(
        "Application.handle",
        writers,
        call,
        max_calls=sizes.append_step_max_commands,
        max_seconds=sizes.append_step_seconds,
        warmup_calls=3,
    )


async def _through_event_store(
    db: Database, store: EventStore, sample: SampleEvent, writers: int, sizes: Sizes
) -> LoadResult:
    plan = Writers(writers, sizes.append_streams_per_writer)

    async def call(writer: int, seq: int) -> None:
        stream, version = plan.next(writer, seq)
        now = datetime.now(UTC)
        async with db.transaction("bench.append") as conn:
            await store.append(
                conn,
                stream,
                version,
                [
                    NewEvent(
                        sample.event_type, sample.payload, sample.store_id, metadata=sample.metadata
                    )
                ],
                now,
            )
            await conn.execute(
                command_log.insert().values(
                    request_id=str(uuid.uuid4()),
                    command_type="AppendOne",
                    fingerprint=hashlib.sha256(stream.encode()).hexdigest(),
                    result=None,
                    recorded_at=now,
                )
            )
        plan.appended(stream)

    return await closed_loop(
        "EventStore.append",
        writers,
        call,
        max_calls=sizes.append_step_max_commands,
        max_seconds=sizes.append_step_seconds,
        warmup_calls=3,
    )


async def _raw_same_statements(
    url: str, sample: SampleEvent, writers: int, sizes: Sizes
) -> LoadResult:
    plan = Writers(writers, sizes.append_streams_per_writer)
    conns: list[psycopg.AsyncConnection[Any]] = []
    try:
        for _ in range(writers):
            conns.append(await psycopg.AsyncConnection.connect(libpq(url)))

        async def call(writer: int, seq: int) -> None:
            conn = conns[writer]
            stream, version = plan.next(writer, seq)
            request_id = str(uuid.uuid4())
            now = datetime.now(UTC)
            await conn.execute(
                "SELECT fingerprint, result FROM command_log WHERE request_id = %s", (request_id,)
            )
            if version == 0:
                await conn.execute(
                    "INSERT INTO streams (stream_id, version) VALUES (%s, 1)"
                    " ON CONFLICT (stream_id) DO NOTHING RETURNING version",
                    (stream,),
                )
            else:
                await conn.execute(
                    "UPDATE streams SET version = %s WHERE stream_id = %s AND version = %s",
                    (version + 1, stream, version),
                )
            await conn.execute(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type, store_id,"
                " payload, metadata, recorded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING position, tx_id",
                (
                    stream,
                    version + 1,
                    uuid.uuid4(),
                    sample.event_type,
                    sample.store_id,
                    sample.payload,
                    Json(sample.metadata),
                    now,
                ),
            )
            await conn.execute(
                "INSERT INTO command_log (request_id, command_type, fingerprint, result,"
                " recorded_at) VALUES (%s, %s, %s, %s, %s)",
                (request_id, "AppendOne", "0" * 64, Json(None), now),
            )
            await conn.commit()
            plan.appended(stream)

        return await closed_loop(
            "raw statements",
            writers,
            call,
            max_calls=sizes.append_step_max_commands,
            max_seconds=sizes.append_step_seconds,
            warmup_calls=3,
        )
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.close()
