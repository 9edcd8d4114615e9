"""Stale stock's second criterion over real gRPC on PostgreSQL: a position holding far more
than its store uses (on hand beyond 180 days of its pace over the last 90 days) is listed
by ListStaleStock as OVERSTOCK with only its excess stale, alongside idle stock, paged by
stale value; the rule's fields are validated; and the daily close values the excess."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storemesh.inventory.v1 import inventory_pb2 as pb

from kernel import paging
from kernel.clock import ManualClock
from tests.integration.conftest import Running
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
    stale_stock_valued,
)
from tests.integration.rich_errors import failure, violated_fields

__all__ = ["inv", "inventory_service"]

SZ, GZ, DG, FS, HZ = "SZ01", "GZ01", "DG01", "FS01", "HZ01"
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def receive(inv: InventoryClient, store: str, part: str, quantity: int) -> None:
    await inv.ReceiveStock(store_id=store, part_number=part, quantity=quantity)


async def issue(inv: InventoryClient, store: str, part: str, quantity: int) -> None:
    await inv.RequestParts(store_id=store, part_number=part, repair_order="RO-1", quantity=quantity)


async def network(inv: InventoryClient, clock: ManualClock) -> None:
    """100 days of history (the clock starts on 2 November 2026, 16:00 in Shanghai):

    - SZ01 fits brake discs P-A steadily (30 in the last 90 days: 60 cover 180 days) and
      holds 69: 9 over, though it moved today;
    - GZ01 holds exactly its 60 of cover: not overstock;
    - DG01 took 500 in five days ago, its first request since: too short a history;
    - FS01's 10 pads P-B have lain idle for 100 days;
    - HZ01 fitted one pad 100 days ago and none since: idle and overstock both;
    - SZ01 fitted one pad 100 days ago, none since, yet received 5 yesterday: all 8 over.
    """
    await register_part(inv, "P-A", cost=1_000, name="Brake disc")
    await register_part(inv, "P-B", cost=500, name="Brake pad")
    for store, quantity in ((SZ, 100), (GZ, 91)):
        await receive(inv, store, "P-A", quantity)
        await issue(inv, store, "P-A", 1)
    await receive(inv, FS, "P-B", 10)
    for store, quantity in ((HZ, 10), (SZ, 4)):
        await receive(inv, store, "P-B", quantity)
        await issue(inv, store, "P-B", 1)
    clock.advance(timedelta(days=95))
    await receive(inv, DG, "P-A", 500)
    await issue(inv, DG, "P-A", 1)
    clock.advance(timedelta(days=4))
    await receive(inv, SZ, "P-B", 5)
    clock.advance(timedelta(days=1))
    for store in (SZ, GZ):
        await issue(inv, store, "P-A", 30)


def stale(item: Any) -> tuple[Any, ...]:
    return (item.store_id, item.part_number, item.reason, item.stale_quantity, item.stale_value_fen)


IDLE, OVER, BOTH = (
    pb.STALE_REASON_IDLE,
    pb.STALE_REASON_OVERSTOCK,
    pb.STALE_REASON_IDLE_AND_OVERSTOCK,
)
LISTED = [
    (SZ, "P-A", OVER, 9, 9_000),
    (FS, "P-B", IDLE, 10, 5_000),
    (HZ, "P-B", BOTH, 9, 4_500),
    (SZ, "P-B", OVER, 8, 4_000),
]


async def test_overstock_is_listed_with_its_excess_beside_idle_stock_most_stale_value_first(
    inv: InventoryClient, clock: ManualClock
) -> None:
    await network(inv, clock)

    listed = await inv.ListStaleStock()
    assert [stale(i) for i in listed.items] == LISTED
    assert (listed.total_value_fen, listed.overstock_value_fen) == (22_500, 13_000)
    assert (listed.min_idle_days, listed.usage_days, listed.cover_days) == (90, 90, 180)

    discs = listed.items[0]  # the whole position as before, and the use it was judged by
    assert (discs.on_hand, discs.value_fen, discs.idle_days) == (69, 69_000, 0)
    assert (discs.issued_in_window, discs.used_per_30_days, discs.cover_quantity) == (30, 10.0, 60)
    idle_pads = listed.items[1]
    assert (idle_pads.on_hand, idle_pads.value_fen, idle_pads.idle_days) == (10, 5_000, 100)
    assert (idle_pads.issued_in_window, idle_pads.cover_quantity) == (0, 0)

    paged, token = [], ""
    while True:
        page = await inv.ListStaleStock(page_size=1, page_token=token)
        paged += [stale(i) for i in page.items]
        token = page.next_page_token
        if not token:
            break
    assert paged == LISTED
    # A token an inventory before overstock issued (for the defaults) pages on from its key.
    before = paging.encode_token([5_000, FS, "P-B"], {"list": "stale", "store": "", "days": 90})
    assert [stale(i) for i in (await inv.ListStaleStock(page_token=before)).items] == LISTED[2:]
    # ... but not for another rule.
    refused = await failure(inv.ListStaleStock(cover_days=400, page_token=before))
    assert violated_fields(refused) == ["page_token"]

    only_idle = await inv.ListStaleStock(criterion=IDLE)
    assert [stale(i) for i in only_idle.items] == [LISTED[1], LISTED[2]]
    assert (only_idle.total_value_fen, only_idle.overstock_value_fen) == (9_500, 0)
    only_over = await inv.ListStaleStock(criterion=OVER)
    assert [stale(i) for i in only_over.items] == [LISTED[0], LISTED[2], LISTED[3]]
    shenzhen = await inv.ListStaleStock(store_id=SZ)
    assert [stale(i) for i in shenzhen.items] == [LISTED[0], LISTED[3]]

    # 400 days of cover: SZ01's discs are within it; pads it no longer uses are not.
    longer = await inv.ListStaleStock(store_id=SZ, cover_days=400)
    assert [stale(i) for i in longer.items] == [LISTED[3]]
    # A 120-day look-back reaches back to every store's first request: no history is
    # full, so only idle stock is left (and HZ01's is idle only).
    history = await inv.ListStaleStock(usage_days=120)
    assert [stale(i) for i in history.items] == [LISTED[1], (HZ, "P-B", IDLE, 9, 4_500)]


async def test_the_stale_rule_s_fields_are_validated_naming_each(inv: InventoryClient) -> None:
    cases = [
        ({"usage_days": -1}, ["usage_days"]),
        ({"usage_days": 3651}, ["usage_days"]),
        ({"cover_days": -1}, ["cover_days"]),
        ({"cover_days": 100_000}, ["cover_days"]),
        ({"criterion": 99}, ["criterion"]),
        (
            {"min_idle_days": -1, "usage_days": -1, "cover_days": 3651, "criterion": 7},
            ["cover_days", "criterion", "min_idle_days", "usage_days"],
        ),
    ]
    for fields, named in cases:
        assert violated_fields(await failure(inv.ListStaleStock(**fields))) == named, fields
    ok = await inv.ListStaleStock(usage_days=3650, cover_days=1, criterion=BOTH)
    assert ok.items == []


async def test_the_daily_close_values_the_overstock_excess_apart_from_idle_stock(
    inventory_service: Running, inv: InventoryClient, clock: ManualClock
) -> None:
    await network(inv, clock)
    clock.set(datetime(2027, 2, 11, 0, 30, tzinfo=SHANGHAI))  # the 10 February close
    while await inventory_service.service.timers.run_due():
        pass

    valued = {v.store_id: v for v in await stale_stock_valued(inventory_service)}
    figures = {
        store: (
            v.day,
            v.value_fen,
            v.positions,
            v.units,
            v.overstock_value_fen,
            v.overstock_positions,
            v.overstock_units,
        )
        for store, v in valued.items()
    }
    assert figures == {
        SZ: ("2027-02-10", 13_000, 2, 17, 13_000, 2, 17),
        GZ: ("2027-02-10", 0, 0, 0, 0, 0, 0),
        DG: ("2027-02-10", 0, 0, 0, 0, 0, 0),
        FS: ("2027-02-10", 5_000, 1, 10, 0, 0, 0),
        HZ: ("2027-02-10", 4_500, 1, 9, 0, 0, 0),
    }
    assert {(v.min_idle_days, v.usage_days, v.cover_days) for v in valued.values()} == {
        (90, 90, 180)
    }
