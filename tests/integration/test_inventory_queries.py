"""Inventory visibility over real gRPC: positions, store stock, the network lookup, the sharing
table, stale stock and the parts fill rate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kernel import paging
from kernel.clock import ManualClock
from tests.integration.inventory_fixtures import (
    InventoryClient,
    inv,
    inventory_service,
    register_part,
)
from tests.integration.rich_errors import failure, violated_fields

SZ, GZ, DG, FS, HZ = "SZ01", "GZ01", "DG01", "FS01", "HZ01"


async def receive(inv: InventoryClient, store: str, part: str, quantity: int) -> None:
    await inv.ReceiveStock(store_id=store, part_number=part, quantity=quantity)


async def issue(inv: InventoryClient, store: str, part: str, quantity: int) -> Any:
    return await inv.RequestParts(
        store_id=store, part_number=part, repair_order="RO-1", quantity=quantity
    )


async def pages(call: Any, **request: Any) -> list[list[Any]]:
    """Every page of a paged query, following next_page_token to the end."""
    found, token = [], ""
    while True:
        page = await call(**request, page_token=token)
        items = next(getattr(page, f) for f in ("positions", "stores", "items") if hasattr(page, f))
        found.append(list(items))
        token = page.next_page_token
        if not token:
            return found


async def test_a_position_never_stocked_is_all_zero(inv: InventoryClient) -> None:
    await register_part(inv)
    empty = await inv.GetStockPosition(store_id=SZ, part_number="P-100")
    assert (empty.store_id, empty.on_hand, empty.available, empty.HasField("last_movement_at")) == (
        SZ,
        0,
        0,
        False,
    )


async def test_store_stock_pages_through_every_part_and_filters_by_category_and_availability(
    inv: InventoryClient,
) -> None:
    for n, category in enumerate(["brakes", "filters", "brakes", "filters", "brakes"], 1):
        await register_part(inv, f"P-{n}", category=category)
        await receive(inv, SZ, f"P-{n}", n)
    await receive(inv, GZ, "P-1", 9)
    await inv.ReserveStock(store_id=SZ, part_number="P-3", quantity=3)

    paged = await pages(inv.ListStoreStock, store_id=SZ, page_size=2)
    assert [[p.part_number for p in page] for page in paged] == [
        ["P-1", "P-2"],
        ["P-3", "P-4"],
        ["P-5"],
    ]
    brakes = await pages(inv.ListStoreStock, store_id=SZ, category="brakes", page_size=2)
    assert [p.part_number for page in brakes for p in page] == ["P-1", "P-3", "P-5"]
    available = await inv.ListStoreStock(store_id=SZ, only_available=True)
    assert [p.part_number for p in available.positions] == ["P-1", "P-2", "P-4", "P-5"]
    both = await inv.ListStoreStock(store_id=SZ, category="brakes", only_available=True)
    assert [p.part_number for p in both.positions] == ["P-1", "P-5"]


async def test_a_page_token_only_continues_the_query_that_issued_it(inv: InventoryClient) -> None:
    for n in range(1, 4):
        await register_part(inv, f"P-{n}")
        await receive(inv, SZ, f"P-{n}", n)
        await receive(inv, GZ, f"P-{n}", n)
    sz_token = (await inv.ListStoreStock(store_id=SZ, page_size=1)).next_page_token
    parts_token = (await inv.ListParts(page_size=1)).next_page_token
    find_token = (await inv.FindStock(part_number="P-1", page_size=1)).next_page_token
    assert sz_token and parts_token and find_token

    foreign = [
        inv.ListStoreStock(store_id=SZ, page_token="abc"),
        inv.ListStoreStock(store_id=SZ, page_token="!!not base64!!"),
        inv.ListStoreStock(store_id=GZ, page_token=sz_token),
        inv.ListStoreStock(store_id=SZ, only_available=True, page_token=sz_token),
        inv.ListStoreStock(store_id=SZ, page_token=parts_token),
        inv.ListParts(page_token=sz_token),
        inv.FindStock(part_number="P-2", page_token=find_token),
        inv.FindStock(part_number="P-1", page_token=sz_token),
        inv.ListStaleStock(page_token=find_token),
    ]
    # The digest of a query is no secret: a hand-made token with the right digest and the
    # wrong key must be refused too, not reach the database.
    find_p1 = {"list": "find", "part": "P-1", "min": 1, "exclude": ""}
    stale = {"list": "stale", "store": "", "days": 90}
    foreign += [
        inv.FindStock(part_number="P-1", page_token=paging.encode_token(["x", SZ], find_p1)),
        inv.FindStock(part_number="P-1", page_token=paging.encode_token([10**30, SZ], find_p1)),
        inv.FindStock(part_number="P-1", page_token=paging.encode_token([None], find_p1)),
        inv.ListStaleStock(page_token=paging.encode_token([1], stale)),
        inv.ListStaleStock(page_token=paging.encode_token(["1", SZ, "P-1"], stale)),
    ]
    for call in foreign:
        assert violated_fields(await failure(call)) == ["page_token"]
    negative = [
        inv.ListStoreStock(store_id=SZ, page_size=-1),
        inv.ListParts(page_size=-1),
        inv.FindStock(part_number="P-1", page_size=-1),
        inv.ListStaleStock(page_size=-1),
    ]
    for call in negative:
        assert violated_fields(await failure(call)) == ["page_size"]


async def test_malformed_query_arguments_are_invalid_naming_the_field(
    inv: InventoryClient,
) -> None:
    await register_part(inv)
    cases = [
        (inv.GetStockPosition(store_id="SZ 01", part_number="P-100"), "store_id"),
        (inv.GetStockPosition(store_id="S" * 40, part_number="P-100"), "store_id"),
        (inv.GetStockPosition(store_id=SZ, part_number=""), "part_number"),
        (inv.ListStoreStock(store_id=""), "store_id"),
        (inv.ListStoreStock(store_id="a.b"), "store_id"),
        (inv.ListStoreStock(store_id=SZ, category="c" * 65), "category"),
        (inv.FindStock(part_number=""), "part_number"),
        (inv.FindStock(part_number="P-100", min_available=-1), "min_available"),
        (inv.FindStock(part_number="P-100", min_available=1_000_001), "min_available"),
        (inv.FindStock(part_number="P-100", exclude_store_id="SZ 01"), "exclude_store_id"),
        (inv.GetSharingMatrix(top_n=-1), "top_n"),
        (inv.GetSharingMatrix(top_n=201), "top_n"),
        (inv.GetSharingMatrix(window_days=-1), "window_days"),
        (inv.GetSharingMatrix(store_ids=[SZ, "GZ 01"]), "store_ids[1]"),
        (inv.ListStaleStock(store_id="a.b"), "store_id"),
        (inv.ListStaleStock(min_idle_days=-1), "min_idle_days"),
        (inv.ListStaleStock(min_idle_days=100_000), "min_idle_days"),
        (inv.GetFillRate(store_id="SZ 01"), "store_id"),
        (inv.GetFillRate(from_date="2026-13-01"), "from_date"),
        (inv.GetFillRate(to_date="yesterday"), "to_date"),
        (inv.GetFillRate(from_date="2026-11-02", to_date="2026-11-01"), "from_date"),
    ]
    for call, field in cases:
        err = await failure(call)
        assert violated_fields(err) == [field], (field, err.details())


async def test_find_stock_lists_stores_with_enough_available_most_first_without_the_asking_store(
    inv: InventoryClient,
) -> None:
    await register_part(inv)
    for store, quantity in [(SZ, 10), (GZ, 3), (DG, 7), (FS, 1), (HZ, 8)]:
        await receive(inv, store, "P-100", quantity)
    await inv.ReserveStock(store_id=HZ, part_number="P-100", quantity=6)  # 2 left available

    found = await pages(
        inv.FindStock, part_number="P-100", min_available=2, exclude_store_id=GZ, page_size=2
    )
    assert [[(s.store_id, s.available) for s in page] for page in found] == [
        [(SZ, 10), (DG, 7)],
        [(HZ, 2)],
    ]
    assert found[1][0].on_hand == 8
    everyone = await inv.FindStock(part_number="P-100")
    assert [s.store_id for s in everyone.stores] == [SZ, DG, GZ, HZ, FS]
    assert (await inv.FindStock(part_number="P-100", min_available=11)).stores == []


async def test_the_sharing_matrix_ranks_parts_by_quantity_issued_in_the_window(
    inv: InventoryClient, clock: ManualClock
) -> None:
    for part in ("P-A", "P-B", "P-C"):
        await register_part(inv, part, name=f"Part {part[-1]}")
        await receive(inv, SZ, part, 20)
    await receive(inv, GZ, "P-A", 5)
    await receive(inv, GZ, "P-B", 7)
    await issue(inv, SZ, "P-C", 10)  # 40 days before the window ends: outside it
    clock.advance(timedelta(days=40))
    await issue(inv, SZ, "P-A", 3)
    await issue(inv, GZ, "P-A", 2)
    await issue(inv, SZ, "P-B", 1)
    await issue(inv, GZ, "P-B", 50)  # a shortage issues nothing

    matrix = await inv.GetSharingMatrix(top_n=2, window_days=30)
    assert list(matrix.store_ids) == [GZ, SZ]
    assert [
        (r.part_number, r.name, r.issued_in_window, list(r.available)) for r in matrix.rows
    ] == [
        ("P-A", "Part A", 5, [3, 17]),
        ("P-B", "Part B", 1, [7, 19]),
    ]
    chosen = await inv.GetSharingMatrix(top_n=3, store_ids=[SZ, DG, GZ])
    assert list(chosen.store_ids) == [SZ, DG, GZ]
    assert [(r.part_number, list(r.available)) for r in chosen.rows] == [
        ("P-A", [17, 0, 3]),
        ("P-B", [19, 0, 7]),
        ("P-C", [10, 0, 0]),
    ]
    longer = await inv.GetSharingMatrix(top_n=1, window_days=60)
    assert [(r.part_number, r.issued_in_window) for r in longer.rows] == [("P-C", 10)]


async def test_stale_stock_is_idle_stock_valued_at_unit_cost_most_valuable_first(
    inv: InventoryClient, clock: ManualClock
) -> None:
    for part, cost in [("P-A", 100), ("P-B", 5_000), ("P-C", 300), ("P-D", 9_999)]:
        await register_part(inv, part, cost=cost, name=f"Part {part[-1]}")
    await receive(inv, SZ, "P-A", 10)  # 1,000 fen
    await receive(inv, SZ, "P-B", 2)  # 10,000 fen
    await receive(inv, GZ, "P-C", 5)  # 1,500 fen
    await receive(inv, GZ, "P-D", 1)
    clock.advance(timedelta(days=91))
    await issue(inv, GZ, "P-D", 1)  # moved today, and empty: not stale
    await receive(inv, SZ, "P-D", 4)  # moved today: not stale

    network = await inv.ListStaleStock()
    assert [(i.store_id, i.part_number, i.on_hand, i.value_fen) for i in network.items] == [
        (SZ, "P-B", 2, 10_000),
        (GZ, "P-C", 5, 1_500),
        (SZ, "P-A", 10, 1_000),
    ]
    assert network.total_value_fen == 12_500
    assert {(i.idle_days, i.unit_cost_fen > 0) for i in network.items} == {(91, True)}
    assert network.items[0].name == "Part B"

    paged = await pages(inv.ListStaleStock, page_size=2)
    assert [[i.part_number for i in page] for page in paged] == [["P-B", "P-C"], ["P-A"]]

    shenzhen = await inv.ListStaleStock(store_id=SZ)
    assert [i.part_number for i in shenzhen.items] == ["P-B", "P-A"]
    assert shenzhen.total_value_fen == 11_000
    assert (await inv.ListStaleStock(min_idle_days=92)).items == []
    assert len((await inv.ListStaleStock(min_idle_days=30)).items) == 3


async def test_stock_moved_within_the_idle_period_is_not_stale(
    inv: InventoryClient, clock: ManualClock
) -> None:
    await register_part(inv)
    await receive(inv, SZ, "P-100", 10)
    clock.advance(timedelta(days=89))
    assert (await inv.ListStaleStock()).items == []
    clock.advance(timedelta(days=1))
    assert [i.idle_days for i in (await inv.ListStaleStock()).items] == [90]


async def test_the_fill_rate_counts_requests_issued_against_shortages(
    inv: InventoryClient, clock: ManualClock
) -> None:
    await register_part(inv)
    await receive(inv, SZ, "P-100", 5)
    await issue(inv, SZ, "P-100", 2)
    await issue(inv, SZ, "P-100", 3)
    await issue(inv, SZ, "P-100", 1)  # shortage
    await issue(inv, GZ, "P-100", 1)  # shortage

    shenzhen = await inv.GetFillRate(store_id=SZ)
    assert (shenzhen.requests, shenzhen.filled, shenzhen.shortages) == (3, 2, 1)
    assert abs(shenzhen.fill_rate - 2 / 3) < 1e-9
    network = await inv.GetFillRate()
    assert (network.requests, network.filled, network.shortages, network.fill_rate) == (
        4,
        2,
        2,
        0.5,
    )
    today = clock.now().date()
    dated = await inv.GetFillRate(from_date=today.isoformat(), to_date=today.isoformat())
    assert dated.requests == 4

    clock.advance(timedelta(days=31))
    later = await inv.GetFillRate()
    assert (later.requests, later.fill_rate) == (0, 1.0)
