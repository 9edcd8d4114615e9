"""Inventory's daily stale-stock close over a 2,000-store network: the whole network in one
transaction, in batches of stores per transaction (a timer re-armed at once for the rest),
and one store per firing (what 2,000 separate timers cost). Interleaved rounds, medians.

    python -m bench.stale_close [stores] [rounds]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import func, select, update

from bench.config import QUICK
from bench.context import BenchContext, libpq
from kernel.eventstore import events, timers
from kernel.testing.servers import resolve
from services.inventory.bootstrap import build
from services.inventory.stale_close import STALE_STOCK_CLOSE

PARTS = 20
MODES: tuple[tuple[str, int | None], ...] = (
    ("whole network, 1 tx", None),
    ("batch 500", 500),
    ("batch 200", 200),
    ("batch 50", 50),
    ("1 store per firing", 1),
)


def _seed(url: str, stores: int) -> None:
    """Every store holds PARTS parts; a third of the positions have not moved for 120 days."""
    rng = random.Random(20_261_201)
    old = datetime.now(UTC) - timedelta(days=120)
    recent = datetime.now(UTC) - timedelta(days=3)
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY inventory_parts (part_number, name, category, unit, unit_cost_fen) FROM STDIN"
        ) as copy:
            for p in range(PARTS):
                copy.write_row((f"P-{p:03d}", f"Part {p}", "cat", "pcs", rng.randint(100, 90_000)))
        columns = (
            "store_id, part_number, on_hand, reserved, available, in_transit_out, "
            "in_transit_in, last_movement_at, reservations"
        )
        with cur.copy(f"COPY inventory_positions ({columns}) FROM STDIN") as copy:
            for s in range(stores):
                for p in range(PARTS):
                    n = rng.randint(1, 12)
                    moved = old if rng.random() < 1 / 3 else recent
                    copy.write_row((f"S{s:04d}", f"P-{p:03d}", n, 0, n, 0, 0, moved, "{}"))
        conn.commit()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE inventory_positions")


async def _one(ctx: BenchContext, label: str, batch: int | None, stores: int) -> dict[str, Any]:
    async with (
        ctx.database(f"stale{label}") as url,
        ctx.namespace("stale") as ns,
        # The host's own timer loop idle: this bench drives the passes itself.
        ctx.running(partial(build, timer_interval=3600), "inventory", url, ns) as svc,
    ):
        await asyncio.to_thread(_seed, url, stores)
        service = svc.service
        service.application.stale_close.batch = batch
        await service.application.stale_close.arming.armed.wait()
        runner = service.timers
        handler = runner.handlers[STALE_STOCK_CLOSE]
        firings: list[float] = []

        async def timed(uow: Any, payload: Any) -> None:
            t0 = time.perf_counter()
            await handler(uow, payload)
            firings.append(time.perf_counter() - t0)

        runner.handlers[STALE_STOCK_CLOSE] = timed
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        now = datetime.now(UTC)
        async with service.db.transaction("bench.due") as conn:
            await conn.execute(
                update(timers)
                .where(timers.c.timer_id == STALE_STOCK_CLOSE)
                .values(due_at=now, payload={"day": yesterday})
            )
        passes = 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        while True:
            passes += 1
            if not await runner.run_due():
                break
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        async with service.db.transaction("bench.count") as conn:
            valued = await conn.scalar(
                select(func.count()).where(events.c.event_type.like("%StaleStockValued"))
            )
        assert valued == stores, (label, valued)
        return {
            "wall": wall,
            "cpu": cpu,
            "transactions": passes + len(firings),  # claim passes + firings
            "longest_tx": max(firings),
        }


async def main(stores: int, rounds: int) -> None:
    ctx = BenchContext(sizes=QUICK, endpoints=resolve())
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in MODES}
    try:
        for r in range(rounds):
            order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
            for label, batch in order:
                results[label].append(await _one(ctx, str(r), batch, stores))
    finally:
        ctx.close()
    print(
        f"| close of {stores} stores ({rounds} rounds, medians) | wall s | CPU s | "
        "transactions | longest tx ms |"
    )
    print("|---|---|---|---|---|")
    for label, _ in MODES:
        rows = results[label]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.median(x[key] for x in rows)

        print(
            f"| {label} | {med('wall'):.2f} | {med('cpu'):.2f} | {med('transactions'):.0f} | "
            f"{med('longest_tx') * 1000:.0f} |"
        )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [2000, 3][len(args) :])))
