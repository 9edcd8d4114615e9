"""HQ's customer lifetime value (one stream for the network): what a kept customer is worth
in the weekly collaboration report, set from a day on; the field's 80,000 CNY until HQ sets one.

A week is valued at the value in force on its last day (its Sunday), so all its days count
alike and a week's value is settled once the week has ended. HQ sets a value from today or a
later day, never from a day already past: a week that has ended, published or about to be,
keeps the value it had, and a published weekly report never disagrees with a later read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kernel.decider import Decider
from kernel.errors import RuleViolated, Violations
from services.analytics.domain import reasons
from services.analytics.domain.periods import Period
from services.analytics.domain.weekly_report import CUSTOMER_LIFETIME_VALUE_FEN

# 10 million CNY: a hundred times the field's value; anything above is a typo in fen or yuan.
MAX_CUSTOMER_LIFETIME_VALUE_FEN = 10_000_000_00
SUBJECT = "customer-lifetime-value"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCustomerLifetimeValue:
    value_fen: int
    effective_from: date | None  # None: today, resolved when decided (a retry stays the same)
    today: date  # the business day the decision is recorded on
    at: datetime

    @property
    def effective_day(self) -> date:
        return self.effective_from or self.today


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerLifetimeValueSet:
    value_fen: int
    effective_from: date
    previous_value_fen: int  # the value in force on effective_from before
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LifetimeValueChange:
    effective_from: date
    value_fen: int
    set_at: datetime


@dataclass(frozen=True, slots=True)
class LifetimeValues:
    """Every value HQ set, in the order set (the history an as-of view reads)."""

    history: tuple[LifetimeValueChange, ...] = ()

    def schedule(self, known_before: datetime | None = None) -> tuple[LifetimeValueChange, ...]:
        """One value per effective day, the latest set for it, by day; as HQ had set them
        before `known_before` when given."""
        by_day: dict[date, LifetimeValueChange] = {}
        for change in self.history:
            if known_before is None or change.set_at < known_before:
                by_day[change.effective_from] = change
        return tuple(by_day[d] for d in sorted(by_day))

    def in_force(
        self, day: date, known_before: datetime | None = None
    ) -> LifetimeValueChange | None:
        """The change in force on `day`; None: the field's value (HQ set none by then)."""
        found = None
        for change in self.schedule(known_before):
            if change.effective_from <= day:
                found = change
        return found

    def value_on(self, day: date, known_before: datetime | None = None) -> int:
        found = self.in_force(day, known_before)
        return CUSTOMER_LIFETIME_VALUE_FEN if found is None else found.value_fen

    def for_week(self, week: Period, known_before: datetime | None = None) -> int:
        """What a kept customer of `week` is worth: the value in force on its last day."""
        return self.value_on(week.end - timedelta(days=1), known_before)


def check_value(v: Violations, value_fen: int) -> None:
    if not 0 < value_fen <= MAX_CUSTOMER_LIFETIME_VALUE_FEN:
        v.add("value_fen", f"must be above 0, at most {MAX_CUSTOMER_LIFETIME_VALUE_FEN} fen")


def decide(
    command: SetCustomerLifetimeValue, state: LifetimeValues
) -> Sequence[CustomerLifetimeValueSet]:
    v = Violations()
    check_value(v, command.value_fen)
    v.raise_if_any()
    effective_from = command.effective_day
    if effective_from < command.today:
        raise RuleViolated(
            reasons.DATE_IN_THE_PAST,
            f"effective_from {effective_from} is before today {command.today}: a week that"
            " has ended keeps the value it had",
            SUBJECT,
        )
    previous = state.value_on(effective_from)
    if previous == command.value_fen:
        return []  # the value already holds from that day: nothing changes
    return [
        CustomerLifetimeValueSet(
            value_fen=command.value_fen,
            effective_from=effective_from,
            previous_value_fen=previous,
            occurred_at=command.at,
        )
    ]


def evolve(state: LifetimeValues, event: CustomerLifetimeValueSet) -> LifetimeValues:
    change = LifetimeValueChange(
        effective_from=event.effective_from, value_fen=event.value_fen, set_at=event.occurred_at
    )
    return LifetimeValues(history=(*state.history, change))


lifetime_values: Decider[LifetimeValues, SetCustomerLifetimeValue, CustomerLifetimeValueSet] = (
    Decider(LifetimeValues, decide, evolve)
)
