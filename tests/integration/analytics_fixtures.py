"""A running analytics service for integration tests: its own PostgreSQL database, the
shared NATS namespace and ManualClock, asking the real capacity service (also running)
for peer groups over gRPC with a service token, and learning its stores from capacity's
events through the store directory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.analytics.v1 import analytics_pb2_grpc as pb_grpc

from kernel.clock import ManualClock
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints, create_database, drop_database
from services.analytics.application import Analytics
from services.analytics.bootstrap import DEFINITION, analytics
from tests.integration.capacity_fixtures import MONDAY, CapacityClient, local, ts
from tests.integration.conftest import GrpcClient, Running, running, settings_for
from tests.integration.kernel_fixtures import eventually


class AnalyticsClient(GrpcClient):
    stub_type = pb_grpc.AnalyticsServiceStub
    messages = pb


@dataclass
class AnalyticsRun:
    running: Running
    analytics: Analytics

    def client(self, token: str) -> AnalyticsClient:
        return AnalyticsClient(self.running, token)


async def projections_taken(run: AnalyticsRun) -> None:
    """Wait until analytics' subscriptions have taken every event published so far: a
    close answers Unavailable before (scheduled.projections_current), and the timer runner
    retries it only once business time has passed its backoff."""
    app = run.running.service.app

    async def taken() -> bool:
        return all(n == 0 for n in (await app.unconsumed()).values())

    await eventually(taken, within=30)


async def close_at(run: AnalyticsRun, clock: ManualClock, moment: datetime) -> None:
    """Move business time to `moment` (past a close) and fire what is due until nothing is."""
    await projections_taken(run)
    clock.set(moment)
    for _ in range(10):
        if not await run.running.service.timers.run_due():
            return
    raise AssertionError("timers still firing")


@pytest.fixture
def analytics_db_url(endpoints: Endpoints) -> Iterator[str]:
    url = create_database(endpoints.postgres_url, prefix="storemesh_analytics")
    yield url
    drop_database(url, endpoints.postgres_url)


AnalyticsStarter = Callable[[], AbstractAsyncContextManager[AnalyticsRun]]


@pytest.fixture
def start_analytics(
    analytics_db_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    capacity_service: Running,
    mint: Callable[..., str],
) -> AnalyticsStarter:
    """`async with start_analytics() as run:` one analytics process (again: a restart)."""

    @asynccontextmanager
    async def start() -> AsyncIterator[AnalyticsRun]:
        settings = settings_for(
            "analytics",
            analytics_db_url,
            endpoints.nats_url,
            namespace,
            service_token=mint("service", subject="analytics"),
        )
        definition = replace(
            DEFINITION,
            application=lambda app, settings: analytics(
                app, settings, capacity=capacity_service.channel
            ),
        )
        async with running(definition.build, settings, clock, verifier, timer_interval=3600) as run:
            yield AnalyticsRun(run, run.service.application)

    return start


async def knows_stores(run: AnalyticsRun, *store_ids: str) -> None:
    """Wait (bounded) until capacity's store events reached analytics' directory."""

    async def probe() -> bool:
        async with run.running.service.db.transaction("test.directory") as conn:
            found = set((await conn.execute(select(store_directory.c.store_id))).scalars())
        return set(store_ids) <= found

    await eventually(probe)


async def network(cap: CapacityClient, *store_ids: str, **profile: Any) -> None:
    for store_id in store_ids:
        await cap.register(store_id, **profile)


async def diversion_kept(
    cap: CapacityClient,
    clock: ManualClock,
    hold_id: str,
    day: date = MONDAY,
    customer_ref: str = "C-77",
) -> None:
    """GZ01 takes a customer SZ01 diverted on `day` (capacity's slot hold, confirmed at 9:00
    that day): one accepted diversion, a kept customer, in that week's report."""
    clock.set(local(9, 0, day))
    await cap.HoldSlot(
        store_id="GZ01",
        hold_id=hold_id,
        diverted_from_store_id="SZ01",
        customer_ref=customer_ref,
        vehicle="粤A88888",
        service_type="maintenance",
        expected_labour_hours=1.5,
        slot_at=ts(local(14, 0, day)),
        expires_at=ts(clock.now() + timedelta(minutes=30)),
    )
    await cap.ConfirmSlotHold(store_id="GZ01", day=day.isoformat(), hold_id=hold_id)


def month(start: str) -> ev.Period:
    return ev.Period(kind=ev.PERIOD_KIND_MONTH, start=start)


def day(start: str) -> ev.Period:
    return ev.Period(kind=ev.PERIOD_KIND_DAY, start=start)


def figures(**overrides: Any) -> ev.OperatingFigures:
    """domain.md's diagnosed store: 850k revenue, 1,050k costs, 12 technicians."""
    fields: dict[str, Any] = {
        "revenue": ev.RevenueByLine(
            labour_fen=42_000_000, parts_fen=35_000_000, value_added_fen=8_000_000
        ),
        "costs": ev.Costs(
            people_fen=48_000_000, rent_fen=22_000_000, parts_fen=24_000_000, other_fen=11_000_000
        ),
        "staffing": [
            ev.Staffing(role=ev.ROLE_TECHNICIAN, headcount=12),
            ev.Staffing(role=ev.ROLE_SERVICE_ADVISOR, headcount=5),
            ev.Staffing(role=ev.ROLE_MANAGER, headcount=1),
        ],
        "csi": 88.5,
        "complaints": 4,
    }
    fields.update(overrides)
    return ev.OperatingFigures(**fields)
