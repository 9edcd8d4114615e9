"""A toy SOP 1 saga service for integration tests: its own database (PostgreSQL or
SQLite), calling the real inventory service over gRPC, on the shared ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel.application import Application, UnitOfWork
from kernel.clock import ManualClock
from kernel.db import Database
from kernel.eventstore import KERNEL_MIGRATIONS, EventStore, events
from kernel.saga import (
    MIGRATIONS,
    Participant,
    SagaDispatcher,
    SagaRuntime,
    Status,
    pending_calls,
    sagas_in,
)
from kernel.testing.servers import Endpoints, create_database, drop_database
from kernel.timers import TimerRunner
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import InventoryClient
from tests.unit.kernel.saga_toy import REGISTRY, TRANSFER, TransferApproved, TransferRequested

SZ, GZ, DG, PART = "SZ01", "GZ01", "DG01", "P-100"

INVENTORY_API = pb.DESCRIPTOR.services_by_name["InventoryService"]


@pytest.fixture(params=["postgresql", "sqlite"])
def saga_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The saga's own store, on either database; inventory keeps its PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'collab.db'}"
        return
    endpoints: Endpoints = request.getfixturevalue("endpoints")
    url = create_database(endpoints.postgres_url, prefix="storemesh_saga")
    yield url
    drop_database(url, endpoints.postgres_url)


@dataclass
class Replica:
    """One process of the saga's service: its application, timers and dispatcher."""

    db: Database
    app: Application
    runtime: SagaRuntime[Any]
    timers: TimerRunner
    dispatcher: SagaDispatcher


@pytest.fixture
async def replicas(
    saga_db_url: str,
    clock: ManualClock,
    inventory_service: Running,
    mint: Callable[..., str],
) -> AsyncIterator[Callable[..., Any]]:
    made: list[Database] = []
    token = mint("service")

    async def replica(
        participant_type: type[Participant] = Participant,
        channel: Any = None,
        batch: int = 32,
        interval: float = 0.5,
        lease: timedelta = timedelta(seconds=30),
    ) -> Replica:
        db = Database(saga_db_url)
        made.append(db)
        await db.migrate("kernel", KERNEL_MIGRATIONS)
        await db.migrate("saga", MIGRATIONS)
        app = Application(db, REGISTRY, clock)
        runtime = SagaRuntime(TRANSFER, store_of=lambda e: e.store_id)
        inventory = participant_type(
            "inventory",
            channel or inventory_service.channel,
            INVENTORY_API,
            metadata=lambda: (("authorization", f"Bearer {token}"),),
        )
        dispatcher = SagaDispatcher(
            app,
            [runtime],
            [inventory],
            max_attempts=3,
            batch=batch,
            interval=interval,
            lease=lease,
        )
        return Replica(db, app, runtime, TimerRunner(app, runtime.timer_handlers()), dispatcher)

    yield replica
    for db in made:
        await db.dispose()


async def request_transfer(
    r: Replica, transfer_id: str, quantity: int = 2, sources: tuple[str, ...] = (SZ,)
) -> Any:
    requested = TransferRequested(transfer_id, GZ, sources, PART, quantity, r.app.clock.now())

    async def handler(uow: UnitOfWork) -> str:
        return (await r.runtime.start(uow, transfer_id, requested)).status.value

    return await r.app.handle(requested, handler, request_id=f"request-{transfer_id}")


async def approve(r: Replica, transfer_id: str) -> None:
    approved = TransferApproved(transfer_id, SZ, r.app.clock.now())

    async def handler(uow: UnitOfWork) -> None:
        await r.runtime.signal(uow, transfer_id, approved)

    await r.app.handle(approved, handler)


async def saga_events(r: Replica, transfer_id: str) -> list[str]:
    async with r.db.transaction() as conn:
        recorded = await EventStore().read_stream(conn, r.runtime.stream_id(transfer_id))
    return [REGISTRY.short_name(e.event_type) for e in recorded]


async def status(r: Replica, transfer_id: str) -> Status:
    async with r.db.transaction() as conn:
        state = await r.runtime.state(r.app.unit_of_work(conn), transfer_id)
    return state.status


async def index(r: Replica, state: Status) -> list[tuple[str, str, str]]:
    async with r.db.transaction() as conn:
        rows = await sagas_in(conn, "transfer", state)
    return [(row.saga_id, row.step, row.reason) for row in rows]


async def outbox(r: Replica) -> list[Any]:
    async with r.db.transaction() as conn:
        return await pending_calls(conn)


async def inventory_events_of(run: Running, store: str = SZ) -> list[str]:
    """The types of the events in the source position's stream at inventory."""
    async with run.service.db.transaction() as conn:
        rows = (
            await conn.execute(
                select(events.c.event_type)
                .where(events.c.stream_id == f"stock/{store}/{PART}")
                .order_by(events.c.stream_version)
            )
        ).scalars()
        return [name.rsplit(".", 1)[-1] for name in rows]


async def reserved(inv: InventoryClient, store: str = SZ) -> int:
    return int((await inv.GetStockPosition(store_id=store, part_number=PART)).reserved)


async def stocked(
    inv: InventoryClient, quantity: int = 10, stores: tuple[str, ...] = (SZ,)
) -> None:
    await inv.RegisterPart(
        part=pb.Part(part_number=PART, name="Headlight", category="body", unit="pc")
    )
    for store in stores:
        await inv.ReceiveStock(store_id=store, part_number=PART, quantity=quantity)


async def is_now(probe: Any, expected: Any) -> bool:
    return bool(await probe == expected)
