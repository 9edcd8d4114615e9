"""A running capacity service for integration tests, and the Shenzhen store it starts with."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy import func, select
from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from kernel.clock import ManualClock
from kernel.eventstore import events
from kernel.messaging import NatsConnection
from kernel.testing.servers import Endpoints, create_database, drop_database
from services.capacity.bootstrap import build
from tests.integration.conftest import GrpcClient, Running, delete_streams, running, settings_for
from tests.integration.rich_errors import (
    event_count,
    failure,
    reason,
    recorded_types,
    resource,
    violated_fields,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 11, 2)


def rid() -> str:
    return str(uuid.uuid4())


def local(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    """A Shenzhen wall-clock time as an aware UTC datetime."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def profile(**overrides: Any) -> ev.StoreProfile:
    """Monday to Saturday 08:00-17:30 (9.5 h), Sunday closed; 4 bays, 10 vehicles a day."""
    fields: dict[str, Any] = {
        "name": "Shenzhen Futian",
        "city": "Shenzhen",
        "region": "South China",
        "latitude": 22.5431,
        "longitude": 114.0579,
        "bays": 4,
        "opening_hours": [
            ev.OpeningHours(weekday=weekday, opens_minute=8 * 60, closes_minute=17 * 60 + 30)
            for weekday in range(1, 7)
        ],
        "opened_on": "2021-05-01",
        "location_tier": ev.LOCATION_TIER_CITY_CENTRE,
        "customer_segment": ev.CUSTOMER_SEGMENT_MID,
        "default_daily_capacity": 10,
    }
    fields.update(overrides)
    return ev.StoreProfile(**fields)


class CapacityClient(GrpcClient):
    """The capacity service, called with a token."""

    stub_type = pb_grpc.CapacityServiceStub
    messages = pb

    async def register(self, store_id: str = "SZ01", **overrides: Any) -> Any:
        return await self.RegisterStore(store_id=store_id, profile=profile(**overrides))

    async def book(
        self, appointment_id: str, at: datetime, store_id: str = "SZ01", hours: float = 2.0
    ) -> Any:
        return await self.BookAppointment(
            store_id=store_id,
            appointment_id=appointment_id,
            customer_ref=f"C-{appointment_id}",
            vehicle="粤B12345",
            service_type="maintenance",
            expected_labour_hours=hours,
            requested_at=ts(at),
        )

    async def walk_in(
        self, visit_id: str, store_id: str = "SZ01", hours: float = 1.5, customer_ref: str = ""
    ) -> Any:
        return await self.RegisterWalkIn(
            store_id=store_id,
            visit_id=visit_id,
            customer_ref=customer_ref or f"C-{visit_id}",
            vehicle="粤B54321",
            service_type="repair",
            expected_labour_hours=hours,
        )


@pytest.fixture
def capacity_pg_url(endpoints: Endpoints) -> Iterator[str]:
    """A database of capacity's own, so it can run beside another service's."""
    url = create_database(endpoints.postgres_url)
    yield url
    drop_database(url, endpoints.postgres_url)


@pytest.fixture
async def capacity_service(
    capacity_pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock, verifier: Any
) -> AsyncIterator[Running]:
    clock.set(local(7, 0))
    settings = settings_for("capacity", capacity_pg_url, endpoints.nats_url, namespace)
    async with running(build, settings, clock, verifier, timer_interval=3600) as run:
        yield run
        await delete_streams(run.service.nats)


@pytest.fixture
async def cap(capacity_service: Running, mint: Callable[..., str]) -> CapacityClient:
    return CapacityClient(capacity_service, mint("hq"))


# The rich error model, as a client reads it (shared with the other services' tests)

missing = resource
event_types = recorded_types


def refusal(err: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str]:
    """(code, ErrorInfo reason) of a refused call."""
    return err.code(), reason(err)


async def advance(run: Running, clock: ManualClock, delta: timedelta) -> int:
    """Move business time on and fire the durable timers now due; how many fired."""
    clock.advance(delta)
    return await run.service.timers.run_due()


async def relayed(run: Running, within: float = 15.0) -> None:
    """Wait (bounded) until the relay has published every committed event to NATS."""
    deadline = asyncio.get_running_loop().time() + within
    while run.service.relay.published < await event_count(run):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the relay did not publish the events in time")
        await asyncio.sleep(0.05)


async def published(
    run: Running, nats_client: NatsConnection, subject: str, stream: str = "CAPACITY"
) -> list[Any]:
    """Every message on `subject` (namespace added) of `stream`, once relayed."""
    await relayed(run)
    js = (await nats_client.client()).jetstream()
    psub = await js.pull_subscribe(nats_client.subject(subject), stream=nats_client.stream(stream))
    try:
        return list(await psub.fetch(100, timeout=1.0))
    except NatsTimeoutError:
        return []
    finally:
        await psub.unsubscribe()
