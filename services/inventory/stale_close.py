"""The daily stale-stock close: a durable timer (`inventory.stale-stock-close`, due half an
hour after the business day ends, fired once across replicas) values every store's stale
stock as the day ended (domain/stale.py: idle, and overstock against the usage window
ending with that day) and records `StaleStockValued` per store holding
stock, then re-arms itself for the next day. Armed at start when absent.

A network of 2,000 stores is valued in bounded transactions: each firing values the next
`batch` stores by store id and re-arms the same timer at once for the rest (the payload
carries the day and the last store valued), so no transaction holds the relay back for
the whole network and no timer per store is written (docs/benchmarks.md, the stale close).
The day's stream per store makes a firing that comes again record nothing new.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from kernel.application import Aggregate, Application, UnitOfWork
from kernel.timers import ArmAtStart, arm_if_absent
from services.inventory import read_model
from services.inventory.domain.stale import (
    DEFAULT_RULE,
    StaleDay,
    StaleRule,
    ValueStaleStock,
    day_to_value,
    idle_since,
    stale_valuation,
    usage_window,
)
from services.inventory.read_model import StaleQuery

STALE_STOCK_CLOSE = "inventory.stale-stock-close"
SETTLE = timedelta(minutes=30)
# Stores valued per transaction (measured: docs/benchmarks.md).
CLOSE_BATCH = 200
# One stream per store and day: the day's valuation, recorded once.
STALE_DAYS = Aggregate("stale-stock", stale_valuation, StaleDay, store_of=lambda e: e.store_id)


class StaleStockClose:
    def __init__(
        self,
        app: Application,
        rule: StaleRule = DEFAULT_RULE,
        batch: int | None = CLOSE_BATCH,
    ) -> None:
        self.app = app
        self.rule = rule
        self.batch = batch  # None: the whole network in one transaction
        self.arming = ArmAtStart(self.arm)

    def day_ends_at(self, day: date) -> datetime:
        zone = getattr(self.app.clock, "zone", None)
        return datetime.combine(day + timedelta(days=1), time(0), zone)

    async def close(self, uow: UnitOfWork, payload: Any) -> None:
        """The next batch of the day's stores; then the rest at once, or the next day."""
        now = uow.clock.now()
        after = str(payload.get("after", ""))
        due = date.fromisoformat(str(payload["day"]))
        # A continuation values its own day; a day's first firing may come late.
        day = due if after else day_to_value(due, uow.clock.business_day(now))
        cutoff = idle_since(self.day_ends_at(day), self.rule.min_idle_days)
        q = StaleQuery(self.rule, cutoff, *usage_window(day, self.rule))
        holdings = await read_model.stale_by_store(uow.conn, q, after, self.batch, keep=True)
        for holding in holdings:
            await uow.execute(
                STALE_DAYS,
                STALE_DAYS.stream_id(holding.store_id, day.isoformat()),
                ValueStaleStock(holding, day, self.rule, now),
            )
        if self.batch is not None and len(holdings) == self.batch:
            rest = {"day": day.isoformat(), "after": holdings[-1].store_id}
            await uow.schedule(STALE_STOCK_CLOSE, STALE_STOCK_CLOSE, now, rest)
            return
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
