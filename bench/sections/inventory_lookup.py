"""4. The network lookup (FindStock) with stores x parts positions, beside the raw SQL."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import event
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench.config import Sizes
from bench.context import BenchContext, RunningService, libpq
from bench.load import LoadResult, closed_loop, health_floor
from bench.report import LOAD_HEADER, Figure, SectionReport, Unjudged, load_row, num, share_target
from services.inventory import read_model

TITLE = "4. Network lookup (FindStock)"
TARGET_SHARE = 0.3  # issue 10: FindStock over gRPC at 1 client >= 30% of the raw SQL
GRPC_LABEL = "**FindStock over gRPC**"
FLOOR_LABEL = "gRPC floor: grpc.health.v1 Check (no auth, no database)"
BARE_LABEL = "read_model.find_stock (SQLAlchemy, one transaction)"
RAW_LABEL = "raw psycopg, the same SQL"
MAX_MIN_AVAILABLE = 20
CALL_TIMEOUT = 30.0
SEED = 20_261_102
SENTINEL_PART = "P-SENTINEL"  # values the captured statement is recognised by
SENTINEL_MIN = 987_654

POSITION_COLUMNS = (
    "store_id",
    "part_number",
    "on_hand",
    "reserved",
    "available",
    "in_transit_out",
    "in_transit_in",
    "last_movement_at",
    "reservations",
)


def _part(k: int) -> str:
    return f"P-{k:05d}"


def _store(k: int) -> str:
    return f"S{k:03d}"


def copy_parts(cur: psycopg.Cursor[Any], count: int, rng: random.Random) -> None:
    """The catalogue: `count` parts P-00000.., in 40 categories, costing 1..5,000 yuan."""
    with cur.copy(
        "COPY inventory_parts (part_number, name, category, unit, unit_cost_fen) FROM STDIN"
    ) as copy:
        for k in range(count):
            copy.write_row(
                (_part(k), f"Part {k}", f"cat{k % 40}", "pcs", rng.randint(100, 500_000))
            )


def _seed(url: str, sizes: Sizes) -> dict[str, float]:
    """COPY the read-model tables directly (the lookup reads nothing else); then VACUUM ANALYZE."""
    rng = random.Random(SEED)
    timings: dict[str, float] = {}
    base = datetime(2026, 6, 1, tzinfo=UTC)
    with psycopg.connect(libpq(url)) as conn:
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            copy_parts(cur, sizes.lookup_parts, rng)
            columns = ", ".join(POSITION_COLUMNS)
            with cur.copy(f"COPY inventory_positions ({columns}) FROM STDIN") as copy:
                for p in range(sizes.lookup_parts):
                    part = _part(p)
                    for s in range(sizes.lookup_stores):
                        available = rng.randint(0, sizes.lookup_max_available)
                        copy.write_row(
                            (
                                _store(s),
                                part,
                                available,
                                0,
                                available,
                                0,
                                0,
                                base + timedelta(minutes=rng.randint(0, 200_000)),
                                "[]",
                            )
                        )
        conn.commit()
        timings["copy"] = time.perf_counter() - t0
        conn.autocommit = True
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) inventory_positions")
        conn.execute("VACUUM (ANALYZE) inventory_parts")
        timings["vacuum_analyze"] = time.perf_counter() - t0
    return timings


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = ctx.sizes
    positions = sizes.lookup_stores * sizes.lookup_parts
    rng = random.Random(SEED + 1)
    total = sizes.lookup_warmup_calls + sizes.lookup_calls
    queries = [
        (_part(rng.randrange(sizes.lookup_parts)), rng.randint(1, MAX_MIN_AVAILABLE))
        for _ in range(total)
    ]
    page_size = 0  # the API default (50)
    limit = 50 + 1  # what FindStock asks the read model for with the default page size
    rows: list[list[str]] = []
    single: dict[str, LoadResult] = {}
    async with (
        ctx.database("lookup") as url,
        ctx.namespace("lookup") as ns,
        ctx.inventory(url, ns) as svc,
    ):
        timings = await asyncio.to_thread(_seed, url, sizes)
        stub = pb_grpc.InventoryServiceStub(svc.channel)
        md = svc.metadata
        app = svc.service.app
        sql, params_template = await _capture(svc, limit)
        raw_conns: list[psycopg.AsyncConnection[Any]] = []
        matched: list[int] = []
        try:
            for _ in range(max(sizes.lookup_concurrency)):
                raw_conns.append(await psycopg.AsyncConnection.connect(libpq(url), autocommit=True))

            async def grpc_call(client: int, seq: int) -> None:
                part, minimum = queries[seq % total]
                response = await stub.FindStock(
                    pb.FindStockRequest(
                        part_number=part, min_available=minimum, page_size=page_size
                    ),
                    metadata=md,
                    timeout=CALL_TIMEOUT,
                )
                matched.append(len(response.stores))

            async def bare_call(client: int, seq: int) -> None:
                part, minimum = queries[seq % total]
                await app.query(
                    lambda conn: read_model.find_stock(conn, part, minimum, "", None, limit)
                )

            async def raw_call(client: int, seq: int) -> None:
                part, minimum = queries[seq % total]
                params = _params(params_template, part, minimum, limit)
                cur = await raw_conns[client].execute(sql, params)
                await cur.fetchall()

            for clients in sizes.lookup_concurrency:
                step: list[tuple[str, Any]] = [
                    (RAW_LABEL, raw_call),
                    (BARE_LABEL, bare_call),
                    (GRPC_LABEL, grpc_call),
                ]
                results: list[LoadResult] = []
                for label, call in step:
                    results.append(
                        await _lookups(label, clients, call, sizes, sizes.lookup_warmup_calls)
                    )
                floor = await health_floor(
                    svc.channel,
                    clients,
                    max_calls=sizes.lookup_calls,
                    max_seconds=sizes.lookup_max_seconds,
                    warmup_calls=max(1, sizes.lookup_warmup_calls // clients),
                )
                floor.label = FLOOR_LABEL
                results.insert(1, floor)
                raw = results[0]
                rows += [load_row(r, r.label, None if r is raw else raw.rate) for r in results]
                if clients == 1:
                    single = {r.label: r for r in results}
        finally:
            for conn in raw_conns:
                await conn.close()

    mean_matched = sum(matched) / len(matched) if matched else 0.0
    report.add(
        f"{sizes.lookup_stores} stores × {sizes.lookup_parts:,} parts = {positions:,}"
        f" positions. Seeding bypasses the event path: the `inventory_parts` and"
        f" `inventory_positions` read-model tables (created by the service's own migrations,"
        f" with their indexes) are filled directly with psycopg `COPY`"
        f" ({timings['copy']:.1f} s), then `VACUUM (ANALYZE)` ({timings['vacuum_analyze']:.1f}"
        " s). That is fair because the lookup reads only the read model. Available stock per"
        f" position is uniform in 0..{sizes.lookup_max_available}.",
        "",
        f"Each lookup asks for a random part with a random `min_available` in"
        f" 1..{MAX_MIN_AVAILABLE} and the default page (50 stores, most available first);"
        f" on average a FindStock answer listed {mean_matched:.1f} stores. The same"
        f" {sizes.lookup_calls:,} lookups (after {sizes.lookup_warmup_calls} unmeasured"
        " warm-up lookups per client) run three ways: over gRPC (`FindStock`: the token"
        " (verified once, then remembered until it expires), the request's checks, the"
        " position query as one statement on the kernel's read path (a pooled autocommit"
        " psycopg connection; the part is looked up only when no store has it), the page"
        " token and the protobuf answer); the bare `read_model.find_stock` query through the"
        " service's `Application.query` (one SQLAlchemy transaction); and the baseline, the"
        " very SQL statement SQLAlchemy sent (captured) run through bare psycopg on"
        " autocommit connections. The *gRPC floor* row is the standard health check on the"
        " same server and channel (no token, no database): what a unary call alone costs"
        " here, clients and service sharing one process. One client measures latency; more"
        " clients show how it holds up under concurrent lookups.",
        "",
        f"SQL: `{' '.join(sql.split())}`",
        "",
    )
    report.add(
        f"**Target (issue 10):** FindStock over gRPC at 1 client ≥ {100 * TARGET_SHARE:.0f}%"
        " of the throughput of the raw SQL (the first row of the same step). The 1-client"
        " p99s are reported beside it without a threshold, and so is the ceiling this run"
        " puts on any FindStock: at one client a call waits for its answer before the next"
        " is sent, so no FindStock can take less than a bare health check (the floor) and"
        " the raw SQL one after the other, and its share of the raw SQL is at most"
        " floor / (floor + raw).",
        "",
    )
    report.table(LOAD_HEADER, rows)
    _judge(report, single)


def _judge(report: SectionReport, single: dict[str, LoadResult]) -> None:
    share_name = "FindStock over gRPC at 1 client, share of the raw SQL"
    if GRPC_LABEL in single and RAW_LABEL in single:
        report.targets.append(
            share_target(share_name, single[GRPC_LABEL].rate, single[RAW_LABEL].rate, TARGET_SHARE)
        )
    else:
        report.unjudged.append(
            Unjudged(share_name, f"≥ {num(100 * TARGET_SHARE)} %", "no 1-client step in this run")
        )
    if FLOOR_LABEL in single and RAW_LABEL in single:
        floor, raw = single[FLOOR_LABEL].rate, single[RAW_LABEL].rate
        ceiling = "the most any FindStock could reach in this run: measured only"
        report.figures += [
            Figure(
                "the gRPC floor at 1 client alone, share of the raw SQL",
                100 * floor / raw,
                "%",
                rule=ceiling,
            ),
            Figure(
                "the gRPC floor and the raw SQL in series at 1 client, share of the raw SQL",
                100 * floor / (floor + raw),
                "%",
                rule=ceiling,
                detail="one call that does nothing but the health check's work and the query",
            ),
        ]
    for label, name in (
        (GRPC_LABEL, "FindStock p99 over gRPC, 1 client"),
        (BARE_LABEL, "bare read_model.find_stock p99, 1 client"),
    ):
        if label in single:
            report.figures.append(Figure(name, single[label].p99_ms, "ms"))


async def _lookups(label: str, clients: int, call: Any, sizes: Sizes, warmup: int) -> LoadResult:
    return await closed_loop(
        label,
        clients,
        call,
        max_calls=sizes.lookup_calls,
        max_seconds=sizes.lookup_max_seconds,
        warmup_calls=max(1, warmup // clients),
    )


async def _capture(svc: RunningService, limit: int) -> tuple[str, dict[str, Any]]:
    """The SQL text and parameters `read_model.find_stock` sends (psycopg pyformat style)."""
    captured: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "inventory_positions" in statement:
            captured.append((statement, params))

    engine = svc.service.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        await svc.service.app.query(
            lambda conn: read_model.find_stock(conn, SENTINEL_PART, SENTINEL_MIN, "", None, limit)
        )
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    if not captured or not isinstance(captured[-1][1], dict):
        raise RuntimeError("could not capture the find_stock SQL")
    sql, template = captured[-1][0], dict(captured[-1][1])
    _check_template(template, limit)
    return sql, template


def _params(template: dict[str, Any], part: str, minimum: int, limit: int) -> dict[str, Any]:
    """Fill the captured parameters: the sentinel values show which is which."""
    params = dict(template)
    roles = {SENTINEL_PART: part, SENTINEL_MIN: minimum, limit: limit}
    for key, value in template.items():
        if value in roles:
            params[key] = roles[value]
    return params


def _check_template(template: dict[str, Any], limit: int) -> None:
    values = list(template.values())
    for expected in (SENTINEL_PART, SENTINEL_MIN, limit):
        if values.count(expected) != 1:
            raise RuntimeError(f"captured find_stock parameters not understood: {template}")
