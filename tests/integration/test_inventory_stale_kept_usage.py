"""The network's stale stock judged from the usage the daily close keeps (on PostgreSQL and
on SQLite, what `make run` uses): after a close, and on every day after it while the
window slides (issues leaving the window, a history becoming full, a part first asked for
after the close, a store the close never saw), the list gives exactly what the live rule
(two probes of usage_daily per position) gives, paged over gRPC in the same order; the
close values what the live rule finds; a close a week old is no longer read."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from kernel.clock import ManualClock
from kernel.db import Database
from services.inventory import read_model
from services.inventory.bootstrap import DEFINITION
from services.inventory.domain.stale import DEFAULT_RULE, StaleRule, idle_since, usage_window
from services.inventory.read_model import StaleQuery
from services.inventory.read_model.tables import usage_kept, usage_kept_on
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    InventoryClient,
    register_part,
    stale_stock_valued,
)
from tests.integration.test_inventory_overstock import DG, FS, GZ, HZ, SHANGHAI, SZ, issue, receive

# Inventory on PostgreSQL and on SQLite, and an HQ client of it.
from tests.integration.test_inventory_stock_sync import hq, inventory_on

__all__ = ["hq", "inventory_on"]

DAY0 = date(2026, 11, 2)  # the clock fixture's day (16:00 in Shanghai)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


async def history(hq: InventoryClient, clock: ManualClock) -> None:
    """90 days: SZ01 first fits discs P-A on day 0 and again on day 60; GZ01 holds 100
    and first fits 10 on day 1 (its history becomes full on day 91, when those 10 leave the
    window); SZ01 first fits pads P-B on day 1; FS01's pads were never asked for; HZ01
    first fits a disc on day 90."""
    await register_part(hq, "P-A", cost=1_000, name="Brake disc")
    await register_part(hq, "P-B", cost=500, name="Brake pad")
    await receive(hq, SZ, "P-A", 100)
    await issue(hq, SZ, "P-A", 10)
    await receive(hq, GZ, "P-A", 100)
    await receive(hq, FS, "P-B", 10)
    clock.advance(timedelta(days=1))
    await issue(hq, GZ, "P-A", 10)
    await receive(hq, SZ, "P-B", 20)
    await issue(hq, SZ, "P-B", 2)
    clock.advance(timedelta(days=59))
    await issue(hq, SZ, "P-A", 20)
    clock.advance(timedelta(days=30))
    await receive(hq, HZ, "P-A", 50)
    await issue(hq, HZ, "P-A", 1)


def query(clock: ManualClock, rule: StaleRule = DEFAULT_RULE) -> StaleQuery:
    now = clock.now()
    return StaleQuery(rule, idle_since(now, rule.min_idle_days), *usage_window(today(clock), rule))


def today(clock: ManualClock) -> date:
    return clock.business_day(clock.now())


async def judged(
    run: Running, clock: ManualClock, *, kept: bool, store: str = "", rule: StaleRule = DEFAULT_RULE
) -> tuple[list[read_model.StaleItemView], int, int]:
    q = query(clock, rule)
    return await run.service.app.query(
        lambda conn: read_model.stale_stock(conn, store, clock.now(), q, "", None, 1_000, kept=kept)
    )


async def listed(hq: InventoryClient, **request: Any) -> list[tuple[Any, ...]]:
    found, token = [], ""
    while True:
        page = await hq.ListStaleStock(page_size=2, page_token=token, **request)
        found += [
            (i.store_id, i.part_number, i.stale_quantity, i.stale_value_fen) for i in page.items
        ]
        token = page.next_page_token
        if not token:
            return found


async def agree(run: Running, hq: InventoryClient, clock: ManualClock) -> list[tuple[Any, ...]]:
    """The list from the kept usage is the live rule's, network-wide and per store, paged
    over gRPC in the same order; its (store, part, reason, stale quantity, cover)."""
    live = await judged(run, clock, kept=False)
    assert await judged(run, clock, kept=True) == live, today(clock)
    keys = [(i.store_id, i.part_number, i.stale_quantity, i.stale_value_fen) for i in live[0]]
    assert await listed(hq) == keys, today(clock)
    for store in (SZ, GZ, HZ):
        assert await judged(run, clock, kept=True, store=store) == await judged(
            run, clock, kept=False, store=store
        )
    return [
        (i.store_id, i.part_number, i.idle, i.overstock, i.stale_quantity, i.cover_quantity)
        for i in live[0]
    ]


async def kept_rows(run: Running) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    async with run.service.db.transaction("test.kept") as conn:
        on = {tuple(r) for r in await conn.execute(select(usage_kept_on))}
        rows = {tuple(r) for r in await conn.execute(select(usage_kept))}
    return on, rows


async def forge_kept_issues(run: Running, extra: int) -> None:
    """Add `extra` to GZ01's kept disc issues: what reads the kept figures then differs."""
    k = usage_kept.c
    async with run.service.db.transaction("test.forge") as conn:
        same = (k.store_id == GZ) & (k.part_number == "P-A")
        await conn.execute(update(usage_kept).where(same).values(issued=k.issued + extra))


async def test_the_network_list_from_the_close_s_kept_usage_is_the_live_rule_day_after_day(
    inventory_on: Running, hq: InventoryClient, clock: ManualClock
) -> None:
    # Today's close armed (at start, in the background) before the clock moves on.
    await inventory_on.service.application.stale_close.arming.armed.wait()
    await history(hq, clock)
    assert await kept_rows(inventory_on) == (set(), set())
    before = await agree(inventory_on, hq, clock)  # no close yet: every store live

    clock.set(datetime.combine(day(91), datetime.min.time(), SHANGHAI) + timedelta(minutes=30))
    while await inventory_on.service.timers.run_due():
        pass
    on, rows = await kept_rows(inventory_on)
    assert on == {(s, day(90), 90, day(1)) for s in (SZ, GZ, FS, HZ)}
    assert rows == {
        (SZ, "P-A", day(0), 20),
        (SZ, "P-B", day(1), 2),
        (GZ, "P-A", day(1), 10),
        (HZ, "P-A", day(90), 1),
    }
    # The close valued day 90 as the live rule judges it.
    valued = {v.store_id: (v.value_fen, v.units) for v in await stale_stock_valued(inventory_on)}
    q90 = StaleQuery(
        DEFAULT_RULE,
        idle_since(clock.now() - timedelta(minutes=30)),
        *usage_window(day(90), DEFAULT_RULE),
    )
    live90 = await inventory_on.service.app.query(
        lambda conn: read_model.stale_by_store(conn, q90, "", None, kept=False)
    )
    assert valued == {h.store_id: (h.value_fen, h.units) for h in live90}
    assert valued == {SZ: (30_000, 30), GZ: (0, 0), FS: (5_000, 10), HZ: (0, 0)}

    # Day 91: GZ01's day-1 issue has left the window and its history is full: all 90 over.
    assert (GZ, "P-A", False, True, 90, 0) in await agree(inventory_on, hq, clock)
    assert before != await agree(inventory_on, hq, clock)
    # The list reads what the close kept (forged here), not usage_daily.
    await forge_kept_issues(inventory_on, 1_000)
    forged, _, _ = await judged(inventory_on, clock, kept=True)
    assert (GZ, "P-A") not in {(i.store_id, i.part_number) for i in forged}
    await forge_kept_issues(inventory_on, -1_000)
    await issue(hq, SZ, "P-A", 5)  # after the close: read from usage_daily by day
    await receive(hq, DG, "P-A", 30)  # a store the close never saw
    await issue(hq, DG, "P-A", 1)
    await issue(hq, FS, "P-B", 1)  # first asked for after the close: no full history
    await receive(hq, GZ, "P-B", 5)
    await agree(inventory_on, hq, clock)
    for _ in range(7):  # day 92 .. 98: from day 97 on the close is too old to be read
        clock.advance(timedelta(days=1))
        await agree(inventory_on, hq, clock)
    await forge_kept_issues(inventory_on, 1_000)  # day 98: a week-old close is not read
    await agree(inventory_on, hq, clock)
    assert await judged(inventory_on, clock, kept=True, rule=StaleRule(usage_days=60)) == (
        await judged(inventory_on, clock, kept=False, rule=StaleRule(usage_days=60))
    )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_the_migration_adds_the_kept_usage_to_a_database_made_before_it(
    backend: str, pg_url: str, tmp_path: Path
) -> None:
    """A database of before migration 2 gets the two tables (empty: every store is judged
    by its probes until the next close); run again, nothing changes."""
    url = pg_url if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path / 'inv.db'}"
    db = Database(url)
    try:
        await db.migrate("kernel", [])
        await db.migrate(DEFINITION.name, DEFINITION.migrations)
        async with db.transaction() as conn:  # back to the schema before migration 2
            for table in (usage_kept, usage_kept_on):
                await conn.execute(text(f"DROP TABLE {table.name}"))
            await conn.execute(text("DELETE FROM schema_migrations WHERE version = 2"))
        applied = await db.migrate(DEFINITION.name, DEFINITION.migrations)
        again = await db.migrate(DEFINITION.name, DEFINITION.migrations)
        async with db.transaction() as conn:
            counts = [
                await conn.scalar(select(func.count()).select_from(t))
                for t in (usage_kept, usage_kept_on)
            ]
    finally:
        await db.dispose()
    assert (applied, again, counts) == ([2], [], [0, 0])
