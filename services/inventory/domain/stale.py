"""Stale stock (呆滞库存), domain.md: "no movement for a long time, or far more than the
store uses". Two criteria, judged per position (store x part):

- IDLE: no movement for `min_idle_days` (90) or more. The whole position is stale.
- OVERSTOCK: more on hand than the store uses in `cover_days` (180) at its pace over the
  last `usage_days` (90) business days (units issued to repair orders, the read model's
  daily usage). Only the excess is stale: what the cover needs stays where it is used.
  Twice the look-back is "far more": a quarter's use held twice over, so a store that
  simply buys in bulk for the next quarter is not flagged.

What the cover needs is rounded up to whole units (a pace of 1.1 units needs 2 on the
shelf), so a position exactly at its cover is not overstock and its excess is never a
fraction. A position is judged overstock only on a FULL window of usage history: the
store asked for the part (an issue or a shortage) before the window began. Without that,
a part new at the store, or a store new to the network (its first count brings every
position in at once), would look overstocked on the day its stock arrived: its pace is
not known yet, and it becomes stale by the idle rule if it then lies unused. With a full
history, no use at all over the window makes all its stock overstock (the store stopped
fitting the part, but still holds or even received it). A part a store never asked for
is judged by the idle rule only.

The read model applies the same rule in SQL (read_model/lookups.py: it must sort and page
the network's stale stock by stale value); `judge` is its statement and the tests'.

Valued once a day: each store's stale stock at catalogue unit cost, as it stands when the
business day ends. Inventory owns the rule and the costs, so it states the daily fact
(`StaleStockValued`) that analytics and partners read; one event per store and day
(stream `stale-stock/<store>/<day>`), so the close firing again records nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from kernel.decider import Decider
from services.inventory.domain.events import StaleStockValued

DEFAULT_MIN_IDLE_DAYS = 90
# The store's pace: units issued over this many business days, the day judged included.
DEFAULT_USAGE_DAYS = 90
# Far more than the store uses: more than this many days of its pace on hand.
DEFAULT_COVER_DAYS = 180
# What a caller may ask for (days): beyond ten years no figure means anything.
MAX_RULE_DAYS = 3650


@dataclass(frozen=True)
class StaleRule:
    min_idle_days: int = DEFAULT_MIN_IDLE_DAYS
    usage_days: int = DEFAULT_USAGE_DAYS
    cover_days: int = DEFAULT_COVER_DAYS


DEFAULT_RULE = StaleRule()


@dataclass(frozen=True)
class Staleness:
    """One position judged: which criteria it meets and how many of its units are stale
    (all when idle; the excess over `cover` when only overstocked)."""

    idle: bool
    overstock: bool
    quantity: int
    cover: int

    @property
    def stale(self) -> bool:
        return self.quantity > 0


def usage_window(day: date, rule: StaleRule) -> tuple[date, date]:
    """The business days whose issues give the pace: the last `usage_days`, `day` included."""
    return day - timedelta(days=rule.usage_days - 1), day


# How old a close's kept usage (read_model: inventory_usage_kept) may be and still serve a
# list: the issues since it, and those that left the window since, are read by day.
KEPT_USAGE_MAX_AGE_DAYS = 7


def kept_usage_since(first: date, last: date, max_age: int = KEPT_USAGE_MAX_AGE_DAYS) -> date:
    """The earliest close day whose kept usage serves the window `first`..`last`: at most
    `max_age` days before `last`, and the day before `first` at the earliest, so a part
    first asked for after that close cannot have been asked for before the window began
    (its history is not full: no kept row is then the right answer)."""
    return max(first - timedelta(days=1), last - timedelta(days=max_age - 1))


def cover_quantity(issued: int, rule: StaleRule) -> int:
    """Units the store uses in `cover_days` at the window's pace, rounded up."""
    return -(-issued * rule.cover_days // rule.usage_days)


def judge(on_hand: int, idle: bool, issued: int, full_history: bool, rule: StaleRule) -> Staleness:
    """A position with `on_hand` units, idle or not, that issued `issued` over the usage
    window, with (`full_history`) or without a request before the window began."""
    if on_hand <= 0:
        return Staleness(False, False, 0, 0)
    cover = cover_quantity(issued, rule) if full_history else 0
    overstock = full_history and on_hand > cover
    excess = on_hand - cover if overstock else 0
    return Staleness(idle, overstock, on_hand if idle else excess, cover)


@dataclass(frozen=True)
class StaleHolding:
    """One store's stale positions summed (what the read model finds): every stale
    position and its stale units and value, and of them those overstocked but not idle
    (their excess only)."""

    store_id: str
    value_fen: int
    positions: int
    units: int
    overstock_value_fen: int = 0
    overstock_positions: int = 0
    overstock_units: int = 0


@dataclass(frozen=True)
class ValueStaleStock:
    holding: StaleHolding
    day: date
    rule: StaleRule
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
            min_idle_days=command.rule.min_idle_days,
            value_fen=h.value_fen,
            positions=h.positions,
            units=h.units,
            occurred_at=command.at,
            usage_days=command.rule.usage_days,
            cover_days=command.rule.cover_days,
            overstock_value_fen=h.overstock_value_fen,
            overstock_positions=h.overstock_positions,
            overstock_units=h.overstock_units,
        )
    ]


def evolve(state: StaleDay, event: Any) -> StaleDay:
    return StaleDay(valued=True)


stale_valuation: Decider[StaleDay, ValueStaleStock, StaleStockValued] = Decider(
    StaleDay, decide, evolve
)
