"""Two capacity replicas on one database: a book command reads its store from the replica's
aggregate cache, and a change the other replica made to the store behind that cache still
decides the booking (the check rides with the command's last writes, which it rolls back
when the store moved on)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from grpc import StatusCode
from sqlalchemy import func, select

from kernel.clock import ManualClock
from kernel.eventstore import command_log, events
from kernel.testing.servers import Endpoints
from services.capacity.application import STORES
from services.capacity.bootstrap import build
from services.capacity.read_model import days_view
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    failure,
    local,
    profile,
    refusal,
)
from tests.integration.conftest import running, settings_for

__all__ = ["cap", "capacity_pg_url", "capacity_service"]

STORE = STORES.stream_id("SZ01")


@pytest.fixture
async def other(
    capacity_pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> AsyncIterator[CapacityClient]:
    """A second replica of the service on the same database, with its own cache."""
    settings = settings_for("capacity", capacity_pg_url, endpoints.nats_url, namespace)
    async with running(build, settings, clock, verifier, timer_interval=3600) as run:
        yield CapacityClient(run, mint("hq"))


async def count(client: CapacityClient, statement: Any) -> int:
    async with client.run.service.db.transaction() as conn:
        return int((await conn.execute(statement)).scalar_one())


async def booked_on_monday(client: CapacityClient) -> int:
    statement = select(days_view.c.booked).where(
        days_view.c.store_id == "SZ01", days_view.c.day == MONDAY
    )
    return await count(client, statement)


async def test_a_store_closed_by_the_other_replica_refuses_a_booking_decided_on_the_cache(
    cap: CapacityClient, other: CapacityClient
) -> None:
    await cap.register("SZ01")
    await cap.book("A1", local(9, 0))
    assert STORE in cap.run.service.app.cache  # this replica decides on its cache

    await other.CloseStore(store_id="SZ01", reason="lease ended")
    logged = await count(cap, select(func.count()).select_from(command_log))

    err = await failure(cap.book("A2", local(10, 0)))

    assert refusal(err) == (StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")
    # The attempt decided on the cached (open) store wrote its day row and its log in
    # the round trip of the check: both rolled back with it.
    assert await booked_on_monday(cap) == 1
    assert await count(cap, select(func.count()).select_from(command_log)) == logged
    booked = select(func.count()).where(events.c.event_type.like("%.AppointmentBooked"))
    assert await count(cap, booked) == 1


async def test_opening_hours_moved_by_the_other_replica_decide_the_next_booking(
    cap: CapacityClient, other: CapacityClient
) -> None:
    await cap.register("SZ01")
    await cap.book("A1", local(9, 0))
    later = [
        {"weekday": day, "opens_minute": 10 * 60, "closes_minute": 17 * 60 + 30}
        for day in range(1, 7)
    ]
    await other.UpdateStore(store_id="SZ01", profile=profile(opening_hours=later))

    err = await failure(cap.book("A2", local(9, 30)))
    assert refusal(err) == (StatusCode.FAILED_PRECONDITION, "OUTSIDE_OPENING_HOURS")

    await cap.book("A3", local(10, 30))
    assert await booked_on_monday(cap) == 2
    entry = cap.run.service.app.cache.get(STORE)
    assert entry is not None and entry.state.profile.opening_hours[0].opens_minute == 10 * 60
