"""Stale stock (呆滞库存) valued once a day: the store's stock without movement for 90 days
or more (domain.md: "no movement for a long time"), at catalogue unit cost, as it stands
when the business day ends. Inventory owns the rule and the costs, so it states the daily
fact (`StaleStockValued`) that analytics and partners read; one event per store and day
(stream `stale-stock/<store>/<day>`), so the close firing again records nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kernel.decider import Decider
from services.inventory.domain.events import StaleStockValued

DEFAULT_MIN_IDLE_DAYS = 90


@dataclass(frozen=True)
class StaleHolding:
    """One store's stale positions summed (what the read model finds)."""

    store_id: str
    value_fen: int
    positions: int
    units: int


@dataclass(frozen=True)
class ValueStaleStock:
    holding: StaleHolding
    day: date
    min_idle_days: int
    at: datetime


@dataclass(frozen=True)
class StaleDay:
    valued: bool = False


def idle_since(day_ends_at: datetime, min_idle_days: int = DEFAULT_MIN_IDLE_DAYS) -> datetime:
    """A position is stale when its last movement is at or before this moment."""
    return day_ends_at - timedelta(days=min_idle_days)


def day_to_value(due_day: date, today: date) -> date:
    """The day a close fired today values: its own when it is yesterday; after days when no
    replica ran, only the last ended day (positions are as they stand now: a past day's
    stock cannot be valued again)."""
    return max(due_day, today - timedelta(days=1))


def decide(command: ValueStaleStock, state: StaleDay) -> list[StaleStockValued]:
    if state.valued:
        return []
    h = command.holding
    return [
        StaleStockValued(
            store_id=h.store_id,
            day=command.day.isoformat(),
            min_idle_days=command.min_idle_days,
            value_fen=h.value_fen,
            positions=h.positions,
            units=h.units,
            occurred_at=command.at,
        )
    ]


def evolve(state: StaleDay, event: Any) -> StaleDay:
    return StaleDay(valued=True)


stale_valuation: Decider[StaleDay, ValueStaleStock, StaleStockValued] = Decider(
    StaleDay, decide, evolve
)
