"""A running workforce service for integration tests, with a seeded store directory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.workforce.v1 import workforce_pb2 as pb
from storemesh.workforce.v1 import workforce_pb2_grpc as pb_grpc

from kernel.clock import ManualClock
from kernel.store_directory import store_directory
from kernel.testing.servers import Endpoints
from services.demo_network import STORES
from services.workforce.bootstrap import build
from tests.integration.conftest import GrpcClient, Running, delete_streams, running, settings_for

# The clock fixture starts on Monday 2026-11-02 08:00 UTC (16:00 in China).
MONDAY = date(2026, 11, 2)
FRIDAY = date(2026, 11, 6)
NEXT_WEEK = date(2026, 11, 9)
REGIONS = {"SZ01": "Shenzhen", "SZ02": "Shenzhen", "GZ01": "Guangzhou", "GZ02": "Guangzhou"}


def rid() -> str:
    return str(uuid.uuid4())


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def china(day: date, hour: int) -> datetime:
    """A store-local (UTC+8) hour as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


class WorkforceClient(GrpcClient):
    """The workforce service, called with a token."""

    stub_type = pb_grpc.WorkforceServiceStub
    messages = pb


async def seed_directory(run: Running, codes: tuple[str, ...] | None = None) -> None:
    """The store directory as capacity's store events would leave it (the demo network)."""
    rows = [
        {
            "store_id": s.code,
            "name": s.name,
            "region": REGIONS.get(s.code, s.city),
            "latitude": s.latitude,
            "longitude": s.longitude,
            "closed": False,
            "version": 1,
        }
        for s in STORES
        if codes is None or s.code in codes
    ]
    async with run.service.db.transaction("test.seed_directory") as conn:
        await conn.execute(store_directory.insert(), rows)


@pytest.fixture
async def workforce_service(
    pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock, verifier: Any
) -> AsyncIterator[Running]:
    settings = settings_for("workforce", pg_url, endpoints.nats_url, namespace)
    async with running(build, settings, clock, verifier, timer_interval=3600) as run:
        await seed_directory(run)
        yield run
        await delete_streams(run.service.nats)


@pytest.fixture
async def wf(workforce_service: Running, mint: Callable[..., str]) -> WorkforceClient:
    return WorkforceClient(workforce_service, mint("hq"))


async def register(
    wf: WorkforceClient,
    technician_id: str,
    store_id: str = "SZ01",
    level: int = pb.LEVEL_T2,
    specialties: tuple[str, ...] = ("hv_ev", "diagnostics"),
    name: str = "Li Wei",
) -> pb.Technician:
    return await wf.RegisterTechnician(
        technician_id=technician_id,
        store_id=store_id,
        name=name,
        level=level,
        specialties=list(specialties),
    )


async def publish_day(
    wf: WorkforceClient, technician_id: str, day: date = FRIDAY, part: int = pb.PART_OF_DAY_ALL_DAY
) -> pb.Technician:
    return await wf.PublishAvailability(
        technician_id=technician_id,
        week_of=day.isoformat(),
        weekday=day.isoweekday(),
        part_of_day=part,
    )


async def hold(
    wf: WorkforceClient,
    technician_id: str,
    host_store_id: str = "GZ01",
    *,
    day: date = FRIDAY,
    hours: tuple[int, int] = (13, 17),
    **more: Any,
) -> pb.Support:
    return await wf.HoldSupport(
        technician_id=technician_id,
        host_store_id=host_store_id,
        specialty=more.pop("specialty", "hv_ev"),
        minimum_level=more.pop("minimum_level", pb.LEVEL_T2),
        starts_at=ts(china(day, hours[0])),
        ends_at=ts(china(day, hours[1])),
        **more,
    )
