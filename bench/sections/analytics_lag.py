"""9b. Projection lag: a RequestParts commit in inventory to its count in analytics.

Inventory and analytics run in this process, each on its own database, on one NATS
namespace: inventory's relay publishes to its INVENTORY stream, analytics' durable
subscription projects each PartsIssued / ShortageRecorded into `analytics_store_days`.
Clients call RequestParts over gRPC, each on its own store; a poller reads the stores'
counters on a bare psycopg connection every POLL_SECONDS. The k-th request of a store is
in the read model when the store's count reaches k; its lag is that moment minus the moment
the client had the reply (the reply leaves after the commit, so the lag is, if anything,
under-stated by the reply's way back; over-stated by at most one poll period).
Baseline: on the same NATS server, JetStream publish (acknowledged) to delivery to a
subscriber, the same number of messages from the same number of clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from nats.js.api import DeliverPolicy
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench.context import BenchContext, RunningService, libpq
from bench.load import LoadResult, closed_loop, percentile
from kernel.messaging import NatsConnection, StreamSpec, ensure_stream

CALL_TIMEOUT = 30.0
POLL_SECONDS = 0.005
SETTLE_SECONDS = 30.0
SHORTAGE_EVERY = 8  # every 8th request asks for more than there is: a ShortageRecorded
STOCK = 100_000  # a shortage asks for more: within kernel.validation.MAX_QUANTITY


@dataclass(frozen=True)
class Step:
    label: str
    clients: int
    calls: int
    seconds: float
    pause: float  # seconds each client waits after a reply: 0 is a closed loop at full speed


@dataclass
class LagResult:
    step: Step
    commands: LoadResult
    lags: list[float] = field(default_factory=list)  # seconds
    missing: int = 0
    polls: int = 0
    drain_seconds: float = 0.0  # first reply to the last effect seen

    @staticmethod
    def ms(values: list[float], p: float) -> float:
        return percentile(values, p) * 1000


@contextlib.asynccontextmanager
async def _analytics(ctx: BenchContext, url: str, ns: str) -> AsyncIterator[RunningService]:
    from services.analytics.bootstrap import build

    async with ctx.running(build, "analytics", url, ns) as running:
        yield running


class _Poller:
    """Reads the stores' counters until stopped; notes when each count was first seen."""

    def __init__(self, url: str, stores: list[str]) -> None:
        self.url = url
        self.stores = stores
        self.seen: dict[str, list[float]] = {s: [] for s in stores}
        self.polls = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with await psycopg.AsyncConnection.connect(libpq(self.url), autocommit=True) as conn:
            while True:
                cur = await conn.execute(
                    "SELECT store_id, sum(part_issues + shortages) FROM analytics_store_days"
                    " WHERE store_id = ANY(%s) GROUP BY store_id",
                    (self.stores,),
                )
                rows = await cur.fetchall()
                now = time.perf_counter()
                self.polls += 1
                for store_id, count in rows:
                    seen = self.seen[store_id]
                    seen.extend([now] * (int(count) - len(seen)))
                if self.stop.is_set():
                    return
                await asyncio.sleep(POLL_SECONDS)

    def total(self) -> int:
        return sum(len(v) for v in self.seen.values())


async def _register_part(stub: Any, md: Any) -> None:
    await stub.RegisterPart(
        pb.RegisterPartRequest(
            request_id=str(uuid.uuid4()),
            part=pb.Part(
                part_number="P-LAG",
                name="Bench part",
                category="bench",
                unit="pcs",
                unit_cost_fen=1_000,
            ),
        ),
        metadata=md,
        timeout=CALL_TIMEOUT,
    )


async def _step(stub: Any, md: Any, an_url: str, step: Step, n: int) -> LagResult:
    stores = [f"LAG{n}-{c:02d}" for c in range(step.clients)]
    replies: dict[str, list[float]] = {s: [] for s in stores}
    poller = _Poller(an_url, stores)
    polling = asyncio.create_task(poller.run())

    async def request(client: int, seq: int) -> None:
        store = stores[client]
        await stub.RequestParts(
            pb.RequestPartsRequest(
                request_id=str(uuid.uuid4()),
                store_id=store,
                part_number="P-LAG",
                repair_order=f"RO-{client}-{seq}",
                quantity=STOCK * 2 if seq % SHORTAGE_EVERY == 0 else 1,
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )
        replies[store].append(time.perf_counter())
        if step.pause:
            await asyncio.sleep(step.pause)

    try:
        await _stock(stub, md, stores)
        load = await closed_loop(
            step.label, step.clients, request, max_calls=step.calls, max_seconds=step.seconds
        )
        expected = sum(len(v) for v in replies.values())
        for _ in range(round(SETTLE_SECONDS / 0.05)):  # bounded: until all are seen
            if poller.total() >= expected:
                break
            await asyncio.sleep(0.05)
    finally:
        poller.stop.set()
        await polling
    result = LagResult(step, load, polls=poller.polls)
    first_reply = min((v[0] for v in replies.values() if v), default=0.0)
    last_seen = max((v[-1] for v in poller.seen.values() if v), default=0.0)
    result.drain_seconds = max(0.0, last_seen - first_reply)
    for store in stores:
        sent, seen = replies[store], poller.seen[store]
        result.lags += [s - r for r, s in zip(sent, seen, strict=False)]
        result.missing += max(0, len(sent) - len(seen))
    return result


async def _stock(stub: Any, md: Any, stores: list[str]) -> None:
    for store in stores:
        await stub.ReceiveStock(
            pb.ReceiveStockRequest(
                request_id=str(uuid.uuid4()), store_id=store, part_number="P-LAG", quantity=STOCK
            ),
            metadata=md,
            timeout=CALL_TIMEOUT,
        )


async def _commands(
    ctx: BenchContext, steps: list[Step], inv_url: str, an_url: str
) -> list[LagResult]:
    async with (
        ctx.namespace("anlag") as ns,
        _analytics(ctx, an_url, ns),
        ctx.inventory(inv_url, ns) as inventory,
    ):
        stub = pb_grpc.InventoryServiceStub(inventory.channel)
        await _register_part(stub, inventory.metadata)
        return [
            await _step(stub, inventory.metadata, an_url, step, n) for n, step in enumerate(steps)
        ]


async def _raw_nats(
    ctx: BenchContext, clients: int, calls: int, seconds: float
) -> tuple[LoadResult, list[float]]:
    """JetStream publish (awaiting the ack) to delivery at an ordered push consumer."""
    async with ctx.namespace("anlagraw") as ns:
        connection = NatsConnection(ctx.endpoints.nats_url, name="bench-lag-raw", namespace=ns)
        try:
            nc = await connection.client()
            js = nc.jetstream(timeout=10)
            stream = connection.stream("LAGRAW")
            await ensure_stream(
                js, StreamSpec(name=stream, subjects=[connection.subject("lagraw.>")])
            )
            sent: dict[str, float] = {}
            lags: list[float] = []

            async def received(msg: object) -> None:
                now = time.perf_counter()
                key = getattr(msg, "data", b"").decode()
                if key in sent:
                    lags.append(now - sent[key])

            follower = await js.subscribe(
                connection.subject("lagraw.>"),
                stream=stream,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
                cb=received,
            )
            payload_pad = "x" * 200  # about a PartsIssued with its headers

            async def publish(client: int, seq: int) -> None:
                key = f"{client}-{seq}"
                sent[key] = time.perf_counter()
                await js.publish(
                    connection.subject(f"lagraw.{client}"),
                    key.encode(),
                    headers={"ce-id": str(uuid.uuid4()), "pad": payload_pad},
                )

            load = await closed_loop(
                "JetStream publish", clients, publish, max_calls=calls, max_seconds=seconds
            )
            for _ in range(round(SETTLE_SECONDS / 0.02)):  # bounded: until all arrived
                if len(lags) >= load.ok:
                    break
                await asyncio.sleep(0.02)
            await follower.unsubscribe()
            return load, lags
        finally:
            await connection.close()


async def measure(
    ctx: BenchContext, steps: list[Step], raw_clients: int, raw_calls: int, seconds: float
) -> tuple[list[LagResult], LoadResult, list[float]]:
    async with ctx.database("anlaginv") as inv_url, ctx.database("anlagan") as an_url:
        results = await _commands(ctx, steps, inv_url, an_url)
    raw, raw_lags = await _raw_nats(ctx, raw_clients, raw_calls, seconds)
    return results, raw, raw_lags
