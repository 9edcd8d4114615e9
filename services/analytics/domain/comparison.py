"""The four views of store comparison: horizontal, vertical, benchmark and structure.

Best and worst follow the indicator's direction; a tie goes to the lower store id, so a
view is the same whichever order the stores were read in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from services.analytics.domain.indicators import Direction
from services.analytics.domain.periods import Period


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreValue:
    store_id: str
    value: Fraction
    gap_to_average: Fraction  # signed: value - group average


@dataclass(frozen=True, slots=True, kw_only=True)
class Horizontal:
    average: Fraction
    best: StoreValue
    worst: StoreValue
    stores: tuple[StoreValue, ...]  # best first


def horizontal(direction: Direction, values: Mapping[str, Fraction]) -> Horizontal | None:
    """Each store of a peer group against the group's average, best and worst."""
    if not values:
        return None
    average = sum(values.values(), Fraction(0)) / len(values)
    sign = -1 if direction == Direction.HIGHER_IS_BETTER else 1
    order = sorted(values, key=lambda s: (sign * values[s], s))
    rows = tuple(
        StoreValue(store_id=s, value=values[s], gap_to_average=values[s] - average) for s in order
    )
    worst = min(rows, key=lambda r: (-sign * r.value, r.store_id))
    return Horizontal(average=average, best=rows[0], worst=worst, stores=rows)


class Trend(IntEnum):
    FLAT = 1
    IMPROVING = 2
    WORSENING = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    period: Period
    value: Fraction
    change: Fraction | None  # against the period before; None for the first
    trend: Trend | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Vertical:
    steps: tuple[Step, ...]
    trend: Trend  # first period against the last


def vertical(direction: Direction, series: Sequence[tuple[Period, Fraction]]) -> Vertical | None:
    """A store against its own past months: the change of each step and the overall trend."""
    ordered = sorted(series)
    if not ordered:
        return None
    steps = [Step(period=ordered[0][0], value=ordered[0][1], change=None, trend=None)]
    for (_, before), (period, value) in itertools.pairwise(ordered):
        steps.append(
            Step(
                period=period,
                value=value,
                change=value - before,
                trend=_trend(direction, value - before),
            )
        )
    return Vertical(steps=tuple(steps), trend=_trend(direction, ordered[-1][1] - ordered[0][1]))


def _trend(direction: Direction, change: Fraction) -> Trend:
    if change == 0:
        return Trend.FLAT
    better = change > 0 if direction == Direction.HIGHER_IS_BETTER else change < 0
    return Trend.IMPROVING if better else Trend.WORSENING


@dataclass(frozen=True, slots=True, kw_only=True)
class Benchmark:
    value: Fraction
    benchmark: Fraction
    # How far short of the benchmark, in the indicator's unit; 0 when at or beyond it.
    gap: Fraction
    gap_share: Fraction | None  # gap / benchmark
    # The gap times the volume it applies to (e.g. employees, vehicles): what closing it is worth.
    opportunity: Fraction


def benchmark(
    direction: Direction, value: Fraction, against: Fraction, volume: Fraction = Fraction(1)
) -> Benchmark:
    """A store against a target or best-practice value: the gap and the size of the opportunity."""
    short = against - value if direction == Direction.HIGHER_IS_BETTER else value - against
    gap = max(short, Fraction(0))
    return Benchmark(
        value=value,
        benchmark=against,
        gap=gap,
        gap_share=gap / abs(against) if against else None,
        opportunity=gap * volume,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLine:
    service_type: str
    vehicles: int
    revenue_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StructurePart:
    service_type: str
    vehicles: int
    revenue_fen: int
    average_ticket_fen: Fraction | None
    vehicle_share: Fraction
    revenue_share: Fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class Structure:
    average_ticket_fen: Fraction | None
    parts: tuple[StructurePart, ...]  # largest revenue first, then by service type


def structure(lines: Sequence[ServiceLine]) -> Structure:
    """An average broken into its parts: average ticket per service type and the mix."""
    vehicles = sum(line.vehicles for line in lines)
    revenue = sum(line.revenue_fen for line in lines)
    parts = tuple(
        StructurePart(
            service_type=line.service_type,
            vehicles=line.vehicles,
            revenue_fen=line.revenue_fen,
            average_ticket_fen=Fraction(line.revenue_fen, line.vehicles) if line.vehicles else None,
            vehicle_share=Fraction(line.vehicles, vehicles) if vehicles else Fraction(0),
            revenue_share=Fraction(line.revenue_fen, revenue) if revenue else Fraction(0),
        )
        for line in sorted(lines, key=lambda line: (-line.revenue_fen, line.service_type))
    )
    return Structure(
        average_ticket_fen=Fraction(revenue, vehicles) if vehicles else None, parts=parts
    )
