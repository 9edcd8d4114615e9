"""The support subsidy HQ pays the technician, by distance between the two stores (SOP 2).

domain.md: "local, under 50 km: 300 CNY"; "50 to 200 km: 500 CNY plus travel and
lodging"; "over 200 km: 1,000 CNY plus travel and lodging". Exactly 50 km is not under
50 km, so it is regional; exactly 200 km is within "50 to 200 km", so it is regional too;
long distance starts above 200 km.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from kernel.errors import InvalidArgument

LOCAL_BELOW_KM = 50.0
REGIONAL_UP_TO_KM = 200.0


class SubsidyTier(IntEnum):
    LOCAL = 1
    REGIONAL = 2
    LONG_DISTANCE = 3


@dataclass(frozen=True)
class Subsidy:
    tier: SubsidyTier
    amount_fen: int
    travel_and_lodging_paid: bool

    def describe(self) -> str:
        amount = f"{self.amount_fen // 100:,} CNY"
        extra = " plus travel and lodging" if self.travel_and_lodging_paid else ""
        return f"{self.tier.name.lower().replace('_', ' ')} subsidy {amount}{extra}"


LOCAL = Subsidy(SubsidyTier.LOCAL, 30_000, travel_and_lodging_paid=False)
REGIONAL = Subsidy(SubsidyTier.REGIONAL, 50_000, travel_and_lodging_paid=True)
LONG_DISTANCE = Subsidy(SubsidyTier.LONG_DISTANCE, 100_000, travel_and_lodging_paid=True)


def subsidy_for(distance_km: float) -> Subsidy:
    if not math.isfinite(distance_km) or distance_km < 0:
        raise InvalidArgument.of("distance_km", "must be a distance of 0 km or more")
    if distance_km < LOCAL_BELOW_KM:
        return LOCAL
    if distance_km <= REGIONAL_UP_TO_KM:
        return REGIONAL
    return LONG_DISTANCE
