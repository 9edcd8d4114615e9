"""4b. Stale stock (ListStaleStock): HQ's network-wide list ("where is stock piling up") and
one store's, judged from the usage the daily close keeps and, as before it kept any, by two
probes of usage_daily per position; beside a raw scan of the same positions."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from storemesh.inventory.v1 import inventory_pb2 as pb
from storemesh.inventory.v1 import inventory_pb2_grpc as pb_grpc

from bench.config import Sizes
from bench.context import BenchContext, libpq
from bench.load import LoadResult, closed_loop
from bench.report import LOAD_HEADER, Figure, SectionReport, load_row, num
from bench.sections.inventory_lookup import copy_parts
from services.inventory import read_model
from services.inventory.bootstrap import build
from services.inventory.domain.stale import DEFAULT_RULE, idle_since, usage_window
from services.inventory.read_model import StaleQuery
from services.inventory.stale_close import CLOSE_BATCH

TITLE = "4b. Stale stock (ListStaleStock)"
SEED = 20_261_202
CALL_TIMEOUT = 60.0
LATER_PAGE = 5  # the page the later-page steps ask for (its token walked beforehand)
HISTORY_DAYS = 120  # usage_daily rows over this many days back
IDLE_SPREAD_DAYS = 150  # last movements uniform over this many days back
RAW_NETWORK = (
    "SELECT p.store_id, p.part_number, p.on_hand, p.last_movement_at, c.unit_cost_fen"
    " FROM inventory_positions p JOIN inventory_parts c ON c.part_number = p.part_number"
    " WHERE p.on_hand > 0 ORDER BY p.on_hand * c.unit_cost_fen DESC, p.store_id,"
    " p.part_number LIMIT 51"
)
RAW_STORE = RAW_NETWORK.replace("WHERE p.on_hand > 0", "WHERE p.on_hand > 0 AND p.store_id = %s")
POSITION_COLUMNS = (
    "store_id, part_number, on_hand, reserved, available, in_transit_out, in_transit_in,"
    " last_movement_at, reservations"
)


def _store(k: int) -> str:
    return f"S{k:03d}"


def _seed(url: str, sizes: Sizes, today: date, now: datetime) -> dict[str, float]:
    """COPY parts, positions (15% empty, the rest 1..40 on hand, last moved up to 150 days
    ago) and, for `stale_used_share` of each store's parts, 6..18 days of issues over the
    last 120 days into usage_daily; then VACUUM (ANALYZE)."""
    rng = random.Random(SEED)
    counts: dict[str, float] = {}
    t0 = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        copy_parts(cur, sizes.stale_parts, rng)
        used: list[tuple[str, str]] = []
        with cur.copy(f"COPY inventory_positions ({POSITION_COLUMNS}) FROM STDIN") as copy:
            for s in range(sizes.stale_stores):
                for p in range(sizes.stale_parts):
                    part = f"P-{p:05d}"  # copy_parts' numbers
                    held = 0 if rng.random() < 0.15 else rng.randint(1, 40)
                    moved = now - timedelta(minutes=rng.randint(0, IDLE_SPREAD_DAYS * 1440))
                    copy.write_row((_store(s), part, held, 0, held, 0, 0, moved, "[]"))
                    if rng.random() < sizes.stale_used_share:
                        used.append((_store(s), part))
        rows = 0
        with cur.copy(
            "COPY inventory_usage_daily (store_id, part_number, day, requests, filled,"
            " issued_quantity) FROM STDIN"
        ) as copy:
            for store, part in used:
                for back in rng.sample(range(HISTORY_DAYS), rng.randint(6, 18)):
                    copy.write_row(
                        (store, part, today - timedelta(days=back), 1, 1, rng.randint(1, 3))
                    )
                    rows += 1
        conn.commit()
    counts["copy"] = time.perf_counter() - t0
    counts["usage_rows"] = rows
    t0 = time.perf_counter()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table in ("inventory_parts", "inventory_positions", "inventory_usage_daily"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    counts["vacuum_analyze"] = time.perf_counter() - t0
    return counts


def _analyze_kept(url: str) -> None:
    """What autovacuum does after the close's insert (the kept tables' statistics)."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table in ("inventory_usage_kept", "inventory_usage_kept_on"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


def _forget_kept(url: str) -> None:
    """No store's usage kept: every position judged by its live probes, as before."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("DELETE FROM inventory_usage_kept_on")


async def run(ctx: BenchContext, report: SectionReport) -> None:
    sizes = ctx.sizes
    positions = sizes.stale_stores * sizes.stale_parts
    rows: list[list[str]] = []
    found: dict[str, LoadResult] = {}
    close: dict[str, float] = {}
    async with (
        ctx.database("stale") as url,
        ctx.namespace("stale") as ns,
        # The host's timer loop idle: the close's batch is timed here, called directly.
        ctx.running(partial(build, timer_interval=3600), "inventory", url, ns) as svc,
    ):
        service = svc.service
        clock = service.app.clock
        now = clock.now()
        today = clock.business_day(now)
        seeded = await asyncio.to_thread(_seed, url, sizes, today, now)
        stub = pb_grpc.InventoryServiceStub(svc.channel)
        md = svc.metadata

        # Yesterday's close, one batch of CLOSE_BATCH stores: judged live (as before),
        # then keeping the usage figures (as now).
        yesterday = today - timedelta(days=1)
        ended = service.application.stale_close.day_ends_at(yesterday)
        q = StaleQuery(DEFAULT_RULE, idle_since(ended), *usage_window(yesterday, DEFAULT_RULE))
        for label, keep in (("live", False), ("keep", True)):
            t0 = time.perf_counter()
            async with service.db.transaction(f"bench.close.{label}") as conn:
                await read_model.stale_by_store(conn, q, "", CLOSE_BATCH, keep=keep, kept=keep)
            close[label] = time.perf_counter() - t0
        await asyncio.to_thread(_analyze_kept, url)

        async def listing(**request: Any) -> Any:
            return await stub.ListStaleStock(
                pb.ListStaleStockRequest(**request), metadata=md, timeout=CALL_TIMEOUT
            )

        token = ""
        for _ in range(LATER_PAGE - 1):
            token = (await listing(page_token=token)).next_page_token
        first_kept = [(i.store_id, i.part_number) for i in (await listing()).items]
        held = await _held(url)

        def step(label: str, calls: int, warmup: int, **request: Any) -> Any:
            async def call(client: int, seq: int) -> None:
                await listing(**request)

            return closed_loop(
                label,
                1,
                call,
                max_calls=calls,
                max_seconds=sizes.stale_max_seconds,
                warmup_calls=warmup,
            )

        raw_conn = await psycopg.AsyncConnection.connect(libpq(url), autocommit=True)
        try:

            async def raw(sql: str, params: tuple[Any, ...]) -> Any:
                async def call(client: int, seq: int) -> None:
                    await (await raw_conn.execute(sql, params)).fetchall()

                return call

            network_raw = await closed_loop(
                "raw psycopg: positions holding stock, top 51 by value (network)",
                1,
                await raw(RAW_NETWORK, ()),
                max_calls=sizes.stale_calls,
                max_seconds=sizes.stale_max_seconds,
                warmup_calls=1,
            )
            store_raw = await closed_loop(
                "raw psycopg: the same, one store",
                1,
                await raw(RAW_STORE, (_store(0),)),
                max_calls=sizes.stale_calls,
                max_seconds=sizes.stale_max_seconds,
                warmup_calls=1,
            )
        finally:
            await raw_conn.close()
        plan = [
            ("kept", "network, first page", {}),
            ("kept", f"network, page {LATER_PAGE}", {"page_token": token}),
            ("kept", "one store", {"store_id": _store(0)}),
        ]
        for path, what, request in plan:
            found[f"{path} {what}"] = await step(
                f"**ListStaleStock {what}** (kept usage)", sizes.stale_calls, 1, **request
            )
        await asyncio.to_thread(_forget_kept, url)
        first_live = [(i.store_id, i.part_number) for i in (await listing()).items]
        if first_live != first_kept:
            raise RuntimeError("the kept usage and the live probes listed different first pages")
        for _, what, request in plan:
            found[f"live {what}"] = await step(
                f"ListStaleStock {what} (live probes, as before)",
                sizes.stale_live_calls,
                0,  # seconds a call at full size; the first-page check above warmed it
                **request,
            )

    for key, baseline in (
        ("network, first page", network_raw),
        (f"network, page {LATER_PAGE}", network_raw),
        ("one store", store_raw),
    ):
        rows.append(load_row(baseline, baseline.label))
        for path in ("kept", "live"):
            result = found[f"{path} {key}"]
            rows.append(load_row(result, result.label, baseline.rate))
    _describe(report, sizes, positions, held, seeded, close, rows)
    _figures(report, sizes, found, held, close)


async def _held(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(libpq(url)) as conn:
        row = await (
            await conn.execute("SELECT count(*) FROM inventory_positions WHERE on_hand > 0")
        ).fetchone()
        return int(row[0]) if row else 0


def _describe(
    report: SectionReport,
    sizes: Sizes,
    positions: int,
    held: int,
    seeded: dict[str, float],
    close: dict[str, float],
    rows: list[list[str]],
) -> None:
    report.add(
        f"{sizes.stale_stores} stores × {sizes.stale_parts:,} parts = {positions:,} positions,"
        f" {held:,} holding stock, last moved up to {IDLE_SPREAD_DAYS} days ago; each store"
        f" issues {100 * sizes.stale_used_share:.0f}% of its parts on 6-18 days of the last"
        f" {HISTORY_DAYS} ({int(seeded['usage_rows']):,} `inventory_usage_daily` rows). The"
        " read-model tables are filled with psycopg `COPY`"
        f" ({seeded['copy']:.1f} s), then `VACUUM (ANALYZE)` ({seeded['vacuum_analyze']:.1f} s).",
        "",
        "Yesterday's close values one batch of stores (`CLOSE_BATCH`, every store here) as"
        f" before, judging each position by two probes of `inventory_usage_daily`"
        f" ({1000 * close['live']:,.0f} ms), and as now, keeping each position's first request"
        " and window issues first and judging from them"
        f" ({1000 * close['keep']:,.0f} ms; then `VACUUM (ANALYZE)` of the kept tables, what"
        " autovacuum does after it). Then HQ's network-wide `ListStaleStock` (default page of"
        f" 50, most stale value first: its first page, and page {LATER_PAGE} from a token walked"
        " beforehand) and one store's, over gRPC: from the kept usage plus today's and the"
        " dropped day's `inventory_usage_daily` rows, and again with no usage kept (every"
        " position probed live, what every call did before). Both paths listed the same first"
        " page. The raw baseline: the positions holding stock, top 51 by value (a full scan"
        " and top-N sort of the same rows, no judgement), through bare psycopg.",
        "",
    )
    report.table(LOAD_HEADER, rows)


def _figures(
    report: SectionReport,
    sizes: Sizes,
    found: dict[str, LoadResult],
    held: int,
    close: dict[str, float],
) -> None:
    for key, result in found.items():
        report.figures.append(
            Figure(
                f"ListStaleStock {key.split(' ', 1)[1]} p50 ({key.split(' ', 1)[0]})",
                result.p50_ms,
                "ms",
                detail=f"p99 {num(result.p99_ms)} ms, {result.ok} calls",
            )
        )
    for path in ("kept", "live"):
        result = found[f"{path} network, first page"]
        report.figures.append(
            Figure(
                f"network-wide ListStaleStock per position holding stock ({path})",
                1000 * result.p50_ms / held if held else 0.0,
                "µs",
            )
        )
    stores = min(CLOSE_BATCH, sizes.stale_stores)
    for label, seconds in close.items():
        report.figures.append(
            Figure(f"the close's batch of {stores} stores ({label})", 1000 * seconds, "ms")
        )
