"""Stale stock revitalisation (呆滞盘活): who should take a store's stale stock, and what
moving it earns.

domain.md: stale stock is stock with no movement for a long time, or far more than the
store uses (inventory judges both: a lot is idle, stale whole, or overstocked, only its
excess over the store's own cover stale); moving it to a store that uses it revitalises
it, earns the giver 10 contribution points (not the transfer's 1), and HQ bears the loss
on it. Only the stale units may be moved as such: an overstocked lot's cover stays with
the store that uses it. A store uses a part when it issued it lately (collab's
demand table, from inventory's PartsIssued) or ran short of it (inventory's
ShortageRecorded, collab's transfers that found no source). The rule: the store that
would put the most of the stale units to use comes first; at equal use, the one that ran
short (its customers already waited for the part); then the nearest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.geo import great_circle_km
from services.collab.domain.events import CollaborationCostRecorded, ContributionRecorded
from services.collab.domain.settlement import TRANSFER_ACT, settlement_month
from services.collab.domain.sourcing import DEMAND_WINDOW_DAYS, STALE_DAYS, Location

REVITALISATION_ACT = "revitalisation"
# domain.md: 10 points per act, to the store that gave the stale stock.
REVITALISATION_POINTS = 10
# HQ's ledger: the loss on revitalised stock.
WRITE_DOWN = "write_down"
DEFAULT_MIN_IDLE_DAYS = STALE_DAYS
DEFAULT_RECEIVERS = 3
MAX_RECEIVERS = 20


@dataclass(frozen=True)
class StaleLot:
    """A part stale at the giving store (inventory's ListStaleStock): the whole position
    (on_hand, value_fen), which criteria it meets, and its stale part."""

    store_id: str
    part_number: str
    name: str
    on_hand: int
    value_fen: int
    idle_days: int
    idle: bool
    overstock: bool
    # The units a revitalisation may move: all of an idle lot, an overstocked one's excess.
    stale_quantity: int
    stale_value_fen: int
    # What the store's own use needs (an overstocked lot's units that are not stale).
    cover_quantity: int


@dataclass(frozen=True)
class Use:
    """One store's use of the part over the last DEMAND_WINDOW_DAYS."""

    store_id: str
    recent_demand: int
    shortages: int
    location: Location | None


@dataclass(frozen=True)
class Receiver:
    store_id: str
    quantity: int
    recent_demand: int
    shortages: int
    distance_km: float | None
    reasons: tuple[str, ...]


def rank_receivers(
    lot: StaleLot,
    giver_location: Location | None,
    uses: Iterable[Use],
    limit: int = DEFAULT_RECEIVERS,
) -> list[Receiver]:
    """The stores that would use the lot, best first (ties by store code)."""
    receivers = [
        _assess(lot, giver_location, u)
        for u in uses
        if u.store_id != lot.store_id and (u.recent_demand > 0 or u.shortages > 0)
    ]
    receivers.sort(
        key=lambda r: (
            -r.quantity,
            -r.shortages,
            r.distance_km if r.distance_km is not None else float("inf"),
            r.store_id,
        )
    )
    return receivers[:limit]


def _assess(lot: StaleLot, home: Location | None, u: Use) -> Receiver:
    need = u.recent_demand + u.shortages
    quantity = min(lot.stale_quantity, need)
    if lot.idle:
        reasons = [f"would use {quantity} of the {lot.on_hand} idle {lot.idle_days} days"]
    else:
        reasons = [
            f"would use {quantity} of the {lot.stale_quantity} beyond the giver's cover of "
            f"{lot.cover_quantity}"
        ]
    if u.recent_demand:
        reasons.append(f"issued {u.recent_demand} in the last {DEMAND_WINDOW_DAYS} days")
    if u.shortages:
        reasons.append(f"ran short of {u.shortages} in the last {DEMAND_WINDOW_DAYS} days")
    distance = None
    if home is not None and u.location is not None:
        distance = great_circle_km(
            home.latitude, home.longitude, u.location.latitude, u.location.longitude
        )
        reasons.append(f"{distance:.1f} km away")
    else:
        reasons.append("location unknown")
    return Receiver(u.store_id, quantity, u.recent_demand, u.shortages, distance, tuple(reasons))


def revitalised(entries: Sequence[Any], write_down_fen: int, at: datetime) -> list[Any]:
    """A completed transfer's settlement (its ContributionRecorded and costs) as a
    revitalisation: the giver's 10 points instead of 1, and the agreed write-down on HQ's
    ledger, attributed to the giving store."""
    settled: list[Any] = []
    giver = ""
    saga, saga_id = "", ""
    for entry in entries:
        if isinstance(entry, ContributionRecorded) and entry.act == TRANSFER_ACT:
            giver, saga, saga_id = entry.store_id, entry.saga, entry.saga_id
            entry = dataclasses.replace(entry, act=REVITALISATION_ACT, points=REVITALISATION_POINTS)
        settled.append(entry)
    if write_down_fen > 0 and giver:
        settled.append(
            CollaborationCostRecorded(
                giver, WRITE_DOWN, write_down_fen, saga, saga_id, settlement_month(at), at
            )
        )
    return settled
