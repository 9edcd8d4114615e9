"""What a hostile caller found at the ends of the calendar and in odd values: each is a clear
refusal naming its field or reason, never INTERNAL or UNAVAILABLE."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from storemesh.analytics.events.v1 import events_pb2 as ev
from storemesh.capacity.events.v1 import events_pb2 as cev

from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    knows_stores,
    network,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    profile,
    refusal,
)
from tests.integration.inventory_fixtures import InventoryClient, inv, inventory_service
from tests.integration.rich_errors import failure, violated_fields
from tests.integration.workforce_fixtures import (
    WorkforceClient,
    register,
    ts,
    wf,
    workforce_service,
)

__all__ = ["cap", "capacity_pg_url", "capacity_service", "inv", "inventory_service", "wf"]
__all__ += ["analytics_db_url", "start_analytics", "workforce_service"]

LAST_SECOND = Timestamp(seconds=253402300799)  # 9999-12-31T23:59:59Z
FIRST_SECOND = Timestamp(seconds=-62135596800)  # 0001-01-01T00:00:00Z


def _book_at(cap: CapacityClient, requested_at: Timestamp) -> Any:
    return cap.BookAppointment(
        store_id="SZ01",
        customer_ref="C-1",
        vehicle="粤B12345",
        service_type="maintenance",
        expected_labour_hours=1.0,
        requested_at=requested_at,
    )


async def test_capacity_refuses_the_ends_of_the_calendar_and_unknown_zones(
    cap: CapacityClient,
) -> None:
    await cap.register("SZ01")
    booked = await failure(_book_at(cap, LAST_SECOND))
    assert violated_fields(booked) == ["requested_at"]

    for call, store_id in ((cap.RegisterStore, "SZ09"), (cap.UpdateStore, "SZ01")):
        long_zone = await failure(call(store_id=store_id, profile=profile(time_zone="A" * 10_000)))
        assert violated_fields(long_zone) == ["profile.time_zone"]


async def test_capacity_refuses_a_time_whose_local_day_is_past_the_calendars_last(
    cap: CapacityClient,
) -> None:
    """9998-12-31 20:00 UTC is Friday 9999-01-01 04:00 in Shanghai: a store open round the
    clock booked it in a book no day field can name, so it could not be cancelled."""
    await cap.register(
        "SZ01",
        opening_hours=[cev.OpeningHours(weekday=5, opens_minute=0, closes_minute=1440)],
    )
    edge = Timestamp(seconds=int(datetime(9998, 12, 31, 20, tzinfo=UTC).timestamp()))
    booked = await failure(_book_at(cap, edge))
    assert violated_fields(booked) == ["requested_at"]
    held = await failure(
        cap.HoldSlot(
            store_id="SZ01",
            hold_id="H-1",
            diverted_from_store_id="GZ01",
            customer_ref="C-2",
            vehicle="粤B12345",
            service_type="maintenance",
            expected_labour_hours=1.0,
            slot_at=edge,
            expires_at=edge,
        )
    )
    assert "slot_at" in violated_fields(held)


async def test_a_closed_store_has_no_pressure_to_forecast(cap: CapacityClient) -> None:
    await cap.register("SZ01")
    await cap.CloseStore(store_id="SZ01", reason="lease ended")

    refused = await failure(cap.ForecastCapacityPressure(store_id="SZ01"))

    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, "STORE_CLOSED")


async def test_workforce_refuses_the_ends_of_the_calendar(wf: WorkforceClient) -> None:
    await register(wf, "T-1")
    held = await failure(
        wf.HoldSupport(
            technician_id="T-1",
            host_store_id="GZ01",
            specialty="hv_ev",
            minimum_level=2,
            starts_at=FIRST_SECOND,
            ends_at=ts(datetime(2026, 12, 1, tzinfo=UTC)),
        )
    )
    assert violated_fields(held) == ["starts_at"]
    for week_of in ("0001-01-01", "9999-12-31", "20261201", "2026-W49-1"):
        published = await failure(
            wf.PublishAvailability(technician_id="T-1", week_of=week_of, weekday=1, part_of_day=1)
        )
        assert violated_fields(published) == ["week_of"]
    utilisation = await failure(wf.GetUtilisation(technician_id="T-1", to_date="0001-01-15"))
    assert violated_fields(utilisation) == ["to_date"]


async def test_inventory_refuses_the_ends_of_the_calendar(inv: InventoryClient) -> None:
    for to_date in ("0001-01-15", "20261201", "2026-W49-1"):
        fill = await failure(inv.GetFillRate(to_date=to_date))
        assert violated_fields(fill) == ["to_date"]
    both = await failure(inv.GetFillRate(from_date="0001-01-01", to_date="0001-01-15"))
    assert violated_fields(both) == ["from_date", "to_date"]


async def test_list_filters_are_capped_alike(inv: InventoryClient) -> None:
    """The regression: ListParts took a 10,000-character category where ListStoreStock
    capped it at 64; now the edge caps every text field the same way."""
    for call in (inv.ListParts, inv.ListStoreStock):
        request = {"category": "c" * 10_000}
        if call == inv.ListStoreStock:
            request["store_id"] = "SZ01"
        refused = await failure(call(**request))
        assert "category" in violated_fields(refused)


async def test_analytics_looks_back_from_the_calendars_first_years_without_breaking(
    start_analytics: AnalyticsStarter, cap: CapacityClient, mint: Callable[..., str]
) -> None:
    """Regression: a vertical comparison of 36 months through January of year 2, and a
    pilot window of 366 days before a store that joined on 0002-01-01, walked back past
    the calendar's first day: OverflowError, INTERNAL. Months and days before the first
    a request may name (0002-01-01) hold no figures, so they are simply not there."""
    await network(cap, "SZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01")
        hq = run.client(mint("hq"))
        vertical = await hq.GetVerticalComparison(
            store_id="SZ01",
            indicator="revenue",
            through_month=ev.Period(kind=ev.PERIOD_KIND_MONTH, start="0002-01-01"),
            months=36,
        )
        await hq.SetPilotParticipation(store_id="SZ01", joined_on="0002-01-01")
        pilot = await hq.GetPilotComparison(
            indicator="vehicles_in",
            period=ev.Period(kind=ev.PERIOD_KIND_MONTH, start="0002-01-01"),
            window_days=366,
            as_of="0002-01-01",
        )

    assert [s.period.start for s in vertical.steps] == ["0002-01-01"]
    assert [(s.store_id, s.joined_on) for s in pilot.stores] == [("SZ01", "0002-01-01")]
