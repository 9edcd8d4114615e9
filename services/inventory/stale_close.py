"""The daily stale-stock close: a durable timer (`inventory.stale-stock-close`, due half an
hour after the business day ends, fired once across replicas) values every store's stale
stock as the day ended (domain/stale.py) and records `StaleStockValued` per store holding
stock, then re-arms itself for the next day. Armed at start when absent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.timers import ArmAtStart, arm_if_absent
from services.inventory import read_model
from services.inventory.domain.stale import (
    DEFAULT_MIN_IDLE_DAYS,
    StaleDay,
    ValueStaleStock,
    day_to_value,
    idle_since,
    stale_valuation,
)

STALE_STOCK_CLOSE = "inventory.stale-stock-close"
SETTLE = timedelta(minutes=30)
# One stream per store and day: the day's valuation, recorded once.
STALE_DAYS = Aggregate("stale-stock", stale_valuation, StaleDay, store_of=lambda e: e.store_id)


class StaleStockClose:
    def __init__(self, app: Application, min_idle_days: int = DEFAULT_MIN_IDLE_DAYS) -> None:
        self.app = app
        self.min_idle_days = min_idle_days
        self.arming = ArmAtStart(self.arm)

    def day_ends_at(self, day: date) -> datetime:
        zone = getattr(self.app.clock, "zone", None)
        return datetime.combine(day + timedelta(days=1), time(0), zone)

    async def close(self, uow: UnitOfWork, payload: Any) -> None:
        today = uow.clock.business_day(uow.clock.now())
        day = day_to_value(date.fromisoformat(str(payload["day"])), today)
        cutoff = idle_since(self.day_ends_at(day), self.min_idle_days)
        for holding in await read_model.stale_by_store(uow.conn, cutoff):
            await uow.execute(
                STALE_DAYS,
                STALE_DAYS.stream_id(holding.store_id, day.isoformat()),
                ValueStaleStock(holding, day, self.min_idle_days, uow.clock.now()),
            )
        following = day + timedelta(days=1)
        await uow.schedule(
            STALE_STOCK_CLOSE,
            STALE_STOCK_CLOSE,
            self.day_ends_at(following) + SETTLE,
            {"day": following.isoformat()},
        )

    async def arm(self) -> None:
        """Today's close, unless one is armed already."""
        today = self.app.clock.business_day(self.app.clock.now())
        rows = [(STALE_STOCK_CLOSE, self.day_ends_at(today) + SETTLE, {"day": today.isoformat()})]
        await arm_if_absent(self.app, rows)
