"""The daily capacity pressure forecast (issue 12, "Running it"): analytics' daily close
asks the real capacity service, over gRPC with the service token, to forecast each open
store's week ahead, once per store and day whatever the number of passes; capacity raises
the early warning for a day forecast above 100%."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kernel.clock import ManualClock
from services.analytics.scheduled import forecast_request_id
from tests.integration.analytics_fixtures import (
    AnalyticsStarter,
    analytics_db_url,
    close_at,
    knows_stores,
    start_analytics,
)
from tests.integration.capacity_fixtures import (
    CapacityClient,
    cap,
    capacity_pg_url,
    capacity_service,
    local,
)
from tests.integration.conftest import Running
from tests.integration.rich_errors import recorded_types

__all__ = ["analytics_db_url", "cap", "capacity_pg_url", "capacity_service", "start_analytics"]

Mint = Callable[..., str]
SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY, WEDNESDAY = date(2026, 11, 3), date(2026, 11, 4)


async def test_the_daily_close_asks_capacity_to_forecast_every_open_store_once(
    start_analytics: AnalyticsStarter,
    cap: CapacityClient,
    capacity_service: Running,
    clock: ManualClock,
) -> None:
    # SZ01 takes one vehicle a day and has two booked for Wednesday: 200% ahead.
    await cap.register("SZ01", default_daily_capacity=1)
    await cap.register("GZ01")
    for appointment_id in ("A-1", "A-2"):
        await cap.book(appointment_id, local(10, 0, day=WEDNESDAY))
    await cap.CloseStore(store_id="GZ01")
    async with start_analytics() as run:
        await knows_stores(run, "SZ01", "GZ01")
        await run.analytics.arming.armed.wait()
        # Monday's close, an hour after Monday ends: Tuesday to the next Monday forecast.
        await close_at(run, clock, datetime(2026, 11, 3, 1, 30, tzinfo=SHANGHAI))
        first = await recorded_types(capacity_service)
        # The same store-day timer again (a replica that died after the call): capacity
        # answers from its command log, nothing new is recorded.
        forecasts = run.analytics.scheduled.forecasts
        assert forecasts is not None
        await forecasts.forecast_pressure("SZ01", forecast_request_id("SZ01", TUESDAY))
        again = await recorded_types(capacity_service)

    assert first.count("CapacityPressureForecast") == 1  # SZ01's Wednesday; GZ01 is closed
    assert again == first
