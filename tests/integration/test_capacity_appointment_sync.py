"""SyncAppointments: a DMS's appointments at once, over real gRPC on PostgreSQL and SQLite,
its events relayed to real NATS like any booking's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import select
from storemesh.capacity.v1 import capacity_pb2 as pb

from kernel.clock import ManualClock
from kernel.eventstore import events, snapshots
from kernel.messaging import NatsConnection
from kernel.testing.servers import Endpoints, create_database, drop_database
from services.capacity.bootstrap import build
from services.capacity.read_model import days_view
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    event_types,
    local,
    published,
    refusal,
    rid,
    ts,
    violated_fields,
)
from tests.integration.conftest import Running, delete_streams, running, running_on, settings_for
from tests.integration.rich_errors import event_count, failure

Outcome = pb.AppointmentSyncResult
TUESDAY = MONDAY + timedelta(days=1)


@pytest.fixture(params=["postgresql", "sqlite"])
async def capacity_on(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
) -> AsyncIterator[Running]:
    clock.set(local(7, 0))
    async with running_on(
        request.param,
        build,
        "capacity",
        tmp_path=tmp_path,
        endpoints=endpoints,
        namespace=namespace,
        clock=clock,
        verifier=verifier,
    ) as run:
        yield run


@pytest.fixture
async def hq(capacity_on: Running, mint: Callable[..., str]) -> CapacityClient:
    client = CapacityClient(capacity_on, mint("hq"))
    await client.register("SZ01")
    return client


def sent(appointment_id: str, at: datetime, **overrides: Any) -> pb.SyncedAppointment:
    fields: dict[str, Any] = {
        "appointment_id": appointment_id,
        "customer_ref": f"C-{appointment_id}",
        "vehicle": "粤B12345",
        "service_type": "maintenance",
        "expected_labour_hours": 2.0,
        "requested_at": ts(at),
    }
    fields.update(overrides)
    return pb.SyncedAppointment(**fields)


def outcomes(response: pb.SyncAppointmentsResponse) -> list[tuple[str, int, str, str]]:
    return [(r.appointment_id, r.outcome, r.reason, r.day) for r in response.results]


NIGHTLY = [
    sent("DMS-1", local(10, 0)),
    sent("DMS-2", local(11, 30)),
    sent("DMS-3", local(9, 0, TUESDAY)),
    sent("DMS-4", local(20, 0)),  # the store closes at 17:30
    sent("DMS-5", local(6, 0)),  # it is 07:00 already
    sent("DMS-6", local(12, 0), vehicle="", expected_labour_hours=0.0),
]


async def test_a_batch_books_what_it_can_and_says_why_for_each_of_the_rest(
    hq: CapacityClient, nats_client: NatsConnection
) -> None:
    response = await hq.SyncAppointments(store_id="SZ01", appointments=NIGHTLY)

    monday, tuesday = MONDAY.isoformat(), TUESDAY.isoformat()
    assert outcomes(response) == [
        ("DMS-1", Outcome.OUTCOME_BOOKED, "", monday),
        ("DMS-2", Outcome.OUTCOME_BOOKED, "", monday),
        ("DMS-3", Outcome.OUTCOME_BOOKED, "", tuesday),
        ("DMS-4", Outcome.OUTCOME_REFUSED, "OUTSIDE_OPENING_HOURS", monday),
        ("DMS-5", Outcome.OUTCOME_REFUSED, "APPOINTMENT_IN_THE_PAST", monday),
        ("DMS-6", Outcome.OUTCOME_REFUSED, "INVALID_APPOINTMENT", monday),
    ]
    assert (response.booked, response.unchanged, response.refused) == (3, 0, 3)
    assert "vehicle" in response.results[5].message
    assert "expected_labour_hours" in response.results[5].message
    assert [r.status for r in response.results[:3]] == [pb.APPOINTMENT_STATUS_BOOKED] * 3

    # Ordinary bookings: in their day's book, in the day view, on the event stream.
    assert (await event_types(hq.run)).count("AppointmentBooked") == 3
    day = await hq.GetDayView(store_id="SZ01", day=monday)
    assert day.booked == 2
    assert (await hq.GetDayView(store_id="SZ01", day=tuesday)).booked == 1
    messages = await published(hq.run, nats_client, "capacity.v1.SZ01.AppointmentBooked")
    assert len(messages) == 3

    # And one the store changes afterwards like any other.
    cancelled = await hq.CancelAppointment(
        store_id="SZ01", day=monday, appointment_id="DMS-2", reason="customer called"
    )
    assert cancelled.status == pb.APPOINTMENT_STATUS_CANCELLED


async def test_a_retry_gets_the_first_reply_and_records_nothing_more(hq: CapacityClient) -> None:
    request_id = rid()
    first = await hq.SyncAppointments(request_id=request_id, store_id="SZ01", appointments=NIGHTLY)
    recorded = await event_count(hq.run)

    again = await hq.SyncAppointments(request_id=request_id, store_id="SZ01", appointments=NIGHTLY)

    assert again == first
    assert await event_count(hq.run) == recorded

    other = await failure(
        hq.SyncAppointments(request_id=request_id, store_id="SZ01", appointments=NIGHTLY[:2])
    )
    assert refusal(other) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_ID_REUSED")
    assert await event_count(hq.run) == recorded


async def test_the_next_nights_sync_leaves_what_is_booked_and_refuses_what_differs(
    hq: CapacityClient, clock: ManualClock
) -> None:
    await hq.SyncAppointments(store_id="SZ01", appointments=NIGHTLY[:3])
    clock.set(local(8, 30))
    await hq.CheckInCustomer(store_id="SZ01", appointment_id="DMS-1")
    recorded = await event_count(hq.run)

    response = await hq.SyncAppointments(
        store_id="SZ01",
        appointments=[
            NIGHTLY[0],
            sent("DMS-2", local(11, 30), vehicle="粤B99999"),
            NIGHTLY[2],
            sent("DMS-7", local(15, 0)),
        ],
    )

    monday, tuesday = MONDAY.isoformat(), TUESDAY.isoformat()
    assert outcomes(response) == [
        ("DMS-1", Outcome.OUTCOME_UNCHANGED, "", monday),
        ("DMS-2", Outcome.OUTCOME_REFUSED, "APPOINTMENT_DIFFERS", monday),
        ("DMS-3", Outcome.OUTCOME_UNCHANGED, "", tuesday),
        ("DMS-7", Outcome.OUTCOME_BOOKED, "", monday),
    ]
    assert response.results[0].status == pb.APPOINTMENT_STATUS_CHECKED_IN
    assert "vehicle" in response.results[1].message
    assert await event_count(hq.run) == recorded + 1
    assert (await hq.GetDayView(store_id="SZ01", day=monday)).booked == 3


async def test_the_batch_own_faults_refuse_it_whole_each_named(hq: CapacityClient) -> None:
    recorded = await event_count(hq.run)
    no_time = pb.SyncedAppointment(appointment_id="DMS-9", customer_ref="C-9")

    err = await failure(
        hq.SyncAppointments(
            request_id="",
            store_id="SZ01",
            appointments=[
                NIGHTLY[0],
                sent("../x", local(10, 0), customer_ref="C-x"),
                NIGHTLY[0],
                no_time,
            ],
        )
    )

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violated_fields(err)) == {
        "request_id",
        "appointments[1].appointment_id",
        "appointments[2].appointment_id",
        "appointments[3].requested_at",
    }
    empty = await failure(hq.SyncAppointments(store_id="SZ01", appointments=[]))
    assert violated_fields(empty) == ["appointments"]
    assert await event_count(hq.run) == recorded


async def test_a_closed_or_unknown_store_refuses_the_batch(hq: CapacityClient) -> None:
    unknown = await failure(hq.SyncAppointments(store_id="XX01", appointments=NIGHTLY[:1]))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND

    await hq.CloseStore(store_id="SZ01", reason="lease ended")
    recorded = await event_count(hq.run)
    closed = await failure(hq.SyncAppointments(store_id="SZ01", appointments=NIGHTLY[:2]))
    assert refusal(closed) == (grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")
    assert await event_count(hq.run) == recorded


async def test_a_dms_syncs_its_own_store_only(hq: CapacityClient, mint: Callable[..., str]) -> None:
    await hq.register("GZ01", name="Guangzhou Tianhe", city="Guangzhou")
    dms = hq.as_(mint("dms", "SZ01", subject="dms-sz01"))

    mine = await dms.SyncAppointments(store_id="SZ01", appointments=NIGHTLY[:1])
    assert mine.booked == 1
    theirs = await failure(dms.SyncAppointments(store_id="GZ01", appointments=NIGHTLY[1:2]))
    assert refusal(theirs) == (grpc.StatusCode.PERMISSION_DENIED, "STORE_SCOPE")


async def test_an_appointment_the_dms_moved_to_another_day_is_not_booked_twice(
    hq: CapacityClient,
) -> None:
    wednesday = TUESDAY + timedelta(days=1)
    await hq.SyncAppointments(
        store_id="SZ01", appointments=[sent("DMS-1", local(10, 0)), sent("DMS-2", local(11, 0))]
    )
    await hq.CancelAppointment(
        store_id="SZ01", day=MONDAY.isoformat(), appointment_id="DMS-2", reason="called"
    )
    recorded = await event_count(hq.run)

    # The DMS moved both to Wednesday: DMS-1 still stands on Monday, DMS-2 was cancelled.
    response = await hq.SyncAppointments(
        store_id="SZ01",
        appointments=[
            sent("DMS-1", local(10, 0, wednesday)),
            sent("DMS-2", local(9, 0, wednesday)),
        ],
    )

    assert outcomes(response) == [
        ("DMS-1", Outcome.OUTCOME_REFUSED, "APPOINTMENT_DIFFERS", MONDAY.isoformat()),
        ("DMS-2", Outcome.OUTCOME_BOOKED, "", wednesday.isoformat()),
    ]
    assert "requested_at" in response.results[0].message
    assert response.results[0].status == pb.APPOINTMENT_STATUS_BOOKED
    assert await event_count(hq.run) == recorded + 1
    assert (await hq.GetDayView(store_id="SZ01", day=MONDAY.isoformat())).booked == 1
    assert (await hq.GetDayView(store_id="SZ01", day=wednesday.isoformat())).booked == 1


async def book_of(run: Running, store_id: str) -> tuple[list[Any], list[int]]:
    """The events of a store's Monday book (store id left out) and its snapshots' versions."""
    stream = f"book/{store_id}/{MONDAY.isoformat()}"
    async with run.service.db.transaction("test.book") as conn:
        rows = await conn.execute(
            select(events.c.event_type, events.c.payload)
            .where(events.c.stream_id == stream)
            .order_by(events.c.stream_version)
        )
        decoded = [run.service.app.registry.decode(r.event_type, r.payload) for r in rows]
        versions = await conn.scalars(
            select(snapshots.c.version).where(snapshots.c.stream_id == stream)
        )
        return [replace(e, store_id="") for e in decoded], list(versions)


async def day_row(run: Running, store_id: str) -> dict[str, Any]:
    """The store's Monday row in the network view's table (store id left out)."""
    async with run.service.db.transaction("test.day") as conn:
        row = (
            await conn.execute(
                select(days_view).where(days_view.c.store_id == store_id, days_view.c.day == MONDAY)
            )
        ).one()
    return {k: v for k, v in row._mapping.items() if k != "store_id"}


async def test_a_synced_day_is_the_day_its_appointments_booked_one_by_one_make(
    hq: CapacityClient,
) -> None:
    """A day's 60 appointments synced at once, and booked one call each in a twin store: the
    same events, the same day, and each book takes the next booking alike (the synced one
    loaded from the snapshot the batch left, past the 50 events a snapshot is due at)."""
    await hq.register("SZ02")
    times = [local(8, 0) + timedelta(minutes=9 * k) for k in range(60)]

    synced = await hq.SyncAppointments(
        store_id="SZ01", appointments=[sent(f"DMS-{k}", at) for k, at in enumerate(times)]
    )
    for k, at in enumerate(times):
        await hq.book(f"DMS-{k}", at, store_id="SZ02")

    assert (synced.booked, synced.unchanged, synced.refused) == (60, 0, 0)
    (synced_events, synced_snapshots), (booked_events, booked_snapshots) = [
        await book_of(hq.run, store) for store in ("SZ01", "SZ02")
    ]
    assert synced_events == booked_events
    assert (synced_snapshots, booked_snapshots) == ([60], [50])
    assert (await day_row(hq.run, "SZ01"))["booked"] == 60
    assert await day_row(hq.run, "SZ01") == await day_row(hq.run, "SZ02")
    for store in ("SZ01", "SZ02"):
        await hq.book("LATE", local(17, 0), store_id=store)
    days = [await hq.GetDayView(store_id=s, day=MONDAY.isoformat()) for s in ("SZ01", "SZ02")]
    assert days[0].booked == 61
    assert replace_store(days[0]) == replace_store(days[1])
    assert (await book_of(hq.run, "SZ01"))[0] == (await book_of(hq.run, "SZ02"))[0]


def replace_store(view: Any) -> Any:
    copy = type(view)()
    copy.CopyFrom(view)
    copy.ClearField("store_id")
    return copy
