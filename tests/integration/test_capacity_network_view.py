"""The capacity monitor's fast paths answer exactly as the paths they replaced did.

The reference below is that path, kept verbatim in spirit: one DayView per store built
from the same read-model columns by the domain's policies, one message per view, the
totals from the views. The service must give the same protobuf, byte for byte, on a
seeded network that holds every case the rules branch on.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from storemesh.capacity.v1 import capacity_pb2 as pb

from services.capacity import read_model
from services.capacity.domain.opening_hours import Weekday
from services.capacity.domain.utilisation import (
    DayView,
    bay_utilisation,
    network_totals,
    status_colour,
    utilisation,
)
from services.capacity.grpc_messages import day_view_message, reply
from tests.integration.capacity_fixtures import (
    MONDAY,
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)

REGIONS = ("South China", "East China", "Central")
DAYS = [MONDAY + timedelta(days=k) for k in range(7)]


def _store_row(i: int, rng: random.Random) -> dict[str, Any]:
    hours = {
        f"open_hours_{w.name.lower()[:3]}": rng.choice((0.0, 8.0, 9.5, 11.0))
        if w == Weekday.SUNDAY
        else rng.choice((9.5, 10.0))
        for w in Weekday
    }
    return {
        "store_id": f"ST{i:03d}",
        "name": f"Store {i}",
        "city": "Somewhere",
        "region": REGIONS[i % len(REGIONS)],
        "latitude": 22.5 + i / 100,
        "longitude": 114.0 + i / 100,
        "bays": rng.choice((0, 4, 6, 12)),
        "default_daily_capacity": rng.choice((0, 10, 25, 40)),
        "availability_factor": rng.choice((0.85, 0.9, 0.0)),
        "wait_threshold_minutes": 30,
        "time_zone": "Asia/Shanghai",
        "opening_hours": [],
        **hours,
        "profile": {},
        "closed": rng.random() < 0.1,
        "registered_on": MONDAY - timedelta(days=30),
    }


def _day_row(store_id: str, day: date, rng: random.Random) -> dict[str, Any]:
    completed = rng.choice((0, 0, 3, 9))
    return {
        "store_id": store_id,
        "day": day,
        "capacity_override": rng.choice((None, None, None, 0, 5, 30)),
        "booked": rng.choice((0, 4, 8, 10, 20, 25, 32, 41)),
        "walk_ins": rng.randint(0, 5),
        "arrived": rng.randint(0, 30),
        "waiting": rng.randint(0, 4),
        "in_service": rng.randint(0, 4),
        "completed": completed,
        "abandoned": rng.randint(0, 2),
        "no_shows": rng.randint(0, 2),
        "live_holds": rng.randint(0, 3),
        "labour_hours": completed * rng.choice((0.0, 1.5, 2.25)),
        "estimated_wait_minutes": rng.randint(0, 90),
        "wait_threshold_exceeded": rng.random() < 0.2,
        "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
    }


async def _seed(conn: AsyncConnection) -> None:
    rng = random.Random(20261102)
    stores = [_store_row(i, rng) for i in range(90)]
    await conn.execute(insert(read_model.stores_view), stores)
    days = [
        _day_row(store["store_id"], day, rng)
        for store in stores
        for day in DAYS
        if rng.random() < 0.8  # a store's day without a row: nothing happened in its book
    ]
    await conn.execute(insert(read_model.days_view), days)


async def _reference_views(conn: AsyncConnection, day: date, region: str) -> list[DayView]:
    """The replaced read path: a DayView per open store, by store id."""
    s, d = read_model.stores_view.c, read_model.days_view.c
    weekday = Weekday.of(day)
    counts = (
        "booked",
        "walk_ins",
        "arrived",
        "waiting",
        "in_service",
        "completed",
        "abandoned",
        "no_shows",
        "live_holds",
        "labour_hours",
        "estimated_wait_minutes",
    )
    query = (
        select(
            s.store_id,
            s.bays,
            s.default_daily_capacity,
            s.availability_factor,
            s[f"open_hours_{weekday.name.lower()[:3]}"],
            d.capacity_override,
            *(func.coalesce(d[name], 0) for name in counts),
            func.coalesce(d.wait_threshold_exceeded, False),
        )
        .select_from(
            read_model.stores_view.outerjoin(
                read_model.days_view, and_(d.store_id == s.store_id, d.day == day)
            )
        )
        .where(~s.closed)
        .order_by(s.store_id)
    )
    if region:
        query = query.where(s.region == region)
    views = []
    for row in (await conn.execute(query)).tuples():
        (store_id, bays, default, factor, open_hours, override, booked, walk_ins, arrived) = row[:9]
        (waiting, in_service, completed, abandoned, no_shows, live_holds) = row[9:15]
        (labour_hours, wait_minutes, wait_exceeded) = row[15:]
        capacity = override if override is not None else (default if open_hours > 0 else 0)
        views.append(
            DayView(
                store_id=store_id,
                day=day,
                capacity=capacity,
                booked=booked,
                walk_ins=walk_ins,
                arrived=arrived,
                waiting=waiting,
                in_service=in_service,
                completed=completed,
                abandoned=abandoned,
                no_shows=no_shows,
                live_holds=live_holds,
                utilisation=utilisation(booked, capacity),
                status=status_colour(booked, capacity),
                bay_utilisation=bay_utilisation(
                    served_vehicles=completed,
                    hours_per_vehicle=labour_hours / completed if completed else 0.0,
                    bays=bays,
                    open_hours=open_hours,
                    availability_factor=factor,
                ),
                estimated_wait_minutes=wait_minutes,
                wait_threshold_exceeded=wait_exceeded,
            )
        )
    return views


def _reference_reply(day: date, views: list[DayView]) -> pb.NetworkDayView:
    return pb.NetworkDayView(
        day=day.isoformat(),
        totals=reply(network_totals(day, views), pb.NetworkDayTotals),
        stores=[day_view_message(view) for view in views],
    )


async def test_network_day_view_answers_as_the_day_view_per_store_path_did(
    cap: CapacityClient,
) -> None:
    app = cap.run.service.app
    await app.query(_seed)
    colours: set[int] = set()

    for day in DAYS:
        for region in ("", "South China"):
            views = await app.query(
                lambda conn, day=day, region=region: _reference_views(conn, day, region)
            )
            expected = _reference_reply(day, views)

            answer = await cap.GetNetworkDayView(day=day.isoformat(), region=region)

            assert answer == expected
            assert answer.SerializeToString(deterministic=True) == expected.SerializeToString(
                deterministic=True
            )
            colours |= {store.status for store in answer.stores}
    assert colours == {pb.STATUS_COLOUR_GREEN, pb.STATUS_COLOUR_YELLOW, pb.STATUS_COLOUR_RED}


async def test_network_day_view_pages_cut_the_same_answer(cap: CapacityClient) -> None:
    app = cap.run.service.app
    await app.query(_seed)
    whole = await cap.GetNetworkDayView(day=MONDAY.isoformat())

    pages: list[pb.DayView] = []
    token = ""
    while True:
        page = await cap.GetNetworkDayView(day=MONDAY.isoformat(), page_size=7, page_token=token)
        assert page.totals == whole.totals
        pages += page.stores
        token = page.next_page_token
        if not token:
            break

    assert len(whole.stores) > 7
    assert pages == list(whole.stores)


async def test_a_booking_projects_its_day_from_the_store_facts_it_decided_on(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01")
    engine = cap.run.service.db.engine.sync_engine
    statements: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def directory_reads() -> int:
        return len([s for s in statements if "FROM capacity_stores" in s])

    event.listen(engine, "before_cursor_execute", listener)
    try:
        await cap.book("A1", local(9, 0))
        booked_reads = directory_reads()
        # The listener sees the directory read the projection would fall back on (its day
        # row itself goes with the command log, straight to psycopg, unseen here).
        await cap.run.service.app.query(lambda conn: read_model.store_facts(conn, "SZ01"))
    finally:
        event.remove(engine, "before_cursor_execute", listener)

    assert booked_reads == 0
    assert directory_reads() == 1
    day = await cap.GetDayView(store_id="SZ01", day=MONDAY.isoformat())
    network = await cap.GetNetworkDayView(day=MONDAY.isoformat())
    assert (day.capacity, day.booked, day.status) == (10, 1, pb.STATUS_COLOUR_GREEN)
    assert list(network.stores) == [day]
