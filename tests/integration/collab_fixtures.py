"""A running collab service for integration tests: its own PostgreSQL database, the shared
NATS namespace and ManualClock, calling the real inventory service over gRPC with a
service token. The store directory is seeded with four stores' locations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest
from storemesh.collab.v1 import collab_pb2 as pb
from storemesh.collab.v1 import collab_pb2_grpc as pb_grpc
from storemesh.inventory.v1 import inventory_pb2 as inventory_pb

from kernel.db import upsert
from kernel.eventstore import EventStore
from kernel.service import Service
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints, create_database, drop_database, free_port
from services.collab.application import Collab
from services.collab.bootstrap import DEFINITION, collaboration
from services.collab.domain.transfer import Deadlines
from tests.integration.conftest import GrpcClient, Running, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient
from tests.integration.kernel_fixtures import eventually

GZ, FS, DG, SZ, PART = "GZ01", "FS01", "DG01", "SZ01", "HL-200"
LOCATIONS = {
    GZ: (23.129, 113.264),
    FS: (23.022, 113.121),
    DG: (23.021, 113.752),
    SZ: (22.543, 114.058),
}


class CollabClient(GrpcClient):
    stub_type = pb_grpc.CollabServiceStub
    messages = pb


@dataclass
class Collaboration:
    """The collab process's parts tests reach for besides the host."""

    service: Service
    collab: Collab


@dataclass
class CollabRun:
    running: Running
    parts: Collaboration

    def client(self, token: str) -> CollabClient:
        return CollabClient(self.running, token)


@pytest.fixture
def collab_db_url(endpoints: Endpoints) -> Iterator[str]:
    url = create_database(endpoints.postgres_url, prefix="storemesh_collab")
    yield url
    drop_database(url, endpoints.postgres_url)


Starter = Callable[..., AbstractAsyncContextManager[CollabRun]]


def _nowhere() -> grpc.aio.Channel:
    """A service this test does not run: the saga never calls it."""
    return grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")


def collab_starter(
    request: pytest.FixtureRequest,
    *,
    before_start: Callable[[Service], Awaitable[None]] | None = None,
    **given: Any,
) -> Starter:
    """Collab over the peers' channels in `given` (inventory, workforce, capacity; the others
    lead nowhere) and any other keyword of `collaboration` (deadlines, ...); its database,
    NATS namespace, clock, verifier and token are the test's fixtures."""
    db_url = request.getfixturevalue("collab_db_url")
    endpoints: Endpoints = request.getfixturevalue("endpoints")
    namespace = request.getfixturevalue("namespace")
    clock = request.getfixturevalue("clock")
    verifier = request.getfixturevalue("verifier")
    mint = request.getfixturevalue("mint")
    peers = {p: given.pop(p) for p in PEERS if p in given}

    @asynccontextmanager
    async def start(saga_channel: grpc.aio.Channel | None = None) -> AsyncIterator[CollabRun]:
        """`saga_channel`: where the sagas' calls go (cut, to stage a crash between steps)."""
        settings = settings_for(
            "collab",
            db_url,
            endpoints.nats_url,
            namespace,
            service_token=mint("service", subject="collab"),
        )
        channels = {p: peers.get(p) or _nowhere() for p in PEERS}

        def application(app: Any, settings: Any) -> Collab:
            return collaboration(app, settings, saga_channel=saga_channel, **channels, **given)

        async with running(
            replace(DEFINITION, application=application).build,
            settings,
            clock,
            verifier,
            before_start=before_start,
            timer_interval=3600,
        ) as run:
            yield CollabRun(run, Collaboration(run.service, run.service.application))

    return start


PEERS = ("inventory", "workforce", "capacity")


async def _locate_stores(service: Service) -> None:
    """The four stores' locations, as capacity's events would have left them."""
    async with service.db.transaction() as conn:
        for version, (store, (lat, lon)) in enumerate(LOCATIONS.items(), start=1):
            await upsert(
                conn,
                store_directory,
                {
                    "store_id": store,
                    "name": store,
                    "region": "Guangdong",
                    "latitude": lat,
                    "longitude": lon,
                    "closed": False,
                    "version": version,
                },
                ["store_id"],
            )


@pytest.fixture
def start_collab(request: pytest.FixtureRequest, inventory_service: Running) -> Starter:
    """`async with start_collab() as collab:` one collab process (again: a restart)."""
    return collab_starter(
        request,
        before_start=_locate_stores,
        inventory=inventory_service.channel,
        deadlines=Deadlines(),
    )


async def stocked(inv: InventoryClient, **stores: int) -> None:
    await inv.RegisterPart(
        part=inventory_pb.Part(
            part_number=PART, name="Headlight", category="body", unit="pc", unit_cost_fen=48_000
        )
    )
    for store, quantity in stores.items():
        await inv.ReceiveStock(store_id=store, part_number=PART, quantity=quantity)


async def position(inv: InventoryClient, store: str) -> Any:
    return await inv.GetStockPosition(store_id=store, part_number=PART)


async def at_stage(client: CollabClient, transfer_id: str, stage: int, source: str = "") -> Any:
    """The transfer once it reached `stage` (at `source`, if given): the dispatcher works in
    the background, so its calls land a moment after the command that caused them."""

    async def probe() -> Any:
        t = await client.GetTransfer(transfer_id=transfer_id)
        return t if t.stage == stage and (not source or t.source_store_id == source) else None

    return await eventually(probe)


async def saga_event_types(run: CollabRun, transfer_id: str) -> list[str]:
    runtime = run.parts.collab.runtime
    async with run.parts.service.db.transaction() as conn:
        recorded = await EventStore().read_stream(conn, runtime.stream_id(transfer_id))
    return [r.event_type.rsplit(".", 1)[-1] for r in recorded]


async def saga_events(run: CollabRun, transfer_id: str) -> list[Any]:
    runtime = run.parts.collab.runtime
    registry = run.parts.service.app.registry
    async with run.parts.service.db.transaction() as conn:
        recorded = await EventStore().read_stream(conn, runtime.stream_id(transfer_id))
    return [registry.decode(r.event_type, r.payload) for r in recorded]
