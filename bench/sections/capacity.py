"""5. Capacity: the network-wide day view (GetNetworkDayView), BookAppointment and
SyncAppointments."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import event
from storemesh.capacity.events.v1 import events_pb2 as ev
from storemesh.capacity.v1 import capacity_pb2 as pb
from storemesh.capacity.v1 import capacity_pb2_grpc as pb_grpc

from bench.config import Sizes
from bench.context import BenchContext, RunningService, libpq
from bench.load import LoadResult, closed_loop
from bench.network import NetworkStore, network
from bench.raw import Bracket, bracketed, create_raw_table, raw_copy, relayed
from bench.report import (
    LOAD_HEADER,
    Figure,
    SectionReport,
    Target,
    Unjudged,
    cpu_budget,
    load_row,
    num,
    pct,
    share_target,
)
from services.capacity import read_model
from services.capacity.domain.appointment_sync import MAX_APPOINTMENTS
from services.capacity.domain.opening_hours import OpeningHours, Weekday
from services.capacity.domain.stores import CustomerSegment, LocationTier, StoreProfile, StoreState
from services.capacity.queries import CapacityQueries

TITLE = "5. Capacity: network day view, BookAppointment and SyncAppointments"
CALL_TIMEOUT = 30.0
SEED = 20_261_105
TIME_ZONE = "Asia/Shanghai"
CHINA = ZoneInfo(TIME_ZONE)
VIEW_DAYS = 7  # the view is asked for today and each of the next six days, in turn
# Issue 10's targets.
DAYVIEW_P99_TARGET_MS = 50.0  # the network day view of 2,000 stores, 1 client
BOOKING_TARGET_SHARE = 0.25  # BookAppointment at 8 clients, share of raw INSERT+COMMIT
TARGET_CLIENTS = 8
DAYVIEW_GRPC_LABEL = "**GetNetworkDayView over gRPC**"
# Every store: Monday to Saturday 08:30-18:00; some also Sunday 09:00-17:00.
WEEKDAY_HOURS = (8 * 60 + 30, 18 * 60)
SUNDAY_HOURS = (9 * 60, 17 * 60)
# The stores clients book into are open every day 08:00-18:00.
BOOKING_HOURS = (8 * 60, 18 * 60)
SERVICE_TYPES = ("maintenance", "maintenance", "repair", "tyres", "diagnosis", "body_paint")
# 5c. SyncAppointments: a DMS's batch of one store, 30 appointments a day from tomorrow on.
SYNC_PER_DAY = 30
SYNC_NIGHTLY_DAYS = 14  # a nightly reconciliation: the next two weeks
SYNC_SIZES = (SYNC_NIGHTLY_DAYS * SYNC_PER_DAY, MAX_APPOINTMENTS)
# Stores joining, one after the other, for each batch size: reported on the median of
# their calls (one call is at the mercy of one noisy second), as section 7 does.
SYNC_STORES = 3
SYNC_TIMEOUT = 300.0
SYNC_AGAIN = (
    "SyncAppointments, the last batch sent again under a new request id (every"
    " appointment unchanged; its books cached)",
    "the same, the aggregate cache emptied first (another replica's books)",
    "SyncAppointments, the last batch retried under its request id (replayed)",
)
SYNC_HEADER = (
    "What",
    "Appointments",
    "Wall ms",
    "Appointments/s",
    "vs raw COPY",
    "CPU ms / appointment",
)


def _week(store: NetworkStore) -> tuple[OpeningHours, ...]:
    week = [
        OpeningHours(weekday=w, opens_minute=WEEKDAY_HOURS[0], closes_minute=WEEKDAY_HOURS[1])
        for w in Weekday
        if w != Weekday.SUNDAY
    ]
    if store.open_sundays:
        week.append(
            OpeningHours(
                weekday=Weekday.SUNDAY,
                opens_minute=SUNDAY_HOURS[0],
                closes_minute=SUNDAY_HOURS[1],
            )
        )
    return tuple(week)


def _profile(store: NetworkStore) -> StoreProfile:
    return StoreProfile(
        name=store.name,
        city=store.city,
        region=store.region,
        latitude=store.latitude,
        longitude=store.longitude,
        bays=store.bays,
        opening_hours=_week(store),
        opened_on=store.opened_on,
        location_tier=LocationTier(store.tier),
        customer_segment=CustomerSegment(store.segment),
        default_daily_capacity=store.daily_capacity,
        time_zone=TIME_ZONE,
    )


def _store_row(store: NetworkStore) -> dict[str, Any]:
    """A `capacity_stores` row as the service's projection of StoreRegistered writes it,
    its JSON columns as COPY's text."""
    state = StoreState(store_id=store.code, profile=_profile(store), closed=False)
    row = read_model.store_row(state, store.opened_on)
    return {
        **row,
        "opening_hours": json.dumps(row["opening_hours"]),
        "profile": json.dumps(row["profile"]),
    }


def _day_row(
    store: NetworkStore, busy: float, day: date, today: date, rng: random.Random
) -> dict[str, Any] | None:
    """The `capacity_days` row of one store's day: what its book's events would have left.

    `busy` is the store's usual booked share of capacity; days scatter around it, so the
    network shows red, yellow and green stores. Past days are done, today is under way,
    days ahead fill up as they come closer. None: nothing happened in that book.
    """
    open_today = day.isoweekday() != 7 or store.open_sundays
    override = None
    if rng.random() < 0.04:
        override = rng.choice((0, round(store.daily_capacity * 0.7), store.daily_capacity + 4))
    capacity = override if override is not None else (store.daily_capacity if open_today else 0)
    if capacity == 0 and override is None:
        return None
    lead = (day - today).days
    share = max(0.0, rng.gauss(busy, 0.15)) * (1.0 if lead <= 0 else max(0.1, 1 - lead / 14))
    appointments = round(capacity * share)
    walk_ins = arrived = waiting = in_service = completed = abandoned = no_shows = 0
    booked, live_holds, labour_hours, wait, exceeded = appointments, 0, 0.0, 0, False
    if lead < 0:
        no_shows = sum(rng.random() < 0.06 for _ in range(appointments))
        booked = appointments - no_shows  # every standing appointment checked in
        walk_ins = round(capacity * rng.uniform(0.05, 0.35))
        arrived = booked + walk_ins
        abandoned = sum(rng.random() < 0.03 for _ in range(arrived))
        completed = arrived - abandoned
    elif lead == 0:
        walk_ins = round(capacity * rng.uniform(0.03, 0.2))
        arrived = round(appointments * rng.uniform(0.4, 0.7)) + walk_ins
        completed = round(arrived * rng.uniform(0.3, 0.6))
        in_service = min(store.bays, round((arrived - completed) * 0.6))
        waiting = arrived - completed - in_service
        wait = waiting * rng.randint(12, 30)
        exceeded = wait > 120
        live_holds = rng.choice((0, 0, 0, 1, 2))
    else:
        live_holds = rng.choice((0, 0, 0, 0, 1)) if lead <= 2 else 0
        if appointments == 0 and override is None:
            return None
    labour_hours = round(completed * rng.uniform(1.2, 2.4), 1)
    return {
        "store_id": store.code,
        "day": day,
        "capacity_override": override,
        "booked": booked,
        "walk_ins": walk_ins,
        "arrived": arrived,
        "waiting": waiting,
        "in_service": in_service,
        "completed": completed,
        "abandoned": abandoned,
        "no_shows": no_shows,
        "live_holds": live_holds,
        "labour_hours": labour_hours,
        "estimated_wait_minutes": wait,
        "wait_threshold_exceeded": exceeded,
        "updated_at": datetime.now(UTC),
    }


def _seed(url: str, stores: list[NetworkStore], today: date, sizes: Sizes) -> dict[str, float]:
    """COPY the two read-model tables the view reads; then VACUUM (ANALYZE)."""
    rng = random.Random(SEED + 1)
    store_columns = [c.name for c in read_model.stores_view.columns]
    day_columns = [c.name for c in read_model.days_view.columns]
    days = [
        today + timedelta(days=k)
        for k in range(-sizes.dayview_past_days, sizes.dayview_ahead_days + 1)
    ]
    facts: dict[str, float] = {"day_rows": 0}
    with psycopg.connect(libpq(url)) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY capacity_stores ({', '.join(store_columns)}) FROM STDIN") as copy:
                for store in stores:
                    row = _store_row(store)
                    copy.write_row([row[c] for c in store_columns])
            with cur.copy(f"COPY capacity_days ({', '.join(day_columns)}) FROM STDIN") as copy:
                for store in stores:
                    busy = rng.uniform(0.55, 1.05)
                    for day in days:
                        found = _day_row(store, busy, day, today, rng)
                        if found is not None:
                            copy.write_row([found[c] for c in day_columns])
                            facts["day_rows"] += 1
        conn.commit()
        facts["copy"] = time.perf_counter() - t0
        conn.autocommit = True
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) capacity_stores")
        conn.execute("VACUUM (ANALYZE) capacity_days")
        facts["vacuum_analyze"] = time.perf_counter() - t0
    return facts


async def _capture(svc: RunningService, day: date) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters `read_model.network_day` sends for this day."""
    captured: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "capacity_days" in statement:
            captured.append((statement, params))

    engine = svc.service.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        await svc.service.app.query(lambda conn: read_model.network_day(conn, day, ""))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    if len(captured) != 1 or not isinstance(captured[0][1], dict):
        raise RuntimeError("could not capture the network_day SQL")
    return captured[0][0], dict(captured[0][1])


async def _day_view(
    svc: RunningService, url: str, sizes: Sizes, today: date
) -> tuple[list[list[str]], dict[str, LoadResult], dict[str, Any]]:
    stub = pb_grpc.CapacityServiceStub(svc.channel)
    md = svc.metadata
    capacity = CapacityQueries(svc.service.app)
    days = [today + timedelta(days=k) for k in range(VIEW_DAYS)]
    statements = {day: await _capture(svc, day) for day in days}
    seen: dict[str, Any] = {"stores": set(), "bytes": [], "red": [], "yellow": []}
    raw_conns: list[psycopg.AsyncConnection[Any]] = []
    rows: list[list[str]] = []
    single: dict[str, LoadResult] = {}
    try:
        for _ in range(max(sizes.dayview_concurrency)):
            raw_conns.append(await psycopg.AsyncConnection.connect(libpq(url), autocommit=True))

        async def raw_call(client: int, seq: int) -> None:
            sql, params = statements[days[seq % VIEW_DAYS]]
            cur = await raw_conns[client].execute(sql, params)
            await cur.fetchall()

        async def bare_call(client: int, seq: int) -> None:
            await capacity.network_day(days[seq % VIEW_DAYS], "")

        async def grpc_call(client: int, seq: int) -> None:
            response = await stub.GetNetworkDayView(
                pb.GetNetworkDayViewRequest(day=days[seq % VIEW_DAYS].isoformat()),
                metadata=md,
                timeout=CALL_TIMEOUT,
            )
            seen["stores"].add(len(response.stores))
            if len(seen["bytes"]) < VIEW_DAYS:
                seen["bytes"].append(response.ByteSize())
                seen["red"].append(response.totals.red_stores)
                seen["yellow"].append(response.totals.yellow_stores)

        for clients in sizes.dayview_concurrency:
            results: list[LoadResult] = []
            for label, call in (
                ("raw psycopg, the same SQL", raw_call),
                ("Capacity.network_day (query + day views + totals)", bare_call),
                (DAYVIEW_GRPC_LABEL, grpc_call),
            ):
                results.append(
                    await closed_loop(
                        label,
                        clients,
                        call,
                        max_calls=sizes.dayview_calls,
                        max_seconds=sizes.dayview_max_seconds,
                        warmup_calls=max(1, sizes.dayview_warmup_calls // clients),
                    )
                )
            raw = results[0]
            rows += [load_row(r, r.label, None if r is raw else raw.rate) for r in results]
            if clients == 1:
                single = {r.label: r for r in results}
    finally:
        for conn in raw_conns:
            await conn.close()
    sql = statements[days[0]][0]
    return rows, single, {**seen, "sql": sql}


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _rid() -> str:
    return str(uuid.uuid4())


async def _register(stub: Any, md: Any, store_id: str) -> None:
    """A store registered through the real command: book commands load it from its stream."""
    opens, closes = BOOKING_HOURS
    await stub.RegisterStore(
        pb.RegisterStoreRequest(
            request_id=_rid(),
            store_id=store_id,
            profile=ev.StoreProfile(
                name=f"Bench store {store_id}",
                city="Shenzhen",
                region="South China",
                latitude=22.5431,
                longitude=114.0579,
                bays=10,
                opening_hours=[
                    ev.OpeningHours(weekday=w, opens_minute=opens, closes_minute=closes)  # type: ignore[arg-type]
                    for w in range(1, 8)
                ],
                opened_on="2020-01-01",
                location_tier=ev.LOCATION_TIER_SUBURB,
                customer_segment=ev.CUSTOMER_SEGMENT_MID,
                default_daily_capacity=24,
            ),
        ),
        metadata=md,
        timeout=CALL_TIMEOUT,
    )


def _slot(first_day: date, seq: int, book_size: int) -> datetime:
    """The `seq`-th booking of a client: `book_size` a day, spread over the opening hours."""
    opens, closes = BOOKING_HOURS
    step = max(1, (closes - opens) // book_size)
    day = first_day + timedelta(days=seq // book_size)
    minute = opens + (seq % book_size) * step
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=CHINA)
    return local.astimezone(UTC)


def _appointment(store_id: str, seq: int, at: datetime) -> dict[str, Any]:
    """The `seq`-th appointment of a store: a realistic customer, vehicle and service."""
    return {
        "appointment_id": f"A{seq:06d}",
        "customer_ref": f"C-{store_id}-{seq}",
        "vehicle": f"粤B{10_000 + seq % 90_000}",
        "service_type": SERVICE_TYPES[seq % len(SERVICE_TYPES)],
        "expected_labour_hours": (1.0, 1.5, 2.0, 3.0)[seq % 4],
        "requested_at": _ts(at),
    }


def _booking(store_id: str, seq: int, at: datetime) -> pb.BookAppointmentRequest:
    return pb.BookAppointmentRequest(
        request_id=_rid(), store_id=store_id, **_appointment(store_id, seq, at)
    )


async def _booked_row(url: str) -> tuple[str, bytes, str, dict[str, Any]]:
    """An AppointmentBooked row exactly as the service stored it: the raw baseline inserts it."""
    async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
        row = await (
            await conn.execute(
                "SELECT event_type, payload, store_id, metadata FROM events"
                " WHERE event_type LIKE %s ORDER BY position DESC LIMIT 1",
                ("%.AppointmentBooked",),
            )
        ).fetchone()
    assert row is not None, "the set-up booking left no event"
    return str(row[0]), bytes(row[1]), str(row[2]), dict(row[3])


async def _largest_book(url: str) -> tuple[int, int]:
    """(most appointments in one store's day, events per BookAppointment) of the booking steps."""
    async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
        row = await (
            await conn.execute(
                "SELECT coalesce(max(booked), 0) FROM capacity_days WHERE store_id LIKE 'BK%%'"
            )
        ).fetchone()
        types = await (
            await conn.execute(
                "SELECT count(*) FILTER (WHERE event_type LIKE '%%.AppointmentBooked'),"
                " count(*) FROM events WHERE stream_id LIKE 'book/BK%%'"
            )
        ).fetchone()
    assert row is not None and types is not None
    return int(row[0]), int(types[1]) - int(types[0])


async def _bookings(
    svc: RunningService, url: str, sizes: Sizes, today: date
) -> tuple[list[list[str]], dict[int, tuple[Bracket, LoadResult]]]:
    """Per concurrency: raw INSERT+COMMIT, BookAppointment over gRPC, raw again."""
    stub = pb_grpc.CapacityServiceStub(svc.channel)
    md = svc.metadata
    first_day = today + timedelta(days=1)
    await _register(stub, md, "BKSETUP")
    await stub.BookAppointment(
        _booking("BKSETUP", 0, _slot(first_day, 0, sizes.booking_book_size)),
        metadata=md,
        timeout=CALL_TIMEOUT,
    )
    await create_raw_table(url)
    event_row = await _booked_row(url)
    rows: list[list[str]] = []
    by_clients: dict[int, tuple[Bracket, LoadResult]] = {}
    for clients in sizes.booking_clients:
        stores = [f"BK{clients}-{i:02d}" for i in range(clients)]
        await asyncio.gather(*(_register(stub, md, s) for s in stores))

        async def book(client: int, seq: int, stores: list[str] = stores) -> None:
            at = _slot(first_day, seq, sizes.booking_book_size)
            await stub.BookAppointment(
                _booking(stores[client], seq, at), metadata=md, timeout=CALL_TIMEOUT
            )

        async def bookings(clients: int = clients) -> LoadResult:
            return await closed_loop(
                "BookAppointment",
                clients,
                book,
                max_calls=sizes.booking_step_max_calls,
                max_seconds=sizes.booking_step_seconds,
                warmup_calls=sizes.command_warmup_calls,
            )

        raw, booked = await bracketed(url, clients, event_row, sizes, bookings)
        by_clients[clients] = (raw, booked)
        rows += [
            load_row(raw.before, "raw psycopg INSERT+COMMIT, before"),
            load_row(booked, "**BookAppointment over gRPC**", raw.rate),
            load_row(raw.after, "raw psycopg INSERT+COMMIT, after"),
        ]
    return rows, by_clients


@dataclass(frozen=True)
class SyncCall:
    """One SyncAppointments call: its wall time and this process's CPU (client and
    service), for `appointments` appointments."""

    appointments: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.appointments / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_each(self) -> float:
        return 1000 * self.cpu_seconds / self.appointments if self.appointments else 0.0


@dataclass(frozen=True)
class SyncRun:
    """One batch size: a call per store joining, each beside the raw COPY of the rows it
    stored (seconds); judged on the medians."""

    appointments: int
    joins: tuple[SyncCall, ...]
    copies: tuple[float, ...]

    @property
    def median(self) -> SyncCall:
        return sorted(self.joins, key=lambda c: c.seconds)[len(self.joins) // 2]

    @property
    def copy_seconds(self) -> float:
        return sorted(self.copies)[len(self.copies) // 2]

    @property
    def raw_rate(self) -> float:
        return self.appointments / self.copy_seconds if self.copy_seconds > 0 else 0.0


def _sync_request(store_id: str, size: int, first_day: date) -> pb.SyncAppointmentsRequest:
    """`size` appointments of one store, 30 a day over the opening hours from `first_day`."""
    return pb.SyncAppointmentsRequest(
        request_id=_rid(),
        store_id=store_id,
        appointments=[
            pb.SyncedAppointment(**_appointment(store_id, seq, _slot(first_day, seq, SYNC_PER_DAY)))
            for seq in range(size)
        ],
    )


async def _sync_call(
    stub: Any, md: Any, request: pb.SyncAppointmentsRequest, booked: int, unchanged: int
) -> SyncCall:
    cpu, wall = time.process_time(), time.perf_counter()
    response = await stub.SyncAppointments(request, metadata=md, timeout=SYNC_TIMEOUT)
    call = SyncCall(
        len(request.appointments), time.perf_counter() - wall, time.process_time() - cpu
    )
    tally = (response.booked, response.unchanged, response.refused)
    assert tally == (booked, unchanged, 0), tally
    return call


async def _syncs(
    svc: RunningService, url: str, today: date
) -> tuple[list[SyncRun], list[tuple[str, SyncCall]]]:
    """Per batch size, stores joining in turn (every appointment new), each call followed
    by the raw COPY of its rows; then the last store's batch again (`SYNC_AGAIN`)."""
    stub = pb_grpc.CapacityServiceStub(svc.channel)
    md = svc.metadata
    first_day = today + timedelta(days=1)
    runs: list[SyncRun] = []
    request = pb.SyncAppointmentsRequest()
    for size in SYNC_SIZES:
        joins, copies = [], []
        for k in range(SYNC_STORES):
            store_id = f"SY{size}-{k}"
            await _register(stub, md, store_id)
            request = _sync_request(store_id, size, first_day)
            await relayed(url)  # no call pays for the relay work of the one before it
            joins.append(await _sync_call(stub, md, request, size, 0))
            copy_s, copied = await raw_copy(url, store_id, f"book/{store_id}/")
            assert copied == size, (copied, size)
            copies.append(copy_s)
        runs.append(SyncRun(size, tuple(joins), tuple(copies)))
    # The last store's batch: sent again under a new request id (the next night's
    # reconciliation, when nothing changed), its books in this replica's aggregate cache,
    # then not (another replica's, or after a restart); then retried under its own id.
    await relayed(url)
    last, again = len(request.appointments), []
    for label, cold in zip(SYNC_AGAIN[:2], (False, True), strict=True):
        if cold:
            svc.service.app.cache.clear()
        resent = pb.SyncAppointmentsRequest(
            request_id=_rid(), store_id=request.store_id, appointments=request.appointments
        )
        again.append((label, await _sync_call(stub, md, resent, 0, last)))
    again.append((SYNC_AGAIN[2], await _sync_call(stub, md, request, last, 0)))
    return runs, again


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = ctx.sizes
    today = datetime.now(CHINA).date()
    stores = network(sizes.dayview_stores, SEED, today)
    async with (
        ctx.database("capacity") as url,
        ctx.namespace("cap") as ns,
        ctx.capacity(url, ns) as svc,
    ):
        seeded = await asyncio.to_thread(_seed, url, stores, today, sizes)
        view_rows, single, seen = await _day_view(svc, url, sizes, today)
        book_rows, by_clients = await _bookings(svc, url, sizes, today)
        largest_book, other_events = await _largest_book(url)
        syncs, again = await _syncs(svc, url, today)
        published = svc.service.relay.published

    _report_view(report, sizes, seeded, view_rows, single, seen)
    _report_bookings(report, sizes, book_rows, by_clients, largest_book, other_events, published)
    one_client = by_clients.get(1)
    _report_sync(report, syncs, again, one_client[1] if one_client else None)


def _report_view(
    report: SectionReport,
    sizes: Sizes,
    seeded: dict[str, float],
    rows: list[list[str]],
    single: dict[str, LoadResult],
    seen: dict[str, Any],
) -> None:
    answered = ", ".join(str(n) for n in sorted(seen["stores"])) or "none"
    size_kb = sum(seen["bytes"]) / len(seen["bytes"]) / 1024 if seen["bytes"] else 0.0
    red = sum(seen["red"]) / len(seen["red"]) if seen["red"] else 0.0
    yellow = sum(seen["yellow"]) / len(seen["yellow"]) if seen["yellow"] else 0.0
    report.add(
        "### 5a. GetNetworkDayView: every store's day in one call",
        "",
        "**Target (issue 10):** the network day view of 2,000 stores, p99"
        f" ≤ {num(DAYVIEW_P99_TARGET_MS)} ms, judged on GetNetworkDayView over gRPC at 1 client"
        f" (this run: {sizes.dayview_stores:,} stores). The raw SQL rows show what the query"
        " alone costs.",
        "",
        f"**Sizes:** {sizes.dayview_stores:,} open stores (stores per gRPC answer: {answered});"
        f" {int(seeded['day_rows']):,} store days in `capacity_days`"
        f" ({sizes.dayview_past_days} days back, today and {sizes.dayview_ahead_days} ahead per"
        " store, a row only where the book had something).",
        "",
        "**Seeding bypasses the event path:** the view reads only the `capacity_stores` and"
        " `capacity_days` read-model tables (created by the service's own migrations, with"
        " their indexes), so they are filled directly with psycopg `COPY`"
        f" ({seeded['copy']:.1f} s), then `VACUUM (ANALYZE)` ({seeded['vacuum_analyze']:.1f} s)."
        " Store rows carry what the StoreRegistered projection writes (profile JSON, weekly"
        " hours); stores lie around 39 Chinese cities with 4-24 bays, Monday-Saturday"
        " 08:30-18:00 and Sunday for 30% of them. Day rows hold what the books' events would"
        " have left: past days done (no-shows, walk-ins, abandoned quotes, labour hours),"
        " today under way (waiting, in service, wait estimates), days ahead filling up as"
        " they come closer; each store has its usual load (55-105% of capacity) with daily"
        " scatter and 4% of days overridden, so the network shows every colour (on average"
        f" {red:.0f} red and {yellow:.0f} yellow stores per day asked).",
        "",
        f"Each call asks for one day, today and the next {VIEW_DAYS - 1} days in turn, the"
        " whole network in one answer (`page_size` 0); an answer is about"
        f" {size_kb:.0f} KiB of protobuf. The same {sizes.dayview_calls:,} calls (after"
        f" {sizes.dayview_warmup_calls} unmeasured warm-up calls, shared among the clients)"
        " run three ways: the baseline, the very SQL statement SQLAlchemy sends for the day"
        " (captured) through bare psycopg on autocommit connections, all rows fetched; the"
        " application's `Capacity.network_day` (the same query in one SQLAlchemy transaction,"
        " a `DayView` per store with its ratios and colour, the network totals); and"
        " `GetNetworkDayView` over gRPC (token check, the same, and one protobuf `DayView`"
        " per store).",
        "",
        f"SQL: `{' '.join(seen['sql'].split())}`",
        "",
    )
    report.table(LOAD_HEADER, rows)
    name = f"GetNetworkDayView p99, {sizes.dayview_stores:,} stores, 1 client"
    grpc_one = single.get(DAYVIEW_GRPC_LABEL)
    if grpc_one is not None:
        report.targets.append(
            Target(name, grpc_one.p99_ms, DAYVIEW_P99_TARGET_MS, "ms", higher_is_better=False)
        )
    else:
        report.unjudged.append(
            Unjudged(name, f"≤ {num(DAYVIEW_P99_TARGET_MS)} ms", "no 1-client step in this run")
        )


def _report_bookings(
    report: SectionReport,
    sizes: Sizes,
    rows: list[list[str]],
    by_clients: dict[int, tuple[Bracket, LoadResult]],
    largest_book: int,
    other_events: int,
    relayed: int,
) -> None:
    report.add(
        "### 5b. BookAppointment over gRPC",
        "",
        f"**Target (issue 10):** BookAppointment over gRPC at {TARGET_CLIENTS} clients"
        f" ≥ {100 * BOOKING_TARGET_SHARE:.0f}% of the raw INSERT+COMMIT measured around it"
        " at the same concurrency (the mean of the runs right before and right after); its"
        " p99 is reported beside it without a threshold.",
        "",
        f"**Sizes:** {', '.join(str(c) for c in sizes.booking_clients)} concurrent clients;"
        f" each step stops at {sizes.booking_step_max_calls:,} calls or"
        f" {sizes.booking_step_seconds:g} s; books of {sizes.booking_book_size} appointments.",
        "",
        "Same service, database and NATS namespace as 5a (its relay publishing every booking"
        " to JetStream). Client *i* of *N* books into its own store `BK<N>-<i>`, registered"
        " through the real `RegisterStore` command just before (a book command loads its"
        " store's facts from the store's event stream), so no two clients ever touch the same"
        f" stream. A client fills one day's book with {sizes.booking_book_size} appointments"
        " spread over the opening hours (08:00-18:00), then moves on to the next day,"
        " starting tomorrow: a realistic book, whose stream the command loads each time (the"
        " book snapshots every 50 events). Each call is a real booking: fresh `request_id`,"
        " customer, vehicle, service type, 1-3 expected labour hours, a requested time ahead;"
        f" each client first makes {sizes.command_warmup_calls} unmeasured warm-up bookings."
        f" The fullest book held {largest_book} appointments at the end; besides the"
        f" AppointmentBooked events the books' streams hold {other_events} other events.",
        "",
        "Baseline: bare psycopg, one connection per client, `INSERT` of one row into a twin"
        " of the `events` table (`CREATE TABLE … (LIKE events INCLUDING ALL)`; the payload"
        " and metadata of an AppointmentBooked event the service stored) then `COMMIT`,"
        " repeated; measured at the same concurrency right before the bookings and again"
        " right after them: *vs raw* and the target compare with the mean of the two.",
        "",
    )
    report.table(LOAD_HEADER, rows)
    report.add(
        f"The service's relay published {relayed:,} events to JetStream during the section.",
        "",
    )
    share_name = (
        f"BookAppointment over gRPC at {TARGET_CLIENTS} clients, share of raw INSERT+COMMIT"
    )
    step = by_clients.get(TARGET_CLIENTS)
    if step is None:
        report.unjudged.append(
            Unjudged(
                share_name,
                f"≥ {num(100 * BOOKING_TARGET_SHARE)} %",
                f"no {TARGET_CLIENTS}-client step in this run",
            )
        )
        return
    raw, booked = step
    report.targets.append(share_target(share_name, booked.rate, raw.rate, BOOKING_TARGET_SHARE))
    report.figures += cpu_budget(
        f"BookAppointment at {TARGET_CLIENTS} clients, the whole machine's CPU per call",
        booked,
        raw.rate,
        BOOKING_TARGET_SHARE,
    )
    report.figures.append(
        Figure(f"BookAppointment p99 at {TARGET_CLIENTS} clients", booked.p99_ms, "ms")
    )
    report.add(
        f"At {TARGET_CLIENTS} clients: {num(booked.rate)} bookings/s"
        f" ({pct(booked.rate, raw.rate)} of raw INSERT+COMMIT at {num(raw.rate)}/s),"
        f" p50 {num(booked.p50_ms)} ms, p99 {num(booked.p99_ms)} ms.",
        "",
    )


def _report_sync(
    report: SectionReport,
    runs: list[SyncRun],
    again: list[tuple[str, SyncCall]],
    one_by_one: LoadResult | None,
) -> None:
    """5c's table and its figures: appointments per second of each batch size's median
    call beside the raw COPY of the same rows, and the CPU it cost per appointment."""
    largest = runs[-1]

    def row(what: str, call: SyncCall, raw_rate: float) -> list[str]:
        return [
            what,
            f"{call.appointments:,}",
            num(1000 * call.seconds),
            num(call.rate),
            pct(call.rate, raw_rate),
            num(call.cpu_ms_each),
        ]

    rows: list[list[str]] = []
    for run in runs:
        rows.append(
            [
                f"raw psycopg COPY + COMMIT of the same rows (median of {len(run.copies)})",
                f"{run.appointments:,}",
                num(1000 * run.copy_seconds),
                num(run.raw_rate),
                "baseline",
                "—",
            ]
        )
        rows += [
            row(f"SyncAppointments, every appointment new (store {k} joins)", call, run.raw_rate)
            for k, call in enumerate(run.joins, 1)
        ]
        rows.append(
            row(
                f"**SyncAppointments, every appointment new: median of {len(run.joins)} stores**",
                run.median,
                run.raw_rate,
            )
        )
    rows += [row(label, call, largest.raw_rate) for label, call in again]
    if one_by_one is not None and one_by_one.rate > 0:
        rows.append(
            [
                "BookAppointment over gRPC, one call per appointment (5b's 1-client step:"
                f" {one_by_one.ok:,} calls; the wall time of {largest.appointments:,} at its rate)",
                f"{largest.appointments:,}",
                num(1000 * largest.appointments / one_by_one.rate),
                num(one_by_one.rate),
                pct(one_by_one.rate, largest.raw_rate),
                num(one_by_one.cpu_ms_per_op),
            ]
        )
    sizes = " and ".join(f"{r.appointments:,}" for r in runs)
    report.add(
        "### 5c. SyncAppointments: a DMS's appointments at once",
        "",
        "**No target in the issue:** issue 10 asks for the bulk path of a store joining (or"
        " a DMS reconciling at night) to be fast beside a raw baseline of the same rows;"
        " reported as figures.",
        "",
        f"**Sizes:** batches of {sizes} appointments (a nightly sync of the next"
        f" {SYNC_NIGHTLY_DAYS} days, and the largest batch the call takes), {SYNC_PER_DAY} a"
        f" day spread over the opening hours (08:00-18:00) from tomorrow on: the"
        f" {largest.appointments:,} fill {-(-largest.appointments // SYNC_PER_DAY)} days'"
        f" books.",
        "",
        "Same service, database and NATS namespace as 5a and 5b. For each batch size"
        f" {SYNC_STORES} stores join in turn, each registered through the real"
        " `RegisterStore` just before, each sending its whole batch in one"
        " `SyncAppointments` call: every appointment new, booked as BookAppointment books it"
        " (an AppointmentBooked in the book of its store-local day), the batch one command:"
        " one transaction, one command-log row (the books of its days loaded in two queries,"
        " every appointment decided in memory on its day's book, the events COPYed and"
        " appended in one statement, each day's row projected once from its last state)."
        " Each appointment is a realistic booking:"
        " customer, vehicle, service type, 1-3 expected labour hours. Before each measured"
        " call the benchmark waits until the relay has published everything committed, so"
        " no call pays for another's relay work. The batch of the last store is then sent"
        " again under a new request id (a nightly reconciliation that finds nothing new:"
        " every appointment unchanged, nothing recorded), first with its books in the"
        " service's aggregate cache (the replica that booked them), then with the cache"
        " emptied (another replica, or one restarted since), and last retried under its"
        " own request id (the command log's reply).",
        "",
        "Baseline: right after each store's call, the AppointmentBooked rows it stored,"
        " `COPY`ed by bare psycopg into a twin of the `events` table and committed; *vs raw"
        " COPY* compares with the median of the copies of the same size. *CPU ms /"
        " appointment* is the benchmark process's CPU (client, service, relay) during the"
        " call per appointment. The BookAppointment row is 5b's 1-client step: the same"
        " kind of appointment booked one call each.",
        "",
    )
    report.table(SYNC_HEADER, rows)
    for run in runs:
        median = run.median
        versus = (
            f"; {median.rate / one_by_one.rate:.1f}× BookAppointment one call each"
            if one_by_one is not None and one_by_one.rate > 0
            else ""
        )
        report.figures.append(
            Figure(
                f"SyncAppointments of {run.appointments:,} new appointments in one call"
                f" (median of {len(run.joins)} stores joining)",
                median.rate,
                "appointments/s",
                detail=(
                    f"{pct(median.rate, run.raw_rate)} of raw COPY of the same rows at"
                    f" {num(run.raw_rate)}/s (median copy {num(1000 * run.copy_seconds)} ms); the"
                    f" call {num(1000 * median.seconds)} ms, CPU"
                    f" {num(median.cpu_ms_each)} ms per appointment{versus}"
                ),
            )
        )
