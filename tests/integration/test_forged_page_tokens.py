"""Every paged RPC of every service refuses a forged page token as INVALID_ARGUMENT on page_token.

The regression: a real token with its digest left valid and its resume key edited (other
kinds, other arity) reached the unpacking of workforce's MatchSupport and
GetTechnicianHistory and came back INTERNAL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from kernel.clock import ManualClock
from kernel.testing.page_tokens import forgeries
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.inventory_fixtures import register_part as catalogue
from tests.integration.rich_errors import failure, violated_fields
from tests.integration.workforce_fixtures import (
    FRIDAY,
    WorkforceClient,
    china,
    hold,
    publish_day,
    register,
    ts,
    wf,
    workforce_service,
)

__all__ = [
    "cap",
    "capacity_pg_url",
    "capacity_service",
    "inv",
    "inventory_service",
    "wf",
    "workforce_service",
]


async def refuses_forgeries(call: Callable[..., Awaitable[Any]], **request: Any) -> int:
    """Pages once with `request`, then sends every forgery of the token it got."""
    token = (await call(**request)).next_page_token
    assert token, "the query must have a second page to forge a token of"
    forged = forgeries(token)
    for bad in forged:
        assert violated_fields(await failure(call(**request, page_token=bad))) == ["page_token"]
    return len(forged)


async def test_inventory_refuses_forged_tokens_on_every_paged_query(
    inv: InventoryClient, clock: ManualClock
) -> None:
    for n in (1, 2, 3):
        await catalogue(inv, f"P-{n}")
        for store in ("SZ01", "GZ01", "DG01"):
            await inv.ReceiveStock(store_id=store, part_number=f"P-{n}", quantity=n)
    clock.advance(timedelta(days=3))

    sent = [
        await refuses_forgeries(inv.ListParts, page_size=1),
        await refuses_forgeries(inv.ListStoreStock, store_id="SZ01", page_size=1),
        await refuses_forgeries(inv.FindStock, part_number="P-1", page_size=1),
        await refuses_forgeries(inv.ListStaleStock, min_idle_days=1, page_size=1),
    ]
    assert all(n > 5 for n in sent)


async def test_capacity_refuses_forged_tokens_on_every_paged_query(cap: CapacityClient) -> None:
    for store in ("SZ01", "SZ02", "GZ01"):
        await cap.register(store)

    await refuses_forgeries(cap.ListStores, page_size=1)
    await refuses_forgeries(cap.GetNetworkDayView, page_size=1)


async def test_workforce_refuses_forged_tokens_on_every_paged_query(wf: WorkforceClient) -> None:
    for technician in ("T-1", "T-2", "T-3"):
        await register(wf, technician)
        await publish_day(wf, technician)
    await hold(wf, "T-1", support_id="S-1", hours=(9, 11))
    await hold(wf, "T-1", support_id="S-2", hours=(13, 15))
    need = {
        "requesting_store_id": "GZ01",
        "specialty": "hv_ev",
        "minimum_level": 2,
        "starts_at": ts(china(FRIDAY, 15)),
        "ends_at": ts(china(FRIDAY, 17)),
    }

    await refuses_forgeries(wf.ListTechnicians, page_size=1)
    await refuses_forgeries(wf.MatchSupport, page_size=1, **need)
    await refuses_forgeries(wf.GetTechnicianHistory, technician_id="T-1", page_size=1)
