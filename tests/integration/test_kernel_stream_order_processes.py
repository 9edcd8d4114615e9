"""Two inventory processes on one database and one NATS, as two replicas run in production:
clients reserve (some reservations expire on either replica's timers), ship and receive
transfers between stores and receive stock, each call to either replica. JetStream must
then hold every stream's events in version order, and neither process logs an error or a
deadlock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from kernel.db import Database
from kernel.eventstore import events
from kernel.messaging import NatsConnection
from kernel.relay import Relay
from kernel.testing.servers import Endpoints, free_port
from tests.integration.kernel_fixtures import (
    REGISTRY,
    migrated,
    service_process,
    service_process_env,
)
from tests.integration.test_kernel_stream_order import (
    assert_every_stream_in_version_order,
    publish_everything,
)

STORES = ("SZ01", "SZ02", "SZ03", "SZ04")
PART = "P-100"
CLIENTS = 4
CYCLES = 5  # per client and round: about a dozen calls
ROUNDS = (5, 60)  # at least, at most: the load goes on until the replicas' timers fired
EXPIRED = 10  # reservations the timers expired while the load went on


@contextlib.contextmanager
def inventory_process(
    pg_url: str, endpoints: Endpoints, namespace: str, public_key: Path, log_path: Path
) -> Iterator[str]:
    """`python -m services.inventory` on a port of its own; yields its address."""
    address = f"127.0.0.1:{free_port()}"
    env = service_process_env(
        address,
        pg_url,
        endpoints,
        namespace,
        public_key,
        STOREMESH_GRPC_WORKERS="1",
        STOREMESH_LOG_LEVEL="info",
    )
    with service_process(env, log_path):
        yield address


async def until_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        with contextlib.suppress(grpc.aio.AioRpcError):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return
        assert asyncio.get_running_loop().time() < deadline, "a replica never came up"
        await asyncio.sleep(0.2)


class Clients:
    """Calls to the replicas; each call goes to one chosen at random."""

    def __init__(self, stubs: list[Any], token: str, seed: int) -> None:
        self.stubs = stubs
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.rng = random.Random(seed)
        self.aborted = 0

    async def call(self, method: str, request: Any) -> Any:
        stub = self.rng.choice(self.stubs)
        try:
            return await getattr(stub, method)(request, metadata=self.metadata, timeout=30)
        except grpc.aio.AioRpcError as exc:
            # ABORTED after the kernel's retries: the client may give up, nothing is lost.
            if exc.code() != grpc.StatusCode.ABORTED:
                raise
            self.aborted += 1
            return None

    async def run(self, cycles: int) -> None:
        for _ in range(cycles):
            source, destination = self.rng.sample(STORES, 2)
            kind = self.rng.choice(("expiring", "transfer", "receipt"))
            reservation = str(uuid.uuid4())
            if kind == "expiring":  # left to expire: one replica's timer fires it
                await self.reserve(source, reservation, ttl_seconds=1)
            elif kind == "transfer":
                if await self.reserve(source, reservation, ttl_seconds=600) is None:
                    continue
                transfer = str(uuid.uuid4())
                ship = pb.ShipTransferRequest(
                    request_id=str(uuid.uuid4()),
                    store_id=source,
                    part_number=PART,
                    transfer_id=transfer,
                    reservation_id=reservation,
                    destination_store_id=destination,
                    quantity=1,
                )
                if await self.call("ShipTransfer", ship) is None:
                    continue
                receive = pb.ReceiveTransferRequest(
                    request_id=str(uuid.uuid4()),
                    store_id=destination,
                    part_number=PART,
                    transfer_id=transfer,
                    quantity=1,
                )
                await self.call("ReceiveTransfer", receive)
            else:
                await self.receive(destination, 1)

    async def reserve(self, store_id: str, reservation: str, ttl_seconds: int) -> Any:
        request = pb.ReserveStockRequest(
            request_id=str(uuid.uuid4()),
            store_id=store_id,
            part_number=PART,
            reservation_id=reservation,
            quantity=1,
            ttl_seconds=ttl_seconds,
            reference="RO-1",
        )
        return await self.call("ReserveStock", request)

    async def receive(self, store_id: str, quantity: int) -> Any:
        request = pb.ReceiveStockRequest(
            request_id=str(uuid.uuid4()), store_id=store_id, part_number=PART, quantity=quantity
        )
        return await self.call("ReceiveStock", request)


async def count_of(db: Database, event_type_suffix: str) -> int:
    async with db.connect() as conn:
        query = select(func.count()).where(events.c.event_type.like(f"%{event_type_suffix}"))
        return int(await conn.scalar(query) or 0)


def troubles_in(log_path: Path) -> list[str]:
    return [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if '"level": "error"' in line
        or '"level": "critical"' in line
        or "Deadlock" in line
        or "Traceback" in line
    ]


async def test_two_service_processes_keep_every_streams_order(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    key_pair: tuple[Path, Path],
    mint: Callable[..., str],
    nats_client: NatsConnection,
    tmp_path: Path,
) -> None:
    logs = [tmp_path / f"replica-{n}.log" for n in range(2)]
    with (
        inventory_process(pg_url, endpoints, namespace, key_pair[1], logs[0]) as first,
        inventory_process(pg_url, endpoints, namespace, key_pair[1], logs[1]) as second,
    ):
        channels = [grpc.aio.insecure_channel(address) for address in (first, second)]
        try:
            for channel in channels:
                await until_serving(channel)
            stubs = [pb_grpc.InventoryServiceStub(channel) for channel in channels]
            setup = Clients(stubs, mint("hq"), seed=0)
            await setup.call(
                "RegisterPart",
                pb.RegisterPartRequest(
                    request_id=str(uuid.uuid4()),
                    part=pb.Part(
                        part_number=PART, name="Brake pads", category="brakes", unit="set"
                    ),
                ),
            )
            for store_id in STORES:
                assert await setup.receive(store_id, 1000) is not None
            clients = [Clients(stubs, mint("hq"), seed=n + 1) for n in range(CLIENTS)]
            watcher = Database(pg_url)
            try:
                for done in range(1, ROUNDS[1] + 1):
                    await asyncio.wait_for(asyncio.gather(*(c.run(CYCLES) for c in clients)), 60)
                    expired = await count_of(watcher, "ReservationExpired")
                    if done >= ROUNDS[0] and expired >= EXPIRED:
                        break
            finally:
                await watcher.dispose()
            assert expired >= EXPIRED, "the timers expired reservations during the load"
        finally:
            for channel in channels:
                await channel.close()

    db = await migrated(pg_url)
    try:
        # What the replicas had not published when they stopped goes out now, in order.
        relay = Relay(db, nats_client, REGISTRY)
        await relay.ensure_checkpoint()
        await publish_everything(relay, db, nats_client)
        total = await assert_every_stream_in_version_order(nats_client, db)
        assert total >= CLIENTS * CYCLES * ROUNDS[0], "most calls went through"
        assert await count_of(db, "TransferReceived") > 0
    finally:
        await db.dispose()
    for log_path in logs:
        assert troubles_in(log_path) == [], f"{log_path.name} logged errors"
