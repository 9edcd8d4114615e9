"""9a. Analytics rebuild: `services/analytics/rebuild.py` over a seeded inventory history.

Rebuild reads the other contexts' history from their JetStream streams (not from any
database), so the history is seeded there: PartsIssued / ShortageRecorded messages exactly
as inventory's relay publishes them (CloudEvents headers, `inventory.v1.<store>.<Type>`),
published straight into the namespace's INVENTORY stream. Three raw baselines read or write
the same events without the service's code: a bare ordered-consumer read of the stream, a
bare psycopg SELECT of the same events as rows of an `events` twin, and bare psycopg
upserts of the same counters in the same batch size.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from nats.js.api import DeliverPolicy
from psycopg.types.json import Json
from storemesh.inventory.events.v1 import events_pb2 as inv

from bench.context import BenchContext, libpq
from kernel.messaging import NatsConnection, StreamSpec, ensure_stream
from services.analytics import network_model
from services.analytics.rebuild import rebuild

SEED = 20_261_130
STORES = 200
DAYS = 30
SHORTAGE_SHARE = 0.12
BATCH = 500  # rebuild's default --batch
RAW_TABLE = "bench_raw_history"
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Seeded:
    subject: str
    type_name: str
    store_id: str
    event_id: str
    day: Any
    payload: bytes
    occurred_at: datetime


@dataclass
class RebuildResult:
    events: int
    seed_seconds: float
    rebuild_seconds: float
    projected: int
    rows_after: int
    raw_stream_seconds: float
    raw_select_seconds: float
    raw_upsert_seconds: float


def _history(ns: str, count: int) -> list[Seeded]:
    """`count` inventory events over STORES stores and the last DAYS days, in time order."""
    rng = random.Random(SEED)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / count
    found = []
    for n in range(count):
        store = f"S{rng.randrange(STORES):04d}"
        at = start + step * n
        part = f"P-{rng.randrange(5_000):05d}"
        order = f"RO-{n:08d}"
        if rng.random() < SHORTAGE_SHARE:
            message: Any = inv.ShortageRecorded(
                store_id=store, part_number=part, repair_order=order, requested=2, available=1
            )
        else:
            message = inv.PartsIssued(
                store_id=store, part_number=part, repair_order=order, quantity=1, on_hand_after=9
            )
        message.occurred_at.FromDatetime(at)
        name = message.DESCRIPTOR.name
        found.append(
            Seeded(
                subject=f"{ns}.inventory.v1.{store}.{name}",
                type_name=message.DESCRIPTOR.full_name,
                store_id=store,
                event_id=str(uuid.uuid4()),
                day=(at + timedelta(hours=8)).date(),  # the business zone, Asia/Shanghai
                payload=message.SerializeToString(),
                occurred_at=at,
            )
        )
    return found


async def _publish(nats_url: str, ns: str, history: list[Seeded]) -> str:
    """Into the namespace's INVENTORY stream, as the relay would (core publish, flushed)."""
    connection = NatsConnection(nats_url, name="bench-analytics-seed", namespace=ns)
    try:
        nc = await connection.client()
        js = nc.jetstream(timeout=10)
        stream = connection.stream("INVENTORY")
        await ensure_stream(
            js, StreamSpec(name=stream, subjects=[connection.subject("inventory.v1.>")])
        )
        for n, e in enumerate(history):
            headers = {
                "ce-specversion": "1.0",
                "ce-id": e.event_id,
                "ce-source": "storemesh/inventory",
                "ce-type": e.type_name,
                "ce-time": e.occurred_at.isoformat(),
                "ce-subject": f"bench/{e.store_id}",
                "ce-storeid": e.store_id,
                "content-type": "application/protobuf",
                "Nats-Msg-Id": e.event_id,
            }
            await nc.publish(e.subject, e.payload, headers=headers)
            if n % 1_000 == 999:
                await nc.flush()
        await nc.flush()
        deadline = time.monotonic() + WAIT_SECONDS
        while (await js.stream_info(stream)).state.messages < len(history):
            if time.monotonic() > deadline:
                raise RuntimeError("the seeded history did not all reach the stream")
            await asyncio.sleep(0.1)
        return stream
    finally:
        await connection.close()


async def _raw_stream_read(nats_url: str, ns: str, stream: str, count: int) -> float:
    """Bare ordered consumer over the same stream, every message received (no decoding)."""
    connection = NatsConnection(nats_url, name="bench-analytics-raw", namespace=ns)
    try:
        js = (await connection.client()).jetstream(timeout=10)
        t0 = time.perf_counter()
        follower = await js.subscribe(
            connection.subject("inventory.v1.>"),
            stream=stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        seen = 0
        while seen < count:
            await follower.next_msg(timeout=5.0)
            seen += 1
        elapsed = time.perf_counter() - t0
        await follower.unsubscribe()
        return elapsed
    finally:
        await connection.close()


def _raw_sql(url: str, history: list[Seeded]) -> tuple[float, float]:
    """(SELECT seconds, upsert seconds): the same events as rows, and their counters."""
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE events INCLUDING ALL)")
        with conn.cursor() as cur:
            columns = "stream_id, stream_version, event_id, event_type, store_id, payload,"
            columns += " metadata, recorded_at"
            with cur.copy(f"COPY {RAW_TABLE} ({columns}) FROM STDIN") as copy:
                for n, e in enumerate(history):
                    copy.write_row(
                        (
                            f"bench/{e.store_id}",
                            n + 1,
                            e.event_id,
                            e.type_name,
                            e.store_id,
                            e.payload,
                            Json({}),
                            e.occurred_at,
                        )
                    )
        conn.execute(f"CREATE TABLE {RAW_TABLE}_days (LIKE analytics_store_days INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT position, event_id, event_type, store_id, payload, recorded_at"
                f" FROM {RAW_TABLE} ORDER BY position"
            )
            rows = cur.fetchall()
        conn.commit()
        select_seconds = time.perf_counter() - t0
        assert len(rows) == len(history)
        t0 = time.perf_counter()
        counters = network_model.STORED_COUNTERS
        # The shape of kernel.db.upsert's statement: every counter given, every one added.
        upsert = (
            f"INSERT INTO {RAW_TABLE}_days AS d (store_id, day, {', '.join(counters)})"
            f" VALUES (%s, %s{', %s' * len(counters)}) ON CONFLICT (store_id, day) DO UPDATE SET "
            + ", ".join(f"{c} = d.{c} + excluded.{c}" for c in counters)
        )
        issued, short = counters.index("part_issues"), counters.index("shortages")

        def values(e: Seeded) -> tuple[Any, ...]:
            found: list[Any] = [0] * len(counters)
            found[short if e.type_name.endswith("ShortageRecorded") else issued] = 1
            return (e.store_id, e.day, *found)

        for first in range(0, len(history), BATCH):
            with conn.cursor() as cur:
                cur.executemany(upsert, [values(e) for e in history[first : first + BATCH]])
            conn.commit()
        upsert_seconds = time.perf_counter() - t0
    return select_seconds, upsert_seconds


async def measure(ctx: BenchContext, count: int) -> RebuildResult:
    async with ctx.database("anrebuild") as url, ctx.namespace("anreb") as ns:
        history = _history(ns, count)
        t0 = time.perf_counter()
        stream = await _publish(ctx.endpoints.nats_url, ns, history)
        seed_seconds = time.perf_counter() - t0
        settings = ctx.settings("analytics", url, ns)
        t0 = time.perf_counter()
        counts = await rebuild(settings, batch=BATCH, say=lambda _line: None)
        rebuild_seconds = time.perf_counter() - t0
        async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*), coalesce(sum(part_issues + shortages), 0)"
                    " FROM analytics_store_days"
                )
            ).fetchone()
        assert row is not None
        if int(row[1]) != count or counts.get("inventory") != count:
            raise RuntimeError(f"rebuild projected {counts}, counters sum {row[1]} of {count}")
        raw_stream = await _raw_stream_read(ctx.endpoints.nats_url, ns, stream, count)
        raw_select, raw_upsert = await asyncio.to_thread(_raw_sql, url, history)
    return RebuildResult(
        events=count,
        seed_seconds=seed_seconds,
        rebuild_seconds=rebuild_seconds,
        projected=counts.get("inventory", 0),
        rows_after=int(row[0]),
        raw_stream_seconds=raw_stream,
        raw_select_seconds=raw_select,
        raw_upsert_seconds=raw_upsert,
    )
