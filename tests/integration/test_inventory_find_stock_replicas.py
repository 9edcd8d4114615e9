"""FindStock reads the read model straight (the kernel's read path, no transaction, no
cache of positions): what another replica committed a moment ago is in the next answer,
a part it registered is known at once, and a page token one replica issued continues on
the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from kernel.clock import ManualClock
from kernel.testing.servers import Endpoints
from services.inventory.bootstrap import build
from tests.integration.conftest import Running, running, settings_for
from tests.integration.inventory_fixtures import InventoryClient, register_part
from tests.integration.rich_errors import failure

SZ, GZ, DG = "SZ01", "GZ01", "DG01"


@pytest.fixture
async def two(
    pg_url: str,
    endpoints: Endpoints,
    namespace: str,
    clock: ManualClock,
    verifier: Any,
    mint: Callable[..., str],
) -> AsyncIterator[tuple[InventoryClient, InventoryClient]]:
    """Two inventory processes on ONE database."""
    settings = settings_for("inventory", pg_url, endpoints.nats_url, namespace)
    async with (
        running(build, settings, clock, verifier, timer_interval=3600) as first,
        running(build, settings, clock, verifier, timer_interval=3600) as second,
    ):
        yield InventoryClient(first, mint("hq")), InventoryClient(second, mint("hq"))


def _stores(answer: Any) -> list[tuple[str, int]]:
    return [(s.store_id, s.available) for s in answer.stores]


async def test_a_part_the_other_replica_registers_is_known_at_once(
    two: tuple[InventoryClient, InventoryClient],
) -> None:
    reader, writer = two
    err = await failure(reader.FindStock(part_number="P-NEW"))
    assert err.code() == grpc.StatusCode.NOT_FOUND

    await register_part(writer, "P-NEW")

    assert _stores(await reader.FindStock(part_number="P-NEW")) == []


async def test_stock_the_other_replica_moves_shows_in_the_next_answer(
    two: tuple[InventoryClient, InventoryClient],
) -> None:
    reader, writer = two
    await register_part(writer)
    await writer.ReceiveStock(store_id=SZ, part_number="P-100", quantity=5)
    assert _stores(await reader.FindStock(part_number="P-100")) == [(SZ, 5)]

    await writer.ReceiveStock(store_id=GZ, part_number="P-100", quantity=9)
    await writer.ReserveStock(store_id=SZ, part_number="P-100", quantity=4)
    assert _stores(await reader.FindStock(part_number="P-100")) == [(GZ, 9), (SZ, 1)]
    assert _stores(await reader.FindStock(part_number="P-100", min_available=2)) == [(GZ, 9)]

    await writer.RequestParts(store_id=GZ, part_number="P-100", repair_order="RO-1", quantity=9)
    assert _stores(await reader.FindStock(part_number="P-100")) == [(SZ, 1)]


async def test_a_page_token_of_one_replica_continues_on_the_other(
    two: tuple[InventoryClient, InventoryClient],
) -> None:
    first, second = two
    await register_part(first)
    for store, quantity in [(SZ, 3), (GZ, 7), (DG, 5)]:
        await first.ReceiveStock(store_id=store, part_number="P-100", quantity=quantity)

    page = await first.FindStock(part_number="P-100", page_size=2)
    assert _stores(page) == [(GZ, 7), (DG, 5)]
    rest = await second.FindStock(part_number="P-100", page_size=2, page_token=page.next_page_token)
    assert _stores(rest) == [(SZ, 3)] and rest.next_page_token == ""
