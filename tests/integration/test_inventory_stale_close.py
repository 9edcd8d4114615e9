"""Inventory's daily stale-stock close over the whole network, in bounded transactions:
two replicas on one PostgreSQL database share the durable timer, each firing values the
next batch of stores and re-arms the timer for the rest, every store is valued once for
the day, and a close fired again for the same day records nothing new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from kernel.clock import ManualClock
from kernel.eventstore import timers
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build as build_inventory
from services.inventory.stale_close import STALE_STOCK_CLOSE
from tests.integration.conftest import Running, running, settings_for
from tests.integration.inventory_fixtures import (
    InventoryClient,
    register_part,
    stale_stock_valued,
)
from tests.integration.kernel_fixtures import eventually

SHANGHAI = ZoneInfo("Asia/Shanghai")
STORES = [f"S{n:02d}" for n in range(1, 8)]  # 7 stores, valued 3 per transaction
BATCH = 3


@pytest.fixture
async def replicas(
    pg_url: str, endpoints: Endpoints, namespace: str, clock: ManualClock, verifier: Any
) -> AsyncIterator[tuple[Running, Running]]:
    """Two inventory processes on ONE database, valuing 3 stores per transaction."""
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with (
        running(build_inventory, settings, clock, verifier, timer_interval=3600) as first,
        running(build_inventory, settings, clock, verifier, timer_interval=3600) as second,
    ):
        for run in (first, second):
            run.service.application.stale_close.batch = BATCH
        yield first, second


async def _valued(run: Running) -> list[tuple[str, str, int]]:
    return [(v.store_id, v.day, v.value_fen) for v in await stale_stock_valued(run)]


async def _timer(run: Running) -> Any:
    async with run.service.db.transaction("test.timer") as conn:
        query = select(timers.c.due_at, timers.c.payload).where(
            timers.c.timer_id == STALE_STOCK_CLOSE
        )
        return (await conn.execute(query)).first()


def _counting(run: Running) -> list[dict[str, Any]]:
    """The payloads the replica's close fired with, one per transaction."""
    fired: list[dict[str, Any]] = []
    handler = run.service.timers.handlers[STALE_STOCK_CLOSE]

    async def counted(uow: Any, payload: Any) -> None:
        await handler(uow, payload)
        fired.append(dict(payload))

    run.service.timers.handlers[STALE_STOCK_CLOSE] = counted
    return fired


async def _drain(*runs: Running) -> None:
    """Both replicas' timer passes at once, until neither finds a close due."""
    while sum(await asyncio.gather(*(r.service.timers.run_due() for r in runs))):
        pass


async def _network(inv: InventoryClient, clock: ManualClock) -> None:
    """Each store's 2 brake pads (120 CNY) have lain idle since July."""
    await register_part(inv, "P-100", cost=12_000)
    clock.set(datetime(2026, 7, 1, 10, 0, tzinfo=SHANGHAI))
    for store_id in STORES:
        await inv.ReceiveStock(store_id=store_id, part_number="P-100", quantity=2)


async def test_the_network_close_runs_in_batches_once_across_two_replicas(
    replicas: tuple[Running, Running], clock: ManualClock, mint: Callable[..., str]
) -> None:
    first, second = replicas
    await eventually(lambda: _timer(first))  # armed at start, once for both
    await _network(InventoryClient(first, mint("hq")), clock)
    fired = [_counting(first), _counting(second)]

    clock.set(datetime(2026, 11, 3, 0, 30, tzinfo=SHANGHAI))
    await _drain(first, second)

    valued = await _valued(first)
    assert sorted(valued) == [(s, "2026-11-02", 24_000) for s in STORES]
    # 7 stores, 3 a transaction: three firings between the two replicas, each its batch.
    payloads = sorted((p for f in fired for p in f), key=lambda p: p.get("after", ""))
    assert payloads == [
        {"day": "2026-11-02"},
        {"day": "2026-11-02", "after": "S03"},
        {"day": "2026-11-02", "after": "S06"},
    ]
    armed = await _timer(first)
    assert armed.payload == {"day": "2026-11-03"}
    assert armed.due_at == datetime(2026, 11, 4, 0, 30, tzinfo=SHANGHAI)


async def test_a_close_fired_again_for_the_same_day_values_nothing_new(
    replicas: tuple[Running, Running], clock: ManualClock, mint: Callable[..., str]
) -> None:
    first, second = replicas
    await eventually(lambda: _timer(first))
    await _network(InventoryClient(first, mint("hq")), clock)
    clock.set(datetime(2026, 11, 3, 0, 30, tzinfo=SHANGHAI))
    await _drain(first, second)
    once = await _valued(first)

    # The day's close fired again (an operator re-arming it, a claim that expired
    # mid-way): from the start, and from a continuation in the middle of the network.
    for payload in ({"day": "2026-11-02"}, {"day": "2026-11-02", "after": "S02"}):
        async with first.service.db.transaction("test.rearm") as conn:
            await conn.execute(
                update(timers)
                .where(timers.c.timer_id == STALE_STOCK_CLOSE)
                .values(due_at=clock.now() - timedelta(minutes=1), payload=payload)
            )
        await _drain(second, first)

    assert len(once) == len(STORES)
    assert await _valued(first) == once
    assert (await _timer(first)).payload == {"day": "2026-11-03"}
