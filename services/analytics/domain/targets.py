"""Targets HQ sets per store, indicator and period; a yearly target split by seasonality.

Monthly targets are not an even split: the Spring Festival month is 10-15% lower. A yearly
target is split over the months by weights with the largest-remainder method, so that the
months add up to the year exactly, in fen (or vehicles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from kernel.decider import Decider
from kernel.errors import InvalidArgument, RuleViolated, Violations
from kernel.validation import store_code
from services.analytics.domain import indicators, reasons
from services.analytics.domain.periods import Period

SPRING_FESTIVAL_DIP = Fraction(13, 100)  # the middle of the field's 10-15%
MIN_SPRING_FESTIVAL_DIP = Fraction(10, 100)
MAX_SPRING_FESTIVAL_DIP = Fraction(15, 100)


def seasonality_weights(
    spring_festival_month: int, dip: Fraction = SPRING_FESTIVAL_DIP
) -> tuple[Fraction, ...]:
    """Even months but the Spring Festival month, `dip` lower (10% to 15%, both included)."""
    v = Violations()
    if not 1 <= spring_festival_month <= 12:
        v.add("spring_festival_month", "must be from 1 to 12")
    if not MIN_SPRING_FESTIVAL_DIP <= dip <= MAX_SPRING_FESTIVAL_DIP:
        v.add("spring_festival_dip", "must be from 10% to 15%")
    v.raise_if_any()
    return tuple(
        Fraction(1) - dip if month == spring_festival_month else Fraction(1)
        for month in range(1, 13)
    )


def split_yearly(total: int, weights: Sequence[Fraction]) -> tuple[int, ...]:
    """Whole units per month summing to `total` exactly (largest remainder; ties: earlier month).

    Each month first gets the floor of its exact share; the units left over go one each to
    the months with the largest fractional parts, the earlier month first on a tie.
    """
    if len(weights) != 12 or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise InvalidArgument.of("weights", "12 non-negative weights with a positive sum")
    whole = sum(weights, Fraction(0))
    exact = [total * w / whole for w in weights]
    months = [share.numerator // share.denominator for share in exact]
    left = total - sum(months)
    by_remainder = sorted(range(12), key=lambda m: (-(exact[m] - months[m]), m))
    for month in by_remainder[:left]:
        months[month] += 1
    return tuple(months)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTarget:
    store_id: str
    indicator: str
    period: Period
    value: Fraction
    store_known: bool
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SetYearlyTarget:
    store_id: str
    indicator: str
    year: int
    total: int
    # One per month, January first (seasonality_weights gives the field's default).
    weights: tuple[Fraction, ...]
    store_known: bool
    at: datetime


TargetCommand = SetTarget | SetYearlyTarget


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSet:
    store_id: str
    indicator: str
    period: Period
    value: Fraction
    previous_value: Fraction | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Targets:
    """The targets of one store and indicator in one year (stream per store x indicator x year)."""

    values: dict[Period, Fraction] = field(default_factory=dict)


def decide(command: TargetCommand, state: Targets) -> Sequence[TargetSet]:
    indicator = _check(command)
    subject = f"target/{command.store_id}/{indicator.code}"
    match command:
        case SetTarget():
            wanted = {command.period: command.value}
        case SetYearlyTarget():
            if not indicator.additive:
                raise RuleViolated(
                    reasons.INDICATOR_NOT_ADDITIVE,
                    f"{indicator.code} does not add up over months: set each month instead",
                    subject,
                )
            year = Period.year(command.year)
            monthly = split_yearly(command.total, command.weights)
            wanted = {year: Fraction(command.total)}
            wanted.update({m: Fraction(n) for m, n in zip(year.months(), monthly, strict=True)})
    if not command.store_known:
        raise RuleViolated(
            reasons.UNKNOWN_STORE, f"store {command.store_id} is not in the directory", subject
        )
    return [
        TargetSet(
            store_id=command.store_id,
            indicator=indicator.code,
            period=period,
            value=value,
            previous_value=state.values.get(period),
            occurred_at=command.at,
        )
        for period, value in wanted.items()
        if state.values.get(period) != value
    ]


def _check(command: TargetCommand) -> indicators.Indicator:
    v = Violations()
    store_code(v, "store_id", command.store_id)
    indicator = indicators.find(command.indicator)
    if indicator is None:
        v.add("indicator", f"unknown indicator {command.indicator!r}")
    match command:
        case SetTarget():
            if not command.period.is_well_formed():
                v.add("period.start", "must be the first day of the period")
            value = command.value
        case SetYearlyTarget():
            if not 1 <= command.year <= 9998:
                v.add("year", "must be from 1 to 9998")
            if len(command.weights) != 12 or any(w < 0 for w in command.weights):
                v.add("weights", "must be 12 non-negative weights")
            elif sum(command.weights) <= 0:
                v.add("weights", "must not all be zero")
            value = Fraction(command.total)
    if indicator is not None:
        _check_value(v, indicator, value)
    v.raise_if_any()
    assert indicator is not None
    return indicator


def _check_value(v: Violations, indicator: indicators.Indicator, value: Fraction) -> None:
    if indicator.unit != indicators.Unit.SCORE and value < 0:
        v.add("value", "must not be negative")
    if indicator.unit in (indicators.Unit.FEN, indicators.Unit.COUNT) and value.denominator != 1:
        v.add("value", "must be a whole number (fen for money)")


def evolve(state: Targets, event: TargetSet) -> Targets:
    return Targets(values={**state.values, event.period: event.value})


def stream_year(period: Period) -> int:
    """The year whose stream holds a period's target (a week belongs to the year it starts in)."""
    return period.start.year


target: Decider[Targets, TargetCommand, TargetSet] = Decider(Targets, decide, evolve)


def attainment(direction: indicators.Direction, actual: Fraction, target: Fraction) -> Fraction:
    """Share of the target reached: actual / target, or target / actual when lower is better.

    A lower-is-better indicator at 0 against a positive target has reached it (1); a
    target of 0 is reached only by 0.
    """
    if direction == indicators.Direction.HIGHER_IS_BETTER:
        return actual / target if target else Fraction(1 if actual >= 0 else 0)
    if actual == 0:
        return Fraction(1)
    return target / actual
