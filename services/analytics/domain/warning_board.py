"""The warning board of a store (stream per store): which warnings are raised right now.

An assessment names the rules it evaluated and the warnings they found. A new warning, or
one whose colour changed, is raised; a raised warning of those rules that was not found
again is cleared. Warnings of rules not assessed stay as they are, so the daily close
(streaks) and the monthly review (declines) do not clear each other's warnings. Which
periods an assessment of a day decides again is `reassessed`: a day's warnings last until
the next close, last month's stay through this month (its report arrives in this month and
is acted on in it) until that month is assessed again, older ones are retired, and an
assessment of a past day (a late report's month assessed again) leaves later periods alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction

from kernel.decider import Decider
from kernel.errors import Violations
from kernel.validation import store_code
from services.analytics.domain.periods import Period, PeriodKind
from services.analytics.domain.warnings import Light, Risk, Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class AssessWarnings:
    store_id: str
    rules: frozenset[Rule]
    found: tuple[Risk, ...]
    at: datetime
    # The day assessed; None: the board as it stands, every period.
    day: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningRaised:
    store_id: str
    warning_id: str
    rule: Rule
    level: Light
    indicator: str
    period: Period
    actual: Fraction
    reference: Fraction
    deviation: Fraction
    drill_down: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningCleared:
    store_id: str
    warning_id: str
    rule: Rule
    indicator: str
    period: Period
    occurred_at: datetime


WarningEvent = WarningRaised | WarningCleared


@dataclass(frozen=True, slots=True)
class WarningBoard:
    raised: dict[str, WarningRaised] = field(default_factory=dict)


def decide(command: AssessWarnings, state: WarningBoard) -> Sequence[WarningEvent]:
    v = Violations()
    store_code(v, "store_id", command.store_id)
    for n, warning in enumerate(command.found):
        if warning.store_id != command.store_id:
            v.add(f"found[{n}].store_id", "must be the assessed store")
        if warning.rule not in command.rules:
            v.add(f"found[{n}].rule", "must be one of the assessed rules")
    v.raise_if_any()
    found = {w.warning_id: w for w in command.found}
    events: list[WarningEvent] = []
    for warning_id, warning in sorted(found.items()):
        current = state.raised.get(warning_id)
        if current is None or current.level != warning.level:
            events.append(
                WarningRaised(
                    store_id=warning.store_id,
                    warning_id=warning_id,
                    rule=warning.rule,
                    level=warning.level,
                    indicator=warning.indicator,
                    period=warning.period,
                    actual=warning.actual,
                    reference=warning.reference,
                    deviation=warning.deviation,
                    drill_down=warning.drill_down,
                    occurred_at=command.at,
                )
            )
    for warning_id, raised in sorted(state.raised.items()):
        if (
            raised.rule in command.rules
            and warning_id not in found
            and (command.day is None or reassessed(raised.period, command.day))
        ):
            events.append(
                WarningCleared(
                    store_id=raised.store_id,
                    warning_id=warning_id,
                    rule=raised.rule,
                    indicator=raised.indicator,
                    period=raised.period,
                    occurred_at=command.at,
                )
            )
    return events


def reassessed(period: Period, day: date) -> bool:
    """Whether an assessment of `day` decides again the warnings of `period`."""
    if period.start > day:
        return False
    if period.kind == PeriodKind.DAY or period.contains(day):
        return True
    this_month = Period.month(day.year, day.month)
    last_month_start = (this_month.start - timedelta(days=1)).replace(day=1)
    return period.end <= last_month_start


def evolve(state: WarningBoard, event: WarningEvent) -> WarningBoard:
    match event:
        case WarningRaised():
            return WarningBoard(raised={**state.raised, event.warning_id: event})
        case WarningCleared():
            return WarningBoard(
                raised={k: w for k, w in state.raised.items() if k != event.warning_id}
            )


warning_board: Decider[WarningBoard, AssessWarnings, WarningEvent] = Decider(
    WarningBoard, decide, evolve
)
