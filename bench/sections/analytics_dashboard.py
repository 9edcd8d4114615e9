"""9c. GetDashboard (network scope) and GetKpis over a seeded network of stores.

Seeding bypasses the event path: the two queries read analytics' read-model tables only
(`analytics_stores`, `analytics_store_days`, `analytics_targets`, `analytics_warnings`,
`analytics_transfers`, `analytics_shifts`, `analytics_reports`), so the first three are
filled with psycopg COPY (as the projections and target commands would leave them) in the
tables the service's own migrations created, `analytics_store_months` from the days as
the projection would have kept it, then VACUUM (ANALYZE). The raw baseline runs
the very SQL each call sends (captured from the service's engine during one gRPC call)
through bare psycopg, in one transaction, all rows fetched.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import event
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.analytics.v1 import analytics_pb2 as pb
from storemesh.analytics.v1 import analytics_pb2_grpc as pb_grpc

from bench.context import BenchContext, RunningService, libpq
from bench.load import LoadResult, closed_loop
from bench.network import NetworkStore, network
from services.analytics import network_model

SEED = 20_261_201
CHINA = ZoneInfo("Asia/Shanghai")
CALL_TIMEOUT = 60.0
TARGETS = ("revenue", "vehicles_in")  # additive: the dashboard projects them
Statement = tuple[str, Any]


@dataclass
class DashboardResult:
    stores: int
    day_rows: int
    target_rows: int
    as_of: date
    copy_seconds: float
    rows: list[LoadResult]
    statements: dict[str, list[Statement]]
    answer: dict[str, Any]


def as_of_day() -> date:
    """The last day of the previous month (business zone): a whole month every run."""
    today = datetime.now(CHINA).date()
    return today.replace(day=1) - timedelta(days=1)


def _seed(url: str, stores: list[NetworkStore], as_of: date) -> tuple[int, int, float]:
    rng = random.Random(SEED)
    counters = network_model.STORED_COUNTERS
    first = as_of.replace(day=1)
    days = [first + timedelta(days=n) for n in range((as_of - first).days + 1)]
    day_rows = target_rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY analytics_stores (store_id, region, bays, default_daily_capacity,"
            " availability_factor, open_hours, opened_on, closed, version) FROM STDIN"
        ) as copy:
            for s in stores:
                hours = [9.5] * 6 + [8.0 if s.open_sundays else 0.0]
                copy.write_row(
                    (
                        s.code,
                        s.region,
                        s.bays,
                        s.daily_capacity,
                        0.85,
                        json.dumps(hours),
                        s.opened_on,
                        False,
                        1,
                    )
                )
        columns = ", ".join(counters)
        with cur.copy(
            f"COPY analytics_store_days (store_id, day, {columns}, capacity_override) FROM STDIN"
        ) as copy:
            for s in stores:
                for day in days:
                    if day.isoweekday() == 7 and not s.open_sundays:
                        continue
                    copy.write_row((s.code, day, *_counters(s, rng, counters), None))
                    day_rows += 1
        # Set before the month began: `as_of` (a past day) reads them from the history.
        set_at = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(days=1)
        seeded = [
            (s.code, code, value)
            for s in stores
            for code, value in zip(
                TARGETS,
                (
                    s.daily_capacity * 52_000 * len(days),
                    round(s.daily_capacity * 0.8) * len(days),
                ),
                strict=True,
            )
        ]
        with cur.copy(
            "COPY analytics_targets (store_id, indicator, period_kind, period_start, value,"
            " exact, year, set_at) FROM STDIN"
        ) as copy:
            for code_of_store, code, value in seeded:
                copy.write_row(
                    (
                        code_of_store,
                        code,
                        ev.PERIOD_KIND_MONTH,
                        first,
                        float(value),
                        str(value),
                        first.year,
                        set_at,
                    )
                )
                target_rows += 1
        with cur.copy(
            "COPY analytics_target_history (store_id, indicator, period_kind, period_start,"
            " position, exact, set_at) FROM STDIN"
        ) as copy:
            for n, (code_of_store, code, value) in enumerate(seeded, start=1):
                copy.write_row(
                    (code_of_store, code, ev.PERIOD_KIND_MONTH, first, n, str(value), set_at)
                )
        # The month rows the projection keeps beside the days, from the days.
        cur.execute(network_model.months_from_days(postgres=True))
        conn.commit()
        conn.autocommit = True
        for table in (
            "analytics_stores",
            "analytics_store_days",
            "analytics_store_months",
            "analytics_targets",
            "analytics_target_history",
        ):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return day_rows, target_rows, time.perf_counter() - t0


def _counters(s: NetworkStore, rng: random.Random, counters: tuple[str, ...]) -> list[Any]:
    """A store's day as the projections would leave it, around its daily capacity."""
    vehicles = max(0, round(s.daily_capacity * rng.uniform(0.6, 1.1)))
    completed = max(0, vehicles - rng.randint(0, 2))
    issues = rng.randint(5, 40)
    values: dict[str, Any] = {
        "part_issues": issues,
        "shortages": sum(rng.random() < 0.08 for _ in range(issues)),
        "vehicles_in": vehicles,
        "visits_completed": completed,
        "labour_hours": round(completed * rng.uniform(1.2, 2.4), 1),
        "labour_revenue_fen": completed * rng.randint(20_000, 40_000),
        "parts_revenue_fen": completed * rng.randint(15_000, 35_000),
        "other_revenue_fen": completed * rng.randint(0, 8_000),
        "satisfaction_sum": round(completed * rng.uniform(3.8, 4.9)),
        "satisfaction_count": completed,
        "complaints": int(rng.random() < 0.1),
        "quotes_abandoned": rng.randint(0, 2),
        "booked": round(vehicles * 0.7),
        "productive_hours": round(completed * 1.6, 1),
        "transfers_given": rng.randint(0, 2),
        "transfers_received": rng.randint(0, 2),
    }
    return [values.get(name, 0) for name in counters]


def _capturing() -> tuple[list[Statement], Any]:
    captured: list[Statement] = []

    def listener(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "analytics_" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, params))

    return captured, listener


async def _capture(svc: RunningService, call: Any) -> list[Statement]:
    """The SQL statements one gRPC call sends (with their parameters)."""
    captured, listener = _capturing()
    engine = svc.service.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        await call(0, 0)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    if not captured:
        raise RuntimeError("could not capture the query's SQL")
    return captured


async def measure(
    ctx: BenchContext, count: int, calls: int, seconds: float, warmup: int
) -> DashboardResult:
    from services.analytics.bootstrap import build

    as_of = as_of_day()
    stores = network(count, SEED, as_of)
    answer: dict[str, Any] = {}
    async with (
        ctx.database("andash") as url,
        ctx.namespace("andash") as ns,
        ctx.running(build, "analytics", url, ns) as svc,
    ):
        day_rows, target_rows, copy_seconds = await asyncio.to_thread(_seed, url, stores, as_of)
        stub = pb_grpc.AnalyticsServiceStub(svc.channel)
        network_scope = pb.Scope(level=pb.SCOPE_LEVEL_NETWORK)
        month = ev.Period(kind=ev.PERIOD_KIND_MONTH, start=as_of.replace(day=1).isoformat())

        async def dashboard(client: int, seq: int) -> None:
            found = await stub.GetDashboard(
                pb.GetDashboardRequest(scope=network_scope, as_of=as_of.isoformat()),
                metadata=svc.metadata,
                timeout=CALL_TIMEOUT,
            )
            answer.setdefault("dashboard", found)

        async def kpis(client: int, seq: int) -> None:
            found = await stub.GetKpis(
                pb.GetKpisRequest(scope=network_scope, period=month, as_of=as_of.isoformat()),
                metadata=svc.metadata,
                timeout=CALL_TIMEOUT,
            )
            answer.setdefault("kpis", found)

        statements = {
            "dashboard": await _capture(svc, dashboard),
            "kpis": await _capture(svc, kpis),
        }
        rows: list[LoadResult] = []
        async with await psycopg.AsyncConnection.connect(libpq(url)) as raw:
            for key, call, label in (
                ("dashboard", dashboard, "GetDashboard (network) over gRPC"),
                ("kpis", kpis, "GetKpis (network, month) over gRPC"),
            ):

                async def bare(client: int, seq: int, key: str = key) -> None:
                    for sql, params in statements[key]:
                        cur = await raw.execute(sql, params)
                        await cur.fetchall()
                    await raw.commit()

                for what, fn in ((f"raw psycopg, the same SQL ({key})", bare), (label, call)):
                    rows.append(
                        await closed_loop(
                            what, 1, fn, max_calls=calls, max_seconds=seconds, warmup_calls=warmup
                        )
                    )
    return DashboardResult(
        count, day_rows, target_rows, as_of, copy_seconds, rows, statements, answer
    )
