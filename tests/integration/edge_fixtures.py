"""The four services side by side on one database backend, with a small seeded network:
two stores, parts in stock, technicians with availability, a booking and a walk-in.

Collab calls the real inventory, workforce and capacity for its lookups (stock, matching
technicians, nearby places); its sagas' calls go to a port nobody serves, and the clock
stands still, so a transfer, support or diversion a case starts stays where it is and no
background step records an event while a refused case is being counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select
from storemesh.analytics.v1 import analytics_pb2 as analytics_pb
from storemesh.analytics.v1 import analytics_pb2_grpc as analytics_grpc
from storemesh.capacity.v1 import capacity_pb2 as cap_pb
from storemesh.capacity.v1 import capacity_pb2_grpc as cap_grpc
from storemesh.collab.v1 import collab_pb2 as collab_pb
from storemesh.collab.v1 import collab_pb2_grpc as collab_grpc
from storemesh.inventory.v1 import inventory_pb2 as inv_pb
from storemesh.inventory.v1 import inventory_pb2_grpc as inv_grpc
from storemesh.workforce.v1 import workforce_pb2 as wf_pb
from storemesh.workforce.v1 import workforce_pb2_grpc as wf_grpc

from kernel.application import Application
from kernel.clock import ManualClock
from kernel.config import Settings
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints, create_database, drop_database, free_port
from services.analytics import bootstrap as analytics_bootstrap
from services.capacity.bootstrap import build as build_capacity
from services.collab import bootstrap as collab_bootstrap
from services.inventory.bootstrap import build as build_inventory
from services.workforce.bootstrap import build as build_workforce
from tests.integration.capacity_fixtures import CapacityClient, local
from tests.integration.conftest import Running, delete_streams, running, settings_for
from tests.integration.hostile_values import FRIDAY, china
from tests.integration.inventory_fixtures import InventoryClient, register_part
from tests.integration.workforce_fixtures import WorkforceClient, publish_day, register, ts

DIRECTORY_WAIT_SECONDS = 30.0


@dataclass
class ServiceUnderTest:
    name: str
    run: Running
    stub: Any
    messages: Any


@dataclass
class Network:
    backend: str
    services: list[ServiceUnderTest]


BUILDS = (
    ("capacity", build_capacity, cap_grpc.CapacityServiceStub, cap_pb),
    ("inventory", build_inventory, inv_grpc.InventoryServiceStub, inv_pb),
    ("workforce", build_workforce, wf_grpc.WorkforceServiceStub, wf_pb),
    ("collab", collab_bootstrap.build, collab_grpc.CollabServiceStub, collab_pb),
    ("analytics", analytics_bootstrap.build, analytics_grpc.AnalyticsServiceStub, analytics_pb),
)


@dataclass(frozen=True)
class Ground:
    """What the network stands on: the test's folder, servers, clock and token issuer."""

    tmp_path: Path
    endpoints: Endpoints
    namespace: str
    clock: ManualClock
    verifier: Any
    mint: Callable[..., str]


@asynccontextmanager
async def network(backend: str, ground: Ground) -> AsyncIterator[Network]:
    tmp_path, endpoints, namespace = ground.tmp_path, ground.endpoints, ground.namespace
    clock, verifier, mint = ground.clock, ground.verifier, ground.mint
    async with AsyncExitStack() as stack:
        services = []
        for name, build, stub_type, messages in BUILDS:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
            else:
                url = create_database(endpoints.postgres_url)
                stack.callback(drop_database, url, endpoints.postgres_url)
            settings = settings_for(name, url, endpoints.nats_url, namespace)
            if name == "collab":
                settings = replace(settings, service_token=mint("service", subject="collab"))
                build = _collab({s.name: s.run for s in services}, stack)
            if name == "analytics":
                settings = replace(settings, service_token=mint("service", subject="analytics"))
                build = _analytics(next(s.run for s in services if s.name == "capacity"))
            run = await stack.enter_async_context(
                running(build, settings, clock, verifier, timer_interval=3600)
            )
            stack.push_async_callback(delete_streams, run.service.nats)
            services.append(ServiceUnderTest(name, run, stub_type(run.channel), messages))
        await seed(services, mint("hq"))
        yield Network(backend, services)


NetworkOn = Callable[[str], AbstractAsyncContextManager[Network]]


@pytest.fixture
def network_on(
    tmp_path: Path,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> NetworkOn:
    """`async with network_on("sqlite") as net`: the five services on that backend."""
    ground = Ground(tmp_path, endpoints, namespace, clock, verifier, mint)
    return lambda backend: network(backend, ground)


def _collab(runs: dict[str, Running], stack: AsyncExitStack) -> Any:
    nowhere = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    stack.push_async_callback(nowhere.close)

    def application(app: Application, settings: Settings) -> Any:
        return collab_bootstrap.collaboration(
            app,
            settings,
            inventory=runs["inventory"].channel,
            workforce=runs["workforce"].channel,
            capacity=runs["capacity"].channel,
            saga_channel=nowhere,
        )

    return replace(collab_bootstrap.DEFINITION, application=application).build


def _analytics(capacity: Running) -> Any:
    def application(app: Application, settings: Settings) -> Any:
        return analytics_bootstrap.analytics(app, settings, capacity=capacity.channel)

    return replace(analytics_bootstrap.DEFINITION, application=application).build


async def seed(services: list[ServiceUnderTest], token: str) -> None:
    runs = {s.name: s.run for s in services}
    cap = CapacityClient(runs["capacity"], token)
    for code in ("SZ01", "GZ01"):
        await cap.register(code)
    await cap.book("A-1", local(17, 0), hours=0.5)
    await cap.walk_in("W-1")
    await _directories_know(runs["inventory"], runs["workforce"], runs["analytics"])

    inv = InventoryClient(runs["inventory"], token)
    for number in ("P-100", "P-200"):
        await register_part(inv, number)
        for store in ("SZ01", "GZ01"):
            await inv.ReceiveStock(store_id=store, part_number=number, quantity=10)
    await inv.ReserveStock(
        store_id="SZ01", part_number="P-100", reservation_id="R-1", quantity=1, ttl_seconds=600
    )

    wf = WorkforceClient(runs["workforce"], token)
    for technician_id, store in (("T-1", "SZ01"), ("T-2", "GZ01"), ("T-3", "GZ01")):
        await register(wf, technician_id, store_id=store)
        await publish_day(wf, technician_id)
    await wf.HoldSupport(
        technician_id="T-1",
        support_id="S-1",
        host_store_id="GZ01",
        specialty="hv_ev",
        minimum_level=wf_pb.LEVEL_T2,
        starts_at=ts(china(FRIDAY, 9)),
        ends_at=ts(china(FRIDAY, 12)),
    )


async def _directories_know(*runs: Running) -> None:
    """Inventory, workforce and analytics learn the stores from capacity's events over NATS."""
    deadline = asyncio.get_running_loop().time() + DIRECTORY_WAIT_SECONDS
    for run in runs:
        while await _known_stores(run) < 2:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the store directories did not fill in time")
            await asyncio.sleep(0.1)


async def _known_stores(run: Running) -> int:
    async with run.service.db.transaction("test.directory") as conn:
        return int(await conn.scalar(select(func.count()).select_from(store_directory)) or 0)
