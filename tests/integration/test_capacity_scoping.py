"""Tokens are scoped: a store's DMS acts for its own store only; stores are HQ's to change."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from kernel.clock import ManualClock
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    event_count,
    failure,
    local,
    profile,
)


async def test_a_stores_dms_books_for_its_own_store_only(
    cap: CapacityClient, mint: Callable[..., str]
) -> None:
    await cap.register("SZ01")
    await cap.register("GZ01", name="Guangzhou Tianhe", city="Guangzhou")
    dms = cap.as_(mint("dms", "SZ01", subject="dms-sz01"))

    booked = await dms.book("A1", local(10, 0), store_id="SZ01")
    before = await event_count(cap.run)
    err = await failure(dms.book("A2", local(10, 0), store_id="GZ01"))

    assert booked.store_id == "SZ01"
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await event_count(cap.run) == before
    assert (await dms.GetDayView(store_id="GZ01")).booked == 0  # reading is open to all


async def test_only_hq_or_services_change_the_store_directory(
    cap: CapacityClient, mint: Callable[..., str]
) -> None:
    dms = cap.as_(mint("dms", "SZ01"))
    manager = cap.as_(mint("manager", "SZ01"))
    service = cap.as_(mint("service", subject="collab"))

    for caller in (dms, manager):
        err = await failure(caller.RegisterStore(store_id="SZ01", profile=profile()))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await service.RegisterStore(store_id="SZ01", profile=profile())).store_id == "SZ01"
    err = await failure(dms.CloseStore(store_id="SZ01"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not (await dms.GetStore(store_id="SZ01")).closed


async def test_a_partner_reads_but_cannot_book(
    cap: CapacityClient, mint: Callable[..., str], clock: ManualClock
) -> None:
    await cap.register("SZ01")
    partner = cap.as_(mint("partner", "SZ01", subject="crm"))

    err = await failure(partner.walk_in("W1"))

    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await partner.GetWaitEstimate(store_id="SZ01")).waiting_vehicles == 0


async def test_a_call_without_a_valid_token_is_unauthenticated(cap: CapacityClient) -> None:
    err = await failure(cap.as_("not-a-token").GetStore(store_id="SZ01"))

    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
