"""Stale stock (呆滞库存) valued once a store and day: the 90-day rule's cutoff, the day a
late close values, and one StaleStockValued per store and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.inventory.domain.events import StaleStockValued
from services.inventory.domain.stale import (
    StaleDay,
    StaleHolding,
    StaleRule,
    ValueStaleStock,
    day_to_value,
    idle_since,
    stale_valuation,
)

AT = datetime(2026, 11, 2, 16, 30, tzinfo=UTC)
# 4 idle units of 120 CNY, and another position's 3 units over its cover at 80 CNY.
HOLDING = StaleHolding(
    "SZ01", 72_000, 2, 7, overstock_value_fen=24_000, overstock_positions=1, overstock_units=3
)


def test_stale_means_no_movement_for_90_days_before_the_day_ended() -> None:
    ends = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    assert idle_since(ends) == ends - timedelta(days=90)
    assert idle_since(ends, 30) == datetime(2026, 10, 4, 0, 0, tzinfo=UTC)


def test_a_close_values_its_day_or_after_an_outage_only_the_last_ended_day() -> None:
    assert day_to_value(date(2026, 11, 2), today=date(2026, 11, 3)) == date(2026, 11, 2)
    assert day_to_value(date(2026, 10, 28), today=date(2026, 11, 3)) == date(2026, 11, 2)


def test_a_store_s_day_is_valued_once_with_its_overstock_told_apart() -> None:
    command = ValueStaleStock(HOLDING, date(2026, 11, 2), StaleRule(), AT)
    [valued] = stale_valuation.decide(command, StaleDay())
    assert valued == StaleStockValued(
        store_id="SZ01",
        day="2026-11-02",
        min_idle_days=90,
        value_fen=72_000,
        positions=2,
        units=7,
        occurred_at=AT,
        usage_days=90,
        cover_days=180,
        overstock_value_fen=24_000,
        overstock_positions=1,
        overstock_units=3,
    )
    again = stale_valuation.fold([valued])
    assert stale_valuation.decide(command, again) == []
